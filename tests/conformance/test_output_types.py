"""A dense-task model whose forward returns a dict or a tuple fails its checks with a message
naming the problem and the fix, not "'dict' object has no attribute 'shape'"."""

import pytest
import torch
import torch.nn as nn

import zoo
from zoo.testing.runner import run_subjects
from zoo.testing.subjects import ModelSubject

WRAPPERS = {"dict": lambda y: {"logits": y}, "tuple": lambda y: (y, y.detach())}
PICKS = {"dict": "model(x)['logits']", "tuple": "model(x)[0]"}


class _Classifier(nn.Module):
    def __init__(self, wrap, num_classes=3, in_chans=3):
        super().__init__()
        self.wrap = wrap
        self.conv = nn.Conv2d(in_chans, 4, 3, padding=1)
        self.fc = nn.Linear(4, num_classes)

    def forward_features(self, x):
        return self.conv(x)

    def get_classifier(self):
        return self.fc

    def forward(self, x):
        return self.wrap(self.fc(self.forward_features(x).mean((2, 3))))


class _Segmenter(nn.Module):
    def __init__(self, num_classes=3, in_chans=3):
        super().__init__()
        self.conv = nn.Conv2d(in_chans, num_classes, 1)

    def forward(self, x):
        return {"out": self.conv(x)}  # torchvision's segmentation models do this


@pytest.mark.parametrize("kind", ["dict", "tuple"])
def test_a_classifier_returning_a_container_is_told_to_return_the_tensor(kind):
    wrap = WRAPPERS[kind]
    subject = ModelSubject(spec=zoo.ArchitectureSpec(
        "boxed", "classification", builder=lambda num_classes=3, in_chans=3: _Classifier(wrap, num_classes, in_chans)))
    torch.set_num_threads(1)
    results = run_subjects([subject], ["num_classes", "in_chans", "gradients", "classification_*"])
    failed = {r.check: r.message for r in results if r.failed}
    assert set(failed) == {"num_classes", "in_chans", "gradients", "classification_output",
                           "classification_features", "classification_cam_head"}
    for check, message in failed.items():
        assert message.startswith(f"the model returned a {kind}"), (check, message)
        assert "the classification contract is a tensor of logits (N, K)" in message, (check, message)
        assert f"wrap the model (a module whose forward returns {PICKS[kind]})" in message, (check, message)


def test_a_segmenter_returning_a_dict_is_told_the_same():
    subject = ModelSubject(spec=zoo.ArchitectureSpec("boxed_seg", "semantic_segmentation", builder=_Segmenter))
    results = run_subjects([subject], ["num_classes", "segmentation_output"])
    for result in results:
        assert result.failed and "the semantic_segmentation contract is a tensor of logits (N, K, H, W)" in \
            result.message and "model(x)['out']" in result.message, result
