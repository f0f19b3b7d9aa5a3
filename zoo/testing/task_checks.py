"""Checks of each task's input/output contract (DESIGN.md, "Model contracts, by task")."""

from __future__ import annotations

from zoo.testing.checks import MODEL, broken, check
from zoo.testing.results import CheckSkipped
from zoo.testing.tasks import CLASSIFICATION, INSTANCE, INSTANCE_SIZES, SEMANTIC, instance_targets, output_problem
from zoo.testing.tensors import describe, distinct_images, images

CLASSIFICATION_SIZES = ((32, 32), (40, 56))
CLASSIFICATION_BATCHES = (1, 3)
# The contract's minimum is 32: every size is >= 32, odd ones not multiples of any stride.
SEGMENTATION_SIZES = ((33, 47), (64, 64), (97, 33))
SEGMENTATION_BATCH = 3  # at the first size, compared image by image with batch 1


def _num_classes(subject):
    from zoo.testing.model_checks import default_num_classes

    return default_num_classes(subject)


def _finite_float(out, what: str) -> None:
    import torch

    if not out.is_floating_point():
        raise broken(f"{what}: logits must be floating point, got {out.dtype}")
    if not torch.isfinite(out).all():
        raise broken(f"{what}: output has {int((~torch.isfinite(out)).sum())} non-finite values")


def _batch_matches_single(model, x, out, what: str) -> None:
    """Each image's output in the batch ``x`` equals its output alone (eval mode): nothing may
    mix images (batch statistics) or drop all but the first."""
    import torch

    from zoo.testing.model_checks import mismatch

    for i in range(len(x)):
        with torch.no_grad():
            alone = model(x[i:i + 1].clone())
        if not isinstance(alone, torch.Tensor) or alone.shape != out[i:i + 1].shape:
            raise broken(f"{what}: image {i} alone gave {describe(alone)}, expected {describe(out[i:i + 1])}")
        if not torch.allclose(out[i:i + 1], alone, rtol=1e-4, atol=_atol(alone)):
            gap = float((out[i:i + 1] - alone).abs().max())
            raise mismatch(model, x[i:i + 1], f"{what}: image {i}'s output in the batch differs from its output "
                                              f"alone by up to {gap:.3g}; in eval mode images must not influence "
                                              f"each other (batch statistics, or only image 0 computed?)")


def _atol(reference) -> float:
    """The absolute tolerance of comparing outputs with ``reference``: 1e-4 of its largest value
    (at least 1e-4), for the rounding of batched against one-image kernels."""
    return 1e-4 * max(1.0, float(reference.abs().max()))


def _classification_sizes(subject) -> tuple[tuple[int, int], ...]:
    """The (H, W) sizes a classifier is fed: :data:`CLASSIFICATION_SIZES`, or, for a model that
    declares its input size (timm's ``pretrained_cfg``), that size and, unless it is fixed, the
    same twice as wide (timm models may need 75 px or more, or a multiple of 32 or of 256)."""
    declared = subject.input_size()
    if declared is None:
        return CLASSIFICATION_SIZES
    h, w = declared
    return (declared,) if subject.fixed_input_size() else (declared, (h, 2 * w))


@check("classification_output", MODEL, "classification: (N, C, H, W) -> logits (N, K), for several N and H, W; "
       "each image's logits in a batch equal its logits alone", tasks=(CLASSIFICATION,))
def check_classification_output(subject):
    import torch

    model = subject.model().eval()
    k = _num_classes(subject)
    c = subject.in_chans()
    sizes = _classification_sizes(subject)
    for n in CLASSIFICATION_BATCHES:
        for h, w in sizes:
            x = distinct_images(n, c, h, w)
            with torch.no_grad():
                out = model(x.clone())  # a model writing into x is input_unchanged's to report
            problem = output_problem(CLASSIFICATION, out, f"input {tuple(x.shape)}")
            if problem:
                raise broken(problem)
            what = f"input {tuple(x.shape)} gave {describe(out)}"
            if tuple(out.shape) != (n, k):
                raise broken(f"{what}; expected ({n}, {k})")
            _finite_float(out, what)
            if n > 1 and (h, w) == sizes[0]:
                _batch_matches_single(model, x, out, f"input {tuple(x.shape)}")
    fixed = " (the model declares a fixed input size)" if subject.fixed_input_size() else \
        " (from the input size the model declares)" if subject.input_size() else ""
    return f"N in {CLASSIFICATION_BATCHES}, HxW in {sizes}{fixed}, K={k}"


