"""What the suite checks: registered models and explainers, picked by name, pattern or plugin.

A subject wraps a spec and knows how to build its model (through :class:`zoo.factory.ModelBuild`,
as ``zoo.create`` builds), caching the default build so that a dozen checks do not rebuild it a
dozen times.
"""

from __future__ import annotations

import copy
import dataclasses
import fnmatch
from dataclasses import dataclass, field
from typing import Any

from zoo.plugin_record import PluginRecord, claim_label, normalize_distribution, plugin_names
from zoo.registry import LOCAL_DISTRIBUTION, Registry, get_registry
from zoo.names import close_names, parse_name
from zoo.testing.checks import EXPLAINER, MODEL, broken

SEED = 0


@dataclass
class ModelSubject:
    """One registered architecture under test."""

    spec: Any
    plugin: PluginRecord | None = None
    kind: str = MODEL
    _base: Any = field(default=None, repr=False)
    qualifier: str = ""  # where other plugins register the name too: the label shown before it (dist:name)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def label(self) -> str:
        return _label(self)

    @property
    def task(self) -> str:
        return self.spec.task

    @property
    def tasks(self) -> tuple[str, ...]:
        return (self.spec.task,)

    @property
    def distribution(self) -> str:
        return self.plugin.distribution if self.plugin else LOCAL_DISTRIBUTION

    def build(self, **overrides: Any):
        """A fresh model built from the spec with ``overrides`` (seeded, so reproducible)."""
        return self.build_seeded(SEED, **overrides)

    def build_seeded(self, seed: int, **overrides: Any):
        """:meth:`build` under another seed: state a model forgets to save then differs."""
        from zoo.factory import ModelBuild
        from zoo.seeding import seeded

        build = ModelBuild.of(self.spec, self.distribution, {**self.spec.defaults, **overrides})  # as zoo.create
        try:
            with seeded(seed):
                return build()
        except TypeError as exc:
            lacking = _contract_parameters_lacking(build.builder, build.kwargs)
            if lacking:
                raise broken(f"the builder takes no {' or '.join(lacking)} ({exc}): the zoo calls every builder "
                             "as builder(num_classes=..., in_chans=..., **kwargs), so add "
                             f"{' and '.join(f'{name}=' for name in lacking)} to its parameters") from exc
            raise

    def tag_overrides(self, tag: str) -> dict[str, Any]:
        """What selecting ``tag`` passes to the builder on top of the spec's defaults (as zoo.create)."""
        return self.spec.pretrained[tag].builder_kwargs()

    def model(self):
        """A private copy of the model built with the spec's defaults."""
        if self._base is None:
            self._base = self.build()
        return copy.deepcopy(self._base)

    def release(self) -> None:
        self._base = None

    def declared_input(self) -> tuple[int, tuple[int, int], bool] | None:
        """What the model declares about its input, in timm's terms (see
        :func:`zoo.testing.tasks.declared_input`), else None."""
        from zoo.testing.tasks import declared_input

        if not hasattr(self, "_declared_input"):
            self._declared_input = declared_input(self.model())
        return self._declared_input

    def input_size(self) -> tuple[int, int] | None:
        """The (H, W) the checks feed: the smallest size a classifier declares, or the one size
        any model declares as fixed; else None (each check's own small sizes: segmentation
        contracts every size from 32 up)."""
        from zoo.testing.tasks import CLASSIFICATION

        declared = self.declared_input()
        if declared and (declared[2] or self.task == CLASSIFICATION):
            return declared[1]
        return None

    def fixed_input_size(self) -> bool:
        """Whether the model declares that it takes only :meth:`input_size` (timm's ViTs)."""
        declared = self.declared_input()
        return bool(declared and declared[2])

    def example(self, batch: int = 1, in_chans: int | None = None):
        """An example batch this model takes (see :func:`zoo.testing.tasks.example_input`)."""
        from zoo.testing.tasks import example_input

        return example_input(self.task, in_chans or self.in_chans(), batch, size=self.input_size())

    def in_chans(self) -> int:
        """Input channels of the default build, as ``zoo.create`` makes it: the spec's default,
        else the builder's own (its parameter's default, or the 3 a builder requiring one is
        given), else the declared input's (timm's ``pretrained_cfg``, which keeps (3, 224, 224)
        whatever ``in_chans`` built the model). Only a builder whose signature says nothing
        (``**kwargs``) and a model declaring nothing leave a guess: the first registered conv's."""
        if "in_chans" in self.spec.defaults:
            return int(self.spec.defaults["in_chans"])
        from zoo.builders import import_builder

        given = _builder_in_chans(import_builder(self.spec.builder, self.label))
        if given is not None:
            return given
        if self.declared_input():
            return self.declared_input()[0]
        import torch.nn as nn

        for module in self.model().modules():
            if isinstance(module, nn.Conv2d):
                return module.in_channels
        return 3


