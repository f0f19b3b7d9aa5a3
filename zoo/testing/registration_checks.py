"""Checks of a spec's registration, the first rows for every subject: the registry would accept
the spec, and no other installed plugin registers its name.

Both matter most where the registry does not look: a spec tested before it is installed
(``ModelTests.zoo_subject`` returning ``ModelSubject(spec=...)``) skips the registry's
validation, and a name two plugins claim passes every other check while ``zoo.create(name)``
raises ``AmbiguousNameError`` for every user.
"""

from __future__ import annotations

from zoo.testing.checks import EXPLAINER, MODEL, broken, check

REGISTRATION_CHECKS = ("registration", "explainer_registration")  # about the spec, not the behaviour


@check("registration", MODEL, "the registry accepts the spec (zoo list shows it) and no other installed plugin "
                              "registers its name (else zoo.create(name) raises AmbiguousNameError)")
def check_model_registration(subject):
    from zoo.registry import get_registry
    from zoo.specs import architecture_spec_problems

    return _registration(subject, architecture_spec_problems(subject.spec),
                         get_registry().architecture_candidates(subject.name), "zoo.create")


@check("explainer_registration", EXPLAINER, "the registry accepts the spec (zoo list shows it) and no other "
                                            "installed plugin registers its name (else zoo.create_explainer(name) "
                                            "raises AmbiguousNameError)")
def check_explainer_registration(subject):
    from zoo.registry import get_registry
    from zoo.specs import explainer_spec_problems

    return _registration(subject, explainer_spec_problems(subject.spec),
                         get_registry().explainer_candidates(subject.name), "zoo.create_explainer")


def _registration(subject, problems: list[str], candidates, factory: str) -> str:
    if problems:
        raise broken("the registry would skip this spec: " + "; ".join(problems))
    mine = None if subject.plugin is None else (subject.plugin.name, subject.plugin.distribution)
    others = sorted({f"{plugin.distribution} (entry point {plugin.name!r})" for _, plugin in candidates
                     if (plugin.name, plugin.distribution) != mine})
    if others:
        from zoo.plugin_record import claim_label

        mine_label = (subject.plugin and claim_label([plugin for _, plugin in candidates], subject.plugin)
                      or subject.distribution)
        own = subject.plugin is not None and all(plugin.distribution == subject.plugin.distribution
                                                 for _, plugin in candidates)
        who = "always (one distribution registers it twice)" if own else "for every user who has both installed"
        raise broken(f"{subject.name!r} is also registered by {', '.join(others)}, so {factory}({subject.name!r}) "
                     f"raises AmbiguousNameError {who}; rename one (meanwhile "
                     f"'{mine_label}:{subject.name}' picks this one)")
    return "not installed; the registry would accept it" if mine is None else f"only {subject.distribution} registers it"