def _feature_layout(model, features) -> tuple[str, int, tuple[int, ...] | None]:
    """How ``forward_features`` lays out its output, in timm's conventions: ``(name, channels,
    spatial dims to average, or None when it is no map)``. A 4-D map is (N, C', h, w) unless
    the model declares ``output_fmt = "NHWC"`` (timm's Swin and others); 3-D output is tokens
    (N, L, C')."""
    if features.ndim == 4 and getattr(model, "output_fmt", "NCHW") == "NHWC":
        return "(N, h, w, C')", features.shape[-1], (1, 2)
    if features.ndim == 4:
        return "(N, C', h, w)", features.shape[1], (2, 3)
    return "tokens (N, L, C')", features.shape[-1], None


def _classifier_modules(head) -> bool:
    import torch.nn as nn

    heads = head if isinstance(head, tuple) else (head,)
    return bool(heads) and all(isinstance(h, nn.Module) for h in heads)


def _head_counts(subject, x, logits) -> bool:
    """Whether the weights of get_classifier() take part in forward(x): shifting every one of them
    (on a private copy) moves the logits. True for a head without weights (nn.Identity)."""
    import torch

    model = subject.model().eval()
    head = model.get_classifier()
    params = [p for h in (head if isinstance(head, tuple) else (head,)) for p in h.parameters()]
    if not params:
        return True
    with torch.no_grad():
        for p in params:
            p.add_(1.0)
        return not torch.equal(model(x.clone()), logits)


@check("classification_features", MODEL,
       "classification: timm's convention: forward_features(x) returns the unpooled features (a map "
       "(N, C', h, w); as in timm, (N, h, w, C') where the model declares output_fmt='NHWC', or tokens), "
       "get_classifier() the classifier module, and forward_head(forward_features(x)) (without forward_head: "
       "get_classifier() of the averaged map) equals forward(x)",
       tasks=(CLASSIFICATION,))
def check_classification_features(subject):
    import torch

    from zoo.testing.model_checks import mismatch

    model = subject.model().eval()
    missing = [m for m in ("forward_features", "get_classifier") if not callable(getattr(model, m, None))]
    if missing:
        raise broken(f"{type(model).__name__} has no {' and no '.join(f'{m}()' for m in missing)}")
    x = images(2, subject.in_chans(), *(subject.input_size() or (40, 56)))
    head = model.get_classifier()
    if not _classifier_modules(head):
        raise broken(f"get_classifier() returned {type(head).__name__}; expected the classifier module "
                     f"(nn.Linear for CAM; a tuple of modules for timm's distilled models)")
    with torch.no_grad():
        logits = model(x.clone())  # copies: writing into the input is input_unchanged's to report
        features = model.forward_features(x.clone())
    if not _head_counts(subject, x, logits):
        raise broken(f"get_classifier() returned a {type(head).__name__} whose weights forward(x) does not use "
                     f"(shifting them leaves the logits as they were): return the head forward uses (CAM reads "
                     f"its weights, and a num_classes change re-initialises it)")
    has_head = callable(getattr(model, "forward_head", None))
    if isinstance(features, torch.Tensor) and (features.ndim < 3 or features.shape[0] != 2):
        raise broken(f"forward_features(input {tuple(x.shape)}) gave {describe(features)}; expected the unpooled "
                     f"features (2, C', h, w) (pooling belongs in forward_head or the classifier)")
    if not has_head and not (isinstance(features, torch.Tensor) and features.ndim == 4):
        raise broken(f"forward_features(input {tuple(x.shape)}) gave {describe(features)} and the model has no "
                     f"forward_head() saying how to pool it; expected a map (2, C', h, w)")
    with torch.no_grad():
        if has_head:
            how, again = "forward_head(forward_features(x))", model.forward_head(features)
        else:
            _, _, spatial = _feature_layout(model, features)
            how = "get_classifier()(forward_features(x) averaged over h, w)"
            try:
                again = head(features.mean(spatial))
            except Exception as exc:  # noqa: BLE001
                raise broken(f"{how} raised {type(exc).__name__}: {exc}; without a forward_head() the classifier "
                             f"must take the averaged feature map {tuple(features.shape)} (a channels-last map "
                             f"needs output_fmt = 'NHWC' on the model, as in timm)") from exc
    if not isinstance(again, torch.Tensor) or again.shape != logits.shape:
        raise broken(f"{how} gave {describe(again)} but forward(x) gave {describe(logits)}")
    if not torch.allclose(again, logits, rtol=1e-4, atol=1e-4):
        raise mismatch(model, x, f"{how} differs from forward(x) by up to {(again - logits).abs().max().item():.3g}")
    if isinstance(features, torch.Tensor):
        layout = _feature_layout(model, features)[0]
        return f"features {layout} {tuple(features.shape)}; {how} == forward(x)"
    return f"features {describe(features)}; {how} == forward(x)"


