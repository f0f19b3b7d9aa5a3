"""Discovery of plugins through entry points, and the name -> spec registry built from them.

Every plugin, first-party or third-party, is a module named by an entry point in the ``zoo``
group. The registry imports those modules (and only those: model code stays behind lazy
``"module:function"`` builders), calls their hooks one plugin at a time so that a broken
plugin cannot take the others down, validates what they return, and answers name look-ups.

Environment:
    ZOO_PLUGINS          comma-separated allow-list of plugins (entry-point or distribution
                         names, or ``dist:entry-point``); when set, only these load.
                         ``ZOO_PLUGINS=""`` loads none.
    ZOO_DISABLE_PLUGINS  comma-separated deny-list, applied after the allow-list.
"""

from __future__ import annotations

import fnmatch
import importlib
import importlib.metadata
import inspect
import os
import re
import threading
import time
import warnings
from dataclasses import dataclass, fields, replace
from types import ModuleType
from typing import Any, Callable, Iterable

import pluggy

from zoo import hookspecs
from zoo.builders import import_builder
from zoo.errors import (
    AmbiguousNameError,
    ArgumentError,
    UnknownExplainerError,
    UnknownModelError,
    UnknownTagError,
    ZooError,
)
from zoo.names import close_names, parse_name
from zoo.plugin_import import import_plugin, prints_to_stderr
from zoo.plugin_record import PluginRecord, normalize_distribution, plugin_labels, plugin_names
from zoo.specs import (
    TASKS,
    ArchitectureSpec,
    ExplainerSpec,
    ModelInfo,
    architecture_spec_problems,
    explainer_spec_problems,
)

ENTRY_POINT_GROUP = "zoo"
LOCAL_DISTRIBUTION = "<local>"


class PluginWarning(UserWarning):
    """A plugin was skipped, or part of what it registered was, and why."""


@dataclass(frozen=True)
class _Entry:
    spec: Any  # ArchitectureSpec or ExplainerSpec
    plugin: PluginRecord


HF_HUB_PREFIX = "hf-hub:"  # timm's way to name a model by its Hub repo


NO_PLUGINS = ("no zoo plugin is installed (nothing in the 'zoo' entry-point group): models and explainers come in "
              "plugin distributions, such as the first-party visionzoo-* ones under plugins/ in the source "
              "checkout; install them (`zoo doctor` lists what is found)")


def _env_list(value: str | None) -> set[str] | None:
    if value is None:
        return None
    return {normalize_distribution(v.strip()) for v in value.split(",") if v.strip()}


