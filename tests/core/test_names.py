"""Listing with patterns, tags and tasks; name resolution and suggestions (issue 2)."""

import re

import pytest

import zoo


@pytest.fixture(autouse=True)
def _sample(plugin_packages):
    plugin_packages("sample-plugin")


def test_patterns_like_timm():
    assert "sample_segmenter" in zoo.list_models("sample_*")
    assert "sample_segmenter" not in zoo.list_models("*classifier")
    assert set(zoo.list_models(["sample_seg*", "sample_cla*"])) >= {"sample_segmenter", "sample_classifier"}
    assert zoo.list_models("no_such_*") == []


def test_names_are_listed_in_natural_order_as_timm_lists_them():
    from zoo.registry import Registry

    class Numbered:
        @zoo.hookimpl
        def zoo_architectures(self):
            return [zoo.ArchitectureSpec(n, "classification", builder="m:f") for n in ("net10", "net2", "net1")]

        @zoo.hookimpl
        def zoo_explainers(self):
            return [zoo.ExplainerSpec(n, builder="m:f") for n in ("cam10", "cam2")]

    registry = Registry()
    registry.register(Numbered(), name="numbered")
    assert registry.list_models() == ["net1", "net2", "net10"]  # not net1, net10, net2
    assert registry.list_explainers() == ["cam2", "cam10"]


def test_pretrained_lists_arch_dot_tag():
    names = zoo.list_models("sample_*", pretrained=True)
    assert names == ["sample_segmenter.other", "sample_segmenter.toy"]
    assert zoo.list_models("*.toy", pretrained=True) == ["sample_segmenter.toy"]


def test_task_filter():
    assert "sample_classifier" in zoo.list_models(task="classification")
    assert "sample_classifier" not in zoo.list_models(task="semantic_segmentation")
    assert "sample_segmenter" in zoo.list_models(task="semantic_segmentation")


def test_explainer_patterns():
    assert zoo.list_explainers("sample_*") == ["sample_ones"]
    assert zoo.list_explainers(["nothing*", "sample_o*"]) == ["sample_ones"]  # a list, as for models


def test_no_pattern_lists_everything_as_in_timm():
    for empty in (None, ""):
        assert zoo.list_models(empty) == zoo.list_models()
        assert zoo.list_explainers(empty) == zoo.list_explainers()


def test_unknown_model_suggests_closest_names():
    with pytest.raises(zoo.UnknownModelError) as excinfo:
        zoo.create("sample_segmentr")
    assert "sample_segmenter" in str(excinfo.value)
    assert isinstance(excinfo.value, KeyError)
    assert str(excinfo.value).startswith("Unknown model 'sample_segmentr'")


def test_a_name_in_another_case_is_suggested():
    with pytest.raises(zoo.UnknownModelError, match="Did you mean: sample_segmenter"):
        zoo.create("SAMPLE_SEGMENTER")


def test_an_explainer_name_where_a_model_is_expected_says_what_it_is():
    with pytest.raises(zoo.UnknownModelError, match=r"'sample_ones' is an explainer: "
                                                    r"zoo.explain\(model, images, method='sample_ones'\)"):
        zoo.model_info("sample_ones")
    with pytest.raises(zoo.UnknownExplainerError, match=r"'sample_classifier' is a model: zoo.create"):
        zoo.create_explainer("sample_classifier", None)


def test_unknown_tag_lists_existing_tags():
    with pytest.raises(zoo.UnknownTagError) as excinfo:
        zoo.model_info("sample_segmenter.nope")
    assert "toy" in str(excinfo.value) and "other" in str(excinfo.value)


def test_a_tag_in_another_case_is_suggested_as_names_are():
    with pytest.raises(zoo.UnknownTagError, match=r"Did you mean sample_segmenter.toy\?"):
        zoo.model_info("sample_segmenter.TOY")


