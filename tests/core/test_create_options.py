"""`zoo.create` options on a plugin's own specs: tags that leave fields at their defaults, local
weights, and arguments that cannot apply (issue 2)."""

import pytest
import torch.nn as nn
from safetensors.torch import save_model

import zoo
import zoo.registry
from zoo import WeightsMismatchWarning  # a public name: filters need it (was only zoo.weights')


class TinyClassifier(nn.Module):
    def __init__(self, num_classes=4, in_chans=3):
        super().__init__()
        self.stem = nn.Conv2d(in_chans, 8, 3)
        self.head = nn.Linear(8, num_classes)

    def forward(self, x):
        return self.head(self.stem(x).mean((2, 3)))


class HeadlessCapable(TinyClassifier):
    """timm's convention: num_classes=0 leaves no head (features), get_classifier() names the head."""

    def __init__(self, num_classes=4, in_chans=3):
        super().__init__(max(num_classes, 1), in_chans)
        if num_classes == 0:
            self.head = nn.Identity()

    def get_classifier(self):
        return self.head


class TiedStem(TinyClassifier):
    """One conv reached under two names (timm's CoaT shares its positional convs so)."""

    def __init__(self, num_classes=4, in_chans=3):
        super().__init__(num_classes, in_chans)
        self.shared = self.stem


class TiedHead(TinyClassifier):
    """One Parameter under two names (a language model's tied embedding and output weights)."""

    def __init__(self, num_classes=4, in_chans=3):
        super().__init__(num_classes, in_chans)
        self.aux = nn.Linear(8, num_classes)
        self.aux.weight = self.head.weight

    def forward(self, x):
        features = self.stem(x).mean((2, 3))
        return self.head(features) + self.aux(features)


class Plugin:
    @zoo.hookimpl
    def zoo_architectures(self):
        return [
            zoo.ArchitectureSpec("tiny_tied", "classification", TiedStem),
            zoo.ArchitectureSpec("tiny_tied_head", "classification", TiedHead),
            # a feature extractor's weights (e.g. DINO, CLIP towers in timm): no head in the file
            zoo.ArchitectureSpec("tiny_backbone", "classification", HeadlessCapable,
                                 pretrained={"fe": zoo.PretrainedCfg("org/tiny_backbone.fe", num_classes=0)}),
            # The tag leaves num_classes at its default (None): the weights fit the spec's 4 classes.
            zoo.ArchitectureSpec("tiny", "classification", TinyClassifier, defaults={"num_classes": 4},
                                 pretrained={"t": zoo.PretrainedCfg("org/tiny.t", metrics={"acc": 0.5})}),
            zoo.ArchitectureSpec("tiny_untagged", "classification", TinyClassifier),
            zoo.ArchitectureSpec("tiny_capable", "classification", HeadlessCapable,
                                 pretrained={"t": zoo.PretrainedCfg("org/tiny_capable.t", num_classes=4)}),
            # a default tag that changes the head: its weights do not fit the spec's defaults
            zoo.ArchitectureSpec("tiny_tagged", "classification", TinyClassifier, defaults={"num_classes": 4},
                                 pretrained={"ten": zoo.PretrainedCfg("org/tiny_tagged.ten", num_classes=10,
                                                                      default=True)}),
        ]


@pytest.fixture(autouse=True)
def registry(monkeypatch):
    registry = zoo.registry.Registry()
    registry.register(Plugin(), name="tiny-plugin")
    monkeypatch.setattr(zoo.registry, "_registry", registry)
    return registry


@pytest.fixture
def weights(tmp_path):
    path = tmp_path / "tiny.safetensors"
    save_model(TinyClassifier(num_classes=4), str(path))
    return path


def test_a_new_head_on_a_tag_without_num_classes_is_reinitialised_with_a_warning(weights):
    with pytest.warns(WeightsMismatchWarning, match=r"head.*returned in eval mode, so call model.train\(\)"):
        model = zoo.create("tiny.t", weights=weights, num_classes=2)
    assert model.head.out_features == 2
    assert zoo.create("tiny.t", weights=weights).head.out_features == 4  # same head: strict, silent


