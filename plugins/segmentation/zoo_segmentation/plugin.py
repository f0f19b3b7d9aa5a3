"""visionzoo hooks of the segmentation plugin: specs only.

Imports nothing but ``zoo`` (never torch): the model code in ``unet``, ``segnet`` and ``fcn`` is
named by ``"module:function"`` builders and imported only when a model is built.

To publish weights for an architecture, add a ``tag -> zoo.PretrainedCfg`` entry to its dict in
:data:`PRETRAINED`; nothing else changes. Both tables name every architecture (a test checks it),
so a misspelt name cannot drop its tags in silence.
"""

from __future__ import annotations

import zoo

TASK = "semantic_segmentation"

# Pretrained weight sets per architecture name: {"unet": {"shapes": zoo.PretrainedCfg(...)}}.
PRETRAINED: dict[str, dict[str, zoo.PretrainedCfg]] = {
    "unet_small": {},
    "unet": {
        # `zoo train hubcards/unet.shapes`; measured on the held-out test split (see the card)
        "shapes": zoo.PretrainedCfg(
            hf_hub_id="visionzoo/unet.shapes",
            sha256="c4256f602d96bbc87a0cdeed30ae70acb502f22df2eee6ff959bfad1f00fe7b5",
            num_classes=4, in_chans=3, license="apache-2.0", default=True,
            metrics={'miou': 0.9372},
            model_kwargs={'base_width': 8, 'depth': 4, 'upsample': 'transposed'},
        ),
    },
    "unet_large": {},
    "segnet": {
        # `zoo train hubcards/segnet.shapes`; measured on the held-out test split (see the card)
        "shapes": zoo.PretrainedCfg(
            hf_hub_id="visionzoo/segnet.shapes",
            sha256="06d06c023c28352c288ded64d69eac944ba7f0a4621265ec984f4d1e5d183267",
            num_classes=4, in_chans=3, license="apache-2.0", default=True,
            metrics={'miou': 0.9144},
            model_kwargs={'widths': [16, 32, 48, 64], 'depths': [2, 2, 2, 2]},
        ),
    },
    "segnet_vgg16": {},
    "fcn32s": {
        # `zoo train hubcards/fcn32s.shapes`; measured on the held-out test split (see the card)
        "shapes": zoo.PretrainedCfg(
            hf_hub_id="visionzoo/fcn32s.shapes",
            sha256="cc7847608a51064f2ee7c08f94985871a1bf4ff6921b142ae0d773cadf0474d3",
            num_classes=4, in_chans=3, license="apache-2.0", default=True,
            metrics={'miou': 0.7399},
            model_kwargs={'widths': [16, 32, 48, 64, 64], 'depths': [2, 2, 2, 2, 2], 'fc_width': 128, 'dropout': 0.1},
        ),
    },
    "fcn16s": {
        # `zoo train hubcards/fcn16s.shapes`; measured on the held-out test split (see the card)
        "shapes": zoo.PretrainedCfg(
            hf_hub_id="visionzoo/fcn16s.shapes",
            sha256="1e5d1d02dafdbfe456dee64cd4e5400334a298a6ee7295e4c079ccb29a84600c",
            num_classes=4, in_chans=3, license="apache-2.0", default=True,
            metrics={'miou': 0.8161},
            model_kwargs={'widths': [16, 32, 48, 64, 64], 'depths': [2, 2, 2, 2, 2], 'fc_width': 128, 'dropout': 0.1},
        ),
    },
    "fcn8s": {
        # `zoo train hubcards/fcn8s.shapes`; measured on the held-out test split (see the card)
        "shapes": zoo.PretrainedCfg(
            hf_hub_id="visionzoo/fcn8s.shapes",
            sha256="5e468bfd628f9c1fda7ee64e52db299c6d5e5162b25e8af010c941c241d2e8b7",
            num_classes=4, in_chans=3, license="apache-2.0", default=True,
            metrics={'miou': 0.882},
            model_kwargs={'widths': [16, 32, 48, 64, 64], 'depths': [2, 2, 2, 2, 2], 'fc_width': 128, 'dropout': 0.1},
        ),
    },
    "fcn8s_resnet18": {},
}

# name -> (builder, defaults, description). Defaults are the builder's keyword arguments; users
# override any of them through zoo.create(name, **kwargs).
ARCHITECTURES: dict[str, tuple[str, dict, str]] = {
    "unet_small": (
        "zoo_segmentation.unet:unet", {"base_width": 8, "depth": 3},
        "U-Net (Ronneberger et al. 2015), 8 base channels, 3 poolings: a tiny, fast variant.",
    ),
    "unet": (
        "zoo_segmentation.unet:unet", {"base_width": 16, "depth": 4, "upsample": "transposed"},
        "U-Net (Ronneberger et al. 2015), 16 base channels, 4 poolings; upsample='transposed'|'bilinear'.",
    ),
    "unet_large": (
        "zoo_segmentation.unet:unet", {"base_width": 64, "depth": 4},
        "U-Net (Ronneberger et al. 2015) with the paper's widths (64..1024), padded convs and BatchNorm.",
    ),
    "segnet": (
        "zoo_segmentation.segnet:segnet", {"widths": (16, 32, 64, 128), "depths": (2, 2, 3, 3)},
        "SegNet (Badrinarayanan et al. 2015): max-unpooling decoder using the encoder's pooling indices.",
    ),
    "segnet_vgg16": (
        "zoo_segmentation.segnet:segnet",
        {"widths": (64, 128, 256, 512, 512), "depths": (2, 2, 3, 3, 3)},
        "SegNet (Badrinarayanan et al. 2015) with the paper's VGG-16 encoder and mirrored decoder.",
    ),
    "fcn32s": (
        "zoo_segmentation.fcn:fcn32s", {"backbone": "vgg"},
        "FCN-32s (Long et al. 2015): small VGG-style backbone, stride-32 scores upsampled 32x.",
    ),
    "fcn16s": (
        "zoo_segmentation.fcn:fcn16s", {"backbone": "vgg"},
        "FCN-16s (Long et al. 2015): FCN-32s plus a pool4 skip; backbone='vgg' or a timm encoder.",
    ),
    "fcn8s": (
        "zoo_segmentation.fcn:fcn8s", {"backbone": "vgg"},
        "FCN-8s (Long et al. 2015): FCN-16s plus a pool3 skip; backbone='vgg' or a timm encoder.",
    ),
    "fcn8s_resnet18": (
        "zoo_segmentation.fcn:fcn8s", {"backbone": "resnet18", "pretrained_backbone": False},
        "FCN-8s (Long et al. 2015) on a timm resnet18 features_only encoder (random init).",
    ),
}

DEFAULT_IO = {"num_classes": 21, "in_chans": 3}  # Pascal VOC's 21 classes, as in the papers


@zoo.hookimpl
def zoo_architectures() -> list[zoo.ArchitectureSpec]:
    return [
        zoo.ArchitectureSpec(
            name=name,
            task=TASK,
            builder=builder,
            defaults={**DEFAULT_IO, **defaults},
            pretrained=dict(PRETRAINED[name]),
            description=description,
        )
        for name, (builder, defaults, description) in ARCHITECTURES.items()
    ]
