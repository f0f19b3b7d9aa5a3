"""The timm bridge: listing from the shipped index, building through timm, loading weights."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import warnings

import pytest

import zoo
from zoo.inputs import InputError
from zoo_timm import errors, index, plugin
from zoo_timm.index import default_hub_id, load_index

SMALL = "test_resnet"  # a tiny timm architecture with a Hub tag (r160_in1k): fast to build


def test_resnet18_is_listed_with_its_tags():
    assert "timm/resnet18" in zoo.list_models()
    assert "timm/resnet18" in zoo.list_models("timm/*", task="classification")
    info = zoo.model_info("timm/resnet18")
    assert info.distribution == "visionzoo-timm"
    assert {"a1_in1k", "tv_in1k", "gluon_in1k"} <= set(info.pretrained)
    assert info.default_tag == "a1_in1k"  # timm's own default for resnet18
    cfg = info.pretrained["a1_in1k"]
    assert (cfg.hf_hub_id, cfg.filename, cfg.num_classes, cfg.in_chans) == ("timm/resnet18.a1_in1k", "model.safetensors", 1000, 3)
    assert cfg.license == "apache-2.0" and cfg.default
    assert cfg.model_kwargs == {"pretrained_tag": "a1_in1k"}


def test_pattern_with_pretrained_lists_arch_dot_tag():
    names = zoo.list_models("timm/resnet*", pretrained=True)
    assert {"timm/resnet18.a1_in1k", "timm/resnet18.tv_in1k", "timm/resnet50.a1_in1k"} <= set(names)
    assert all(n.startswith("timm/resnet") and "." in n for n in names)
    assert "timm/resnet18" not in names
    # as in timm's list_pretrained("resnet18"): a pattern without a tag part matches all its tags
    assert zoo.list_models("timm/resnet18", pretrained=True) == [
        f"timm/resnet18.{t}" for t in sorted(zoo.model_info("timm/resnet18").pretrained)]


def test_every_index_entry_is_registered_without_errors():
    registry = zoo.get_registry()
    record = next(p for p in registry.plugins if p.distribution == "visionzoo-timm")
    index = load_index()
    assert record.loaded and record.errors == []
    assert len(record.architectures) == len(index["architectures"]) > 1000
    n_tags = sum(len(rows) for rows in index["architectures"].values())
    assert len(zoo.list_models("timm/*", pretrained=True)) == n_tags > 1500


def test_tags_without_timm_hub_weights_are_skipped_with_a_reason():
    index = load_index()
    listed = set(zoo.list_models("timm/*", pretrained=True))
    assert index["skipped"] and all(index["skipped"].values())
    assert not {f"timm/{name}" for name in index["skipped"]} & listed
    # third-party repos keep their own hub ids when they are in timm's format (same org, other arch)
    info = zoo.model_info("timm/vit_base_patch16_clip_quickgelu_224")
    assert info.pretrained["openai"].hf_hub_id == "timm/vit_base_patch16_clip_224.openai"


def test_listing_imports_neither_torch_nor_timm():
    code = textwrap.dedent("""
        import json, sys
        import zoo
        n = len(zoo.list_models()), len(zoo.list_models(pretrained=True)), len(zoo.list_explainers())
        print(json.dumps({"n": n, "loaded": [m for m in ("torch", "timm", "zoo_timm.models") if m in sys.modules]}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["loaded"] == []
    assert result["n"][0] > 1000


def test_create_with_num_classes_and_in_chans():
    import torch

    model = zoo.create("timm/resnet18", num_classes=5)
    assert model.get_classifier().out_features == 5
    model = zoo.create(f"timm/{SMALL}", num_classes=3, in_chans=1).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 64, 64)).shape == (2, 3)


@pytest.mark.parametrize("kwargs, problem", [
    ({"in_chans": 0}, "in_chans must be an int >= 1, got 0"), ({"in_chans": 2.5}, "in_chans"),
    ({"num_classes": -1}, "num_classes must be an int >= 0"), ({"num_classes": "3"}, "num_classes"),
    ({"num_classes": True}, r"num_classes must be an int >= 0 \(0: no head, pooled features\), got True"),  # a bool is an int to Python, not a count
])
def test_counts_timm_would_build_silently_are_refused(kwargs, problem):
    # timm builds Conv2d(0, 64) for in_chans=0 and an Identity head for num_classes=-1.
    with pytest.raises(zoo.ZooError, match=problem):
        zoo.create("timm/resnet18", **kwargs)


