"""Hook implementations: specs only, no torch import. Each entry says what it breaks."""

import zoo


@zoo.hookimpl
def zoo_architectures():
    return [
        # segmentation_output: logits at half the input size
        zoo.ArchitectureSpec(name="half_segmenter", task="semantic_segmentation",
                             builder="zoo_conformance_bad.models:HalfSegmenter", defaults={"num_classes": 3}),
        # classification_features: no forward_features / get_classifier
        zoo.ArchitectureSpec(name="headless_classifier", task="classification",
                             builder="zoo_conformance_bad.models:HeadlessClassifier", defaults={"num_classes": 4}),
        # num_classes: the builder ignores it
        zoo.ArchitectureSpec(name="stubborn_classifier", task="classification",
                             builder="zoo_conformance_bad.models:stubborn_classifier", defaults={"num_classes": 4}),
        # gradients: a trainable layer that forward never uses
        zoo.ArchitectureSpec(name="idle_segmenter", task="semantic_segmentation",
                             builder="zoo_conformance_bad.models:IdleSegmenter", defaults={"num_classes": 3}),
        # detection_eval: scores in ascending order
        zoo.ArchitectureSpec(name="unsorted_maskrcnn", task="instance_segmentation",
                             builder="zoo_conformance_bad.models:unsorted_maskrcnn", defaults={"num_classes": 3},
                             export="torchvision detection heads"),
        # safetensors_roundtrip: random state outside the state dict
        zoo.ArchitectureSpec(name="forgetful_segmenter", task="semantic_segmentation",
                             builder="zoo_conformance_bad.models:ForgetfulSegmenter", defaults={"num_classes": 3}),
        # pretrained_tags: no sha256, no metrics, a pickle file
        zoo.ArchitectureSpec(name="untagged_segmenter", task="semantic_segmentation",
                             builder="zoo_conformance_bad.models:HalfSegmenter", defaults={"num_classes": 3},
                             pretrained={"toy": zoo.PretrainedCfg(hf_hub_id="conformance-bad/untagged.toy",
                                                                  filename="model.pth")}),
        # input_unchanged: normalises the caller's tensor in place
        zoo.ArchitectureSpec(name="mutating_classifier", task="classification",
                             builder="zoo_conformance_bad.models:MutatingClassifier", defaults={"num_classes": 4}),
        # eval_determinism (and safetensors_roundtrip must not blame the state dict): dropout in eval mode
        zoo.ArchitectureSpec(name="noisy_segmenter", task="semantic_segmentation",
                             builder="zoo_conformance_bad.models:NoisySegmenter", defaults={"num_classes": 3}),
        # export: another path under torch.export than in eager mode
        zoo.ArchitectureSpec(name="two_faced_segmenter", task="semantic_segmentation",
                             builder="zoo_conformance_bad.models:TwoFacedSegmenter", defaults={"num_classes": 3}),
        # segmentation_output: a batch of 3 gives logits for image 0 only
        zoo.ArchitectureSpec(name="first_only_segmenter", task="semantic_segmentation",
                             builder="zoo_conformance_bad.models:FirstOnlySegmenter", defaults={"num_classes": 3}),
        # classification_output: images in a batch influence each other (batch statistics in eval mode)
        zoo.ArchitectureSpec(name="batchmix_classifier", task="classification",
                             builder="zoo_conformance_bad.models:BatchMixClassifier", defaults={"num_classes": 4}),
        # pretrained_builds: the tag's model_kwargs are an argument the builder does not take
        zoo.ArchitectureSpec(name="tagged_segmenter", task="semantic_segmentation",
                             builder="zoo_conformance_bad.models:IdleSegmenter", defaults={"num_classes": 3},
                             pretrained={"toy": zoo.PretrainedCfg(hf_hub_id="conformance-bad/tagged.toy",
                                                                  sha256="0" * 64, num_classes=5,
                                                                  metrics={"miou": 0.5},
                                                                  model_kwargs={"width": 16})}),
        # detection_eval: xywh boxes, hidden by a high score threshold (0 detections until it is lowered)
        zoo.ArchitectureSpec(name="quiet_xywh_maskrcnn", task="instance_segmentation",
                             builder="zoo_conformance_bad.models:quiet_xywh_maskrcnn", defaults={"num_classes": 3},
                             export="torchvision detection heads"),
        # detection_eval: never detects anything, so its boxes cannot be checked (a SKIP, not a PASS)
        zoo.ArchitectureSpec(name="empty_maskrcnn", task="instance_segmentation",
                             builder="zoo_conformance_bad.models:empty_maskrcnn", defaults={"num_classes": 3},
                             export="torchvision detection heads"),
        # build: the builder raises (every later check is skipped, in both front ends)
        zoo.ArchitectureSpec(name="unbuildable_segmenter", task="semantic_segmentation",
                             builder="zoo_conformance_bad.models:unbuildable_segmenter", defaults={"num_classes": 3}),
        # in_chans: the stem ignores it (any C is averaged down to 3), so C-channel weights cannot load
        zoo.ArchitectureSpec(name="tolerant_segmenter", task="semantic_segmentation",
                             builder="zoo_conformance_bad.models:TolerantSegmenter", defaults={"num_classes": 3}),
        # classification_cam_head: an MLP head behind get_classifier() (a SKIP saying CAM is approximate)
        zoo.ArchitectureSpec(name="mlphead_classifier", task="classification",
                             builder="zoo_conformance_bad.models:MlpHeadClassifier", defaults={"num_classes": 4}),
        # detection_train: losses returned detached, so nothing trains
        zoo.ArchitectureSpec(name="detached_maskrcnn", task="instance_segmentation",
                             builder="zoo_conformance_bad.models:detached_maskrcnn", defaults={"num_classes": 3},
                             export="torchvision detection heads"),
        # detection_empty_targets: a training image without objects raises
        zoo.ArchitectureSpec(name="objects_required_maskrcnn", task="instance_segmentation",
                             builder="zoo_conformance_bad.models:objects_required_maskrcnn",
                             defaults={"num_classes": 3}, export="torchvision detection heads"),
        # detection_eval: masks as logits, not probabilities in [0, 1]
        zoo.ArchitectureSpec(name="mask_logits_maskrcnn", task="instance_segmentation",
                             builder="zoo_conformance_bad.models:mask_logits_maskrcnn", defaults={"num_classes": 3},
                             export="torchvision detection heads"),
        # rejected by the registry (hub id without an org): must be reported, not vanish
        zoo.ArchitectureSpec(name="rejected_segmenter", task="semantic_segmentation",
                             builder="zoo_conformance_bad.models:IdleSegmenter", defaults={"num_classes": 3},
                             pretrained={"toy": zoo.PretrainedCfg(hf_hub_id="just-a-name", sha256="0" * 64,
                                                                  metrics={"miou": 0.5})}),
    ]


