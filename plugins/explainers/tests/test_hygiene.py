"""The model and the input are left exactly as found, whatever happens during a call."""

import pytest
import torch

import zoo

METHODS = ["cam", "gradcam", "gradcam_pp", "hirescam", "saliency", "smoothgrad", "integrated_gradients",
           "guided_backprop", "rise"]
FAST = {"smoothgrad": {"n_samples": 3, "seed": 0}, "integrated_gradients": {"n_steps": 4},
        "rise": {"n_masks": 20, "seed": 0}}


def _state(model):
    return ([m.training for m in model.modules()], [p.requires_grad for p in model.parameters()],
            [None if p.grad is None else p.grad.clone() for p in model.parameters()],
            {k: v.clone() for k, v in model.state_dict().items()})


def _assert_same(before, after):
    assert before[0] == after[0] and before[1] == after[1]
    for a, b in zip(before[2], after[2]):
        assert (a is None and b is None) or torch.equal(a, b)
    for k in before[3]:
        assert torch.equal(before[3][k], after[3][k]), k


@pytest.mark.parametrize("method", METHODS)
def test_state_restored(method, gap_model, images, hooks_of):
    gap_model.train()
    gap_model.features[1].eval()  # mixed flags must come back as they were
    gap_model.fc.weight.requires_grad_(False)
    gap_model.features[0].weight.grad = torch.ones_like(gap_model.features[0].weight)
    grad_object = gap_model.features[0].weight.grad
    x = images.clone().requires_grad_(True)
    copy = x.detach().clone()
    before = _state(gap_model)
    maps = zoo.explain(gap_model, x, method, target=1, **FAST.get(method, {}))
    _assert_same(before, _state(gap_model))  # BN running stats untouched: explained in eval mode
    assert gap_model.features[0].weight.grad is grad_object
    assert x.requires_grad and x.grad is None and torch.equal(x.detach(), copy)
    assert not maps.requires_grad
    assert hooks_of(gap_model) == []


def test_a_ctrl_c_while_the_model_is_put_back_still_puts_all_of_it_back(gap_model, images, hooks_of):
    """A KeyboardInterrupt landing in the restore loop ended it part-way: the parameters after that
    point stayed frozen (requires_grad=False) for good, silently."""
    class InterruptedOnce(torch.nn.Parameter):
        def requires_grad_(self, requires_grad=True):
            if requires_grad and not getattr(self, "interrupted", False):
                self.interrupted = True
                raise KeyboardInterrupt  # as a Ctrl-C between two parameters would
            return super().requires_grad_(requires_grad)

    gap_model.features[0].weight = InterruptedOnce(gap_model.features[0].weight.detach().clone())
    with pytest.raises(KeyboardInterrupt):
        zoo.explain(gap_model, images, "saliency", target=1)
    assert all(p.requires_grad for p in gap_model.parameters())
    assert hooks_of(gap_model) == []


@pytest.mark.parametrize("method", METHODS)
def test_no_hooks_left_after_an_error(method, gap_model, images, hooks_of):
    before = _state(gap_model)
    with pytest.raises(ValueError):
        zoo.explain(gap_model, images, method, target=99, **FAST.get(method, {}))
    assert hooks_of(gap_model) == []
    _assert_same(before, _state(gap_model))


@pytest.mark.parametrize("method", METHODS)
def test_works_under_no_grad_and_inference_mode(method, gap_model, images):
    expected = zoo.explain(gap_model, images, method, target=0, **FAST.get(method, {}))
    with torch.no_grad():
        torch.testing.assert_close(zoo.explain(gap_model, images, method, target=0, **FAST.get(method, {})),
                                   expected)
    with torch.inference_mode():
        x = images.clone()
        torch.testing.assert_close(zoo.explain(gap_model, x, method, target=0, **FAST.get(method, {})),
                                   expected)
    assert torch.is_grad_enabled()


@pytest.mark.parametrize("method", METHODS)
def test_works_under_another_default_device(method, gap_model, images):
    """Tensors an explainer makes follow the images, not torch.set_default_device (meta stands in
    for a GPU here: a tensor made there has no value). Unseeded: the seed drawn is torch's."""
    options = {**FAST.get(method, {}), **({"seed": None} if method in ("smoothgrad", "rise") else {})}
    torch.manual_seed(0)
    expected = zoo.explain(gap_model, images, method, target=0, **options)
    with torch.device("meta"):
        torch.manual_seed(0)
        maps = zoo.explain(gap_model, images, method, target=0, **options)
    assert maps.device == images.device
    torch.testing.assert_close(maps, expected)