def test_a_tag_builds_with_that_tags_pretrained_cfg():
    model = zoo.create("timm/resnet18.tv_in1k")
    assert model.pretrained_cfg["tag"] == "tv_in1k"  # timm's preprocessing for these weights
    assert zoo.create("timm/resnet18").pretrained_cfg["tag"] == "a1_in1k"


def _timm_model_and_file(tmp_path, arch, **kwargs):
    import safetensors.torch
    import timm
    import torch

    torch.manual_seed(0)
    model = timm.create_model(arch, pretrained=False, **kwargs).eval()
    # non-trivial BatchNorm statistics, so that a load that missed them would show
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    path = tmp_path / "model.safetensors"
    # every key with its own copy (a few models, e.g. coat, share tensors between keys)
    safetensors.torch.save_file({k: v.detach().clone() for k, v in model.state_dict().items()}, str(path))
    return model, path


def test_local_weights_load_strictly_and_give_identical_outputs(tmp_path):
    import torch

    reference, path = _timm_model_and_file(tmp_path, "resnet18", num_classes=5)
    model = zoo.create("timm/resnet18", num_classes=5, weights=path)
    assert not model.training
    _assert_same_weights(model, reference)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        _assert_same_outputs(model(x), reference(x))


def _assert_same_weights(model, reference):
    import torch

    ref_state, state = reference.state_dict(), model.state_dict()
    assert ref_state.keys() == state.keys()
    assert all(torch.equal(ref_state[k], state[k]) for k in ref_state)


def _assert_same_outputs(actual, expected):
    """Bitwise-equal weights may still give outputs a few ulps apart: tensors loaded from a file
    are aligned differently from freshly allocated ones, and CPU kernels pick their SIMD path
    by alignment. So compare to float32 precision relative to the outputs' scale (random
    untrained nets can reach logits of 1e12, where elementwise relative checks see noise)."""
    assert actual.shape == expected.shape
    scale = float(expected.abs().max()) or 1.0
    assert float((actual - expected).abs().max()) <= 1e-5 * scale


def test_local_weights_for_a_tag(tmp_path):
    import torch

    reference, path = _timm_model_and_file(tmp_path, f"{SMALL}.r160_in1k")
    model = zoo.create(f"timm/{SMALL}.r160_in1k", weights=path)
    _assert_same_weights(model, reference)
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        _assert_same_outputs(model(x), reference(x))


def test_local_weights_with_a_missing_key_are_refused(tmp_path):
    import safetensors.torch

    from zoo.errors import ZooError

    _, path = _timm_model_and_file(tmp_path, SMALL)
    state = safetensors.torch.load_file(str(path))
    del state["fc.weight"]
    safetensors.torch.save_file(state, str(path))
    with pytest.raises(ZooError, match="fc.weight"):
        zoo.create(f"timm/{SMALL}", weights=path)


def test_a_classifiers_weights_into_a_feature_extractor_say_what_to_do(tmp_path):
    from zoo.errors import WeightsError

    _, path = _timm_model_and_file(tmp_path, SMALL)
    with pytest.raises(WeightsError, match=r"feature extractor \(features_only=True\).*forward_intermediates"):
        zoo.create(f"timm/{SMALL}", weights=path, features_only=True)


def test_a_classifiers_mismatch_gets_no_feature_extractor_hint(tmp_path):
    import safetensors.torch

    from zoo.errors import WeightsError

    _, path = _timm_model_and_file(tmp_path, SMALL)  # timm classifiers have a feature_info list too
    state = safetensors.torch.load_file(str(path))
    del state["fc.weight"]
    safetensors.torch.save_file(state, str(path))
    with pytest.raises(WeightsError) as info:
        zoo.create(f"timm/{SMALL}", weights=path)
    assert "feature extractor" not in str(info.value)


