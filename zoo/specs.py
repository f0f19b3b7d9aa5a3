"""The data a plugin hands to the registry: specs, pretrained configs and model info.

Plain dataclasses, importable without torch, so listing models stays cheap. They are frozen and
hashable; their dict fields take no part in the hash.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Union

TASKS = ("classification", "semantic_segmentation", "instance_segmentation")
# Each task has an output contract the core checks and draws (DESIGN.md), so a plugin cannot add
# one; a model of another kind (depth, keypoints) needs the core to learn its contract first.
NEW_TASK_HINT = ("each has an output contract that zoo check, zoo predict and the explainers rely on; a model "
                 "of another kind, such as depth or keypoints, needs its contract added to the zoo's core first: "
                 "open an issue")

# "arch" may carry a namespace ("timm/resnet18"); a tag never contains a dot, so "arch.tag"
# splits unambiguously on the first dot.
ARCH_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-/]*$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$")
FIRST_PARTY_ORG = "visionzoo"  # the Hub org of the project's own weights (pinned, measured, with a card)
# 'org/name' as the Hub accepts it (huggingface_hub's validate_repo_id): each part 1 to 96 of
# [A-Za-z0-9_.-], starting and ending with a letter, digit or '_', no '--' or '..', no '.git' end.
_HUB_ID_PART = r"[A-Za-z0-9](?:[A-Za-z0-9_.\-]{0,94}[A-Za-z0-9_])?"
HF_HUB_ID_RE = re.compile(rf"^{_HUB_ID_PART}/{_HUB_ID_PART}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

Builder = Union[str, Callable[..., Any]]


def is_hub_id(value: object) -> bool:
    """Whether ``value`` is a Hub repo id ('org/name') huggingface_hub will accept."""
    return (isinstance(value, str) and HF_HUB_ID_RE.match(value) is not None and "--" not in value
            and ".." not in value and not value.endswith(".git"))


def first_party_hub_id(card_name: str) -> str:
    """The project's own repo for the card ``card_name`` ("arch.tag"): where a card or a recipe
    that names no ``hf_hub_id`` publishes."""
    return f"{FIRST_PARTY_ORG}/{card_name}"


def is_first_party(hub_id: object) -> bool:
    """Whether ``hub_id`` is a repo of the project's own org."""
    return isinstance(hub_id, str) and hub_id.split("/")[0] == FIRST_PARTY_ORG


@dataclass(frozen=True)
class PretrainedCfg:
    """Where one pretrained weight set lives on the Hub and what it was measured to do.

    ``upstream`` marks weights that someone else publishes and measures (timm's own Hub repos,
    for instance): it says why the tag carries no sha256 or metrics of the plugin's, e.g.
    "timm publishes no file hash or metric with its weights". Such a tag passes ``zoo check``
    without them, and its downloads are not pinned. Weights a plugin ships itself leave it None
    and give both.
    """

    hf_hub_id: str
    revision: str = "main"
    filename: str = "model.safetensors"
    sha256: str | None = None
    num_classes: int | None = None
    in_chans: int = 3
    metrics: dict[str, float] = field(default_factory=dict, hash=False)
    license: str | None = None
    default: bool = False
    # Builder kwargs the weights were trained with (e.g. a smaller width than the spec's
    # defaults); applied when this tag is selected, before the caller's own kwargs.
    model_kwargs: dict[str, Any] = field(default_factory=dict, hash=False)
    upstream: str | None = None

    def builder_kwargs(self) -> dict[str, Any]:
        """What selecting this tag passes to the builder over the spec's defaults: its
        ``num_classes`` / ``in_chans`` (when set), then its ``model_kwargs``."""
        kwargs = {k: v for k, v in (("num_classes", self.num_classes), ("in_chans", self.in_chans)) if v is not None}
        kwargs.update(self.model_kwargs)
        return kwargs


@dataclass(frozen=True)
class ArchitectureSpec:
    """One architecture: its name, task, how to build it and its pretrained tags.

    ``builder`` is a ``"module:function"`` string (imported only when a model is built) or a
    callable; it is called as ``builder(num_classes=..., in_chans=..., **kwargs)``.

    ``export`` is True when the model must pass ``torch.export`` (checked by ``zoo check``);
    a string opts out and says why (e.g. "data-dependent control flow in the RoI heads"),
    and the check is then reported as skipped with that reason.

    ``check_all`` is True when ``zoo check --all`` (and pytest's ``--zoo-check-all``) checks the
    model; a string leaves it out of those runs and says why (a bridge registering a thousand
    architectures: "one of timm's N architectures, checked when named"). Named, matched by a
    pattern, or with ``--plugin``, it is checked all the same.
    """

    name: str
    task: str
    builder: Builder
    defaults: dict[str, Any] = field(default_factory=dict, hash=False)
    pretrained: dict[str, PretrainedCfg] = field(default_factory=dict, hash=False)
    description: str = ""
    export: bool | str = True
    check_all: bool | str = True

    @property
    def default_tag(self) -> str | None:
        """The tag flagged ``default=True``, else the first one, else None."""
        for tag, cfg in self.pretrained.items():
            if cfg.default:
                return tag
        return next(iter(self.pretrained), None)