def test_input_not_requiring_grad_stays_so(gap_model, images):
    zoo.explain(gap_model, images, "saliency", target=0)
    assert not images.requires_grad and images.grad is None


def test_layer_search_leaves_no_hooks(images, plain_model, hooks_of):
    model = plain_model
    zoo.explain(model, images, "gradcam", target=0)
    assert hooks_of(model) == []


def test_no_backward_module_hooks_used(gap_model, images, monkeypatch):
    """The in-place ReLUs would break module backward hooks; make sure none is ever registered."""
    calls = []
    original = torch.nn.Module.register_full_backward_hook
    monkeypatch.setattr(torch.nn.Module, "register_full_backward_hook",
                        lambda self, *a, **k: calls.append(self) or original(self, *a, **k))
    for method in METHODS:
        zoo.explain(gap_model, images, method, target=0, **FAST.get(method, {}))
    assert calls == []


@pytest.mark.parametrize("method", ["saliency", "gradcam", "smoothgrad"])
def test_threads_explaining_one_model_take_turns(method, gap_model, hooks_of):
    """Each call saves and restores model-wide state: overlapping calls restored each other's
    frozen parameters (requires_grad=False for good) and left gradcam's patched forward_features."""
    import threading

    model = gap_model
    x = torch.randn(4, 3, 24, 24, generator=torch.Generator().manual_seed(2))
    expected = zoo.explain(model, x, method, **FAST.get(method, {}))
    for _ in range(5):
        barrier, results, errors = threading.Barrier(4), [], []

        def work():
            barrier.wait()
            try:
                results.append(zoo.explain(model, x, method, **FAST.get(method, {})))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert all(p.requires_grad for p in model.parameters()) and hooks_of(model) == []
        assert all(torch.allclose(r, expected, atol=1e-6) for r in results)


def test_a_compiled_or_exported_model_is_explained_as_the_model_itself(gap_model, images):
    """torch.compile's wrapper hid forward_features (its compiled code runs the original module:
    "the forward pass never ran forward_features"); torch.export's module refused eval()."""
    compiled = torch.compile(gap_model, backend="eager")
    for method in ("gradcam", "cam", "saliency"):
        assert torch.allclose(zoo.explain(compiled, images, method), zoo.explain(gap_model, images, method), atol=1e-6)
    exported = torch.export.export(gap_model, (images,)).module()
    assert torch.allclose(zoo.explain(exported, images, "saliency"), zoo.explain(gap_model, images, "saliency"),
                          atol=1e-6)


def test_a_data_parallel_model_is_explained_as_the_model_it_wraps(gap_model, images):
    """cam said the model had no forward_features/get_classifier: the wrapper hid them."""
    wrapped = torch.nn.DataParallel(gap_model)  # on a CPU-only machine it simply calls the module
    images = images.to(next(gap_model.parameters()).device)  # where CUDA is, the wrapper moved it to cuda:0
    for method in ("cam", "gradcam", "saliency"):
        assert torch.allclose(zoo.explain(wrapped, images, method), zoo.explain(gap_model, images, method), atol=1e-6)


def test_the_lock_and_eval_mode_reach_past_compile_and_export_wrappers(gap_model, images):
    """faithfulness took the compiled wrapper's own lock (not its module's); a torch.export'ed
    child made eval() stop part-way, leaving the layers after it in train mode (dropout on)."""
    from torch import nn

    from zoo_explainers.errors import NestedExplanationError
    from zoo_explainers.hygiene import explaining

    compiled = torch.compile(gap_model, backend="eager")
    with explaining(compiled), pytest.raises(NestedExplanationError):
        with explaining(gap_model):  # the wrapper's explanation is its module's
            pass
    exported = torch.export.export(gap_model.features, (images,)).module()
    model = nn.Sequential(exported, nn.Dropout(0.5), nn.BatchNorm2d(8))
    for m in model.modules():  # train() is refused by the exported module, as eval() is
        m.training = True
    with explaining(model):
        assert not any(m.training for m in model.modules())
    assert all(m.training for m in model.modules())