def test_checkpoint_path_is_refused_because_it_unpickles(tmp_path):
    from zoo.errors import ZooError

    with pytest.raises(ZooError, match="checkpoint_path=.*unpickle.*weights="):
        zoo.create(f"timm/{SMALL}", checkpoint_path=str(tmp_path / "model.pth"))


@pytest.mark.parametrize("kwargs, says", [
    (dict(pretrained_cfg_overlay=dict(file="my.pth")), "pretrained_cfg_overlay['file'] choose where timm reads"),
    (dict(pretrained_cfg_overlay=dict(hf_hub_id="acme/net")), "pretrained_cfg_overlay['hf_hub_id'] choose"),
    (dict(cache_dir="/tmp/elsewhere"), "cache_dir choose where timm reads its weights"),
    (dict(pretrained_cfg="r160_in1k"), "name the tag instead: zoo.create('timm/test_resnet.TAG'"),
])
def test_timms_own_ways_of_choosing_weights_are_refused_not_ignored(kwargs, says):
    """They were accepted and did nothing: the default tag's weights loaded in their place (and
    pretrained_cfg= described another tag's preprocessing than the weights')."""
    with pytest.raises(zoo.ModelConfigError, match=re.escape(says)):
        zoo.create(f"timm/{SMALL}", **kwargs)


def test_an_overlay_of_preprocessing_only_still_applies():
    model = zoo.create(f"timm/{SMALL}", pretrained_cfg_overlay=dict(mean=(0.5, 0.5, 0.5)))
    assert tuple(model.pretrained_cfg["mean"]) == (0.5, 0.5, 0.5)


def test_a_replaced_stem_sets_the_channels_the_input_check_expects():
    """The check read in_chans once, at creation: a model whose stem a user replaced (as timm users
    do for grey images) refused the images its new stem takes."""
    import torch
    import torch.nn as nn

    model = zoo.create("timm/resnet18").eval()
    model.conv1 = nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    assert model(torch.rand(1, 1, 32, 32)).shape == (1, 1000)
    with pytest.raises(InputError, match="expected 1 input channels, got 3"):
        model(torch.rand(1, 3, 32, 32))


def test_pretrained_true_reads_the_hub_file_of_the_default_tag(tmp_path, monkeypatch):
    """The Hub path without a network: the file sits in a huggingface_hub cache (offline mode),
    exactly where a download from ``timm/test_resnet.r160_in1k`` would have put it."""
    import hashlib

    import torch

    reference, weights = _timm_model_and_file(tmp_path, f"{SMALL}.r160_in1k")
    cfg = zoo.model_info(f"timm/{SMALL}").pretrained["r160_in1k"]
    assert cfg.hf_hub_id == default_hub_id(SMALL, "r160_in1k") and cfg.default
    cache = tmp_path / "hub"
    repo = cache / ("models--" + cfg.hf_hub_id.replace("/", "--"))
    data = weights.read_bytes()
    blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
    commit = "0" * 40
    snapshot = repo / "snapshots" / commit / cfg.filename
    blob.parent.mkdir(parents=True)
    snapshot.parent.mkdir(parents=True)
    (repo / "refs").mkdir()
    blob.write_bytes(data)
    snapshot.symlink_to(os.path.relpath(blob, snapshot.parent))
    (repo / "refs" / "main").write_text(commit)

    # zoo.hub reads HF_HUB_CACHE / HF_HUB_OFFLINE at call time
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = zoo.create(f"timm/{SMALL}", pretrained=True)
    _assert_same_weights(model, reference)
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        _assert_same_outputs(model(x), reference(x))


def test_shipped_index_matches_the_installed_timm():
    """Fails after a timm upgrade until ``python -m zoo_timm.build_index`` is run."""
    from zoo_timm.build_index import dumps, generate

    fresh = generate()
    shipped = load_index()
    assert shipped["timm_version"] == fresh["timm_version"], "regenerate: python -m zoo_timm.build_index"
    assert shipped == fresh, "regenerate: python -m zoo_timm.build_index"
    assert json.loads(dumps(fresh)) == fresh
    assert len(dumps(fresh)) < 400_000


