"""The pretrained-tag check: well-formed configs, and cards for weights shipped under visionzoo/."""

from __future__ import annotations

import hashlib
import json

import zoo
from zoo.testing import FAIL, PASS, SKIP, ModelSubject, get_check, run_check

WEIGHTS = b"not really safetensors, but hashed all the same"
SHA = hashlib.sha256(WEIGHTS).hexdigest()


def _result(tags):
    spec = zoo.ArchitectureSpec(name="arch", task="classification", builder="x:y", pretrained=tags)
    return run_check(get_check("pretrained_tags"), ModelSubject(spec=spec))


def _cfg(**kw):
    return zoo.PretrainedCfg(**{"hf_hub_id": "visionzoo/arch.t", "sha256": SHA, "num_classes": 3,
                                "metrics": {"top1": 0.9}, **kw})


def _card(root, files=("README.md", "config.json", "model.safetensors"), config=None):
    folder = root / "arch.t"
    folder.mkdir(parents=True)
    for name in files:
        (folder / name).write_bytes(WEIGHTS if name.endswith(".safetensors") else b"{}")
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))


def test_shipped_weights_need_a_complete_matching_card(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HUBCARDS_DIR", str(tmp_path))
    missing = _result({"t": _cfg()})
    assert missing.status == FAIL and "card folder" in missing.message and "is missing" in missing.message
    _card(tmp_path, files=("README.md", "model.safetensors"), config={"num_classes": 5})
    wrong = _result({"t": _cfg(sha256="0" * 64)})
    assert wrong.status == FAIL
    assert f"has sha256 {SHA}, the spec pins {'0' * 64}" in wrong.message
    assert "num_classes=5 but the spec's tag says 3" in wrong.message
    (tmp_path / "arch.t" / "config.json").write_text(json.dumps({"num_classes": 3}))
    assert _result({"t": _cfg()}).status == PASS


def test_third_party_tags_need_no_card_but_sha_and_metrics(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HUBCARDS_DIR", str(tmp_path))
    assert _result({"t": _cfg(hf_hub_id="someone/arch.t")}).status == PASS
    bad = _result({"t": _cfg(hf_hub_id="someone/arch.t", sha256=None, metrics={}, filename="w.bin"),
                   "u": _cfg(hf_hub_id="someone/arch.u", default=True), "v": _cfg(hf_hub_id="x/y", default=True)})
    assert bad.status == FAIL
    for fragment in ("sha256 None must be", "metrics is empty", "'w.bin' is not a .safetensors file",
                     "several tags are marked default: u, v"):
        assert fragment in bad.message
    assert _result({}).status == SKIP


def test_a_card_of_someone_elses_weights_is_not_compared(tmp_path, monkeypatch):
    """hubcards/arch.t/ belongs to the hub repo its config names: a third-party tag of the same
    name (a plugin registering its own "unet.shapes") is not checked against the project's card."""
    monkeypatch.setenv("ZOO_HUBCARDS_DIR", str(tmp_path))
    _card(tmp_path, config={"hf_hub_id": "visionzoo/arch.t", "num_classes": 5})
    third_party = _result({"t": _cfg(hf_hub_id="acme/arch.t", sha256="c" * 64)})
    assert third_party.status == PASS, third_party.message
    mine = _result({"t": _cfg(sha256="c" * 64)})
    assert mine.status == FAIL and "num_classes=5" in mine.message and "the spec pins" in mine.message
    renamed = _result({"t": _cfg(hf_hub_id="visionzoo/other.t")})
    assert renamed.status == FAIL and "hf_hub_id='visionzoo/arch.t' but the spec's tag says" in renamed.message


def test_upstream_weights_pass_without_sha_and_metrics_but_say_why(tmp_path, monkeypatch):
    """Weights someone else publishes without a hash or a metric (timm's Hub repos) pass when the
    tag says so in ``upstream``; the report counts them as not pinned."""
    monkeypatch.setenv("ZOO_HUBCARDS_DIR", str(tmp_path))
    unsaid = _result({"t": _cfg(hf_hub_id="timm/arch.t", sha256=None, metrics={})})
    assert unsaid.status == FAIL and "PretrainedCfg(upstream='why')" in unsaid.message
    said = _result({"t": _cfg(hf_hub_id="timm/arch.t", sha256=None, metrics={}, upstream="timm's weights"),
                    "u": _cfg(hf_hub_id="timm/arch.u", upstream="timm's weights")})
    assert said.status == PASS, said.message
    assert "1 upstream tag(s) not pinned: timm's weights" in said.message
    malformed = _result({"t": _cfg(hf_hub_id="timm/arch.t", sha256="abc", metrics={"top1": "high"},
                                   upstream="timm's weights")})
    assert malformed.status == FAIL
    assert "sha256 'abc' is not 64 lowercase hex digits" in malformed.message
    assert "metrics must be a dict of name -> number (not NaN or Inf), got {'top1': 'high'}" in malformed.message


def test_the_projects_own_weights_are_never_upstream(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HUBCARDS_DIR", str(tmp_path))
    _card(tmp_path, config={"num_classes": 3})
    result = _result({"t": _cfg(upstream="not ours")})
    assert result.status == FAIL and "are the project's own" in result.message


def test_upstream_must_be_a_reason():
    from zoo.specs import pretrained_cfg_problems

    assert pretrained_cfg_problems("t", _cfg(upstream=" ")) == [
        "upstream must be None or a non-empty reason string, got ' '"]
    assert pretrained_cfg_problems("t", _cfg(upstream="timm's weights")) == []


class _Headless(__import__("torch").nn.Module):
    """timm's convention: num_classes=0 leaves the classifier out; forward returns 4 pooled features."""

    def __init__(self, num_classes=3, in_chans=3):
        import torch.nn as nn

        super().__init__()
        self.conv = nn.Conv2d(in_chans, 4, 3)
        self.fc = nn.Linear(4, num_classes) if num_classes else nn.Identity()

    def forward(self, x):
        return self.fc(self.conv(x).mean((2, 3)))


def test_num_classes_0_is_timms_headless_feature_extractor(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HUBCARDS_DIR", str(tmp_path))
    assert _result({"t": _cfg(hf_hub_id="someone/arch.t", num_classes=0)}).status == PASS
    negative = _result({"t": _cfg(hf_hub_id="someone/arch.t", num_classes=-1)})
    assert negative.status == FAIL and "num_classes must be None or an int >= 0, got -1" in negative.message
    spec = zoo.ArchitectureSpec(name="arch", task="classification", builder=_Headless,
                                pretrained={"t": _cfg(hf_hub_id="someone/arch.t", num_classes=0)})
    builds = run_check(get_check("pretrained_builds"), ModelSubject(spec=spec))
    assert builds.status == PASS, builds.message


def test_a_shipped_card_whose_text_disagrees_with_its_config_fails_as_zoo_hub_push_would(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HUBCARDS_DIR", str(tmp_path))
    _card(tmp_path, config={"num_classes": 3, "metrics": {"top1": 0.9}})
    readme = tmp_path / "arch.t" / "README.md"
    readme.write_text("---\nmodel-index:\n- name: arch.t\n  results:\n  - task: {type: image-classification}\n"
                      "    dataset: {name: d, type: d}\n    metrics:\n    - {type: top1, value: 0.8}\n---\n# arch.t\n")
    result = _result({"t": _cfg()})
    assert result.status == FAIL and "model-index states top1=0.8 but config.json records 0.9" in result.message
    readme.write_text(readme.read_text().replace("value: 0.8", "value: 0.9"))
    assert _result({"t": _cfg()}).status == PASS


def test_a_plugin_authors_own_hubcards_folder_is_checked(tmp_path, monkeypatch):
    """Run in a plugin's package, the check looked only in the zoo's own hubcards/: a third-party
    tag pinned to another sha256 than its card's weights passed, and every download then failed."""
    monkeypatch.delenv("ZOO_HUBCARDS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    theirs = {"t": _cfg(hf_hub_id="acme/arch.t", sha256="b" * 64)}
    uncarded = _result(theirs)
    assert uncarded.status == PASS and "no card for 1 tag(s) (t)" in uncarded.message
    assert "run from the folder holding your hubcards/" in uncarded.message  # not "ZOO_HUBCARDS_DIR names..."
    _card(tmp_path / "hubcards", config={"hf_hub_id": "acme/arch.t", "num_classes": 3})
    wrong = _result(theirs)
    assert wrong.status == FAIL and f"has sha256 {SHA}, the spec pins {'b' * 64}" in wrong.message
    assert _result({"t": _cfg(hf_hub_id="acme/arch.t")}).status == PASS


def test_a_card_zoo_train_made_without_the_authors_repo_id_is_named_not_skipped(tmp_path, monkeypatch):
    """`zoo train` wrote visionzoo/<arch>.<tag> into every card; the author's tag names their own
    repo, so their card was taken for someone else's and a wrong sha256 passed."""
    monkeypatch.delenv("ZOO_HUBCARDS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    _card(tmp_path / "hubcards", config={"hf_hub_id": "visionzoo/arch.t", "num_classes": 3})
    result = _result({"t": _cfg(hf_hub_id="acme/arch.t", sha256="b" * 64)})
    assert result.status == FAIL, result.message
    assert "hf_hub_id='visionzoo/arch.t' (zoo train's default" in result.message
    assert "put `hf_hub_id: acme/arch.t` in the recipe" in result.message


def test_a_zoo_hubcards_dir_that_is_no_folder_fails_the_check(tmp_path, monkeypatch):
    """A typo in the variable turned every card check off with 'cards not checked'."""
    monkeypatch.setenv("ZOO_HUBCARDS_DIR", str(tmp_path / "no-such-folder"))
    result = _result({"t": _cfg()})
    assert result.status == FAIL and "ZOO_HUBCARDS_DIR names" in result.message and "not a folder" in result.message


class _Small(__import__("torch").nn.Module):
    def __init__(self, num_classes=3, in_chans=3, width=4):
        import torch.nn as nn

        super().__init__()
        self.conv = nn.Conv2d(in_chans, width, 3)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.fc(self.conv(x).mean((2, 3)))


def test_a_cards_weights_must_load_into_the_tags_build(tmp_path, monkeypatch):
    """A card hashing to its pin passed although its weights no longer fit the model (the builder's
    width changed since): zoo.create(..., pretrained=True) then failed for every user."""
    import safetensors.torch
    import torch

    monkeypatch.setenv("ZOO_HUBCARDS_DIR", str(tmp_path))
    folder = tmp_path / "arch.t"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"hf_hub_id": "someone/arch.t"}))
    torch.manual_seed(0)
    safetensors.torch.save_file(_Small(width=4).state_dict(), str(folder / "model.safetensors"))

    def result(width):
        spec = zoo.ArchitectureSpec(name="arch", task="classification", builder=_Small,
                                    pretrained={"t": _cfg(hf_hub_id="someone/arch.t", model_kwargs={"width": width})})
        return run_check(get_check("pretrained_weights"), ModelSubject(spec=spec))

    fits = result(4)
    assert fits.status == PASS and "1 card weight file(s) loaded: t" in fits.message
    changed = result(6)
    assert changed.status == FAIL
    assert "arch.t:" in changed.message and "does not load into the tag's build ({'num_classes': 3" in changed.message
    assert "conv.weight" in changed.message  # the mismatched keys and shapes, as zoo.create says them
    (folder / "model.safetensors").unlink()
    assert result(6).status == SKIP
    upstream = zoo.ArchitectureSpec(name="arch", task="classification", builder=_Small, pretrained={
        "t": _cfg(hf_hub_id="someone/arch.t", upstream="their own weights, published without a card")})
    skipped = run_check(get_check("pretrained_weights"), ModelSubject(spec=upstream))
    assert skipped.status == SKIP and "upstream weights only" in skipped.message  # not "no card here holds"


def test_the_packages_cards_are_found_from_a_folder_below_its_root(tmp_path, monkeypatch):
    """`cd tests && pytest` (or an IDE running one file) looked in tests/hubcards only: a wrong
    sha256 passed there while it failed from the package's root."""
    monkeypatch.delenv("ZOO_HUBCARDS_DIR", raising=False)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'acme'\n")
    _card(tmp_path / "hubcards", config={"hf_hub_id": "acme/arch.t", "num_classes": 3})
    (tmp_path / "tests" / "unit").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "tests" / "unit")
    wrong = _result({"t": _cfg(hf_hub_id="acme/arch.t", sha256="b" * 64)})
    assert wrong.status == FAIL and f"has sha256 {SHA}, the spec pins {'b' * 64}" in wrong.message
    outside = tmp_path / "elsewhere"
    (outside / "pkg").mkdir(parents=True)
    (outside / "pkg" / "pyproject.toml").write_text("")
    monkeypatch.chdir(outside / "pkg")  # another project: the search stops at its root
    assert _result({"t": _cfg(hf_hub_id="acme/arch.t", sha256="b" * 64)}).status == PASS


def test_a_hubcards_folder_above_a_folder_in_no_project_is_not_taken(tmp_path, monkeypatch):
    """Outside any project the walk went up to / and took the first hubcards/ it met (a home
    folder's, written by an earlier `zoo train`) as the author's cards, failing the zoo's own tags."""
    monkeypatch.delenv("ZOO_HUBCARDS_DIR", raising=False)
    _card(tmp_path / "hubcards", config={"hf_hub_id": "acme/arch.t", "num_classes": 3})
    (tmp_path / "scratch" / "deeper").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "scratch" / "deeper")
    assert _result({"t": _cfg(hf_hub_id="acme/arch.t", sha256="b" * 64)}).status == PASS  # not compared
    monkeypatch.chdir(tmp_path)  # ./hubcards itself still counts
    assert _result({"t": _cfg(hf_hub_id="acme/arch.t", sha256="b" * 64)}).status == FAIL


def test_an_own_card_naming_another_repo_is_named_not_skipped(tmp_path, monkeypatch):
    """A card in the author's hubcards/ whose config.json kept an old repo id was taken for someone
    else's, so a wrong sha256 passed with the note "1 tag(s)"."""
    monkeypatch.delenv("ZOO_HUBCARDS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    _card(tmp_path / "hubcards", config={"hf_hub_id": "acme-old/arch.t", "num_classes": 3})
    result = _result({"t": _cfg(hf_hub_id="acme/arch.t", sha256="b" * 64)})
    assert result.status == FAIL
    assert "hf_hub_id='acme-old/arch.t' but the spec's tag says 'acme/arch.t': correct config.json" in result.message


def test_tag_problems_are_reported_also_when_the_model_does_not_build(tmp_path, monkeypatch):
    """pretrained_tags reads the spec only, yet it was skipped with "the model does not build": the
    author learnt of the tag's problems one round later."""
    from zoo.testing import run_subjects

    def unbuildable(num_classes=3, in_chans=3):
        raise RuntimeError("not yet")

    monkeypatch.setenv("ZOO_HUBCARDS_DIR", str(tmp_path))
    spec = zoo.ArchitectureSpec(name="arch", task="classification", builder=unbuildable,
                                pretrained={"t": _cfg(hf_hub_id="acme/arch.t", metrics={})})
    by_check = {r.check: r for r in run_subjects([ModelSubject(spec=spec)])}
    assert by_check["build"].status == FAIL
    assert by_check["pretrained_tags"].status == FAIL and "metrics is empty" in by_check["pretrained_tags"].message
    assert by_check["pretrained_builds"].status == SKIP and "does not build" in by_check["pretrained_builds"].message


def test_a_shipped_card_without_its_readme_or_disagreeing_with_the_tags_metrics_fails(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HUBCARDS_DIR", str(tmp_path))
    _card(tmp_path, files=("config.json", "model.safetensors"), config={"num_classes": 3, "metrics": {"top1": 0.8}})
    result = _result({"t": _cfg()})
    assert result.status == FAIL
    assert f"card {tmp_path / 'arch.t'} has no README.md" in result.message, result.message
    assert "the registered tag states top1 0.9 but config.json records 0.8" in result.message, result.message


def _ignores_num_classes_when_wide(num_classes=3, in_chans=3, width=4):
    """Passes num_classes on only at the default width: the tag's build comes out with 3 classes."""
    return _Headless(num_classes if width == 4 else 3, in_chans)


def test_a_tag_whose_build_has_another_number_of_classes_fails_pretrained_builds():
    spec = zoo.ArchitectureSpec(name="arch", task="classification", builder=_ignores_num_classes_when_wide,
                                pretrained={"t": _cfg(hf_hub_id="someone/arch.t", num_classes=5,
                                                      model_kwargs={"width": 8})})
    result = run_check(get_check("pretrained_builds"), ModelSubject(spec=spec))
    assert result.status == FAIL and "expected 5 classes in dimension 1" in result.message, result.message


def test_a_skip_of_pretrained_weights_says_upstream_only_when_every_tag_is_upstream(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HUBCARDS_DIR", str(tmp_path))
    spec = zoo.ArchitectureSpec(name="arch", task="classification", builder="x:y", pretrained={
        "t": _cfg(hf_hub_id="someone/arch.t", upstream="someone else's weights"),
        "u": _cfg(hf_hub_id="someone/arch.u")})
    result = run_check(get_check("pretrained_weights"), ModelSubject(spec=spec))
    assert result.status == SKIP and result.message.startswith("no card here holds the weights of arch's 2 tag(s)"), \
        result.message
