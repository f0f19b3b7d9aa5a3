"""Hook implementations: explainer specs only (no torch import; builders are strings)."""

import zoo

_CLS = ("classification",)
_CLS_SEG = ("classification", "semantic_segmentation")


@zoo.hookimpl
def zoo_explainers():
    return [
        zoo.ExplainerSpec("cam", "zoo_explainers.cam:CAM", _CLS,
                          "class activation map: head weights times the last feature map (Zhou 2016)"),
        zoo.ExplainerSpec("gradcam", "zoo_explainers.gradcam:GradCAM", _CLS_SEG,
                          "Grad-CAM: spatially averaged gradients weight the feature map (Selvaraju 2017)"),
        zoo.ExplainerSpec("gradcam_pp", "zoo_explainers.gradcam:GradCAMPlusPlus", _CLS_SEG,
                          "Grad-CAM++: positive-gradient weights with pixel-wise coefficients; fails the "
                          "randomisation sanity check on cnn_cam.digits (see that card)"),
        zoo.ExplainerSpec("hirescam", "zoo_explainers.gradcam:HiResCAM", _CLS_SEG,
                          "HiResCAM: gradient times activation, element-wise, summed over channels"),
        zoo.ExplainerSpec("saliency", "zoo_explainers.gradients:Saliency", _CLS_SEG,
                          "vanilla gradients: max over channels of |d score / d input| (Simonyan 2013)"),
        zoo.ExplainerSpec("smoothgrad", "zoo_explainers.gradients:SmoothGrad", _CLS_SEG,
                          "saliency averaged over noisy copies of the input (Smilkov 2017), seedable; noise "
                          "sigma as a fraction of each image's range, or stdev absolute"),
        zoo.ExplainerSpec("integrated_gradients", "zoo_explainers.gradients:IntegratedGradients", _CLS_SEG,
                          "signed path-integrated gradients from a baseline (Sundararajan 2017)"),
        zoo.ExplainerSpec("rise", "zoo_explainers.rise:RISE", _CLS_SEG,
                          "RISE: random masks weighted by the class probability (black box, forward only)"),
        zoo.ExplainerSpec("guided_backprop", "zoo_explainers.gradients:GuidedBackprop", _CLS_SEG,
                          "guided backpropagation; FAILS the model-randomisation sanity check "
                          "(Adebayo 2018): an edge detector, not an explanation",
                          sanity_check="guided backprop is known to fail the model-randomisation "
                                       "check (Adebayo et al. 2018): its maps barely depend on the weights"),
    ]