def test_a_version_mismatch_is_visible(monkeypatch):
    monkeypatch.setattr(plugin, "installed_timm_version", lambda: "9.9.9")
    with pytest.warns(errors.TimmIndexWarning, match="9.9.9.*python -m zoo_timm.build_index"):
        specs = plugin.zoo_architectures()
    assert "regenerate" in specs[0].description
    assert index.index_note(load_index(), load_index()["timm_version"]) == ""


def test_a_stale_index_shows_in_zoo_info_and_doctor(tmp_path):
    index = load_index()
    index["timm_version"] = "0.0.1"
    stale = tmp_path / "index.json"
    stale.write_text(json.dumps(index))
    env = {**os.environ, "ZOO_TIMM_INDEX": str(stale)}
    info = subprocess.run([sys.executable, "-m", "zoo.cli", "info", "timm/resnet18"], env=env,
                          capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
    assert "timm 0.0.1" in info.stdout and "regenerate" in info.stdout
    assert "timm 0.0.1" in info.stderr and "build_index" in info.stderr  # the warning
    doctor = subprocess.run([sys.executable, "-m", "zoo.cli", "doctor"], env=env, capture_output=True, text=True)
    assert "timm 0.0.1" in doctor.stdout + doctor.stderr


def test_a_stale_index_under_pythonwarnings_error_is_a_warning_line_not_a_crash(tmp_path):
    """Any timm but the index's own made every zoo command a TimmIndexWarning traceback under
    PYTHONWARNINGS=error (found with the oldest timm pyproject.toml allows)."""
    index = load_index()
    index["timm_version"] = "0.0.1"
    stale = tmp_path / "index.json"
    stale.write_text(json.dumps(index))
    env = {**os.environ, "ZOO_TIMM_INDEX": str(stale), "PYTHONWARNINGS": "error"}
    listed = subprocess.run([sys.executable, "-m", "zoo.cli", "list", "timm/resnet18", "--names"], env=env,
                            capture_output=True, text=True)
    assert listed.returncode == 0 and listed.stdout.split() == ["timm/resnet18"], listed.stderr
    assert listed.stderr.startswith("zoo: warning: zoo_timm's index was built from timm 0.0.1")
    assert "Traceback" not in listed.stderr
    quiet = subprocess.run([sys.executable, "-m", "zoo.cli", "list", "timm/resnet18", "--names"],
                           env={**env, "PYTHONWARNINGS": "ignore"}, capture_output=True, text=True)
    assert quiet.returncode == 0 and quiet.stderr == ""  # the caller's other filters still apply


def test_a_stale_index_under_warnings_as_errors_leaves_discovery_whole(tmp_path):
    """The hook's warning was given while discovery ran: under -W error it stopped discovery halfway
    (no registry, every call raised again), and zoo doctor, zoo check and a plugin author's
    conformance tests crashed on it."""
    index = load_index()
    index["timm_version"] = "0.0.1"
    stale = tmp_path / "index.json"
    stale.write_text(json.dumps(index))
    env = {**os.environ, "ZOO_TIMM_INDEX": str(stale), "PYTHONWARNINGS": "error"}
    env = {k: v for k, v in env.items() if not k.startswith("PYTEST_XDIST_")}  # the author's own pytest run
    calls = ("import zoo\ntry:\n    zoo.list_models()\nexcept Warning as w:\n    print(type(w).__name__)\n"
             "names = zoo.list_models()\nprint('unet' in names, 'timm/resnet18' in names)")
    api = subprocess.run([sys.executable, "-c", calls], env=env, capture_output=True, text=True)
    assert api.stdout.split() == ["TimmIndexWarning", "True", "True"], api.stderr  # raised once, then whole
    doctor = subprocess.run([sys.executable, "-m", "zoo.cli", "doctor"], env=env, capture_output=True, text=True)
    assert doctor.returncode == 0 and "Traceback" not in doctor.stderr, doctor.stderr
    assert "warning: TimmIndexWarning: zoo_timm's index was built from timm 0.0.1" in doctor.stdout
    check = subprocess.run([sys.executable, "-m", "zoo.cli", "check", "unet_small", "--checks", "registration"],
                           env=env, capture_output=True, text=True)
    assert check.returncode == 0 and "Traceback" not in check.stderr, check.stderr
    (tmp_path / "test_mine.py").write_text("from zoo.testing import ModelTests\n\n\n"
                                           "class TestUnet(ModelTests):\n    name = 'unet_small'\n")
    suite = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error",
                            "-k", "registration", "test_mine.py"], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=600)
    assert suite.returncode == 0 and "1 passed" in suite.stdout, suite.stdout + suite.stderr