class Registry:
    """Specs from every plugin, keyed by name. The process's own is :func:`get_registry`;
    :meth:`from_entry_points` builds a separate one (for a test, say)."""

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self.plugins: list[PluginRecord] = []
        self._architectures: dict[str, list[_Entry]] = {}
        self._explainers: dict[str, list[_Entry]] = {}
        self.problems: list[str] = []  # not any one plugin's: e.g. ZOO_PLUGINS naming nothing installed
        self.left_out: list[str] = []  # "dist:entry point" not loaded because of ZOO_PLUGINS / ZOO_DISABLE_PLUGINS
        # warnings held back while discovering (see _discover): a PluginWarning's message, or a hook's own warning
        self._pending: list[str | warnings.WarningMessage] | None = None

    # ----------------------------------------------------------------- loading
    @classmethod
    def from_entry_points(cls) -> "Registry":
        """Discover and load every plugin installed in the ``zoo`` entry-point group (as
        ``ZOO_PLUGINS`` and ``ZOO_DISABLE_PLUGINS`` say)."""
        registry = cls._discover()
        registry._emit_pending()
        return registry

    @classmethod
    def _discover(cls) -> "Registry":
        """:meth:`from_entry_points` with its warnings held back (call :meth:`_emit_pending`), its
        PluginWarnings and the hooks' own: a warnings filter that turns them into errors (pytest's
        ``-W error``) must not stop discovery halfway and leave no registry."""
        allow = _env_list(os.environ.get("ZOO_PLUGINS"))
        deny = _env_list(os.environ.get("ZOO_DISABLE_PLUGINS")) or set()
        registry = cls()
        registry._pending = []
        seen = set()
        installed: dict[str, list[str]] = {}  # distribution -> its entry-point names
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist is not None else LOCAL_DISTRIBUTION
            key = (normalize_distribution(dist), ep.name)
            if key in seen:  # the same distribution found twice on sys.path
                continue
            seen.add(key)
            installed.setdefault(dist, []).append(ep.name)
            names = plugin_names(dist, ep.name)
            if (allow is not None and not names & allow) or names & deny:
                registry.left_out.append(f"{dist}:{ep.name}")
                continue
            version = ep.dist.version if ep.dist is not None else ""
            registry._load_entry_point(ep, dist, version)
        registry._check_environment(installed, {"ZOO_PLUGINS": allow or set(), "ZOO_DISABLE_PLUGINS": deny})
        return registry

    def _check_environment(self, installed: dict[str, list[str]], settings: dict[str, set[str]]) -> None:
        """A name in ZOO_PLUGINS / ZOO_DISABLE_PLUGINS that no installed plugin has is a typo or an
        uninstalled package: said out loud, since it silently loads nothing or disables nothing."""
        known = set().union(*(plugin_names(dist, ep) for dist, eps in installed.items() for ep in eps))
        have = "; ".join(f"{dist} ({', '.join(eps)})" for dist, eps in sorted(installed.items())) or "none"
        for variable, wanted in settings.items():
            unknown = sorted(wanted - known)
            if unknown:
                message = (f"{variable} names {', '.join(map(repr, unknown))}, which no installed zoo plugin is "
                           f"(distribution or entry-point name); installed: {have}")
                self.problems.append(message)
                self._warn(message)

    def _load_entry_point(self, ep: importlib.metadata.EntryPoint, dist: str, version: str) -> None:
        record = PluginRecord(name=ep.name, distribution=dist, version=version, module=ep.value)
        self.plugins.append(record)
        imported = import_plugin(ep)
        record.import_seconds, record.imported_torch = imported.seconds, imported.imported_torch
        if imported.error:
            self._fail(record, imported.error)
            return
        if imported.torch_changes:
            self._fail(record, f"importing {ep.value!r} changed torch's global state ({imported.torch_changes}), "
                               "which every model would inherit; the zoo put it back. Set such state in a builder, "
                               "on the model.")
        self._register(imported.plugin, record)

    def register(self, plugin: ModuleType | object, name: str,
                 distribution: str = LOCAL_DISTRIBUTION, version: str = "") -> PluginRecord:
        """Register an in-process plugin object (a module or any object with hook functions).

        This is what entry-point discovery does for installed packages; tests and notebooks
        can call it directly.
        """
        module = getattr(plugin, "__name__", type(plugin).__name__)
        record = PluginRecord(name=name, distribution=distribution, version=version, module=module)
        self.plugins.append(record)
        self._register(plugin, record)
        return record

    def _register(self, plugin: object, record: PluginRecord) -> None:
        plugin_id = f"{record.distribution}:{record.name}"
        try:
            self._pm.register(plugin, name=plugin_id)
        except Exception as exc:  # noqa: BLE001 - e.g. a hookimpl with a wrong signature
            self._fail(record, f"hook validation failed: {exc}")
            return
        record.loaded = True
        self._check_hook_names(plugin, record)
        for hook_name, problems_of, table, names in (
            ("zoo_architectures", architecture_spec_problems, self._architectures, record.architectures),
            ("zoo_explainers", explainer_spec_problems, self._explainers, record.explainers),
        ):
            impls = [i for i in getattr(self._pm.hook, hook_name).get_hookimpls() if i.plugin_name == plugin_id]
            for impl in impls:
                started = time.perf_counter()
                try:
                    with warnings.catch_warnings(record=True) as said, prints_to_stderr():
                        warnings.simplefilter("always")  # its own filters end with the call
                        specs = impl.function()
                except Exception as exc:  # noqa: BLE001
                    self._fail(record, f"{hook_name}() raised {type(exc).__name__}: {exc}")
                    continue
                finally:
                    record.hook_seconds += time.perf_counter() - started
                    self._pass_on(record, said)
                self._add_specs(record, hook_name, specs, problems_of, table, names)

    def _pass_on(self, record: PluginRecord, said: list[warnings.WarningMessage]) -> None:
        """Warnings a hook gave (e.g. an index built for another version of its library): kept for
        ``zoo doctor``, and given on to the caller's own filters, from where the hook gave them
        (held back while discovering, as PluginWarnings are)."""
        for w in said:
            record.warnings.append(f"{w.category.__name__}: {w.message}")
            if self._pending is not None:
                self._pending.append(w)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

    def _check_hook_names(self, plugin: object, record: PluginRecord) -> None:
        """Report hook implementations the zoo does not define (a typo registers nothing), as
        pytest does, and a plugin that implements no zoo hook at all."""
        known = {name for name in dir(hookspecs) if name.startswith("zoo_")}
        callers = self._pm.get_hookcallers(plugin) or []
        for caller in callers:
            if caller.name not in known:
                close = close_names(caller.name, sorted(known), n=1)
                hint = f" Did you mean {close[0]}?" if close else ""
                self._fail(record, f"unknown hook {caller.name!r}: it is never called.{hint} "
                                   f"The zoo's hooks are {', '.join(sorted(known))}.")
        implemented = {caller.name for caller in callers} & known
        # pluggy registers decorated functions only: a hook left undecorated beside one that is
        # decorated would register nothing, without a word
        undecorated = [name for name in sorted(known - implemented)
                       if callable(inspect.getattr_static(plugin, name, None))]
        for name in undecorated if implemented else []:
            self._fail(record, f"{name}() is not decorated with @zoo.hookimpl, so it is never called: "
                               "decorate it")
        if not implemented:
            found = f" ({', '.join(undecorated)} {'is' if len(undecorated) == 1 else 'are'} not)" if undecorated else ""
            self._fail(record, f"implements no zoo hook ({', '.join(sorted(known))}): "
                               f"is each hook function decorated with @zoo.hookimpl?{found}")

    def _add_specs(self, record, hook_name, specs, problems_of, table, names) -> None:
        if specs is None:  # the hook is called directly, so None is seen (pluggy's hook call drops it)
            self._fail(record, f"{hook_name}() returned None, so nothing was registered: is its `return` "
                               "missing? Return a list of specs ([] to register none on purpose).")
            return
        if not isinstance(specs, (list, tuple)):
            self._fail(record, f"{hook_name}() must return a list of specs, got {type(specs).__name__}")
            return
        for spec in specs:
            try:
                problems = problems_of(spec)
            except Exception as exc:  # noqa: BLE001 - a spec odd enough to break validation is invalid
                problems = [f"{spec!r:.80}: validation raised {type(exc).__name__}: {exc}"]
            if not problems and spec.name in names:
                problems = [f"{spec.name}: registered twice by the same plugin"]
            if problems:
                message = f"{hook_name}(): invalid spec skipped: " + "; ".join(problems)
                name = getattr(spec, "name", None)
                if isinstance(name, str):
                    record.rejected[name] = message
                self._fail(record, message)
                continue
            names.append(spec.name)
            table.setdefault(spec.name, []).append(_Entry(spec, record))

    def _fail(self, record: PluginRecord, message: str) -> None:
        record.errors.append(message)
        self._warn(f"zoo plugin {record.name!r} from distribution {record.distribution!r} "
                   f"{record.version}: {message}")

    def _warn(self, message: str) -> None:
        if self._pending is not None:
            self._pending.append(message)
        else:
            warnings.warn(message, PluginWarning, stacklevel=4)

    def _take_pending(self) -> list[str | warnings.WarningMessage]:
        pending, self._pending = self._pending or [], None
        return pending

    def _emit_pending(self, pending: list[str | warnings.WarningMessage] | None = None) -> None:
        """Emit the warnings held back during discovery, once (taken from the registry first, so a
        filter that raises on one cannot make them repeat)."""
        for held in self._take_pending() if pending is None else pending:
            if isinstance(held, str):
                warnings.warn(held, PluginWarning, stacklevel=4)
            else:
                warnings.warn_explicit(held.message, held.category, held.filename, held.lineno)

    # ----------------------------------------------------------------- queries
    def pretrained_cfg_of_card(self, card_name: str) -> Any:
        """The registered ``PretrainedCfg`` a hub card folder ``arch.tag`` was made for: the tag of
        the one claim of ``arch`` that has it (a name several plugins register is no obstacle when
        only one has the tag), None when none has it; :class:`AmbiguousNameError` when several do."""
        parsed = parse_name(card_name)
        having = [e for e in self._architectures.get(parsed.arch, []) if parsed.tag in e.spec.pretrained]
        if len(having) > 1:
            raise AmbiguousNameError(_ambiguity("model", parsed.arch, parsed.tag, having))
        return having[0].spec.pretrained[parsed.tag] if having else None

    def conflicts(self) -> dict[str, list[str]]:
        """``"model NAME"``/``"explainer NAME"`` registered by more than one plugin -> what names each
        claim in a qualified ``label:NAME`` (:func:`plugin_labels`)."""
        out = {}
        for kind, table in (("model", self._architectures), ("explainer", self._explainers)):
            for name, entries in table.items():
                if len(entries) > 1:
                    out[f"{kind} {name}"] = _labels(entries)
        return out

    def list_models(self, pattern: str | Iterable[str] = "*", *, pretrained: bool = False,
                    task: str | None = None) -> list[str]:
        patterns = _patterns(pattern)
        if pretrained:  # as in timm, a pattern without a tag part matches all tags: "resnet18" -> "resnet18.*"
            patterns += [p + ".*" for p in patterns if not parse_name(p).has_tag_part]
        if task is not None and task not in TASKS:
            raise ArgumentError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
        names = []
        for name, entries in self._architectures.items():
            for shown, entry in _listed(name, entries):  # on a conflict, each claim with its own task and tags
                if task is not None and entry.spec.task != task:
                    continue
                candidates = ([(f"{shown}.{tag}", f"{name}.{tag}") for tag in entry.spec.pretrained] if pretrained
                              else [(shown, name)])
                names += [c for c, bare in candidates if _matches(bare, entry.plugin, patterns, shown=c)]
        return sorted(set(names), key=_natural_key)

    def specs(self) -> Iterable[tuple[Any, PluginRecord]]:
        """Every registered (spec, plugin), architectures then explainers, conflicts included."""
        for table in (self._architectures, self._explainers):
            for entries in table.values():
                yield from ((e.spec, e.plugin) for e in entries)

    def architecture_candidates(self, name: str) -> list[tuple[ArchitectureSpec, PluginRecord]]:
        """Every (spec, plugin) registering architecture ``name`` (more than one on a conflict)."""
        return [(e.spec, e.plugin) for e in self._architectures.get(name, [])]

    def explainer_candidates(self, name: str) -> list[tuple[ExplainerSpec, PluginRecord]]:
        """Every (spec, plugin) registering explainer ``name`` (more than one on a conflict)."""
        return [(e.spec, e.plugin) for e in self._explainers.get(name, [])]

    def list_explainers(self, pattern: str | Iterable[str] = "*") -> list[str]:
        patterns = _patterns(pattern)
        return sorted((shown for name, entries in self._explainers.items() for shown, entry in _listed(name, entries)
                       if _matches(name, entry.plugin, patterns, shown=shown)), key=_natural_key)

    def resolve(self, name: str, pretrained: bool = False) -> tuple[ArchitectureSpec, PluginRecord, str | None]:
        """``"[dist:]arch[.tag]"`` -> (spec, plugin, tag or None).

        A tag named in the string is always returned; ``pretrained=True`` on a bare
        architecture returns its default tag.
        """
        if not isinstance(name, str) or not name:
            raise UnknownModelError(f"model name must be a non-empty string, got {name!r}")
        if name.startswith(HF_HUB_PREFIX):
            raise UnknownModelError(self._hf_hub_name_hint(name))
        parsed = parse_name(name).check(UnknownModelError, "model", "ARCH[.TAG]").check_tag_part()
        arch, tag = parsed.arch, parsed.tag
        entry = self._pick(self._architectures, arch, parsed.qualifier, UnknownModelError, "model", tag, shown=name)
        spec = entry.spec
        if tag:
            if tag not in spec.pretrained:
                have = ", ".join(spec.pretrained) or "none"
                close = close_names(tag, spec.pretrained, n=3, cutoff=0.5)
                hint = f" Did you mean {', '.join(f'{arch}.{c}' for c in close)}?" if close else ""
                why = f" `zoo info {arch}` shows what its plugin says of it." if not spec.pretrained else ""
                raise UnknownTagError(f"{arch!r} has no pretrained tag {tag!r}.{hint} Its tags: {have}.{why}")
        elif pretrained:
            tag = spec.default_tag
            if tag is None:
                raise UnknownTagError(
                    f"{arch!r} has no pretrained weights (`zoo info {arch}` shows what its plugin says of it). Use "
                    f"pretrained=False, or a local file: weights='path/to/model.safetensors' (--weights PATH in "
                    "the CLI)."
                )
        return spec, entry.plugin, tag or None

    def _hf_hub_name_hint(self, name: str) -> str:
        """What to write instead of timm's ``hf-hub:ORG/REPO``: the ``arch.tag`` whose weights that repo holds."""
        repo = name[len(HF_HUB_PREFIX):]
        names = [f"{arch}.{tag}" for arch, entries in self._architectures.items() for entry in entries
                 for tag, cfg in entry.spec.pretrained.items() if cfg.hf_hub_id == repo]
        instead = f"write {' or '.join(map(repr, names[:3]))}" if names else \
            "no registered tag downloads that repo (zoo list --pretrained lists the names)"
        return (f"{name!r}: zoo names take no {HF_HUB_PREFIX!r} prefix (timm's way to name a Hub repo); the zoo "
                f"names weights 'arch.tag' and knows each tag's repo: {instead}; or load a downloaded file with "
                "weights='model.safetensors'.")

    def explainer(self, name: str) -> tuple[ExplainerSpec, PluginRecord]:
        if not isinstance(name, str) or not name:
            raise UnknownExplainerError(f"explainer name must be a non-empty string, got {name!r}")
        parsed = parse_name(name).check(UnknownExplainerError, "explainer", "NAME")
        entry = self._pick(self._explainers, parsed.bare, parsed.qualifier, UnknownExplainerError, "explainer",
                           shown=name)
        return entry.spec, entry.plugin

    def explainer_builder(self, name: str) -> Callable[..., Any]:
        """The builder of explainer ``name`` (``builder(model, **kwargs)``), imported now; an
        import failure is a :class:`BuilderError` naming the plugin's distribution and the name."""
        spec, plugin = self.explainer(name)
        return import_builder(spec.builder, f"{plugin.distribution}:{spec.name}")

    def model_info(self, name: str) -> ModelInfo:
        spec, plugin, _ = self.resolve(name)
        # Copies all the way down: a caller editing the info must not edit the registry.
        pretrained = {tag: replace(cfg, metrics=dict(cfg.metrics), model_kwargs=dict(cfg.model_kwargs))
                      for tag, cfg in spec.pretrained.items()}
        # Every spec field, by name: a field added to ArchitectureSpec must be added to ModelInfo too.
        given = {f.name: getattr(spec, f.name) for f in fields(spec)}
        return ModelInfo(**{**given, "defaults": dict(spec.defaults), "pretrained": pretrained},
                         plugin=plugin.name, distribution=plugin.distribution, version=plugin.version)

    def failed_plugins(self) -> list[PluginRecord]:
        """Plugins that failed to load or whose hooks failed (raised, returned garbage), so they may
        have registered less than they meant to; invalid specs alone do not count (see ``rejected``)."""
        return [p for p in self.plugins if set(p.errors) - set(p.rejected.values())]

    def unloaded_plugins_hint(self) -> str:
        """Where a name nothing registers may have come from: plugins that failed to load or loaded
        with errors, plugins the environment leaves out, or no plugin at all ("" when none apply)."""
        hint = ""
        failed = self.failed_plugins()
        if failed:
            partial = [p for p in failed if p.partly_loaded]
            groups = [(group, said) for group, said in (
                ([p for p in failed if p not in partial], "failed to load"),
                (partial, "loaded with errors")) if group]
            hint += (" " + " and ".join(
                f"{len(group)} plugin{'s' if len(group) > 1 else ''} {said} "
                f"({', '.join(f'{p.name} from {p.distribution}' for p in group)})" for group, said in groups)
                + f": the name may be {'one of theirs' if len(failed) > 1 else 'its'}; run `zoo doctor` to see why.")
        if not self.plugins and not self.left_out:
            hint += f" {NO_PLUGINS[0].upper()}{NO_PLUGINS[1:]}."
        if self.left_out:
            hint += (f" ZOO_PLUGINS / ZOO_DISABLE_PLUGINS leave out {len(self.left_out)} installed plugin"
                     f"{'s' if len(self.left_out) > 1 else ''} ({', '.join(self.left_out)}): the name may be "
                     "one of theirs.")
        return hint

    def _pick(self, table: dict[str, list[_Entry]], name: str, qualifier: str, error: type, kind: str,
              tag: str = "", shown: str = "") -> _Entry:
        entries = table.get(name)
        if not entries:
            raise error(self._unknown_name(table, name, qualifier, kind, shown))
        if qualifier:
            chosen = [e for e in entries if e.plugin.answers_to(qualifier)]
            if not chosen:
                have = ", ".join(f"{label}:{name}" for label in _labels(entries))
                raise error(f"No plugin {qualifier!r} registers {kind} {name!r}; available: {have}.")
            entries = chosen
        if len(entries) > 1:
            # No claim has the tag: no qualified name would help, so this is an unknown tag.
            no_claim_has_tag = tag and not any(tag in e.spec.pretrained for e in entries)
            raise (UnknownTagError if no_claim_has_tag else AmbiguousNameError)(_ambiguity(kind, name, tag, entries))
        return entries[0]

    def _unknown_name(self, table: dict[str, list[_Entry]], name: str, qualifier: str, kind: str,
                      shown: str) -> str:
        """Why no plugin registers ``name``, with what the user may have meant: close names, the
        other kind of name, a spec of that name the registry rejected, an unloaded plugin, a
        qualifier naming no plugin (or a tag written before ':' instead of after a dot)."""
        close = close_names(name, table)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        lister = "zoo.list_models()" if kind == "model" else "zoo.list_explainers()"
        if kind == "model" and name in self._explainers:
            hint += (f" {name!r} is an explainer: zoo.explain(model, images, method={name!r}) or "
                     f"zoo.create_explainer({name!r}, model).")
        elif kind == "explainer" and name in self._architectures:
            hint += f" {name!r} is a model: zoo.create({name!r})."
        for plugin in self.plugins:
            if qualifier and not plugin.answers_to(qualifier):
                continue
            if name in plugin.rejected:  # what the warning at discovery said, which may have scrolled by
                hint += (f" {plugin.distribution} registers a spec {name!r}, which was not registered: "
                         f"{plugin.rejected[name]}.")
        hint += self.unloaded_plugins_hint()
        if qualifier and not any(p.answers_to(qualifier) for p in self.plugins):
            tag_meant = (f"; a tag follows a dot: {qualifier}.{name}" if kind == "model" and qualifier in table
                         else "")
            hint += (f" {qualifier!r}, before ':', names no loaded plugin (a distribution or entry point; "
                     f"`zoo doctor` lists them){tag_meant}.")
        within = f" (read from {shown!r})" if shown and shown not in (name, f"{qualifier}:{name}") else ""
        return f"Unknown {kind} {name!r}{within}.{hint} See {lister} or `zoo list` for every name."


