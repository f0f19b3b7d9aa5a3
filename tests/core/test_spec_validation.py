"""Specs the registry rejects: two default tags, fields of the wrong type (a third-party
author's mistakes that used to be accepted and bite later, at create() or in `zoo list`)."""

import pytest

import zoo
from zoo.registry import PluginWarning, Registry
from zoo.specs import architecture_spec_problems, explainer_spec_problems, pretrained_cfg_problems


def _register(*specs):
    class Plugin:
        @zoo.hookimpl
        def zoo_architectures(self):
            return list(specs)

    registry = Registry()
    with pytest.warns(PluginWarning) as caught:
        record = registry.register(Plugin(), name="probe", distribution="acme-probe")
    return registry, record, "\n".join(str(w.message) for w in caught)


def test_two_default_tags_are_rejected_naming_both():
    spec = zoo.ArchitectureSpec("twodefaults", "classification", builder="m:f", pretrained={
        "a": zoo.PretrainedCfg("org/twodefaults.a", default=True),
        "b": zoo.PretrainedCfg("org/twodefaults.b"),
        "c": zoo.PretrainedCfg("org/twodefaults.c", default=True)})
    registry, record, messages = _register(spec)
    assert "twodefaults: tags 'a', 'c' are all default=True; flag one tag as the default" in messages
    assert "twodefaults" in record.rejected and registry.list_models() == []


OUT_OF_THE_CACHE = (" would lead out of its folder in the Hub cache (a '..', '.' or empty part, a leading '/', a "
                    "backslash or a control character)")


@pytest.mark.parametrize("field, value, message", [
    ("num_classes", "5", "num_classes must be None or an int >= 0, got '5'"),
    ("num_classes", True, "num_classes must be None or an int >= 0, got True"),
    ("in_chans", 0, "in_chans must be an int >= 1, got 0"),
    ("revision", None, "revision must be a non-empty string, got None"),
    ("filename", "", "filename must be a non-empty string, got ''"),
    ("filename", "../../x.safetensors", "filename '../../x.safetensors'" + OUT_OF_THE_CACHE),
    ("filename", "/etc/x.safetensors", "filename '/etc/x.safetensors'" + OUT_OF_THE_CACHE),
    ("revision", "../../victim", "revision '../../victim'" + OUT_OF_THE_CACHE),
    ("revision", "main/", "revision 'main/'" + OUT_OF_THE_CACHE),
    ("license", 2, "license must be None or a string, got 2"),
    ("default", "yes", "default must be True or False, got 'yes'"),
    ("metrics", {"miou": "0.9"}, "metrics must be a dict of name -> number (not NaN or Inf), got {'miou': '0.9'}"),
    ("metrics", {"miou": float("nan")}, "metrics must be a dict of name -> number (not NaN or Inf), got {'miou': nan}"),
    ("metrics", {"miou": float("inf")}, "metrics must be a dict of name -> number (not NaN or Inf), got {'miou': inf}"),
    ("metrics", {"accuracy": True}, "metrics must be a dict of name -> number (not NaN or Inf), got {'accuracy': True}"),
    # a number no float holds: math.isfinite raised OverflowError out of the validation
    ("metrics", {"top1": 10**400}, f"metrics must be a dict of name -> number (not NaN or Inf), got "
                                   f"{ {'top1': 10**400}!r:.80}"),
    ("sha256", "A" * 64, f"sha256 {'A' * 64!r} is not 64 lowercase hex digits"),  # hashlib's are lowercase
    ("revision", "  ", "revision must be a non-empty string, got '  '"),
    ("filename", "..\\..\\x.safetensors", "filename '..\\\\..\\\\x.safetensors'" + OUT_OF_THE_CACHE),
    ("filename", "model\n.safetensors", "filename 'model\\n.safetensors'" + OUT_OF_THE_CACHE),
    ("revision", "ma\x00in", "revision 'ma\\x00in'" + OUT_OF_THE_CACHE),
    # they won over the fields: the tag built 10 classes while model_info said 3
    ("model_kwargs", {"num_classes": 10}, "model_kwargs must not hold num_classes: set PretrainedCfg.num_classes "
                                          "instead (the field is what model_info and the head adaptation read)"),

])
def test_pretrained_cfg_fields_of_the_wrong_type_are_rejected(field, value, message):
    cfg = zoo.PretrainedCfg("org/net.tag", **{field: value})
    assert message in pretrained_cfg_problems("tag", cfg)
    _, record, messages = _register(zoo.ArchitectureSpec("net", "classification", builder="m:f",
                                                         pretrained={"tag": cfg}))
    assert f"net.tag: {message}" in messages and "net" in record.rejected


@pytest.mark.parametrize("hub_id", ["org/net--tag", "org/net..tag", "org/net.git", "org/net-", "org/" + "n" * 97])
def test_hub_ids_huggingface_hub_refuses_are_refused_at_registration(hub_id):
    """They passed the registry and `zoo check`, then raised huggingface_hub's HFValidationError
    (not a zoo error) at download."""
    assert f"hf_hub_id {hub_id!r} is not of the form 'org/name'" in pretrained_cfg_problems("t", zoo.PretrainedCfg(hub_id))