def test_dropping_the_head_for_features_is_silent_as_in_timm(tmp_path):
    """num_classes=0 on a tag with a head: nothing is re-initialised, nothing to fine-tune; the
    warning it gave broke runs under -W error (timm says nothing)."""
    import warnings

    import torch

    path = tmp_path / "capable.safetensors"
    save_model(HeadlessCapable(num_classes=4), str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        features = zoo.create("tiny_capable.t", weights=path, num_classes=0)
    assert isinstance(features.head, nn.Identity)
    assert torch.equal(features.stem.weight, zoo.create("tiny_capable.t", weights=path).stem.weight)


def test_a_head_on_weights_that_have_none_is_new_with_a_warning(tmp_path):
    import torch

    path = tmp_path / "backbone.safetensors"
    save_model(HeadlessCapable(num_classes=0), str(path))
    assert isinstance(zoo.create("tiny_backbone.fe", weights=path).head, nn.Identity)
    with pytest.warns(WeightsMismatchWarning, match="num_classes 0 -> 5: re-initialised head.bias, head.weight"):
        model = zoo.create("tiny_backbone.fe", weights=path, num_classes=5)
    assert model.head.out_features == 5 and not model.training
    assert torch.equal(model.stem.weight, zoo.create("tiny_backbone.fe", weights=path).stem.weight)
    # only the classifier may be absent from the file: a missing stem is still an error
    save_model(nn.ModuleDict({"head": nn.Linear(8, 5)}), str(path))
    with pytest.raises(zoo.WeightsError, match=r"missing \(2\): 'stem.bias', 'stem.weight'"):
        zoo.create("tiny_backbone.fe", weights=path, num_classes=5)


def test_keys_saved_under_a_wrappers_prefix_get_a_hint(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "ddp.safetensors"
    save_file({f"module.{k}": v for k, v in TinyClassifier().state_dict().items()}, str(path))
    with pytest.raises(zoo.WeightsError, match=r"under the prefix 'module\.'.*removeprefix\('module\.'\)"):
        zoo.create("tiny", weights=path)
    # a DDP-saved backbone: the head is missing besides
    save_file({f"module.{k}": v for k, v in TinyClassifier().state_dict().items() if not k.startswith("head.")},
              str(path))
    with pytest.raises(zoo.WeightsError, match=r"under the prefix 'module\.'"):
        zoo.create("tiny", weights=path)
    # a torch.compile'd model inside DDP: both prefixes (no hint before)
    save_file({f"module._orig_mod.{k}": v for k, v in TinyClassifier().state_dict().items()}, str(path))
    with pytest.raises(zoo.WeightsError, match=r"removeprefix\('module\._orig_mod\.'\)"):
        zoo.create("tiny", weights=path)


def test_tied_weights_saved_once_by_save_model_load_under_every_name(tmp_path):
    """save_model stores a shared tensor under one of its names; the other was 'missing'."""
    import torch

    torch.manual_seed(0)
    saved = TiedStem()
    path = tmp_path / "tied.safetensors"
    save_model(saved, str(path))
    model = zoo.create("tiny_tied", weights=path)
    assert model.shared is model.stem and torch.equal(model.stem.weight, saved.stem.weight)
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(model(x), saved.eval()(x))


@pytest.mark.parametrize("save", ["save_model", "save_file"])
def test_a_tied_parameter_stays_one_parameter_after_loading(tmp_path, save):
    """Loading gave each name its own copy: one optimiser step later the two had drifted apart."""
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    saved = TiedHead()
    path = tmp_path / "tied.safetensors"
    if save == "save_model":  # the shared tensor stored once, under one name
        save_model(saved, str(path))
    else:  # a copy under each name, as a cloned state dict saves it
        save_file({k: v.clone() for k, v in saved.state_dict().items()}, str(path))
    model = zoo.create("tiny_tied_head", weights=path)
    assert model.aux.weight is model.head.weight
    assert len(list(model.parameters())) == len(list(TiedHead().parameters()))
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(model(x), saved.eval()(x))


def test_a_local_file_needs_no_default_tag(weights):
    model = zoo.create("tiny_untagged", pretrained=True, weights=weights)
    assert not model.training


def test_a_local_file_for_a_bare_arch_is_built_as_its_default_tag(tmp_path):
    """pretrained=True on a bare arch takes its default tag (DESIGN), also with weights=: the file
    fits as the tag's weights do (the spec's 4-class head refused them before)."""
    path = tmp_path / "ten.safetensors"
    save_model(TinyClassifier(num_classes=10), str(path))
    assert zoo.create("tiny_tagged", pretrained=True, weights=path).head.out_features == 10
    assert zoo.create("tiny_tagged.ten", weights=path).head.out_features == 10  # the same, named
    with pytest.raises(zoo.WeightsError, match="head.bias"):  # without pretrained=True: the spec's defaults
        zoo.create("tiny_tagged", weights=path)


def test_a_file_differing_only_in_its_head_says_how_to_load_or_replace_it(tmp_path):
    """A timm user's habit (num_classes=5 with a 1000-class file) met a strict mismatch with no word
    of the file's class count, nor of the tag that re-initialises a head."""
    path = tmp_path / "four.safetensors"
    save_model(HeadlessCapable(num_classes=4), str(path))
    with pytest.raises(zoo.WeightsMismatchError) as info:
        zoo.create("tiny_capable", num_classes=5, weights=path)
    assert "Only the classifier differs: the file's head has 4 classes. Pass num_classes=4" in str(info.value)
    with pytest.warns(zoo.WeightsMismatchWarning):  # what the message points to: its tag "t" has 4 classes
        assert zoo.create("tiny_capable.t", num_classes=5, weights=path).head.out_features == 5
    save_model(HeadlessCapable(num_classes=4, in_chans=1), str(path))
    with pytest.raises(zoo.WeightsMismatchError) as info:
        zoo.create("tiny_capable", num_classes=5, weights=path)
    assert "Only the classifier" not in str(info.value)  # not where other layers differ too
    wider = HeadlessCapable(num_classes=4)
    wider.head = nn.Linear(16, 4)  # a head of another input width (timm's global_pool="catavgmax"): not classes
    save_model(wider, str(path))
    with pytest.raises(zoo.WeightsMismatchError) as info:
        zoo.create("tiny_capable", weights=path)
    assert "Only the classifier" not in str(info.value)


def test_revision_without_a_hub_download_is_refused(weights):
    for kwargs in ({}, {"weights": weights}, {"weights": weights, "pretrained": True}):  # a file has no revision
        fix = "drop one of them" if "weights" in kwargs else "or pass pretrained=True"  # not what was passed
        with pytest.raises(zoo.ArgumentError, match=f"revision='v1'.*pretrained=True.*{fix}") as info:
            zoo.create("tiny", revision="v1", **kwargs)
        assert isinstance(info.value, ValueError)  # a ZooError, and what a caller would catch


@pytest.mark.parametrize("kwargs, says", [
    ({"pretrained": "False"}, "pretrained='False': pretrained is True or False"),  # truthy: it loaded weights
    ({"pretrained": "ten"}, "zoo.create('tiny_tagged.TAG', pretrained=True)"),  # loaded the default tag instead
    ({"pretrained": True, "revision": ""}, "revision='': a revision is a non-empty"),  # took the pinned one
    ({"weights": ""}, "weights='': weights= takes the path of a .safetensors file"),  # read as the folder '.'
    ({"weights": {"head.weight": 0}}, "for a state dict in hand, call load_state_dict"),  # pathlib's TypeError
    ({"weights": True}, "weights=True: weights= takes the path"),
])
def test_arguments_that_are_truthy_or_path_like_by_accident_are_refused(kwargs, says):
    with pytest.raises(zoo.ArgumentError) as info:
        zoo.create("tiny_tagged", **kwargs)
    assert says in str(info.value)


def test_an_empty_tag_is_an_unknown_tag():
    with pytest.raises(zoo.UnknownTagError, match="ends with a dot"):
        zoo.create("tiny.")


def test_an_unknown_task_is_refused_with_the_known_ones():
    with pytest.raises(zoo.ArgumentError, match="unknown task 'clasification'.*classification") as info:
        zoo.list_models(task="clasification")
    assert isinstance(info.value, ValueError)


def test_a_directory_is_not_a_weights_file(tmp_path):
    with pytest.raises(zoo.WeightsError, match="is a directory"):
        zoo.create("tiny", weights=tmp_path)


def test_specs_are_hashable_and_model_info_is_a_copy():
    info = zoo.model_info("tiny")
    assert hash(info) == hash(zoo.model_info("tiny"))
    assert len({info.pretrained["t"], zoo.model_info("tiny").pretrained["t"]}) == 1
    info.pretrained["t"].metrics["acc"] = 1.0
    info.defaults["num_classes"] = 99
    assert zoo.model_info("tiny").pretrained["t"].metrics == {"acc": 0.5}
    assert zoo.model_info("tiny").defaults == {"num_classes": 4}


def test_a_builder_error_keeps_its_type_and_says_what_was_being_built():
    with pytest.raises(TypeError) as info:
        zoo.create("tiny", width=3)  # TinyClassifier takes no width
    assert any("while building <local>:tiny" in note and "'width': 3" in note for note in info.value.__notes__)


def _requires_both(num_classes, in_chans):
    """A builder written to DESIGN's call, builder(num_classes=..., in_chans=...), with no defaults."""
    import torch.nn as nn

    return nn.Conv2d(in_chans, num_classes, 1)


def _requires_both_by_keyword(*, num_classes, in_chans):
    """The same, keyword-only: the zoo calls builders by keyword, so it is the same contract."""
    return _requires_both(num_classes, in_chans)


def _register_requiring(defaults, builder=_requires_both):
    import types

    from zoo.registry import get_registry

    plugin = types.SimpleNamespace(zoo_architectures=zoo.hookimpl(lambda: [zoo.ArchitectureSpec(
        name="requires_both", task="semantic_segmentation", builder=builder, defaults=defaults)]))
    get_registry().register(plugin, name="requiring", distribution="zoo-requiring")


@pytest.mark.parametrize("builder", [_requires_both, _requires_both_by_keyword])
def test_a_builder_requiring_in_chans_gets_3_when_nothing_gives_it(builder):
    # Before, zoo.create raised TypeError: missing required argument 'in_chans'.
    _register_requiring({"num_classes": 4}, builder)
    assert zoo.create("requires_both").weight.shape == (4, 3, 1, 1)
    assert zoo.create("requires_both", in_chans=1).weight.shape == (4, 1, 1, 1)


@pytest.mark.parametrize("builder", [_requires_both, _requires_both_by_keyword])
def test_a_builder_requiring_num_classes_that_nothing_gives_says_where_to_give_it(builder):
    _register_requiring({}, builder)
    with pytest.raises(zoo.BuilderError, match="requires num_classes and nothing gives it: pass num_classes="):
        zoo.create("requires_both")
    assert zoo.create("requires_both", num_classes=2).weight.shape == (2, 3, 1, 1)


def test_a_spec_default_of_none_leaves_the_builders_own_default():
    """None means "not given", in a spec's defaults as in a caller's arguments (timm's convention)."""
    import types

    from zoo.registry import get_registry

    def with_dropout(num_classes=4, in_chans=3, drop_rate=0.25):
        model = TinyClassifier(num_classes, in_chans)
        model.drop_rate = drop_rate
        return model

    plugin = types.SimpleNamespace(zoo_architectures=zoo.hookimpl(lambda: [zoo.ArchitectureSpec(
        name="tiny_dropout", task="classification", builder=with_dropout, defaults={"drop_rate": None})]))
    get_registry().register(plugin, name="dropout", distribution="zoo-dropout")
    assert zoo.create("tiny_dropout").drop_rate == 0.25


@pytest.mark.parametrize("given", ["DEFAULT", "t"])
def test_a_weights_name_instead_of_a_file_says_how_the_zoo_names_weights(given):
    """torchvision's weights="DEFAULT", or a tag: only "no such weights file" before."""
    with pytest.raises(zoo.WeightsFileNotFoundError, match=r"weights= takes a .safetensors path; the zoo picks a "
                                                           r"weight set by the name's tag.*zoo.create\('tiny.t', "
                                                           r"pretrained=True\)") as info:
        zoo.create("tiny", weights=given)
    assert isinstance(info.value, FileNotFoundError) and info.value.filename == given