def _ambiguity(kind: str, name: str, tag: str, entries: list[_Entry]) -> str:
    """Why ``name`` is ambiguous, offering only qualified names that work: with a tag, those of
    the claims that have it (a claim without it would only raise UnknownTagError)."""
    labels = _labels(entries)
    lead = f"{kind} {name!r} is registered by several plugins: {', '.join(labels)}."
    usable = [label for label, e in zip(labels, entries) if not tag or tag in e.spec.pretrained]
    if not usable:
        tags = "; ".join(f"{label}:{name} has {', '.join(e.spec.pretrained) or 'none'}"
                         for label, e in zip(labels, entries))
        return f"{lead} None of them has a pretrained tag {tag!r}: {tags}."
    suffix = f".{tag}" if tag else ""
    lacking = [label for label in labels if label not in usable]
    note = f" ({', '.join(lacking)} {'has' if len(lacking) == 1 else 'have'} no tag {tag!r})" if lacking else ""
    keeps = keeping_each(labels, usable)
    off = f"turn the others off with {keeps[0].rpartition(' keeps ')[0]}" if len(keeps) == 1 else \
        f"turn all but one off ({'; '.join(keeps)})"
    return (f"{lead} Choose one with a qualified name: {', '.join(f'{u}:{name}{suffix}' for u in usable)}{note}; "
            f"or {off}.")


