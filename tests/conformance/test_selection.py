"""Which subjects a run covers: names, patterns, plugins, --all without what plugins leave out of it, typo hints."""

from __future__ import annotations

import re
import types

import pytest

import zoo
from zoo.registry import Registry
from zoo.testing import select


def _registry():
    plugin = types.SimpleNamespace(
        zoo_architectures=zoo.hookimpl(lambda: [
            zoo.ArchitectureSpec(name=f"timm/net{i}", task="classification", builder="x:y",
                                 check_all="one of many, checked when named") for i in range(3)
        ] + [zoo.ArchitectureSpec(name="unet_like", task="semantic_segmentation", builder="x:y",
                                  pretrained={"sometag": zoo.PretrainedCfg("org/unet_like.sometag")})]),
        zoo_explainers=zoo.hookimpl(lambda: [zoo.ExplainerSpec(name="cam_like", builder="x:y")]),
    )
    registry = Registry()
    registry.register(plugin, "fake", "fake-dist")
    return registry


def test_all_leaves_out_what_a_spec_asks_to_be_left_out_of_it_unless_named():
    """The core named one plugin's namespace (timm/*): a spec says it for itself now, so a third-party
    bridge registering a thousand models can ask the same, and a timm/ name of another plugin cannot."""
    selection = select(all=True, registry=_registry())
    assert [s.name for s in selection.subjects] == ["unet_like", "cam_like"]
    assert selection.excluded == {f"timm/net{i}": "one of many, checked when named" for i in range(3)}
    assert [s.name for s in select(["timm/net1"], registry=_registry()).subjects] == ["timm/net1"]
    assert len(select(["timm/*"], registry=_registry()).subjects) == 3


def test_the_timm_bridge_leaves_its_models_out_of_check_all_and_other_timm_names_are_checked(tmp_path):
    from zoo.registry import get_registry

    timm_specs = [spec for spec, plugin in get_registry().specs()
                  if isinstance(spec, zoo.ArchitectureSpec) and plugin.distribution == "visionzoo-timm"]
    assert len(timm_specs) > 1000 and all("checked when named" in spec.check_all for spec in timm_specs)
    spec = zoo.ArchitectureSpec(name="timm/mine", task="classification", builder="x:y")
    registry = Registry()
    registry.register(types.SimpleNamespace(zoo_architectures=zoo.hookimpl(lambda: [spec])), "mine", "mine-dist")
    assert [s.name for s in select(all=True, registry=registry).subjects] == ["timm/mine"]
    unexplained = zoo.ArchitectureSpec(name="quiet", task="classification", builder="x:y", check_all=False)
    registry.register(types.SimpleNamespace(zoo_architectures=zoo.hookimpl(lambda: [unexplained])), "q", "q-dist")
    assert "check_all=False" in select(all=True, registry=registry).excluded["quiet"]
    with_plugin = select(plugins=["q-dist"], all=True, registry=registry)
    assert sorted(s.name for s in with_plugin.subjects) == ["quiet", "timm/mine"]


def test_plugin_and_patterns_select_models_and_explainers():
    assert len(select(plugins=["fake-dist"], registry=_registry()).subjects) == 5
    kinds = {s.name: s.kind for s in select(["*_like"], registry=_registry()).subjects}
    assert kinds == {"unet_like": "model", "cam_like": "explainer"}
    assert [s.name for s in select(["fake-dist:unet_like.sometag"], registry=_registry()).subjects] == ["unet_like"]


def test_a_tag_the_architecture_lacks_is_an_unknown_name_listing_its_tags():
    # Before, the tag part was dropped: `zoo check unet_like.nosuch` checked unet_like and passed.
    with pytest.raises(zoo.UnknownNameError, match="no pretrained tag matching 'nosuch'; its tags: sometag"):
        select(["unet_like.nosuch"], registry=_registry())


def test_unknown_names_are_typed_errors_with_hints():
    with pytest.raises(zoo.UnknownNameError, match="Did you mean: unet_like"):
        select(["unet_lik"], registry=_registry())
    with pytest.raises(zoo.UnknownNameError, match="no loaded zoo plugin is named 'Nope.Dist'"):  # as written
        select(plugins=["Nope.Dist"], registry=_registry())
    with pytest.raises(zoo.UnknownNameError, match="zoo_check_plugins takes one per line"):  # as testpaths reads
        select(plugins=["acme-seg acme-xai"], registry=_registry())


