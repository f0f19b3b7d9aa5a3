"""Hook implementations: specs only, no torch import."""

import zoo


@zoo.hookimpl
def zoo_architectures():
    return [
        zoo.ArchitectureSpec(
            name="sample_segmenter",
            task="semantic_segmentation",
            builder="zoo_sample_plugin.models:sample_segmenter",
            defaults={"num_classes": 3, "in_chans": 3, "width": 4},
            pretrained={
                "toy": zoo.PretrainedCfg(hf_hub_id="sample-org/sample_segmenter.toy", num_classes=3),
                "other": zoo.PretrainedCfg(hf_hub_id="sample-org/sample_segmenter.other",
                                           num_classes=2, default=True),
            },
            description="1x1-conv segmenter for tests",
        ),
        zoo.ArchitectureSpec(
            name="sample_classifier",
            task="classification",
            builder="zoo_sample_plugin.models:SampleClassifier",
            defaults={"num_classes": 10},
        ),
    ]


@zoo.hookimpl
def zoo_explainers():
    return [zoo.ExplainerSpec(name="sample_ones", builder="zoo_sample_plugin.models:OnesExplainer",
                              tasks=("classification",), description="all-ones maps")]