@zoo.hookimpl
def zoo_explainers():
    return [
        # explainer_hooks: leaves a forward hook on the model after every call
        zoo.ExplainerSpec(name="leaky_explainer", builder="zoo_conformance_bad.explainers:LeakyCAM",
                          tasks=("classification",)),
        # explainer_sanity / explainer_targets: ignores the model (an edge detector)
        zoo.ExplainerSpec(name="blind_explainer", builder="zoo_conformance_bad.explainers:Blind",
                          tasks=("classification",)),
        # explainer_hooks: replaces forward on a module of the model and leaves it there
        zoo.ExplainerSpec(name="patching_explainer", builder="zoo_conformance_bad.explainers:Patching",
                          tasks=("classification",)),
        # explainer_targets on the segmentation reference model: ignores the target class
        zoo.ExplainerSpec(name="blind_seg_explainer", builder="zoo_conformance_bad.explainers:Blind",
                          tasks=("semantic_segmentation",)),
        # coverage: declares only a task the suite has no reference model for, so every check skips
        zoo.ExplainerSpec(name="instance_only_explainer", builder="zoo_conformance_bad.explainers:NotAMap",
                          tasks=("instance_segmentation",)),
        # explainer_targets: takes a target list of the wrong length (cycles it) instead of refusing it
        zoo.ExplainerSpec(name="lenient_explainer", builder="zoo_conformance_bad.explainers:Lenient",
                          tasks=("classification",)),
        # explainer_hooks: removes its hook after a call that succeeded only
        zoo.ExplainerSpec(name="fragile_explainer", builder="zoo_conformance_bad.explainers:Fragile",
                          tasks=("classification",)),
        # explainer_state: puts requires_grad back after a call that succeeded only
        zoo.ExplainerSpec(name="careless_explainer", builder="zoo_conformance_bad.explainers:Careless",
                          tasks=("classification",)),
        # explainer_no_grad: switches grad mode on and leaves it on
        zoo.ExplainerSpec(name="grad_leaking_explainer", builder="zoo_conformance_bad.explainers:GradLeaking",
                          tasks=("classification",)),
        # explainer_output: "normalised" maps in [0, 2]
        zoo.ExplainerSpec(name="overflowing_explainer", builder="zoo_conformance_bad.explainers:Overflowing",
                          tasks=("classification",)),
        # explainer_output: NaN maps for a model whose output is constant (0 / 0 in the normalisation)
        zoo.ExplainerSpec(name="dividing_explainer", builder="zoo_conformance_bad.explainers:Dividing",
                          tasks=("classification",)),
        # explainer_state: leaves the model in eval mode and gradients in .grad
        zoo.ExplainerSpec(name="messy_explainer", builder="zoo_conformance_bad.explainers:Messy",
                          tasks=("classification",)),
    ]