def _builder_in_chans(builder) -> int | None:
    """The in_chans a build without one gets from the builder's signature: the parameter's
    default, or the 3 ``zoo.create`` passes where it has none; None where the signature does
    not say (``**kwargs``, no signature, a default that is not an int)."""
    from zoo.builders import keyword_parameter
    from zoo.factory import DEFAULT_IN_CHANS

    param = keyword_parameter(builder, "in_chans")
    if param is None:
        return None
    if param.default is param.empty:
        return DEFAULT_IN_CHANS
    default = param.default
    return default if isinstance(default, int) and not isinstance(default, bool) else None


@dataclass
class ExplainerSubject:
    """One registered explainer under test."""

    spec: Any
    plugin: PluginRecord | None = None
    kind: str = EXPLAINER
    qualifier: str = ""  # where other plugins register the name too: the label shown before it (dist:name)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def label(self) -> str:
        return _label(self)

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.spec.tasks)

    @property
    def distribution(self) -> str:
        return self.plugin.distribution if self.plugin else LOCAL_DISTRIBUTION

    def create(self, model, **kwargs: Any):
        """Build the explainer for ``model``, as ``zoo.create_explainer`` does. A builder option with
        no default, which no check passes, fails every check alike: a BuilderError, said once."""
        from zoo.errors import BuilderError
        from zoo.explain import build_explainer, required_options
        from zoo.builders import import_builder

        owner = f"{self.distribution}:{self.name}"
        builder = import_builder(self.spec.builder, owner)
        required = required_options(builder)
        if required and not set(required) <= set(kwargs):
            raise BuilderError(f"{owner}: the explainer builder requires {', '.join(required)} with no default, so "
                               "`zoo.explain(model, images, method=...)` and `zoo explain` without -O fail; give "
                               f"{'them defaults' if len(required) > 1 else 'it a default'}")
        return build_explainer(builder, model, owner, **kwargs)


def _label(subject) -> str:
    """The name rows and test ids show: ``label:name`` where two plugins register the name, the
    label being what names this claim in a qualified name (its distribution, or its entry point
    where one distribution claims the name twice), as ``zoo list`` shows it."""
    return f"{subject.qualifier}:{subject.name}" if subject.qualifier else subject.name


def rejected(pattern: str, registry: Registry, qualifier: str = "") -> list[PluginRecord]:
    """Plugins whose specs named like ``pattern`` (an fnmatch pattern) the registry rejected, each
    as a copy of its record holding only those errors: such a name is not registered, and a run
    that asked for it must say why rather than find nothing."""
    out = []
    for plugin in registry.plugins:
        if qualifier and not plugin.answers_to(qualifier):
            continue
        errors = [error for name, error in plugin.rejected.items() if fnmatch.fnmatchcase(name, pattern)]
        if errors:
            out.append(dataclasses.replace(plugin, errors=errors))
    return out


@dataclass
class Selection:
    """Subjects picked for a run, plus plugins that failed to load and what was left out."""

    subjects: list = field(default_factory=list)
    broken_plugins: list[PluginRecord] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)  # name -> why ``all`` left it out


def select(names: list[str] = (), *, all: bool = False, plugins: list[str] = (),
           registry: Registry | None = None) -> Selection:
    """Subjects for ``names`` (names or fnmatch patterns of models or explainers, ``dist:name``
    allowed), every registered name (``all``; but specs whose ``check_all`` says why not), or everything
    from the distributions ``plugins``. Raises ``UnknownNameError`` for a name matching nothing."""
    from zoo.errors import UnknownModelError

    registry = registry or get_registry()
    selection = Selection()
    seen: set[tuple[str, str, str, str]] = set()
    registered = _registered(registry)  # listed once: formatting ~1400 names per look-up added up

    def add(kind: str, spec, plugin: PluginRecord) -> None:
        key = (kind, plugin.distribution, plugin.name, spec.name)  # each claim once, two of one distribution too
        if key not in seen:
            seen.add(key)
            cls = ModelSubject if kind == MODEL else ExplainerSubject
            claims = (registry.architecture_candidates(spec.name) if kind == MODEL
                      else registry.explainer_candidates(spec.name))
            qualifier = claim_label([owner for _, owner in claims], plugin)
            selection.subjects.append(cls(spec=spec, plugin=plugin, qualifier=qualifier))

    wanted_dists = {normalize_distribution(p) for p in plugins}
    for plugin in registry.plugins:
        if plugin.errors and (all or plugin.names & wanted_dists):
            selection.broken_plugins.append(plugin)
    for kind, spec, plugin in registered:
        left_out = getattr(spec, "check_all", True) is not True
        if all and left_out and not plugin.names & wanted_dists:
            selection.excluded[spec.name] = spec.check_all or (
                "its plugin leaves it out of --all (ArchitectureSpec.check_all=False)")
        elif all or plugin.names & wanted_dists:
            add(kind, spec, plugin)
    missing_plugins = wanted_dists - set().union(*(p.names for p in registry.plugins))
    if missing_plugins:
        raise _no_such_plugins(plugins, missing_plugins, registry)
    for raw in names:
        matched = False
        parsed = parse_name(raw).check(UnknownModelError, "model or explainer", "NAME[.TAG]").check_tag_part()
        arch, tag = parsed.arch, parsed.tag
        for kind, spec, plugin in registered:
            if parsed.qualifier and not plugin.answers_to_pattern(parsed.qualifier):  # as zoo list takes it
                continue
            if fnmatch.fnmatchcase(spec.name, arch) and (
                    not tag or any(fnmatch.fnmatchcase(t, tag) for t in getattr(spec, "pretrained", {}))):
                add(kind, spec, plugin)
                matched = True
        # a rejected spec's name may hold a dot (the very reason it was rejected)
        for plugin in (rejected(arch, registry, parsed.qualifier)
                       + (rejected(parsed.bare, registry, parsed.qualifier) if tag else [])):
            if not any((p.name, p.distribution) == (plugin.name, plugin.distribution)
                       for p in selection.broken_plugins):
                selection.broken_plugins.append(plugin)
            matched = True
        if not matched:
            raise _no_match(raw, parsed, registered, registry)
    return selection


