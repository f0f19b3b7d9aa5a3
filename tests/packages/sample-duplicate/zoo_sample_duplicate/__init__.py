import torch.nn as nn  # noqa: F401 - a plugin may import torch at module level; it only costs time

import zoo


def build(num_classes=2, in_chans=3):
    return nn.Conv2d(in_chans, num_classes, 1)


@zoo.hookimpl
def zoo_architectures():
    # The same name as zoo-sample-plugin's, with a tag of its own.
    return [zoo.ArchitectureSpec(name="sample_segmenter", task="semantic_segmentation", builder=build,
                                 pretrained={"dup": zoo.PretrainedCfg("sample-org/sample_segmenter.dup")})]


@zoo.hookimpl
def zoo_explainers():
    return [zoo.ExplainerSpec(name="sample_ones", builder=lambda model: None, description="a clashing name")]