@check("classification_cam_head", MODEL,
       "classification: CAM applies: forward_features(x) is a map (or patch tokens), get_classifier() a Linear "
       "(K x C'), and get_classifier() of the globally averaged map (or tokens) gives forward(x) (a head with "
       "pre-logits, a norm, a conv head or several classifiers, or a class token read alone, make CAM "
       "approximate or inapplicable: a SKIP)",
       tasks=(CLASSIFICATION,))
def check_classification_cam_head(subject):
    import torch
    import torch.nn as nn

    model = subject.model().eval()
    if not callable(getattr(model, "forward_features", None)) or not callable(getattr(model, "get_classifier", None)):
        raise CheckSkipped("no forward_features() / get_classifier(): classification_features reports that")
    x = images(2, subject.in_chans(), *(subject.input_size() or (40, 56)))
    with torch.no_grad():
        logits = model(x.clone())
        features = model.forward_features(x.clone())
    if not isinstance(features, torch.Tensor) or features.ndim not in (3, 4):
        raise CheckSkipped(f"forward_features() returns {describe(features)}, neither a map nor tokens: CAM does "
                           f"not apply (Grad-CAM does, at a layer with a map or tokens)")
    layout, c, spatial = _feature_layout(model, features)
    if spatial is None:  # tokens: CAM weighs the patch tokens, after the model's class/register tokens
        prefix = int(getattr(model, "num_prefix_tokens", 0) or 0)
        features, spatial, layout = features[:, prefix:], (1,), f"{layout} map of patch tokens"
    head = model.get_classifier()
    weight = getattr(head, "weight", None)
    if not isinstance(head, nn.Linear) or weight.shape != (logits.shape[1], c):
        shape = tuple(weight.shape) if isinstance(weight, torch.Tensor) else None
        raise CheckSkipped(f"get_classifier() is {type(head).__name__} with weight {shape}, not a Linear "
                           f"({logits.shape[1]}, {c}) on the {c} channels of the {layout} map: the head has layers "
                           f"between the pooling and the classifier (a conv head, pre-logits) or several "
                           f"classifiers, so CAM does not apply")
    with torch.no_grad():
        pooled = head(features.mean(spatial))
    if torch.allclose(pooled, logits, rtol=1e-4, atol=1e-4):
        return "forward(x) == get_classifier()(GAP(forward_features(x)))"
    if spatial == (1,):
        raise CheckSkipped(f"get_classifier() of the patch tokens' mean differs from forward(x) by up to "
                           f"{float((pooled - logits).abs().max()):.3g}: the model reads a class token, or its head "
                           f"does more than the linear layer (a norm, pre-logits), so CAM does not apply "
                           f"(Grad-CAM does)")
    raise CheckSkipped(f"get_classifier()(GAP(forward_features(x))) differs from forward(x) by up to "
                       f"{float((pooled - logits).abs().max()):.3g}: the head does more than the linear layer "
                       f"(pre-logits, a norm, an MLP), so CAM through get_classifier() is approximate for this model")


