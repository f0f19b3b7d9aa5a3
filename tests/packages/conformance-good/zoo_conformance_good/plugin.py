"""Hook implementations: specs only, no torch import."""

import zoo


@zoo.hookimpl
def zoo_architectures():
    return [
        zoo.ArchitectureSpec(
            name="good_segmenter", task="semantic_segmentation",
            builder="zoo_conformance_good.models:TinySegmenter", defaults={"num_classes": 3},
            pretrained={"toy": zoo.PretrainedCfg(
                hf_hub_id="conformance-good/good_segmenter.toy", sha256="0" * 64, num_classes=3,
                metrics={"miou": 0.5}, default=True),
                # another head, input channels and width: built by pretrained_builds
                "gray": zoo.PretrainedCfg(
                    hf_hub_id="conformance-good/good_segmenter.gray", sha256="1" * 64, num_classes=5, in_chans=1,
                    metrics={"miou": 0.4}, model_kwargs={"width": 4})},
            description="encoder-decoder that restores any input size",
        ),
        zoo.ArchitectureSpec(
            name="good_classifier", task="classification",
            builder="zoo_conformance_good.models:TinyClassifier", defaults={"num_classes": 4},
            description="GAP + linear classifier in timm's convention",
        ),
        zoo.ArchitectureSpec(
            name="good_maskrcnn", task="instance_segmentation",
            builder="zoo_conformance_good.models:tiny_maskrcnn", defaults={"num_classes": 3},
            export="torchvision's detection heads have data-dependent output sizes",
            description="torchvision Mask R-CNN with a two-layer backbone",
        ),
    ]


@zoo.hookimpl
def zoo_explainers():
    return [
        zoo.ExplainerSpec(name="good_cam", builder="zoo_conformance_good.explainers:CAM",
                          tasks=("classification",), description="class activation map"),
        zoo.ExplainerSpec(name="good_saliency", builder="zoo_conformance_good.explainers:Saliency",
                          tasks=("classification", "semantic_segmentation"), description="input gradients"),
        zoo.ExplainerSpec(name="good_smoothgrad", builder="zoo_conformance_good.explainers:SmoothGrad",
                          tasks=("classification",), description="noise-averaged input gradients"),
    ]