@dataclass(frozen=True)
class ExplainerSpec:
    """One explainer: ``builder(model, **kwargs)`` returns a callable ``Explainer``.

    ``sanity_check`` is True when the maps must change once the model's weights are
    randomised (Adebayo et al. 2018, checked by ``zoo check``); a string declares that the
    method is known to fail it and says why (e.g. guided backprop), and the check is skipped.
    """

    name: str
    builder: Builder
    tasks: tuple[str, ...] = TASKS
    description: str = ""
    sanity_check: bool | str = True

    def __post_init__(self) -> None:
        # a list or set of tasks is taken as the tuple it means: a list left the spec unhashable,
        # and unequal to the same spec written with a tuple
        if isinstance(self.tasks, list):
            object.__setattr__(self, "tasks", tuple(self.tasks))
        elif isinstance(self.tasks, (set, frozenset)):
            object.__setattr__(self, "tasks", tuple(sorted(self.tasks, key=str)))


@dataclass(frozen=True)
class ModelInfo:
    """An architecture spec plus where it came from (see :func:`zoo.model_info`)."""

    name: str
    task: str
    builder: Builder
    defaults: dict[str, Any] = field(hash=False)
    pretrained: dict[str, PretrainedCfg] = field(hash=False)
    description: str
    plugin: str
    distribution: str
    version: str
    export: bool | str = True
    check_all: bool | str = True

    @property
    def default_tag(self) -> str | None:
        return ArchitectureSpec.default_tag.fget(self)  # same rule as the spec


def architecture_spec_problems(spec: object) -> list[str]:
    """Everything wrong with an architecture spec, as readable sentences (empty if valid)."""
    if not isinstance(spec, ArchitectureSpec):
        return [f"expected zoo.ArchitectureSpec, got {type(spec).__name__}: {spec!r:.80}"]
    problems = []
    if not isinstance(spec.name, str) or not ARCH_NAME_RE.match(spec.name):
        problems.append(f"name {spec.name!r} must match {ARCH_NAME_RE.pattern} (no dots)")
    if spec.task not in TASKS:
        problems.append(f"{spec.name}: task {spec.task!r} is not one of {', '.join(TASKS)} ({NEW_TASK_HINT})")
    problems += _builder_problems(spec.name, spec.builder)
    problems += _opt_out_problems(spec.name, "export", spec.export)
    problems += _opt_out_problems(spec.name, "check_all", spec.check_all)
    if not isinstance(spec.defaults, dict):
        problems.append(f"{spec.name}: defaults must be a dict")
    else:
        for key, low in (("num_classes", 0), ("in_chans", 1)):
            if key in spec.defaults and not _int_from(spec.defaults[key], low):
                problems.append(f"{spec.name}: defaults[{key!r}] must be an int >= {low}, got {spec.defaults[key]!r}")
    problems += _description_problems(spec.name, spec.description)
    if not isinstance(spec.pretrained, dict):
        problems.append(f"{spec.name}: pretrained must be a dict of tag -> PretrainedCfg")
        return problems
    for tag, cfg in spec.pretrained.items():
        problems += [f"{spec.name}.{tag}: {p}" for p in pretrained_cfg_problems(tag, cfg)]
    defaults = [tag for tag, cfg in spec.pretrained.items() if isinstance(cfg, PretrainedCfg) and cfg.default is True]
    if len(defaults) > 1:  # default_tag would silently take the first
        problems.append(f"{spec.name}: tags {', '.join(map(repr, defaults))} are all default=True; "
                        f"flag one tag as the default")
    return problems


def hub_path_problem(value: str) -> str | None:
    """Why ``value`` cannot be a revision or a file name in a Hub repo (None if it can). Both
    become paths in the huggingface_hub cache (``refs/<revision>``, ``snapshots/<commit>/<file>``),
    so a '..' or empty part, an absolute path or a backslash would reach outside it."""
    parts = value.split("/")
    if value.startswith("/") or "\\" in value or any(p in ("", ".", "..") for p in parts) \
            or any(ord(c) < 32 for c in value):
        return (f"{value!r} would lead out of its folder in the Hub cache (a '..', '.' or empty part, a "
                "leading '/', a backslash or a control character)")
    return None