def keeping_each(labels: list[str], kept: list[str] | None = None) -> list[str]:
    """For each of ``kept`` (default: every label), the ``ZOO_DISABLE_PLUGINS`` setting that keeps
    it alone among ``labels``, as "ZOO_DISABLE_PLUGINS=b,c keeps a". Which plugin to keep is the
    user's call (the newcomer or the one they had): offer each."""
    return [f"ZOO_DISABLE_PLUGINS={','.join(label for label in labels if label != keep)} keeps {keep}"
            for keep in (labels if kept is None else kept)]


def _labels(entries: list[_Entry]) -> list[str]:
    return plugin_labels([e.plugin for e in entries])


def _matches(name: str, plugin: PluginRecord, patterns: list[str], shown: str = "") -> bool:
    """Whether a pattern matches ``name`` bare, or as listed (``shown``: ``label:name`` where
    plugins clash), or qualified (``dist:name``, ``entry-point:name``, spelled any way a qualifier
    may be) by its plugin, clashing or not."""
    for pattern in patterns:
        parsed = parse_name(pattern)
        if not parsed.qualified:
            if fnmatch.fnmatchcase(name, pattern) or (shown and fnmatch.fnmatchcase(shown, pattern)):
                return True
        elif fnmatch.fnmatchcase(name, parsed.bare) and plugin.answers_to_pattern(parsed.qualifier):
            return True
    return False