def test_pretrained_without_weights_is_a_clear_error():
    with pytest.raises(zoo.UnknownTagError, match="no pretrained weights"):
        zoo.create("sample_classifier", pretrained=True)


def test_tag_selects_its_config_and_default_tag():
    spec, _, tag = zoo.get_registry().resolve("sample_segmenter", pretrained=True)
    assert tag == "other"  # flagged default=True
    assert zoo.get_registry().resolve("sample_segmenter")[2] is None
    # "arch.tag" takes num_classes from the tag's config, without loading weights
    assert zoo.create("sample_segmenter.toy")[-1].out_channels == 3
    assert zoo.create("sample_segmenter.other")[-1].out_channels == 2
    assert zoo.create("sample_segmenter.toy", num_classes=7)[-1].out_channels == 7


def test_none_kwargs_are_not_passed_to_builders():
    model = zoo.create("sample_segmenter", num_classes=None, in_chans=None)
    assert model[0].in_channels == 3 and model[-1].out_channels == 3


def test_a_none_keyword_leaves_the_tags_value_as_timm_leaves_its_defaults():
    """base_width=None took the tag's base_width away: the builder's default built a 4x larger net
    (and pretrained=True then refused the tag's own weights)."""
    pytest.importorskip("zoo_segmentation")
    tagged = zoo.create("unet.shapes")
    given_none = zoo.create("unet.shapes", base_width=None, depth=None)
    assert [p.shape for p in given_none.parameters()] == [p.shape for p in tagged.parameters()]
    assert zoo.create("sample_segmenter", in_chans=1, width=6)[0].weight.shape == (6, 1, 1, 1)


def test_explain_goes_through_the_registry():
    import torch

    model = zoo.create("sample_classifier")
    maps = zoo.explain(model, torch.zeros(2, 3, 8, 8), method="sample_ones")
    assert maps.shape == (2, 8, 8)
    with pytest.raises(zoo.UnknownExplainerError, match="sample_ones"):
        zoo.create_explainer("sample_one", model)


def test_explain_refuses_maps_that_are_not_float_n_h_w(tmp_path):
    import numpy as np
    import torch
    from PIL import Image

    from zoo.registry import get_registry

    outputs = {
        "channel_maps": lambda x: torch.ones(x.shape[0], 1, *x.shape[2:]),  # (N, 1, H, W)
        "tuple_maps": lambda x: (torch.ones(x.shape[0], *x.shape[2:]), {"extra": 1}),
        "numpy_maps": lambda x: np.ones((x.shape[0], *x.shape[2:]), np.float32),
        "bool_maps": lambda x: torch.ones(x.shape[0], *x.shape[2:], dtype=torch.bool),
        "small_maps": lambda x: torch.ones(x.shape[0], 4, 4),  # left at a feature map's resolution
        "one_map": lambda x: torch.ones(1, *x.shape[2:]),  # one map for a batch of two
    }

    def explainer_returning(make):
        class Returning(zoo.Explainer):
            def __call__(self, images, target=None):
                return make(images)
        return Returning

    class Plugin:
        @zoo.hookimpl
        def zoo_explainers(self):
            return [zoo.ExplainerSpec(name, explainer_returning(make)) for name, make in outputs.items()]

    get_registry().register(Plugin(), name="odd-maps")
    model = zoo.create("sample_classifier")
    with pytest.raises(zoo.ExplainerOutputError, match=r"'channel_maps' returned a float32 tensor of shape "
                                                       r"\(2, 1, 8, 8\).*\(N, H, W\) = \(2, 8, 8\)"):
        zoo.explain(model, torch.zeros(2, 3, 8, 8), method="channel_maps")
    for name, returned in (("tuple_maps", "tuple"), ("numpy_maps", "ndarray"), ("bool_maps", "a bool tensor"),
                           ("small_maps", r"a float32 tensor of shape \(2, 4, 4\)"),
                           ("one_map", r"a float32 tensor of shape \(1, 8, 8\)")):
        with pytest.raises(zoo.ExplainerOutputError, match=f"'{name}' returned {returned}"):
            zoo.explain(model, torch.zeros(2, 3, 8, 8), method=name)
    # `zoo explain` holds plugins to the same contract (it drew the (N, 1, H, W) maps, exit 0)
    from zoo.cli import main

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "image.png")
    assert main(["explain", "sample_classifier", str(tmp_path / "image.png"), "--method", "channel_maps",
                 "-o", str(tmp_path / "out.png")]) == 3
    assert not (tmp_path / "out.png").exists()


