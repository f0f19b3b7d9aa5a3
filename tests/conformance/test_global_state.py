"""torch's global state (grad mode, default dtype, global hooks, ...) changed by a subject is put
back after each check and reported as a failure of that subject, never of the next one."""

from __future__ import annotations

import torch
import torch.nn as nn

import zoo
from zoo.testing import FAIL, PASS, ExplainerSubject, ModelSubject, run_subjects


class _GradOff(zoo.Explainer):
    """Saliency that switches autograd off globally on its way out (and never back on)."""

    def __call__(self, images, target=None):
        x = images.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            scores = self.model(x)
            classes = scores.argmax(1) if target is None else torch.as_tensor(
                [target] * len(images) if isinstance(target, int) else target)
            (grad,) = torch.autograd.grad(scores.gather(1, classes[:, None]).sum(), x)
        torch.set_grad_enabled(False)
        torch.nn.modules.module.register_module_forward_hook(lambda *a: None)
        return grad.abs().amax(1)


class _Tiny(nn.Module):
    def __init__(self, num_classes=2, in_chans=3):
        super().__init__()
        self.conv = nn.Conv2d(in_chans, num_classes, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


def _dtype_changing_builder(num_classes=2, in_chans=3):
    torch.set_default_dtype(torch.float64)
    return _Tiny(num_classes, in_chans).float()


def test_leftover_global_state_fails_the_subject_that_left_it():
    explainer = ExplainerSubject(spec=zoo.ExplainerSpec(name="grad_off", builder=_GradOff,
                                                        tasks=("classification",)))
    model = ModelSubject(spec=zoo.ArchitectureSpec(name="tiny", task="semantic_segmentation", builder=_Tiny))
    results = run_subjects([explainer, model], ["explainer_output", "gradients"])
    by_subject = {r.subject: r for r in results}
    bad = by_subject["explainer grad_off"]
    assert bad.status == FAIL and "global state" in bad.clause
    assert "grad mode left disabled" in bad.message and "global nn.Module hook(s)" in bad.message
    assert by_subject["model tiny"].status == PASS, by_subject["model tiny"].message
    assert torch.is_grad_enabled() and not torch.nn.modules.module._global_forward_hooks


def test_a_builder_changing_the_default_dtype_fails_build():
    model = ModelSubject(spec=zoo.ArchitectureSpec(name="f64", task="semantic_segmentation",
                                                   builder=_dtype_changing_builder))
    (result,) = run_subjects([model], ["build"])
    assert result.status == FAIL and "default dtype left torch.float64 (was torch.float32)" in result.message
    assert torch.get_default_dtype() == torch.float32
    # it builds, so the later checks run (they were skipped as "the model does not build")
    later = run_subjects([model], ["build", "segmentation_output"])[1]
    assert later.status == PASS, later.message


def test_the_thread_count_the_checks_run_with_is_given_back():
    """Checks run on ZOO_CHECK_THREADS threads (default 1); the caller's count comes back after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        model = ModelSubject(spec=zoo.ArchitectureSpec(name="tiny", task="semantic_segmentation", builder=_Tiny))
        (result,) = run_subjects([model], ["eval_determinism"])
        assert result.status == PASS and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


class _GradOffHalfSize(_GradOff):
    """Leaves grad mode off, and its maps are half the input size."""

    def __call__(self, images, target=None):
        return super().__call__(images, target)[:, ::2, ::2]


def test_a_check_failed_on_its_own_clause_keeps_that_clause_when_it_also_left_state_changed():
    explainer = ExplainerSubject(spec=zoo.ExplainerSpec(name="grad_off_half", builder=_GradOffHalfSize,
                                                        tasks=("classification",)))
    (result,) = run_subjects([explainer], ["explainer_output"])
    assert result.status == FAIL and result.clause.startswith("explainer(images, target) returns detached"), \
        result.clause
    assert "expected (3, 33, 45); also left torch's global state changed: grad mode left disabled" in \
        result.message, result.message


def test_inference_mode_left_enabled_is_put_back_for_good():
    """Only a guard of the zoo's own can counter a leaked inference-mode guard; it must outlive restore()."""
    import subprocess
    import sys

    code = ("import gc, torch; from zoo import torch_state\n"
            "before = torch_state.snapshot()\n"
            "leaked = torch.inference_mode()\n"
            "leaked.__enter__()  # entered, never exited\n"
            "changes = torch_state.restore(before)\n"
            "gc.collect()\n"
            "print(torch.is_inference_mode_enabled(), any('inference mode left enabled' in c for c in changes))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]


def test_every_piece_of_global_state_is_put_back_and_named():
    from zoo import torch_state

    before = torch_state.snapshot()
    assert before == torch_state.at_import()  # the state these tests run in: torch's own defaults
    torch.set_default_device("meta")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.set_anomaly_enabled(True, check_nan=False)
    handle = torch.nn.modules.module.register_module_full_backward_hook(lambda *a: None)
    try:
        changes = " | ".join(torch_state.restore(before))
        assert torch_state.snapshot() == before
    finally:
        torch.set_default_device("cpu")
        torch.use_deterministic_algorithms(False)
        torch.set_anomaly_enabled(False)
        handle.remove()
    for said in ("default device left meta", "torch.use_deterministic_algorithms left True",
                 "autograd anomaly detection left on", "global nn.Module hook(s) left in _global_backward_hooks"):
        assert said in changes


def test_deterministic_algorithms_come_back_with_their_warn_only_flag():
    from zoo import torch_state

    torch.use_deterministic_algorithms(True, warn_only=True)  # the user's own setting
    try:
        before = torch_state.snapshot()
        torch.use_deterministic_algorithms(False)  # a subject turned it off
        torch_state.restore(before)
        assert (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()) \
            == (True, True)
    finally:
        torch.use_deterministic_algorithms(False)