def _listed(name: str, entries: list[_Entry]) -> list[tuple[str, _Entry]]:
    """The names a listing gives each claim of ``name``: the name itself, or on a conflict the
    qualified ``label:name`` of each claim (a bare one could not be created)."""
    if len(entries) == 1:
        return [(name, entries[0])]
    return [(f"{label}:{name}", entry) for label, entry in zip(_labels(entries), entries)]


def _patterns(pattern: str | Iterable[str] | None) -> list[str]:
    """fnmatch patterns from one pattern, a list of them, or None / "" (everything), as in timm."""
    if not pattern:
        return ["*"]
    return [pattern] if isinstance(pattern, str) else list(pattern)


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


_lock = threading.Lock()
_registry: Registry | None = None
_discovering = threading.local()


def _after_fork_in_child() -> None:
    """A fork (multiprocessing, a DataLoader's workers) while another thread discovers plugins
    copies the lock held, and no thread of the child would ever release it: a new lock, and the
    child discovers for itself. A registry complete before the fork is kept."""
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


def get_registry() -> Registry:
    """The process-wide registry, discovered on first use; the first call gives the warnings of
    discovery (PluginWarnings, the hooks' own) to the caller's filters."""
    registry, pending = _process_registry()
    # Stored before warning: where a filter turns a warning into an error, this first call
    # raises it, and every later call gets the same, complete registry.
    registry._emit_pending(pending)
    return registry


def get_registry_quietly() -> Registry:
    """The process-wide registry, the warnings of its discovery not given: for callers that report
    every plugin's problems and warnings themselves (``zoo doctor``, ``zoo check``, the
    conformance suite, which must not fail under ``-W error`` because of a neighbour's plugin)."""
    return _process_registry()[0]


def _process_registry() -> tuple[Registry, list[str | warnings.WarningMessage]]:
    """The process-wide registry and the warnings of its discovery not given yet (only the first
    call after a discovery gets any)."""
    global _registry
    if getattr(_discovering, "active", False):
        # A plugin's import or hook asked for the registry that is being built from it: waiting
        # on the lock would hang forever. The error is reported against that plugin.
        raise ZooError("zoo.list_models(), model_info(), create() and the like cannot be called while "
                       "plugins are being loaded (from a plugin module's import or from its hooks). "
                       "Return specs only; look other models up when your builder runs.")
    with _lock:
        if _registry is None:
            _discovering.active = True
            try:
                _registry = Registry._discover()
            finally:
                _discovering.active = False
        return _registry, _registry._take_pending()


def reset_registry() -> None:
    """Forget the process-wide registry; the next call rediscovers plugins (e.g. after installs)."""
    global _registry
    with _lock:
        _registry = None