def test_an_option_no_explainer_class_takes_is_refused_not_ignored():
    # sample_ones subclasses zoo.Explainer without options of its own; a typo used to vanish.
    model = zoo.create("sample_classifier")
    with pytest.raises(zoo.UnknownOptionError, match="OnesExplainer takes no option 'targt_layer'") as error:
        zoo.create_explainer("sample_ones", model, targt_layer="conv")
    assert error.value.unknown == ["targt_layer"] and error.value.accepted == []  # as for a builder's signature


def test_an_option_given_to_a_builder_that_takes_none_is_refused_before_building():
    from zoo.registry import get_registry

    built = []

    class Summing(zoo.Explainer):
        def __call__(self, images, target=None):
            return images.sum(1)

    def summing(model):  # a builder with no options at all
        built.append(model)
        return Summing(model)

    class Plugin:
        @zoo.hookimpl
        def zoo_explainers(self):
            return [zoo.ExplainerSpec("summing", summing)]

    get_registry().register(Plugin(), name="summing")
    with pytest.raises(zoo.UnknownOptionError, match="explainer 'summing' takes no option 'alpha'; its options: "
                                                     "none$") as error:
        zoo.create_explainer("summing", zoo.create("sample_classifier"), alpha=1.0)
    assert error.value.accepted == [] and built == []

def test_an_explainer_subclass_passing_options_on_lists_its_own():
    class Scaled(zoo.Explainer):
        def __init__(self, model, alpha=1.0, **kwargs):  # the rest to the base class, which refuses them
            super().__init__(model, **kwargs)
            self.alpha = alpha

        def __call__(self, images, target=None):
            return images.sum(1) * self.alpha

    with pytest.raises(zoo.UnknownOptionError, match="takes no option 'alfa'; its options: alpha$") as error:
        Scaled(object(), alfa=2.0)
    assert error.value.accepted == ["alpha"]


def test_the_options_of_every_explainer_class_in_the_chain_are_listed_once():
    class Scaled(zoo.Explainer):
        def __init__(self, model, alpha=1.0, **kwargs):
            super().__init__(model, **kwargs)

    class Shifted(Scaled):  # names only its own option: alpha is its parent's
        def __init__(self, model, beta=2.0, **kwargs):
            super().__init__(model, **kwargs)

    class Restated(Scaled):  # names alpha again: listed once
        def __init__(self, model, beta=2.0, alpha=1.0, **kwargs):
            super().__init__(model, alpha=alpha, **kwargs)

    for cls in (Shifted, Restated):
        with pytest.raises(zoo.UnknownOptionError) as error:
            cls(object(), gamma=1)
        assert error.value.accepted == ["beta", "alpha"], cls