def test_headless_and_plain_configs_stay_valid():
    assert pretrained_cfg_problems("t", zoo.PretrainedCfg("org/n.t", num_classes=0, metrics={"top1": 71})) == []
    subfolder = zoo.PretrainedCfg("org/n.t", revision="refs/pr/3", filename="sub/m.safetensors")
    assert pretrained_cfg_problems("t", subfolder) == []


def test_a_description_that_is_not_a_string_is_rejected():
    assert architecture_spec_problems(zoo.ArchitectureSpec("net", "classification", builder="m:f",
                                                           description=None)) == [
        'net: description must be a string ("" for none), got NoneType']
    assert explainer_spec_problems(zoo.ExplainerSpec("cam", builder="m:f", description=3)) == [
        'cam: description must be a string ("" for none), got int']


@pytest.mark.parametrize("field", ["export", "check_all"])
def test_an_opt_out_is_true_false_or_a_reason(field):
    def spec(value):
        return zoo.ArchitectureSpec("net", "classification", builder="m:f", **{field: value})

    for fine in (True, False, "why"):
        assert architecture_spec_problems(spec(fine)) == []
    for bad in (" ", None, 1):
        assert architecture_spec_problems(spec(bad)) == [
            f"net: {field} must be True, False or a non-empty reason string, got {bad!r}"]


def test_defaults_of_the_wrong_type_and_an_explainer_for_no_task_are_rejected():
    spec = zoo.ArchitectureSpec("net", "classification", builder="m:f", defaults={"num_classes": "5", "in_chans": -3})
    assert architecture_spec_problems(spec) == [
        "net: defaults['num_classes'] must be an int >= 0, got '5'",
        "net: defaults['in_chans'] must be an int >= 1, got -3"]
    assert explainer_spec_problems(zoo.ExplainerSpec("cam", builder="m:f", tasks=())) == [
        "cam: tasks is empty, so no model could use it; name the tasks it explains, from classification, "
        "semantic_segmentation, instance_segmentation"]



def test_explainer_tasks_given_as_a_list_or_set_are_the_tuple_they_mean():
    """A list left the (frozen) spec unhashable and unequal to the same spec with a tuple."""
    as_tuple = zoo.ExplainerSpec("x", "m:f", ("classification", "semantic_segmentation"))
    as_list = zoo.ExplainerSpec("x", "m:f", ["classification", "semantic_segmentation"])
    as_set = zoo.ExplainerSpec("x", "m:f", {"semantic_segmentation", "classification"})
    assert as_list == as_tuple == as_set and hash(as_list) == hash(as_tuple) == hash(as_set)
    assert explainer_spec_problems(as_list) == []


def test_model_info_carries_every_spec_field():
    """ModelInfo re-declared the spec's fields by hand; one added to the spec went missing."""
    import dataclasses

    spec = {f.name for f in dataclasses.fields(zoo.ArchitectureSpec)}
    info = {f.name for f in dataclasses.fields(zoo.ModelInfo)}
    assert spec <= info and info - spec == {"plugin", "distribution", "version"}
    assert zoo.model_info("cnn_cam").export == zoo.get_registry().resolve("cnn_cam")[0].export


def test_what_would_not_parse_back_is_refused():
    """'arch.tag' splits on the first dot, a builder string on its colon, the project's own weights
    by their org: each of these held only by a regex or a split nothing pinned."""
    from zoo.specs import is_first_party

    assert pretrained_cfg_problems("v1.5", zoo.PretrainedCfg("org/net.v1")) == [
        "tag 'v1.5' must match ^[A-Za-z0-9_][A-Za-z0-9_\\-]*$"]
    for builder in ("pkg.models", "pkg.models:", ":build", "pkg models:build"):
        assert architecture_spec_problems(zoo.ArchitectureSpec("net", "classification", builder=builder)) == [
            f"net: builder must be a callable or a 'module:function' string, got {builder!r}"]
    assert is_first_party("visionzoo/unet.shapes")
    assert not is_first_party("visionzoo-community/unet.shapes") and not is_first_party("visionzoofork/x")


def test_a_builder_string_naming_something_not_callable_is_a_builder_error(monkeypatch):
    import types
    import sys

    from zoo.builders import import_builder

    monkeypatch.setitem(sys.modules, "acme_constants", types.SimpleNamespace(WIDTH=4))
    with pytest.raises(zoo.BuilderError, match=r"^acme:net: builder 'acme_constants:WIDTH' is not callable$"):
        import_builder("acme_constants:WIDTH", "acme:net")


def test_a_builder_module_off_sys_path_says_how_to_put_it_there():
    from zoo.builders import import_builder

    with pytest.raises(zoo.BuilderImportError, match=r"'zoo_no_such_package' is not on sys.path: install its "
                                                    r"distribution, or, testing a package in place, run "
                                                    r"`python -m pytest` from its root"):
        import_builder("zoo_no_such_package.models:net", "acme:net")


def test_an_unknown_task_filter_is_an_argument_error_not_an_empty_list():
    with pytest.raises(zoo.ArgumentError, match="unknown task 'classifcation'; choose from classification, "):
        zoo.list_models(task="classifcation")