def test_a_name_nothing_registers_says_which_plugins_may_hold_it_as_create_does():
    """`zoo check NAME` said only "no match" where zoo.create names the plugins left out or broken."""
    import warnings

    registry = _registry()
    registry.left_out = ["zoo-probenets:probenets"]
    raising = types.SimpleNamespace(zoo_architectures=zoo.hookimpl(lambda: 1 / 0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        registry.register(raising, "raising", "acme-raising")
    with pytest.raises(zoo.UnknownNameError) as excinfo:
        select(["pnet_cls"], registry=registry)
    message = str(excinfo.value)
    assert "1 plugin failed to load (raising from acme-raising)" in message
    assert "ZOO_PLUGINS / ZOO_DISABLE_PLUGINS leave out 1 installed plugin (zoo-probenets:probenets)" in message


def test_a_plugin_that_fails_to_load_is_a_failure_of_its_own(plugin_packages):
    plugin_packages("broken-plugins")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        selection = select(plugins=["zoo-broken-plugins"])
    assert {p.name for p in selection.broken_plugins} >= {"broken_import", "raising_hook"}


def test_a_crash_in_plugin_code_is_a_failure_pointing_at_it():
    from zoo.testing import FAIL, ModelSubject, get_check, run_check

    def builder(num_classes=2, in_chans=3):
        raise RuntimeError("boom")

    spec = zoo.ArchitectureSpec(name="crashy", task="classification", builder=builder)
    result = run_check(get_check("build"), ModelSubject(spec=spec))
    assert result.status == FAIL
    assert "raised RuntimeError: boom" in result.message and "test_selection.py" in result.message


def test_the_suite_loads_without_torch_or_pytest():
    import subprocess
    import sys

    code = ("import sys, zoo.testing, zoo.cli.check; n = len(zoo.testing.all_checks()); "
            "print(n, 'torch' in sys.modules, 'pytest' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert int(out[0]) >= 20 and out[1:] == ["False", "False"]


def test_a_spec_the_registry_rejected_is_reported_by_name_and_pattern(plugin_packages):
    plugin_packages("conformance-bad")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for names in (["rejected_segmenter"], ["rejected_*"], ["zoo-conformance-bad:rejected_segmenter"]):
            selection = select(names)
            assert selection.subjects == []
            (plugin,) = selection.broken_plugins
            assert plugin.distribution == "zoo-conformance-bad"
            assert plugin.errors == ["zoo_architectures(): invalid spec skipped: rejected_segmenter.toy: "
                                     "hf_hub_id 'just-a-name' is not of the form 'org/name'"]
        assert select(["half_*"]).broken_plugins == []  # other names of that plugin: nothing to report


def test_a_rejected_dotted_name_is_reported_with_the_registrys_reason():
    # Before, "bad.dotted" was read as architecture "bad", tag "dotted": "Did you mean ...?".
    plugin = types.SimpleNamespace(zoo_architectures=zoo.hookimpl(lambda: [
        zoo.ArchitectureSpec(name="bad.dotted", task="semantic_segmentation", builder="x:y")]))
    registry = Registry()
    with pytest.warns(zoo.PluginWarning):
        registry.register(plugin, "fake", "fake-dist")
    selection = select(["bad.dotted"], registry=registry)
    assert selection.subjects == [] and "no dots" in "; ".join(selection.broken_plugins[0].errors)


@pytest.mark.parametrize("name, says", [(":unet_like", "has nothing before ':'"),
                                        ("fake-dist:", "names no model or explainer"),
                                        (".digits", "names no model or explainer"),
                                        ("unet_like.", "'unet_like.' ends with a dot")])
def test_a_name_with_an_empty_part_is_refused_as_create_refuses_it(name, says):
    """`zoo check ':unet_like'` (and 'unet_like.') checked unet_like while zoo.create refused it."""
    with pytest.raises(zoo.UnknownNameError, match=says):
        select([name], registry=_registry())


def test_a_tag_on_an_explainer_name_is_an_unknown_tag_not_a_crash():
    """`zoo check gradcam.x` raised AttributeError: explainer specs have no pretrained tags."""
    assert "gradcam" in zoo.list_explainers()
    with pytest.raises(zoo.UnknownTagError, match="'gradcam' is an explainer, and explainers have no tags: write "
                                                  "'gradcam'"):
        select(["gradcam.x"])


def test_two_entry_points_of_one_distribution_claiming_a_name_are_each_checked_under_their_label():
    """`zoo check twice` checked one of the two claims, labelled with the distribution that names
    neither; doctor and the registration check advised 'DIST:twice', which is ambiguous too."""
    from zoo.testing.registration_checks import _registration
    from zoo.testing.results import ContractViolation

    registry = Registry()
    for entry_point in ("first", "second"):
        registry.register(types.SimpleNamespace(zoo_architectures=zoo.hookimpl(lambda: [
            zoo.ArchitectureSpec(name="twice", task="semantic_segmentation", builder="x:y")])),
            entry_point, "acme-zoo")
    assert registry.list_models() == ["first:twice", "second:twice"]
    assert registry.conflicts() == {"model twice": ["first", "second"]}
    subjects = select(["twice"], registry=registry).subjects
    assert [s.label for s in subjects] == ["first:twice", "second:twice"]
    with pytest.raises(ContractViolation, match="meanwhile 'second:twice' picks this one"):
        _registration(subjects[1], [], registry.architecture_candidates("twice"), "zoo.create")


@pytest.mark.parametrize("claims", [
    [("acme", "acme"), ("other", "acme")],       # an entry point named like its distribution
    [("x", "acme"), ("y", "acme"), ("x", "beta")],  # an entry-point name two distributions use
    [("first", "acme"), ("beta", "acme"), ("b", "beta")],  # an entry point named like another distribution
])
def test_every_label_of_a_claimed_name_picks_exactly_its_claim(claims):
    """The labels were distributions, or else entry points, even where one answered to several
    claims: 'acme:twice' was listed, advised and ambiguous."""
    registry = Registry()
    for entry_point, distribution in claims:
        registry.register(types.SimpleNamespace(zoo_architectures=zoo.hookimpl(lambda: [
            zoo.ArchitectureSpec(name="twice", task="semantic_segmentation", builder="x:y")])),
            entry_point, distribution)
    listed = registry.list_models()
    assert len(listed) == len(claims)
    assert sorted((registry.resolve(name)[1].name, registry.resolve(name)[1].distribution) for name in listed) == \
        sorted(claims)
    assert sorted(s.label for s in select(["twice"], registry=registry).subjects) == sorted(listed)


def test_a_qualifier_pattern_selects_as_zoo_list_matches():
    """`zoo list 'visionzoo-seg*:unet'` listed unet; `zoo check` with the same pattern found nothing."""
    assert zoo.list_models("visionzoo-seg*:unet") == ["unet"]
    assert [s.label for s in select(["visionzoo-seg*:unet"]).subjects] == ["unet"]


def test_a_qualifier_no_plugin_answers_to_is_named_in_zoo_check_too():
    with pytest.raises(zoo.UnknownModelError, match="'unet', before ':', names no loaded plugin .* A tag follows a "
                                                    "dot: unet.shapes"):
        select(["unet:shapes"])


def test_an_explainer_read_as_a_qualifier_gets_no_tag_advice_in_zoo_check():
    with pytest.raises(zoo.UnknownModelError) as excinfo:
        select(["gradcam:x"])
    assert "names no loaded plugin" in str(excinfo.value) and "A tag follows" not in str(excinfo.value)


def _claims(tags_by_entry_point):
    registry = Registry()
    for entry_point, tags in tags_by_entry_point.items():
        registry.register(types.SimpleNamespace(zoo_architectures=zoo.hookimpl(lambda tags=tags: [
            zoo.ArchitectureSpec(name="twice", task="semantic_segmentation", builder="x:y",
                                 pretrained={t: zoo.PretrainedCfg(f"acme/twice.{t}") for t in tags})])),
            entry_point, "acme-zoo")
    return registry


def test_a_card_of_a_shared_name_belongs_to_the_one_claim_with_its_tag():
    """`zoo hub push tinynet.shapes` said the name was ambiguous, though one claim had the tag, and
    pointed at 'acme_seg:tinynet.shapes', a card folder that cannot exist; `zoo hub serve` served
    the card under another repo id, silently."""
    registry = _claims({"first": ["shapes"], "second": []})
    assert registry.pretrained_cfg_of_card("twice.shapes").hf_hub_id == "acme/twice.shapes"
    assert registry.pretrained_cfg_of_card("twice.other") is None
    with pytest.raises(zoo.AmbiguousNameError, match="first:twice.shapes, second:twice.shapes"):
        _claims({"first": ["shapes"], "second": ["shapes"]}).pretrained_cfg_of_card("twice.shapes")


def test_a_pattern_matches_the_qualified_name_a_listing_shows():
    """README: "a pattern matches the bare or the qualified name"; 'first*' matched nothing."""
    registry = _claims({"first": ["shapes"], "second": []})
    assert registry.list_models("first*") == ["first:twice"]
    assert registry.list_models("first*", pretrained=True) == ["first:twice.shapes"]


def test_a_checks_pattern_matching_no_check_is_a_usage_error(capsys):
    """`--checks nosuch` ran nothing and said only "nothing was checked" (exit 1)."""
    from zoo.cli import main

    assert main(["check", "cnn_cam", "--checks", "buid"]) == 2
    assert "--checks 'buid' matches no check (close: build); `zoo check --list-checks` lists them" in \
        capsys.readouterr().err
    for row in ("plugin_loads", "coverage"):  # accepted, they checked nothing: "nothing was checked" (exit 1)
        assert main(["check", "cnn_cam", "--checks", row]) == 2
        assert f"--checks {row!r}: a row" in capsys.readouterr().err


def test_zoo_check_all_says_what_it_left_out_and_why(capsys):
    from zoo.cli import main

    assert main(["check", "--all", "--checks", "registration"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("left out ") and "model(s) (timm/" in last
    assert last.endswith("as their plugin asks: " + zoo.model_info("timm/resnet18").check_all)


def test_the_summary_counts_one_subject_in_the_singular(capsys):
    from zoo.cli import main

    assert main(["check", "cnn_cam", "--checks", "registration"]) == 0
    assert re.search(r"\d+ passed, 0 failed, \d+ skipped \(1 subject\) in ", capsys.readouterr().out)
    assert main(["check", "cnn_cam", "unet", "--checks", "registration"]) == 0
    assert "(2 subjects) in " in capsys.readouterr().out
