import torch
import torch.nn.functional as F

import zoo


def _normalise(maps):
    flat = maps.flatten(1)
    low, high = flat.min(1, keepdim=True)[0], flat.max(1, keepdim=True)[0]
    return ((flat - low) / (high - low).clamp_min(1e-12)).view_as(maps)


def _targets(target, logits):
    """One class per image: the predicted ones for None, an int repeated, a list checked."""
    if target is None:
        return logits.argmax(1).tolist()
    if isinstance(target, int):
        return [target] * len(logits)
    if len(target) != len(logits):
        raise ValueError("one target per image")
    return target


class LeakyCAM(zoo.Explainer):
    """CAM through a forward hook that is never removed."""

    normalize = True

    @torch.no_grad()
    def __call__(self, images, target=None):
        store = {}
        self.model.features.register_forward_hook(lambda m, i, o: store.update(features=o))
        logits = self.model(images)
        target = _targets(target, logits)
        weights = self.model.get_classifier().weight[torch.as_tensor(target)]
        maps = torch.einsum("nc,nchw->nhw", weights, store["features"]).relu()
        return _normalise(F.interpolate(maps[:, None], size=images.shape[-2:], mode="bilinear")[:, 0])


class Blind(zoo.Explainer):
    """Image gradients (an edge detector): looks plausible, ignores the model entirely."""

    normalize = True

    def __call__(self, images, target=None):
        gray = images.mean(1)
        dx = F.pad((gray[:, :, 1:] - gray[:, :, :-1]).abs(), (0, 1))
        dy = F.pad((gray[:, 1:] - gray[:, :-1]).abs(), (0, 0, 0, 1))
        return _normalise(dx + dy)


class Messy(zoo.Explainer):
    """Input gradients through loss.backward(): leaves .grad on the parameters and the model in eval mode."""

    normalize = True

    def __call__(self, images, target=None):
        self.model.eval()
        x = images.clone().requires_grad_(True)
        with torch.enable_grad():
            logits = self.model(x)
            target = _targets(target, logits)
            logits.gather(1, torch.as_tensor(target)[:, None]).sum().backward()
        return _normalise(x.grad.abs().amax(1))


class Patching(LeakyCAM):
    """CAM that captures features by replacing forward on the model's features (never restored)."""

    @torch.no_grad()
    def __call__(self, images, target=None):
        store, features = {}, self.model.features
        if "forward" not in vars(features):
            original = features.forward
            features.forward = lambda x: store.setdefault("features", original(x))
        logits = self.model(images)
        target = _targets(target, logits)
        weights = self.model.get_classifier().weight[torch.as_tensor(target)]
        maps = torch.einsum("nc,nchw->nhw", weights, self.model.forward_features(images)).relu()
        return _normalise(F.interpolate(maps[:, None], size=images.shape[-2:], mode="bilinear")[:, 0])


class Lenient(zoo.Explainer):
    """Input gradients, state kept as found, but a target list of the wrong length is cycled or cut
    to the batch instead of refused (zip-like), explaining classes nobody asked for."""

    normalize = True

    def __call__(self, images, target=None):
        x = images.clone().requires_grad_(True)
        with torch.enable_grad():
            logits = self.model(x)
            if target is None:
                target = logits.argmax(1).tolist()
            elif isinstance(target, int):
                target = [target] * len(logits)
            target = [target[i % len(target)] for i in range(len(logits))]
            (grad,) = torch.autograd.grad(logits.gather(1, torch.as_tensor(target)[:, None]).sum(), x)
        return _normalise(grad.abs().amax(1))


class NotAMap(zoo.Explainer):
    def __call__(self, images, target=None):
        return "not a map"


def _input_gradients(model, images, target):
    x = images.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        target = _targets(target, logits)
        (grad,) = torch.autograd.grad(logits.gather(1, torch.as_tensor(target)[:, None]).sum(), x)
    return grad.abs().amax(1)


class Fragile(zoo.Explainer):
    """CAM through a forward hook removed after the call, but not in a finally: a model that raises
    leaves it on."""

    normalize = True

    @torch.no_grad()
    def __call__(self, images, target=None):
        store = {}
        handle = self.model.features.register_forward_hook(lambda m, i, o: store.update(features=o))
        logits = self.model(images)
        handle.remove()
        target = _targets(target, logits)
        weights = self.model.get_classifier().weight[torch.as_tensor(target)]
        maps = torch.einsum("nc,nchw->nhw", weights, store["features"]).relu()
        return _normalise(F.interpolate(maps[:, None], size=images.shape[-2:], mode="bilinear")[:, 0])


class Careless(zoo.Explainer):
    """Input gradients with the parameters' requires_grad switched off meanwhile, and switched back
    only after a call that succeeded."""

    normalize = True

    def __call__(self, images, target=None):
        flags = [p.requires_grad for p in self.model.parameters()]
        for p in self.model.parameters():
            p.requires_grad_(False)  # only the input's gradient is wanted
        maps = _input_gradients(self.model, images, target)
        for p, flag in zip(self.model.parameters(), flags):
            p.requires_grad_(flag)
        return _normalise(maps)


class GradLeaking(zoo.Explainer):
    """Input gradients after torch.set_grad_enabled(True), never set back: inside the caller's
    torch.no_grad() every later line of theirs records a graph."""

    normalize = True

    def __call__(self, images, target=None):
        torch.set_grad_enabled(True)
        return _normalise(_input_gradients(self.model, images, target))


class Overflowing(zoo.Explainer):
    """Says it normalises its maps, and returns them in [0, 2]."""

    normalize = True

    def __call__(self, images, target=None):
        return 2 * _normalise(_input_gradients(self.model, images, target))


class Dividing(zoo.Explainer):
    """Min-max normalisation without a guard: a constant map (a model whose output does not depend
    on the input) divides 0 by 0."""

    normalize = True

    def __call__(self, images, target=None):
        flat = _input_gradients(self.model, images, target).flatten(1)
        low, high = flat.min(1, keepdim=True)[0], flat.max(1, keepdim=True)[0]
        return ((flat - low) / (high - low)).view(len(images), *images.shape[-2:])