@check("segmentation_output", MODEL,
       "semantic_segmentation: (N, C, H, W) -> logits (N, K, H, W) for any H, W from 32 up, "
       "not only multiples of 32 (eval mode; batch 1, and batch 3 where each image's logits equal its logits alone)",
       tasks=(SEMANTIC,))
def check_segmentation_output(subject):
    import torch

    model = subject.model().eval()
    k = _num_classes(subject)
    c = subject.in_chans()
    batches = [1] * len(SEGMENTATION_SIZES) + [SEGMENTATION_BATCH]
    for n, (h, w) in zip(batches, SEGMENTATION_SIZES + SEGMENTATION_SIZES[:1]):
        x = distinct_images(n, c, h, w)
        try:
            with torch.no_grad():
                out = model(x.clone())  # a model writing into x is input_unchanged's to report
        except Exception as exc:  # noqa: BLE001
            raise broken(f"input {tuple(x.shape)} raised {type(exc).__name__}: {exc}"
                         f"{_odd_size_hint(model, n, c, h, w)}") from exc
        problem = output_problem(SEMANTIC, out, f"input {tuple(x.shape)}")
        if problem:
            raise broken(problem)
        what = f"input {tuple(x.shape)} gave {describe(out)}"
        if tuple(out.shape) != (n, k, h, w):
            hint = "; resize the logits back to x.shape[-2:]" if isinstance(out, torch.Tensor) and \
                out.ndim == 4 and tuple(out.shape[-2:]) != (h, w) else ""
            raise broken(f"{what}; expected ({n}, {k}, {h}, {w}){hint}")
        _finite_float(out, what)
        if n > 1:
            _batch_matches_single(model, x, out, f"input {tuple(x.shape)}")
    return f"HxW in {SEGMENTATION_SIZES}, N in (1, {SEGMENTATION_BATCH}), K={k}"


@check("input_dependence", MODEL,
       "in eval mode, different images give different outputs, so the checks comparing outputs can tell "
       "them apart (else a SKIP: nothing was verified by them)", tasks=(CLASSIFICATION, SEMANTIC))
def check_input_dependence(subject):
    """The comparisons of outputs (each image in a batch against it alone, eval_determinism, the
    weights round trip, export) pass on any model whose output is the same for every image: one
    that ignores its input in eval mode, or a random initialisation whose signal vanishes
    (torchvision's ``deeplabv3_mobilenet_v3_large``'s does). Such a model is not failed, since the
    second kind is a valid model; the SKIP says that those checks proved nothing about it."""
    import torch

    model = subject.model().eval()
    size = _classification_sizes(subject)[0] if subject.task == CLASSIFICATION else SEGMENTATION_SIZES[0]
    x = distinct_images(3, subject.in_chans(), *size)
    try:
        with torch.no_grad():
            out = model(x.clone())
    except Exception as exc:  # noqa: BLE001 - the output check fails it, with the hints
        raise CheckSkipped(f"input {tuple(x.shape)} raised {type(exc).__name__}; the output check says why") from exc
    if output_problem(subject.task, out, f"input {tuple(x.shape)}") or tuple(out.shape[:1]) != (len(x),) \
            or not torch.isfinite(out).all():
        raise CheckSkipped(f"the output is not one finite row per image ({describe(out)}); the output check says why")
    spread = max(float((out[i] - out[0]).abs().max()) for i in range(1, len(x)))
    tolerance = _atol(out)
    if spread <= tolerance:
        raise CheckSkipped(
            f"NOTHING VERIFIED by the output comparisons: {len(x)} images of different brightness gave outputs within "
            f"{spread:.3g} of each other, inside the {tolerance:.3g} those comparisons tolerate, so they cannot tell "
            "images apart (batch against alone, eval_determinism, safetensors_roundtrip, export). A model that "
            "ignores its input in eval mode does this, and so does a random initialisation whose signal vanishes "
            "on the way (torchvision's deeplabv3_mobilenet_v3_large's): look at its outputs with trained weights")
    return f"{len(x)} images at {size[0]}x{size[1]}: outputs differ by up to {spread:.3g} (tolerance {tolerance:.3g})"