def test_an_unreadable_index_fails_the_plugin_only(tmp_path):
    broken = tmp_path / "index.json"
    broken.write_text("{not json")
    env = {**os.environ, "ZOO_TIMM_INDEX": str(broken)}
    doctor = subprocess.run([sys.executable, "-m", "zoo.cli", "doctor"], env=env, capture_output=True, text=True)
    assert doctor.returncode == 1
    assert "cannot read the timm index" in doctor.stdout and "build_index" in doctor.stdout


def test_without_timm_the_plugin_fails_with_a_fix(monkeypatch):
    monkeypatch.setattr(plugin, "installed_timm_version", lambda: None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(errors.TimmNotInstalledError, match="pip install timm"):
            plugin.zoo_architectures()


def test_an_architecture_missing_from_timm_fails_clearly():
    from zoo.errors import BuilderError
    from zoo.builders import import_builder

    with pytest.raises(BuilderError, match="no architecture 'not_a_model'.*build_index"):
        import_builder("zoo_timm.models:architectures.not_a_model", "test")


def test_a_tag_missing_from_timm_fails_clearly():
    """With a timm older than the index, timm's bare RuntimeError ("Invalid pretrained tag") named no fix."""
    from zoo.builders import import_builder

    build = import_builder("zoo_timm.models:architectures.resnet18", "test")
    with pytest.raises(errors.ModelConfigError, match="no tag 'not_a_tag' for resnet18.*build_index"):
        build(pretrained_tag="not_a_tag")
    assert build(pretrained_tag="a1_in1k").pretrained_cfg["tag"] == "a1_in1k"


# The smallest architecture of each timm model module (88 of 98; the others have none under
# 60 M parameters), from a survey with timm 1.0.31. Slow: minutes on a laptop CPU.
ONE_PER_MODULE = """
cait_xxs24_224 coat_tiny convit_tiny convmixer_768_32 cpubone_nano crossvit_tiny_240 cs3darknet_focus_s
csatv2 cspnext_tiny davit_tiny deit_tiny_patch16_224 densenet121 dla46x_c dpn48b edgenext_xx_small
efficientformer_l1 efficientformerv2_s0 efficientnet_lite0 efficientvim_m1 efficientvit_b0 efficientvit_m0
ese_vovnet19b_slim_dw eva02_tiny_patch14_224 fasternet_t0 fastvit_t8 focalnet_tiny_srf gcvit_xxtiny
ghostnet_050 gmlp_ti16_224 halonet_h1 hardcorenas_b hgnetv2_b0 hiera_tiny_224 hrnet_w18_small iformer_t
inception_next_atto inception_resnet_v2 inception_v3 inception_v4 lcnetv2_small legacy_seresnet18
legacy_xception levit_128s lowformer_b0 maxvit_pico_rw_256 mobilenetv3_small_050 mobileone_s1 mobilevit_xxs
mvitv2_tiny nest_tiny nextvit_small pit_ti_224 poolformerv2_s12 pvt_v2_b0 rdnet_tiny regnetx_002
repghostnet_050 repvit_m1 res2next50 resnest14d resnet10t resnetv2_18 rexnet_100 sam2_hiera_tiny selecsls42
sequencer2d_s shvit_s1 skresnet18 starnet_s050 swiftformer_xs swin_tiny_patch4_window7_224 swinv2_cr_tiny_224
swinv2_tiny_window8_256 test_convnext test_mambaout test_nfnet test_vit test_vit_relpos tiny_vit_5m_224
tnt_s_legacy_patch16_224 tresnet_m twins_svt_small visformer_tiny vit_tiny_r_s16_p8_224 vitamin_small_224
volo_d1_224 xception41p xcit_nano_12_p8_224
""".split()


@pytest.mark.slow
@pytest.mark.parametrize("arch", ONE_PER_MODULE)
def test_local_weights_round_trip_across_timm_families(arch, tmp_path):
    import timm
    import torch

    if not timm.is_model(arch):
        pytest.skip(f"{arch} is not in this timm")
    torch.set_num_threads(1)
    reference, path = _timm_model_and_file(tmp_path, arch)
    model = zoo.create(f"timm/{arch}", weights=path)
    _assert_same_weights(model, reference)
    x = torch.randn(1, *reference.pretrained_cfg["input_size"])
    with torch.no_grad():
        _assert_same_outputs(model(x), reference(x))


# timm's own models in the zoo's conformance suite (issue #3: each model passes it). One of each
# layout the classification checks must accept: tokens with a fixed size (test_vit), distilled
# heads (levit), a conv head (mobilenetv3), channels-last maps (test_mambaout), a space-to-depth
# stem (tresnet), a declared minimum size (halonet), a headless tag num_classes=0 (eva02).
CONFORMANCE_DEFAULT = ["test_vit", "levit_128s", "mobilenetv3_small_050", "test_mambaout", "tresnet_m",
                       "halonet_h1", "eva02_tiny_patch14_224"]
# Failures that are timm's own, not the bridge's.
KNOWN_NONCONFORMING = {
    "csatv2": "in_chans: timm's CSATv2 works on RGB DCT coefficients and ignores in_chans=1",
}


def _conformance_failures(arch: str) -> list[str]:
    from zoo.testing import FAIL, run_subjects, select

    results = run_subjects(select([f"timm/{arch}"]).subjects)
    return [f"{r.check}: {r.message}" for r in results if r.status == FAIL]


@pytest.mark.parametrize("arch", CONFORMANCE_DEFAULT)
def test_timm_models_pass_the_conformance_suite(arch):
    assert _conformance_failures(arch) == []


@pytest.mark.slow
@pytest.mark.parametrize("arch", ONE_PER_MODULE)
def test_every_timm_family_passes_the_conformance_suite(arch):
    import timm

    if not timm.is_model(arch):
        pytest.skip(f"{arch} is not in this timm")
    failures = _conformance_failures(arch)
    if arch in KNOWN_NONCONFORMING:
        assert failures and all(f.startswith(KNOWN_NONCONFORMING[arch].split(":")[0]) for f in failures), failures
        pytest.xfail(KNOWN_NONCONFORMING[arch])
    assert failures == []


def test_torch_jit_script_works_as_for_timm_and_eager_keeps_the_input_check():
    import copy
    import io

    import torch

    model = zoo.create(f"timm/{SMALL}", num_classes=3, in_chans=1).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script is deprecated, not gone
        scripted = torch.jit.script(model)
    x = torch.rand(2, 1, 32, 32)
    assert torch.equal(scripted(x), model(x))
    torch.jit.save(scripted, io.BytesIO())
    with pytest.raises(InputError, match="expected 1 input channels"):  # the eager model still checks
        model(torch.rand(2, 3, 32, 32))
    clone = copy.deepcopy(model)  # the scripting helper follows the copy, not the original
    assert clone.__prepare_scriptable__.model is clone


def test_a_fixed_size_model_refuses_other_sizes_with_an_input_error():
    # #9: images of the wrong size get a clear ValueError from the zoo. Before, a ViT raised timm's
    # AssertionError from inside its patch embedding.
    import torch

    from zoo.inputs import InputError

    model = zoo.create("timm/vit_tiny_patch16_224").eval()
    with pytest.raises(InputError, match="takes 224x224 images only .* got 64x64: resize them, or create the model "
                                         r"with img_size=\(64, 64\)"):
        model(torch.rand(1, 3, 64, 64))
    with torch.no_grad():
        assert model(torch.rand(1, 3, 224, 224)).shape == (1, 1000)
        assert zoo.create("timm/vit_tiny_patch16_224", img_size=64).eval()(torch.rand(1, 3, 64, 64)).shape == (1, 1000)
        flexible = zoo.create("timm/vit_tiny_patch16_224", dynamic_img_size=True).eval()
        assert flexible(torch.rand(1, 3, 64, 96)).shape == (1, 1000)


def test_a_model_whose_patch_embedding_follows_a_stem_refuses_other_sizes_with_an_input_error():
    """Visformer embeds its stem's 112x112 features, not its 224x224 images (which must not be
    taken for the embedding's size). A wrong size raised timm's bare AssertionError from inside."""
    import copy

    import torch

    from zoo.inputs import InputError

    model = zoo.create("timm/visformer_tiny", num_classes=3).eval()
    message = (r"^timm/visformer_tiny does not take 160x160 images \(timm's model fails on them: AssertionError: "
               r"Input height \(80\) doesn't match model \(112\)\.\); it was made for 224x224")
    for call in (model, copy.deepcopy(model)):
        with pytest.raises(InputError, match=message):
            call(torch.rand(1, 3, 160, 160))
    with torch.no_grad():
        assert model(torch.rand(1, 3, 223, 223)).shape == (1, 3)  # what timm takes, the check takes
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script is deprecated, not gone
            scripted = torch.jit.script(model)
        x = torch.rand(1, 3, 224, 224)
        assert torch.equal(scripted(x), model(x))
    with pytest.raises(InputError, match="does not take 224x224 images .* it was made for 160x160"):
        zoo.create("timm/visformer_tiny", img_size=160).eval()(torch.rand(1, 3, 224, 224))


def test_an_architecture_whose_timm_weights_are_not_offered_says_why():
    """It said 'has no pretrained weights' and `zoo info` 'pretrained: none', though timm has them."""
    info = zoo.model_info("timm/legacy_seresnet18")
    assert not info.pretrained and "timm weights not offered here: in1k (" in info.description
    with pytest.raises(zoo.UnknownTagError, match=r"`zoo info timm/legacy_seresnet18` shows what its plugin says"):
        zoo.create("timm/legacy_seresnet18", pretrained=True)


def test_each_index_row_reaches_its_tags_pretrained_cfg(tmp_path, monkeypatch):
    custom = {**load_index(), "skipped": {},
              "architectures": {"resnet18": [["grey_in1k", 10, 1, "mit", 1, "someone/resnet18-grey"]]}}
    path = tmp_path / "index.json"
    path.write_text(json.dumps(custom))
    monkeypatch.setenv("ZOO_TIMM_INDEX", str(path))
    (spec,) = plugin.zoo_architectures()
    cfg = spec.pretrained["grey_in1k"]
    assert spec.name == "timm/resnet18"
    assert (cfg.num_classes, cfg.in_chans, cfg.license, cfg.default, cfg.hf_hub_id) == \
        (10, 1, "mit", True, "someone/resnet18-grey")


def test_an_index_of_another_format_is_refused_with_the_command_that_regenerates_it(tmp_path):
    other = tmp_path / "index.json"
    other.write_text(json.dumps({**load_index(), "format": 2}))
    with pytest.raises(ValueError, match="index format 2, expected 1; regenerate it with `python -m zoo_timm.build_index`"):
        load_index(other)


def test_the_builder_refuses_pretrained_true_rather_than_build_random_weights():
    from zoo_timm.models import create_model

    with pytest.raises(TypeError, match=r"zoo\.create\(name, pretrained=True\)"):
        create_model(SMALL, pretrained=True)


def test_num_classes_0_builds_timms_pooled_feature_model():
    import torch

    model = zoo.create(f"timm/{SMALL}", num_classes=0).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 64, 64)).shape == (1, model.num_features)


def test_weights_timm_fetches_another_way_are_skipped_with_the_reason():
    from types import SimpleNamespace

    from zoo_timm.build_index import _skip_reason

    def cfg(**kwargs):
        return SimpleNamespace(**{"hf_hub_id": "timm/net.tag", "hf_hub_filename": None, "custom_load": False, **kwargs})

    assert _skip_reason("tag", cfg()) is None
    assert "pinned to a revision" in _skip_reason("tag", cfg(hf_hub_id="timm/net.tag@0123abc"))
    assert "custom Hub filename" in _skip_reason("tag", cfg(hf_hub_filename="open_clip_pytorch_model.bin"))