def pretrained_cfg_problems(tag: object, cfg: object) -> list[str]:
    if not isinstance(tag, str) or not TAG_RE.match(tag):
        return [f"tag {tag!r} must match {TAG_RE.pattern}"]
    if not isinstance(cfg, PretrainedCfg):
        return [f"expected zoo.PretrainedCfg, got {type(cfg).__name__}"]
    problems = []
    if not is_hub_id(cfg.hf_hub_id):
        problems.append(f"hf_hub_id {cfg.hf_hub_id!r} is not of the form 'org/name'")
    for name in ("revision", "filename"):
        value = getattr(cfg, name)
        if not (isinstance(value, str) and value.strip()):
            problems.append(f"{name} must be a non-empty string, got {value!r}")
        elif problem := hub_path_problem(value):
            problems.append(f"{name} {problem}")
    if cfg.num_classes is not None and not _int_from(cfg.num_classes, 0):  # 0: headless, as in timm
        problems.append(f"num_classes must be None or an int >= 0, got {cfg.num_classes!r}")
    if not _int_from(cfg.in_chans, 1):
        problems.append(f"in_chans must be an int >= 1, got {cfg.in_chans!r}")
    if cfg.license is not None and not isinstance(cfg.license, str):
        problems.append(f"license must be None or a string, got {cfg.license!r}")
    if not isinstance(cfg.default, bool):
        problems.append(f"default must be True or False, got {cfg.default!r}")
    if cfg.sha256 is not None and not (isinstance(cfg.sha256, str) and SHA256_RE.match(cfg.sha256)):
        problems.append(f"sha256 {cfg.sha256!r} is not 64 lowercase hex digits")
    if not isinstance(cfg.metrics, dict):
        problems.append("metrics must be a dict of name -> number")
    else:
        bad = {k: v for k, v in cfg.metrics.items()
               if not isinstance(k, str) or isinstance(v, bool) or not isinstance(v, (int, float))
               or not _finite_float(v)}
        if bad:
            problems.append(f"metrics must be a dict of name -> number (not NaN or Inf), got {bad!r:.80}")
    if not isinstance(cfg.model_kwargs, dict):
        problems.append("model_kwargs must be a dict of builder keyword arguments")
    else:
        doubled = [key for key in ("num_classes", "in_chans") if key in cfg.model_kwargs]
        if doubled:  # they won over the fields: the tag built another head than model_info said
            problems.append(f"model_kwargs must not hold {' or '.join(doubled)}: set PretrainedCfg."
                            f"{doubled[0]} instead (the field is what model_info and the head adaptation read)")
    if cfg.upstream is not None and not (isinstance(cfg.upstream, str) and cfg.upstream.strip()):
        problems.append(f"upstream must be None or a non-empty reason string, got {cfg.upstream!r}")
    return problems


def explainer_spec_problems(spec: object) -> list[str]:
    if not isinstance(spec, ExplainerSpec):
        return [f"expected zoo.ExplainerSpec, got {type(spec).__name__}: {spec!r:.80}"]
    problems = []
    if not isinstance(spec.name, str) or not ARCH_NAME_RE.match(spec.name):
        problems.append(f"name {spec.name!r} must match {ARCH_NAME_RE.pattern}")
    problems += _tasks_problems(spec.name, spec.tasks)
    problems += _builder_problems(spec.name, spec.builder)
    problems += _opt_out_problems(spec.name, "sanity_check", spec.sanity_check)
    problems += _description_problems(spec.name, spec.description)
    return problems


def _int_from(value: object, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _description_problems(name: str, description: object) -> list[str]:
    if isinstance(description, str):
        return []
    return [f"{name}: description must be a string (\"\" for none), got {type(description).__name__}"]


def _tasks_problems(name: str, tasks: object) -> list[str]:
    if isinstance(tasks, str):  # ("classification") without its trailing comma
        return [f"{name}: tasks must be a tuple of task names, got the string {tasks!r}; "
                f"write ({tasks!r},)"]
    if not isinstance(tasks, tuple):  # ExplainerSpec made a list or set one
        return [f"{name}: tasks must be a tuple of task names, got {type(tasks).__name__}"]
    bad_tasks = [t for t in tasks if t not in TASKS]
    if bad_tasks:
        return [f"{name}: unknown tasks {bad_tasks}; choose from {', '.join(TASKS)}"]
    if not tasks:
        return [f"{name}: tasks is empty, so no model could use it; name the tasks it explains, from "
                f"{', '.join(TASKS)}"]
    return []


def _finite_float(value: int | float) -> bool:
    """Whether ``value`` is a finite float, or an int a float can hold (10**400 overflows one)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _opt_out_problems(name: str, field_name: str, value: object) -> list[str]:
    if isinstance(value, bool) or (isinstance(value, str) and value.strip()):
        return []
    return [f"{name}: {field_name} must be True, False or a non-empty reason string, got {value!r}"]


def _builder_problems(name: str, builder: object) -> list[str]:
    if callable(builder):
        return []
    if isinstance(builder, str) and re.match(r"^[\w.]+:[\w.]+$", builder):
        return []
    return [f"{name}: builder must be a callable or a 'module:function' string, got {builder!r}"]
