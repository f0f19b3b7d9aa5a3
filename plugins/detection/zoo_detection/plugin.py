"""Hook implementations of the detection plugin: specs only (imports ``zoo``, never torch).

Pretrained weight sets are plain data in ``PRETRAINED``: add a tag by adding an entry, e.g.::

    PRETRAINED["maskrcnn_mini"]["shapes"] = zoo.PretrainedCfg(
        hf_hub_id="visionzoo/maskrcnn_mini.shapes", sha256="...", num_classes=4, default=True)
"""

import zoo

# num_classes counts the background, as torchvision does: 3 shape classes + background = 4.
DEFAULTS = {
    "maskrcnn_mini": {"num_classes": 4, "in_chans": 3},
}

PRETRAINED: dict[str, dict[str, zoo.PretrainedCfg]] = {
    "maskrcnn_mini": {
        # `zoo train hubcards/maskrcnn_mini.shapes`; measured on the held-out test split (see the card)
        "shapes": zoo.PretrainedCfg(
            hf_hub_id="visionzoo/maskrcnn_mini.shapes",
            sha256="85a6bc727b3aadf9dcc805e8949add3356ef0c986aab6eea88f3af4be51c4d6b",
            num_classes=4, in_chans=3, license="apache-2.0", default=True,
            metrics={'mask_map_50': 0.9205, 'mask_map': 0.6195, 'box_map_50': 0.9307, 'box_map': 0.7117},
            model_kwargs={},
        ),
    },
}

DESCRIPTIONS = {
    "maskrcnn_mini": "Mask R-CNN (He et al. 2017) scaled down to train on a CPU: small conv "
                     "backbone + FPN, small-object anchors, RoIAlign box and mask heads",
}

# torch.export needs shapes that do not depend on the data; torchvision's RPN and RoI heads keep
# the proposals and detections that pass score/size filters and NMS, so they cannot export.
EXPORT = "data-dependent shapes: torchvision's RPN and RoI heads filter proposals by score and size and run NMS"


@zoo.hookimpl
def zoo_architectures():
    return [
        zoo.ArchitectureSpec(
            name=name,
            task="instance_segmentation",
            builder=f"zoo_detection.maskrcnn_mini:{name}",
            defaults=dict(DEFAULTS[name]),
            pretrained=dict(PRETRAINED[name]),
            description=DESCRIPTIONS[name],
            export=EXPORT,
        )
        for name in DEFAULTS
    ]