def _registered(registry: Registry) -> list[tuple[str, Any, PluginRecord]]:
    """(kind, spec, plugin) for every claim the registry lists, models then explainers, in its order
    ("label:name" where plugins clash: each claim once)."""
    found = []
    for kind, names, candidates in ((MODEL, registry.list_models("*"), registry.architecture_candidates),
                                    (EXPLAINER, registry.list_explainers("*"), registry.explainer_candidates)):
        for name in names:
            parsed = parse_name(name)
            found += [(kind, spec, plugin) for spec, plugin in candidates(parsed.bare)
                      if not parsed.qualifier or plugin.answers_to(parsed.qualifier)]
    return found


def _no_such_plugins(plugins, missing: set[str], registry: Registry) -> Exception:
    """The error for ``plugins`` (as given) naming distributions no loaded plugin is (``missing``)."""
    from zoo.errors import UnknownModelError

    left_out = [p for p in registry.left_out if set(missing) & plugin_names(*p.split(":", 1))]
    why = (f" ({', '.join(left_out)} {'is' if len(left_out) == 1 else 'are'} installed but left out by "
           "ZOO_PLUGINS / ZOO_DISABLE_PLUGINS)" if left_out else "")
    given = sorted(repr(p) for p in plugins if normalize_distribution(p) in missing)  # as written
    spaced = any(len(p.split()) > 1 for p in plugins)  # an ini's "zoo_check_plugins = a b", as testpaths
    one_per_line = " (name one distribution per option: zoo_check_plugins takes one per line)" if spaced else ""
    return UnknownModelError(f"no loaded zoo plugin is named {', '.join(given)}{why}{one_per_line}; "
                             f"see `zoo doctor` for the installed ones.")


def _no_match(raw: str, parsed, registered, registry: Registry) -> Exception:
    """The error for a name or pattern ``raw`` that matches nothing registered, with what may be meant."""
    from zoo.errors import UnknownModelError, UnknownTagError

    arch, tag = parsed.arch, parsed.tag
    known = [spec.name for _, spec, _ in registered]
    if tag and arch in known:
        if not any(kind == MODEL for kind, spec, _ in registered if spec.name == arch):
            return UnknownTagError(f"{arch!r} is an explainer, and explainers have no tags: write {arch!r}")
        tags = sorted({t for kind, spec, _ in registered if spec.name == arch and kind == MODEL
                       for t in spec.pretrained})
        return UnknownTagError(f"{arch!r} has no pretrained tag matching {tag!r}; its tags: "
                               f"{', '.join(tags) or 'none'}. See `zoo list --pretrained {arch}`.")
    close = close_names(arch, known)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    if parsed.qualifier and not any(p.answers_to_pattern(parsed.qualifier) for p in registry.plugins):
        hint += f" {parsed.qualifier!r}, before ':', names no loaded plugin (`zoo doctor` lists them)."
        if parsed.qualifier in {spec.name for kind, spec, _ in registered if kind == MODEL}:
            hint += f" A tag follows a dot: {parsed.qualifier}.{parsed.bare}."
    hint += registry.unloaded_plugins_hint()
    return UnknownModelError(f"no registered model or explainer matches {raw!r}.{hint} See `zoo list`.")


def _contract_parameters_lacking(builder: Any, kwargs: dict[str, Any]) -> list[str]:
    """Which of ``num_classes`` and ``in_chans``, passed in ``kwargs``, the builder's signature
    cannot take (none where it takes ``**kwargs`` or has no signature to read)."""
    import inspect

    try:
        params = inspect.signature(builder).parameters
    except (TypeError, ValueError):
        return []
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return []
    return [name for name in ("num_classes", "in_chans") if name in kwargs and name not in params]