def test_an_option_the_explainer_requires_and_was_not_given_is_named_before_building(tmp_path, capsys):
    """A builder option with no default reached the caller as the builder's bare TypeError, and `zoo
    explain` guessed whether to blame the options; the conformance suite already refused it."""
    import numpy as np
    import torch
    from PIL import Image

    from zoo.cli import main
    from zoo.registry import get_registry

    built = []

    class Layered(zoo.Explainer):
        def __call__(self, images, target=None):
            return images.sum(1)

    def needs_layer(model, *, layer, scale=1.0):
        built.append(layer)
        return Layered(model)

    class Plugin:
        @zoo.hookimpl
        def zoo_explainers(self):
            return [zoo.ExplainerSpec("needs_layer", needs_layer)]

    get_registry().register(Plugin(), name="needs-layer")
    model = zoo.create("sample_classifier")
    for call in (lambda: zoo.create_explainer("needs_layer", model, scale=2.0),
                 lambda: zoo.explain(model, torch.zeros(1, 3, 8, 8), method="needs_layer")):
        with pytest.raises(zoo.MissingOptionError, match="explainer 'needs_layer' requires layer, which its plugin "
                                                         "gives no default: pass layer=...") as error:
            call()
        assert isinstance(error.value, TypeError) and error.value.missing == ["layer"]
    assert built == []
    assert zoo.explain(model, torch.zeros(1, 3, 8, 8), method="needs_layer", layer="conv").shape == (1, 8, 8)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "image.png")
    assert main(["explain", "sample_classifier", str(tmp_path / "image.png"), "--method", "needs_layer",
                 "-o", str(tmp_path / "out.png")]) == 2
    assert "method 'needs_layer' requires -O layer=VALUE (its plugin gives no default)" in capsys.readouterr().err


def test_an_explainer_builder_returning_something_that_cannot_explain_is_a_builder_error():
    import torch

    from zoo.explain import build_explainer

    with pytest.raises(zoo.BuilderError, match="returned Tensor, not an explainer"):
        build_explainer(lambda model: torch.zeros(1), object(), "dist:tensor_maker")


def test_bad_names_are_rejected():
    for bad in ("", None):
        with pytest.raises(zoo.UnknownModelError):
            zoo.create(bad)


@pytest.mark.parametrize("name, says", [
    (".sample_segmenter", "'.sample_segmenter' names no model; write ARCH[.TAG], or DIST:ARCH[.TAG]"),
    ("zoo-sample-plugin:", "'zoo-sample-plugin:' names no model"),
    (":sample_segmenter", "':sample_segmenter' has nothing before ':'"),
    ("sample/../segmenter", "Unknown model 'sample/' (read from 'sample/../segmenter')"),
])
def test_a_name_with_an_empty_part_is_refused_naming_what_was_given(name, says):
    """These said "Unknown model ''" (the parsed fragment), and ':name' was accepted silently."""
    with pytest.raises(zoo.UnknownModelError) as excinfo:
        zoo.create(name)
    assert says in str(excinfo.value)


@pytest.mark.parametrize("method, says", [(":saliency", "':saliency' has nothing before ':'"),
                                          (".saliency", "'.saliency' names no explainer")])
def test_an_explainer_name_with_an_empty_part_is_refused(method, says):
    with pytest.raises(zoo.UnknownExplainerError, match=says):
        zoo.explain(zoo.create("sample_classifier"), None, method=method)


@pytest.mark.parametrize("text, qualifier, bare, arch, tag", [
    ("unet", "", "unet", "unet", ""),
    ("unet.voc", "", "unet.voc", "unet", "voc"),
    ("my.dist:unet.voc", "my.dist", "unet.voc", "unet", "voc"),  # the last ':' ends the qualifier
    ("a:b:unet", "a:b", "unet", "unet", ""),
    ("org/net.t", "", "org/net.t", "org/net", "t"),
    (":unet", "", "unet", "unet", ""),
])
def test_the_name_grammar(text, qualifier, bare, arch, tag):
    from zoo.names import parse_name

    name = parse_name(text)
    assert (name.qualifier, name.bare, name.arch, name.tag) == (qualifier, bare, arch, tag)
    assert name.qualified == text.startswith((":", "my.dist:", "a:b:"))


def test_a_dot_with_no_tag_is_told_apart_from_no_dot():
    from zoo.names import parse_name

    assert parse_name("unet.").ends_with_dot and parse_name("unet.").has_tag_part
    assert not parse_name("unet").has_tag_part and not parse_name("unet.voc").ends_with_dot