def test_models_sharing_modules_explained_from_two_threads_are_left_as_found(images, hooks_of):
    """A lock per model object let a wrapper and the model inside it (or two models sharing a
    block) be explained at once: each restored the other's frozen parameters for good."""
    import threading

    from torch import nn

    torch.manual_seed(0)
    shared = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
    inner = nn.Sequential(shared, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    outer = nn.Sequential(inner, nn.Linear(4, 2))
    outer.train()
    before = _state(outer)
    barrier = threading.Barrier(2)

    def work(model):
        barrier.wait()
        for _ in range(10):
            zoo.explain(model, images, "smoothgrad", n_samples=2, seed=0)

    threads = [threading.Thread(target=work, args=(m,)) for m in (outer, inner)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _assert_same(before, _state(outer))
    assert hooks_of(outer) == []


def test_an_explanation_inside_another_of_the_same_model_is_refused(gap_model, plain_model, images):
    """A score_fn explaining the model being explained overwrote the outer call's captured
    features: an all-zero gradcam map, or a bare RuntimeError."""
    from zoo_explainers.errors import NestedExplanationError

    def same(output, classes):
        zoo.explain(gap_model, images, "saliency", target=2)
        return output[:, 1]

    with pytest.raises(NestedExplanationError, match="shares modules with the model already being explained"):
        zoo.explain(gap_model, images, "gradcam", target=1, score_fn=same)

    def other(output, classes):
        zoo.explain(plain_model, images, "saliency", target=2)  # another model: fine
        return output[:, 1]

    expected = zoo.explain(gap_model, images, "gradcam", target=1)
    assert torch.allclose(zoo.explain(gap_model, images, "gradcam", target=1, score_fn=other), expected)


def test_crossed_nested_explanations_in_two_threads_finish(gap_model, plain_model, images):
    """Thread 1 explains A with a score_fn that explains B, thread 2 the reverse: with a lock per
    model each held one and waited for the other's, for ever."""
    import threading

    def nested(outer, inner):
        def score(output, classes):
            zoo.explain(inner, images, "saliency", target=0)
            return output[:, 1]
        zoo.explain(outer, images, "saliency", target=1, score_fn=score)

    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=lambda a=a, b=b: (barrier.wait(), nested(a, b)), daemon=True)
               for a, b in ((gap_model, plain_model), (plain_model, gap_model))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)


@pytest.mark.parametrize("method", ["cam", "gradcam"])
def test_a_copy_of_the_model_made_during_an_explanation_is_a_plain_copy(method, gap_model, images):
    """CAM and Grad-CAM wrap forward_features for the call. A copy taken meanwhile (the timm
    bridge's dry run of a new image size takes one) runs its own method and feeds nothing in."""
    import copy
    import warnings

    copies = []

    def score_fn(output, classes):
        twin = copy.deepcopy(gap_model)
        twin.forward_features(images)
        copies.append(twin)
        return output.gather(1, classes[:, None])[:, 0]

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the captured layer running twice would warn
        maps = zoo.explain(gap_model, images, method=method, score_fn=score_fn)
    torch.testing.assert_close(maps, zoo.explain(gap_model, images, method=method))
    assert copies and copies[0].forward_features.__self__ is copies[0]


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork on this platform")
def test_a_fork_while_another_thread_explains_does_not_hang_the_child(gap_model, images):
    """The child inherited the explanations' lock held, by a thread it does not have, and its own
    explanation waited forever."""
    import os
    import signal
    import threading
    import time

    from zoo_explainers import hygiene

    holding, done_holding = threading.Event(), threading.Event()

    def explaining():  # another thread, in the middle of an explanation
        with hygiene._turns:
            holding.set()
            done_holding.wait(120)

    thread = threading.Thread(target=explaining)
    thread.start()
    holding.wait(30)
    try:
        pid = os.fork()
        if pid == 0:  # the child: never back into pytest
            try:
                # one intra-op thread, as DataLoader's workers take: torch's OpenMP threads do not survive
                # a fork, so a child of a parent that ran convolutions in parallel would hang in its own
                torch.set_num_threads(1)
                zoo.explain(gap_model, images, "saliency", target=1)
                os._exit(0)
            except BaseException:  # noqa: BLE001
                os._exit(1)
        deadline, status = time.monotonic() + 60, None
        while status is None and time.monotonic() < deadline:
            done, raw = os.waitpid(pid, os.WNOHANG)
            status = os.waitstatus_to_exitcode(raw) if done else None
            time.sleep(0.05)
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    finally:
        done_holding.set()
        thread.join()
    assert status == 0
