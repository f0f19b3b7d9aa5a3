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
            pretrained={
                # Trained by `zoo train hubcards/cnn_cam.digits`; see that card.
                "digits": zoo.PretrainedCfg(
                    hf_hub_id="visionzoo/cnn_cam.digits",
                    sha256="b58f9ae8e9d93a1ad5852ca5a5b3c69a79aa4c1d01c9fc04e70fe4667d1dcb75",
                    num_classes=10, in_chans=1, metrics={"accuracy": 0.9944}, license="apache-2.0",
                    default=True, model_kwargs={"widths": [16, 32, 64], "depth": 2},
                ),
            },
            description="small CNN, global average pooling and one linear head (CAM-ready)",
        ),
    ]