def test_a_pretrained_listing_with_a_dotted_distribution_qualifier():
    """'my.dist:net' has no tag part (the dot is the distribution's): it lists net's tags, as
    'my-dist:net' does, instead of nothing."""
    from zoo.registry import Registry

    class Plugin:
        @zoo.hookimpl
        def zoo_architectures(self):
            return [zoo.ArchitectureSpec("net", "classification", "x:y",
                                         pretrained={"t": zoo.PretrainedCfg("org/net.t")})]

    registry = Registry()
    registry.register(Plugin(), name="ep", distribution="my.dist")
    for pattern in ("my.dist:net", "my-dist:net", "net"):
        assert registry.list_models(pattern, pretrained=True) == ["net.t"], pattern


@pytest.mark.parametrize("name, says", [
    ("sample_segmenter:toy", "'sample_segmenter', before ':', names no loaded plugin (a distribution or entry "
                             "point; `zoo doctor` lists them); a tag follows a dot: sample_segmenter.toy."),
    ("no-such-dist:sample_segmentr", "'no-such-dist', before ':', names no loaded plugin"),
])
def test_a_qualifier_no_plugin_answers_to_is_named(name, says):
    """'unet:shapes' said only "Unknown model 'shapes'": not that 'unet' was read as a plugin."""
    with pytest.raises(zoo.UnknownModelError) as excinfo:
        zoo.model_info(name)
    assert says in str(excinfo.value)


def test_an_explainer_read_as_a_qualifier_gets_no_tag_advice():
    with pytest.raises(zoo.UnknownExplainerError) as excinfo:
        zoo.get_registry().explainer("sample_ones:x")
    assert "'sample_ones', before ':', names no loaded plugin" in str(excinfo.value)
    assert "a tag follows" not in str(excinfo.value)


@pytest.mark.parametrize("name, write", [("hf-hub:sample-org/sample_segmenter.toy", "write 'sample_segmenter.toy'"),
                                         ("hf-hub:acme/x", "no registered tag downloads that repo")])
def test_timms_hf_hub_names_say_what_the_zoo_calls_them(name, write):
    """It read 'hf-hub' as a plugin qualifier and suggested a name without the tag; the tag whose
    repo it is is found in the registry (the core knows no plugin's namespace)."""
    with pytest.raises(zoo.UnknownModelError, match=r"take no 'hf-hub:' prefix .*" + re.escape(write)):
        zoo.create(name)


def test_explain_reads_a_numbered_layer_name_as_the_name_it_is(tmp_path, capsys):
    """-O target_layer=0 (nn.Sequential names its layers 0, 1, ...) became the int 0 and was refused."""
    import numpy as np
    from PIL import Image

    from zoo.cli import main

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "image.png")
    assert main(["explain", "sample_segmenter", str(tmp_path / "image.png"), "-m", "gradcam", "-O", "target_layer=0",
                 "-o", str(tmp_path / "out.png")]) == 0, capsys.readouterr().err


def test_a_name_ending_with_a_dot_says_which_two_names_were_meant():
    with pytest.raises(zoo.UnknownTagError) as info:
        zoo.create("sample_segmenter.", pretrained=True)
    assert "write 'sample_segmenter' for the architecture, or sample_segmenter.TAG" in str(info.value)


def test_same_architecture_sees_through_org_plugin_and_tag():
    from zoo.names import same_architecture

    assert same_architecture("visionzoo/unet", "unet") and same_architecture("dist:unet.shapes", "org/unet")
    assert not same_architecture("unet", "unet_small")


def test_suggestions_reach_as_far_as_difflibs_default_cutoff():
    from zoo.names import close_names

    assert close_names("unte", ["unet", "segnet"]) == ["unet"]  # a ratio of 0.75
    assert sorted(close_names("fcn", ["fcn8s", "fcn16s", "fcn32s"])) == ["fcn16s", "fcn32s", "fcn8s"]  # every close one