def _odd_size_hint(model, n: int, c: int, h: int, w: int) -> str:
    """Where a size that is not a multiple of 32 failed and the next multiples work: the usual
    encoder-decoder mistake, and its two usual fixes."""
    import torch

    if h % 32 == 0 and w % 32 == 0:
        return ""
    up = (-(-h // 32) * 32, -(-w // 32) * 32)
    try:
        with torch.no_grad():
            model(images(n, c, *up))
    except Exception:  # noqa: BLE001 - then the size is not the cause
        return ""
    return (f". It runs at {up[0]}x{up[1]}: pad the input to a multiple of the network's stride and crop the "
            f"logits back to x.shape[-2:], or resize each upsampled map to its skip connection's size before "
            f"joining them")


def _instance_inputs(c: int):
    return [images(1, c, h, w, seed=i)[0] for i, (h, w) in enumerate(INSTANCE_SIZES)]


@check("detection_eval", MODEL,
       "instance_segmentation (eval): model(list of (C, H, W) images) -> one dict per image with boxes (R, 4) "
       "inside the image, labels (R,) int64, scores (R,) sorted descending, masks (R, 1, H, W) at image size; "
       "boxes, scores and masks finite",
       tasks=(INSTANCE,))
def check_detection_eval(subject):
    model = subject.model().eval()
    inputs = _instance_inputs(subject.in_chans())
    total = _check_detections(model, inputs, subject.spec.defaults.get("num_classes"))
    if total:
        return f"{total} detections"
    lowered = _lower_thresholds(model)  # an untrained head rarely clears the usual score threshold
    if lowered:
        total = _check_detections(model, inputs, subject.spec.defaults.get("num_classes"))
        if total:
            return f"{total} detections with {', '.join(lowered)}"
    tried = f" (also with {', '.join(lowered)})" if lowered else ""
    raise CheckSkipped(f"0 detections{tried}: the output's structure was checked, but boxes, scores and masks "
                       f"could not be; detections from the randomly initialised model are needed for that")


def _lower_thresholds(model) -> list[str]:
    """Lower torchvision-style thresholds (``score_thresh`` of the RoI heads) to 0 so an untrained
    detector returns its boxes; names what was changed."""
    changed = []
    for name, module in model.named_modules():
        value = getattr(module, "score_thresh", None)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            module.score_thresh = 0.0
            changed.append(f"{name or 'model'}.score_thresh={value} -> 0")
    return changed


def _check_detections(model, inputs, k) -> int:
    """Check one eval pass's structure and values; returns the number of detections."""
    import torch

    with torch.no_grad():
        outputs = model(inputs)
    if not isinstance(outputs, (list, tuple)) or len(outputs) != len(inputs):
        raise broken(f"{len(inputs)} images gave {describe(outputs)}; expected a list of {len(inputs)} dicts")
    total = 0
    for i, (img, out) in enumerate(zip(inputs, outputs)):
        h, w = img.shape[-2:]
        where = f"image {i} ({h}x{w})"
        if not isinstance(out, dict):
            raise broken(f"{where}: got {describe(out)}; expected a dict with boxes, labels, scores, masks")
        missing = [key for key in ("boxes", "labels", "scores", "masks") if key not in out]
        if missing:
            raise broken(f"{where}: got {describe(out)}; the key(s) {', '.join(map(repr, missing))} are missing "
                         f"(expected boxes, labels, scores, masks)")
        boxes, labels, scores, masks = (out[key] for key in ("boxes", "labels", "scores", "masks"))
        r = boxes.shape[0] if boxes.ndim == 2 else -1
        expected = {"boxes": (r, 4), "labels": (r,), "scores": (r,), "masks": (r, 1, h, w)}
        for key, shape in expected.items():
            if r < 0 or tuple(out[key].shape) != shape:
                raise broken(f"{where}: {describe(out)}; expected boxes (R, 4), labels (R,), scores (R,), "
                             f"masks (R, 1, {h}, {w})")
        if labels.dtype != torch.int64:
            raise broken(f"{where}: labels are {labels.dtype}, expected torch.int64")
        total += r
        if r == 0:
            continue
        for key, value in (("boxes", boxes), ("masks", masks)):
            if value.is_floating_point() and not torch.isfinite(value).all():
                raise broken(f"{where}: {key} hold {int((~torch.isfinite(value)).sum())} non-finite values")
        x1, y1, x2, y2 = boxes.unbind(1)
        eps = 1e-3
        outside = (x1 < -eps) | (y1 < -eps) | (x2 > w + eps) | (y2 > h + eps) | (x2 < x1) | (y2 < y1)
        if outside.any():
            raise broken(f"{where}: box {boxes[outside][0].tolist()} is not inside the image (0 <= x1 <= x2 <= {w}, "
                         f"0 <= y1 <= y2 <= {h}; boxes are (x1, y1, x2, y2) in pixels)")
        if not torch.isfinite(scores).all() or (scores[:-1] < scores[1:]).any():
            raise broken(f"{where}: scores are not sorted in descending order: {scores[:8].tolist()}")
        if labels.min() < 0 or (k is not None and labels.max() >= k):
            raise broken(f"{where}: labels {labels.unique().tolist()} outside [0, {k})")
        if masks.is_floating_point() and (masks.min() < 0 or masks.max() > 1):
            raise broken(f"{where}: mask values outside [0, 1]: [{masks.min().item():.3g}, {masks.max().item():.3g}]")
    return total


def _check_losses(losses, what: str) -> None:
    import torch

    if not isinstance(losses, dict) or not losses:
        raise broken(f"{what} gave {describe(losses)}; expected a dict of losses")
    for name, value in losses.items():
        if not isinstance(value, torch.Tensor) or value.ndim != 0:
            raise broken(f"{what}: loss {name!r} is {describe(value)}, expected a scalar tensor")
        if not torch.isfinite(value):
            raise broken(f"{what}: loss {name!r} is {value.item()}")
    if not any(v.requires_grad for v in losses.values()):
        raise broken(f"{what}: no loss requires grad, nothing to train")


@check("detection_train", MODEL,
       "instance_segmentation (train): model(images, targets) -> dict of finite scalar losses, targets in "
       "torchvision's format (boxes (M, 4) float, labels (M,) int64, masks (M, H, W) uint8)", tasks=(INSTANCE,))
def check_detection_train(subject):
    model = subject.model().train()
    inputs = _instance_inputs(subject.in_chans())
    losses = model(inputs, instance_targets(inputs, _num_classes(subject)))
    _check_losses(losses, "model(images, targets) in train mode")
    return ", ".join(sorted(losses))


@check("detection_empty_targets", MODEL,
       "instance_segmentation (train): images without objects (boxes (0, 4), labels (0,), masks (0, H, W)) "
       "give finite losses", tasks=(INSTANCE,))
def check_detection_empty_targets(subject):
    model = subject.model().train()
    inputs = _instance_inputs(subject.in_chans())
    try:
        losses = model(inputs, instance_targets(inputs, _num_classes(subject), empty=True))
    except Exception as exc:  # noqa: BLE001
        raise broken(f"targets without objects raised {type(exc).__name__}: {exc}") from exc
    _check_losses(losses, "model(images, empty targets) in train mode")
