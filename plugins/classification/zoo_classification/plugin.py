"""Hook implementations of the classification plugin: specs only, no torch import."""

import zoo


@zoo.hookimpl
def zoo_architectures():
    return [
        zoo.ArchitectureSpec(
            name="cnn_cam",
            task="classification",
            builder="zoo_classification.cnn_cam:cnn_cam",
            defaults={"num_classes": 10, "in_chans": 3},
            pretrained={},
            description="small CNN, global average pooling and one linear head (CAM-ready)",
        ),
    ]
