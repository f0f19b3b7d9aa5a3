"""torch's process-wide state that a plugin's import, a model or an explainer could leave
changed: grad and inference mode, the default dtype and device, the deterministic-algorithms
flag, anomaly detection, and the global ``nn.Module`` hooks.

The registry snapshots it around each plugin's import, and the conformance runner around each
check, and puts it back after: a plugin or subject that leaves autograd disabled is reported
itself instead of breaking every model built later.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.modules.module as module_globals

GLOBAL_HOOK_DICTS = tuple(sorted(name for name, value in vars(module_globals).items()
                           if name.startswith("_global_") and isinstance(value, dict)))

# Inference mode is held by a guard object; one leaked by a subject can only be countered by a
# guard of our own, kept alive for the rest of the process.
_COUNTER_GUARDS: list = []


@dataclass(frozen=True)
class GlobalState:
    grad_enabled: bool
    inference_mode: bool
    default_dtype: torch.dtype
    default_device: str
    deterministic: tuple[bool, bool]  # (enabled, warn_only)
    anomaly: tuple[bool, bool]        # (enabled, check_nan)
    hooks: dict[str, frozenset]


def snapshot() -> GlobalState:
    return GlobalState(
        grad_enabled=torch.is_grad_enabled(),
        inference_mode=torch.is_inference_mode_enabled(),
        default_dtype=torch.get_default_dtype(),
        default_device=str(torch.get_default_device()),
        deterministic=(torch.are_deterministic_algorithms_enabled(),
                       torch.is_deterministic_algorithms_warn_only_enabled()),
        anomaly=(torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()),
        hooks={name: frozenset(getattr(module_globals, name)) for name in GLOBAL_HOOK_DICTS},
    )


def at_import() -> GlobalState:
    """The state torch starts in: what a plugin that imported torch first found."""
    return GlobalState(grad_enabled=True, inference_mode=False, default_dtype=torch.float32, default_device="cpu",
                       deterministic=(False, False), anomaly=(False, True),
                       hooks={name: frozenset() for name in GLOBAL_HOOK_DICTS})


def restore(before: GlobalState) -> list[str]:
    """Put back what changed since ``before``; returns one sentence per change."""
    now, changes = snapshot(), []
    if now.inference_mode != before.inference_mode:
        changes.append(f"inference mode left {'enabled' if now.inference_mode else 'disabled'} "
                       f"(exit torch.inference_mode() before returning)")
        guard = torch._C._InferenceMode(before.inference_mode)
        _COUNTER_GUARDS.append(guard)
    if now.grad_enabled != before.grad_enabled:
        changes.append(f"grad mode left {'enabled' if now.grad_enabled else 'disabled'} "
                       f"(use `with torch.no_grad():` / `torch.enable_grad()` instead of torch.set_grad_enabled)")
    torch.set_grad_enabled(before.grad_enabled)
    if now.default_dtype != before.default_dtype:
        changes.append(f"default dtype left {now.default_dtype} (was {before.default_dtype})")
        torch.set_default_dtype(before.default_dtype)
    if now.default_device != before.default_device:
        changes.append(f"default device left {now.default_device} (was {before.default_device})")
        torch.set_default_device(before.default_device)
    if now.deterministic != before.deterministic:
        changes.append(f"torch.use_deterministic_algorithms left {now.deterministic[0]} "
                       f"(warn_only={now.deterministic[1]}; was {before.deterministic[0]})")
        torch.use_deterministic_algorithms(before.deterministic[0], warn_only=before.deterministic[1])
    if now.anomaly != before.anomaly:
        changes.append(f"autograd anomaly detection left {'on' if now.anomaly[0] else 'off'} "
                       f"(was {'on' if before.anomaly[0] else 'off'})")
        torch.set_anomaly_enabled(*before.anomaly)
    for name in GLOBAL_HOOK_DICTS:
        table = getattr(module_globals, name)
        added = [key for key in table if key not in before.hooks[name]]
        for key in added:
            del table[key]
        if added:
            changes.append(f"{len(added)} global nn.Module hook(s) left in {name}")
    return changes
