"""``zoo hub push`` checks the card it publishes, not only the weights: the README's model-index
metrics and the sha256 its body states must agree with config.json and the file (dry run
included). Works on copies of the shipped cards, from any working directory."""

from __future__ import annotations

import io
import json
import re
import zipfile
import shutil
from pathlib import Path

import pytest

from zoo.cli import main

HUBCARDS = Path(__file__).resolve().parents[2] / "hubcards"


@pytest.fixture
def fcn8s_copy(tmp_path):
    shutil.copytree(HUBCARDS / "fcn8s.shapes", tmp_path / "cards" / "fcn8s.shapes")
    return tmp_path / "cards"


def _push(cards, *extra):
    return main(["hub", "push", "fcn8s.shapes", "--repo-id", "acme/fcn8s", "--hubcards", str(cards), "--dry-run",
                 *extra])


def test_an_untouched_copy_passes(fcn8s_copy, capsys):
    assert _push(fcn8s_copy) == 0
    out, err = capsys.readouterr()
    assert "nothing uploaded" in out
    # acme/fcn8s is not where the registered tag loads from: said, not refused (a fork may push anywhere)
    assert "fcn8s.shapes loads its weights from visionzoo/fcn8s.shapes" in err and "will not find them" in err
    assert main(["hub", "push", "fcn8s.shapes", "--repo-id", "visionzoo/fcn8s.shapes", "--hubcards", str(fcn8s_copy),
                 "--dry-run"]) == 0
    assert "will not find them" not in capsys.readouterr().err


def test_a_model_index_metric_that_disagrees_is_refused(fcn8s_copy, capsys):
    readme = fcn8s_copy / "fcn8s.shapes" / "README.md"
    readme.write_text(readme.read_text().replace("value: 0.882", "value: 0.9999", 1))
    assert _push(fcn8s_copy) == 3
    err = capsys.readouterr().err
    assert "refusing to push fcn8s.shapes" in err and "miou=0.9999" in err and "0.882" in err
    assert "zoo.cards.rewrite_card" in err  # it has a recipe
    for recipe in (fcn8s_copy / "fcn8s.shapes").glob("recipe.*"):
        recipe.unlink()
    assert _push(fcn8s_copy) == 3
    err = capsys.readouterr().err  # a third party's card, without a recipe: rewrite_card would fail
    assert "correct README.md (this card has no recipe)" in err and "rewrite_card" not in err


def test_a_stated_sha256_that_disagrees_is_refused(fcn8s_copy, capsys):
    readme = fcn8s_copy / "fcn8s.shapes" / "README.md"
    text = readme.read_text()
    real = re.search(r"sha256 `([0-9a-f]{64})`", text).group(1)
    readme.write_text(text.replace(real, "ab" * 32))
    assert _push(fcn8s_copy) == 3
    err = capsys.readouterr().err
    assert "ab" * 32 in err and real in err


def test_a_dry_run_names_every_refusal_at_once(fcn8s_copy, capsys):
    """A dry run showed the first refusal only: fixing it revealed the next, one push at a time."""
    card = fcn8s_copy / "fcn8s.shapes"
    config = json.loads((card / "config.json").read_text())
    (card / "config.json").write_text(json.dumps({**config, "sha256": "0" * 64}))  # weights vs record
    readme = card / "README.md"
    readme.write_text(readme.read_text().replace("value: 0.882", "value: 0.9999", 1))  # card vs config
    assert _push(fcn8s_copy) == 3
    err = capsys.readouterr().err
    assert "refusing to push fcn8s.shapes:\n  - " in err
    assert f"records {'0' * 64}" in err and "miou=0.9999" in err  # both, in one run


def test_weights_that_changed_after_their_card_was_written_are_refused_once(fcn8s_copy, capsys):
    """Retrained weights without a re-rendered card: the mismatch with config.json's record was said
    twice, the second time with a fix (re-render the README) that could not mend it."""
    import safetensors.torch

    weights = fcn8s_copy / "fcn8s.shapes" / "model.safetensors"
    state = safetensors.torch.load_file(str(weights))
    state[next(iter(state))] = state[next(iter(state))] + 1
    safetensors.torch.save_file(state, str(weights))
    assert _push(fcn8s_copy) == 3
    err = capsys.readouterr().err
    assert err.count("\n  - ") == 1 and "records" in err and "the card states sha256" not in err


def test_an_explainer_report_of_other_weights_is_refused(tmp_path, capsys):
    """``zoo train`` leaves an old explainers.json beside new weights; pushing it would publish a
    report on weights the repo does not hold."""
    import json

    cards = tmp_path / "cards"
    shutil.copytree(HUBCARDS / "cnn_cam.digits", cards / "cnn_cam.digits")
    push = ["hub", "push", "cnn_cam.digits", "--repo-id", "acme/digits", "--hubcards", str(cards), "--dry-run"]
    assert main(push) == 0
    capsys.readouterr()
    report = cards / "cnn_cam.digits" / "explainers.json"
    report.write_text(json.dumps({**json.loads(report.read_text()), "sha256": "0" * 64}))
    assert main(push) == 3
    err = capsys.readouterr().err
    assert "explainers.json was measured on other weights" in err
    assert "python -m zoo_explainers.report cnn_cam.digits --card" in err
    for broken in ("{", "[1]"):  # a traceback (exit 1) before
        report.write_text(broken)
        assert main(push) == 3
        assert "explainers.json is unreadable" in capsys.readouterr().err


def test_a_link_to_a_file_outside_the_card_is_neither_pushed_nor_served(fcn8s_copy, tmp_path, capsys):
    """card_files followed links: `notes.txt -> a secret` was listed for upload and served."""
    from zoo.errors import HubError
    from zoo.hub_server import build_mirrors

    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    card = fcn8s_copy / "fcn8s.shapes"
    (card / "notes.txt").symlink_to(secret)
    assert _push(fcn8s_copy) == 3
    err = capsys.readouterr().err
    assert f"notes.txt links to {secret}, outside the card" in err
    with pytest.raises(HubError, match="outside the card"):
        build_mirrors(fcn8s_copy, tmp_path / "serve")
    assert not list((tmp_path / "serve").rglob("notes.txt"))
    (card / "notes.txt").unlink()
    (card / "notes.txt").symlink_to(card / "README.md")  # a link within the card is fine
    assert _push(fcn8s_copy) == 0


@pytest.mark.parametrize("clutter", ["linked folder", "pickle"])
def test_a_linked_folder_or_a_pickle_checkpoint_in_a_card_is_neither_pushed_nor_served(fcn8s_copy, tmp_path,
                                                                                        capsys, clutter):
    """A linked folder's files were left out in silence; a pytorch_model.bin was published beside the
    safetensors weights (loading it would run its code)."""
    from zoo.errors import HubError
    from zoo.hub_server import build_mirrors

    card = fcn8s_copy / "fcn8s.shapes"
    if clutter == "linked folder":
        (tmp_path / "extra").mkdir()
        (tmp_path / "extra" / "notes.txt").write_text("notes")
        (card / "extra").symlink_to(tmp_path / "extra", target_is_directory=True)
        expected = "extra links to a folder, whose files would not be published"
    else:
        (card / "pytorch_model.bin").write_bytes(b"\x80\x02}q\x00.")
        expected = "pytorch_model.bin is a Python pickle, a checkpoint, which the zoo never publishes"
    assert _push(fcn8s_copy) == 3
    assert expected in capsys.readouterr().err
    with pytest.raises(HubError, match=re.escape(expected)):
        build_mirrors(fcn8s_copy, tmp_path / "serve")


def test_push_and_serve_find_the_source_hubcards_from_anywhere(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ZOO_HUBCARDS_DIR", raising=False)
    assert main(["hub", "push", "cnn_cam.digits", "--repo-id", "acme/digits", "--dry-run"]) == 0
    capsys.readouterr()
    monkeypatch.setenv("ZOO_HUBCARDS_DIR", str(tmp_path / "none"))
    assert main(["hub", "push", "cnn_cam.digits", "--repo-id", "acme/digits", "--dry-run"]) == 3
    push = capsys.readouterr().err
    assert f"no hub-cards folder {tmp_path / 'none'} (pass --hubcards DIR" in push
    assert main(["hub", "serve", "--port", "0"]) == 3
    serve = capsys.readouterr().err  # serve takes the folder as its argument: --hubcards is refused there
    assert f"no hub-cards folder {tmp_path / 'none'} (name it: zoo hub serve DIR" in serve and "--hubcards" not in serve


@pytest.mark.parametrize("old, new, refusal", [
    # Before, only the YAML model-index was compared; the table people read could say anything.
    ("| 0.8820 |", "| 0.9500 |", "metrics table states miou 0.9500 but config.json records 0.882"),
    ("license: apache-2.0", "license: mit", "license is 'mit' but config.json records 'apache-2.0'"),
])
def test_a_table_value_or_license_that_disagrees_with_config_json_is_refused(fcn8s_copy, capsys, old, new, refusal):
    readme = fcn8s_copy / "fcn8s.shapes" / "README.md"
    text = readme.read_text()
    assert old in text
    readme.write_text(text.replace(old, new, 1))
    assert _push(fcn8s_copy) == 3
    assert refusal in capsys.readouterr().err


def test_the_spdx_spelling_of_the_cards_license_in_config_json_is_the_same_license(fcn8s_copy, capsys):
    """The card's check compared case-sensitively where the registered tag's check did not: a config.json
    saying 'Apache-2.0' (SPDX) beside the card's 'apache-2.0' (the Hub's) was refused by one of them."""
    config_path = fcn8s_copy / "fcn8s.shapes" / "config.json"
    config_path.write_text(json.dumps({**json.loads(config_path.read_text()), "license": "Apache-2.0"}))
    assert _push(fcn8s_copy) == 0, capsys.readouterr().err


def test_a_registered_tag_whose_metrics_or_license_differ_from_its_card_is_refused(fcn8s_copy, capsys):
    """`zoo list`/`zoo info` show the plugin's PretrainedCfg claims; the Hub shows the card's. They
    were never compared, so a plugin could advertise a metric its card does not record."""
    import dataclasses

    from zoo.registry import get_registry
    from zoo.cards import registered_claim_problems
    from zoo.testing.pretrained_checks import tag_problems

    config_path = fcn8s_copy / "fcn8s.shapes" / "config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "metrics": {**config["metrics"], "miou": 0.5}, "license": "mit"}))
    assert _push(fcn8s_copy) == 3
    err = capsys.readouterr().err
    assert "its registered PretrainedCfg disagrees" in err
    assert "states miou 0.882 but config.json records 0.5" in err and "license is 'apache-2.0'" in err

    cfg = get_registry().resolve("fcn8s.shapes", pretrained=True)[0].pretrained["shapes"]
    assert not [p for p in tag_problems("fcn8s", "shapes", cfg, [HUBCARDS]) if "registered" in p]
    claims = dataclasses.replace(cfg, metrics={"miou": 0.882, "pixel_accuracy": 0.99})
    problems = tag_problems("fcn8s", "shapes", claims, [HUBCARDS])
    assert any("states pixel_accuracy 0.99 but config.json has no 'pixel_accuracy' metric" in p for p in problems)
    assert not [p for p in tag_problems("fcn8s", "shapes", dataclasses.replace(cfg, license="Apache-2.0"), [HUBCARDS])
                if "license" in p]  # the SPDX spelling of the card's 'apache-2.0'
    as_text = {**config, "metrics": {**config["metrics"], "miou": "0.882"}, "license": "apache-2.0"}
    assert "config.json records '0.882'" in " ".join(registered_claim_problems(cfg, as_text))  # a string, shown as one
    malformed = tag_problems("fcn8s", "shapes", dataclasses.replace(cfg, metrics=[0.9]), [HUBCARDS])
    assert "metrics must be a dict of name -> number" in " ".join(malformed)  # not an AttributeError


def test_other_binary_files_in_a_card_are_published(fcn8s_copy, capsys):
    """Refusing every suffix the weights loader refuses (.npy, .bin, .tar) turned away an example
    input and ONNX external data; only pickle checkpoints are refused."""
    card = fcn8s_copy / "fcn8s.shapes"
    (card / "example_input.npy").write_bytes(b"\x93NUMPY\x01\x00v\x00")
    (card / "model.onnx.data.bin").write_bytes(b"\x00\x01\x02\x03" * 8)
    assert _push(fcn8s_copy) == 0
    out = capsys.readouterr().out
    assert "example_input.npy" in out and "model.onnx.data.bin" in out
    (card / "model.pt").write_bytes(b"PK\x03\x04 not really")
    assert _push(fcn8s_copy) == 3
    assert "model.pt is a pickle checkpoint (.pt)" in capsys.readouterr().err


def test_a_checkpoint_under_any_name_is_refused_and_a_plain_zip_is_not(fcn8s_copy, tmp_path, capsys):
    """Only suffixes and .bin files were looked at: model_best.pth.tar (torch.save's zip) and a
    torch zip named extra.safetensors were published."""
    import torch

    card = fcn8s_copy / "fcn8s.shapes"
    with zipfile.ZipFile(card / "samples.zip", "w") as archive:
        archive.writestr("a.txt", "an ordinary archive")
    assert _push(fcn8s_copy) == 0
    capsys.readouterr()
    for name in ("model_best.pth.tar", "extra.safetensors"):
        torch.save({"w": torch.zeros(2)}, card / name)
        assert _push(fcn8s_copy) == 3
        assert f"{name} is a zip archive (a torch.save checkpoint), a checkpoint" in capsys.readouterr().err
        (card / name).unlink()


def test_a_card_without_the_license_its_tag_states_is_refused(fcn8s_copy, capsys):
    config_path = fcn8s_copy / "fcn8s.shapes" / "config.json"
    config = json.loads(config_path.read_text())
    del config["license"]
    config_path.write_text(json.dumps(config))
    assert _push(fcn8s_copy) == 3
    assert "license is 'apache-2.0' but config.json states none" in capsys.readouterr().err


def test_push_hashes_the_weights_it_publishes_afresh(fcn8s_copy, monkeypatch, capsys):
    """A file written through a shared memory map can keep its identity (tmpfs), so a remembered
    digest could vouch for bytes that are no longer there: push reads them again."""
    from zoo import checked_files
    from zoo import hub as zoo_hub

    monkeypatch.setattr(checked_files, "RACY_SECONDS", 0.0)
    weights = fcn8s_copy / "fcn8s.shapes" / "model.safetensors"
    zoo_hub.sha256_of(weights)  # remembered, as serve or a check would leave it
    hashed = []
    real = zoo_hub._hash_file
    monkeypatch.setattr(zoo_hub, "_hash_file", lambda path: hashed.append(path) or real(path))
    assert _push(fcn8s_copy) == 0
    assert hashed == [weights]


def _old_and_compressed_pickles():
    import bz2
    import gzip
    import lzma
    import pickle
    import zlib

    state = {"w": [1.0, 2.0], "b": 3}
    return {
        "protocol0.bin": pickle.dumps(state, protocol=0),
        "protocol1.bin": pickle.dumps(state, protocol=1),
        "state.bin.gz": gzip.compress(pickle.dumps(state)),
        "state0.gz": gzip.compress(pickle.dumps(state, protocol=0)),
        "state.bz2": bz2.compress(pickle.dumps(state)),
        "state.xz": lzma.compress(pickle.dumps(state)),
        "state.lzma": lzma.compress(pickle.dumps(state), format=lzma.FORMAT_ALONE),
        "state.z": zlib.compress(pickle.dumps(state)),
        "state0.z": zlib.compress(pickle.dumps(state, protocol=0)),
        "two_pickles.bin": pickle.dumps(state, protocol=0) + pickle.dumps([1, 2], protocol=0),  # dump, dump again
        "newline_after.bin": pickle.dumps(state, protocol=1) + b"\n",
    }


@pytest.mark.parametrize("name", sorted(_old_and_compressed_pickles()))
def test_old_protocol_and_compressed_pickles_are_refused(fcn8s_copy, capsys, name):
    """Only protocol 2+ pickles and torch zips were recognised: a protocol-0 pickle or a gzipped one
    (joblib compresses with zlib, gzip, bz2, xz or lzma) was published."""
    card = fcn8s_copy / "fcn8s.shapes"
    (card / name).write_bytes(_old_and_compressed_pickles()[name])
    assert _push(fcn8s_copy) == 3
    assert f"{name} is a Python pickle" in capsys.readouterr().err


def test_a_joblib_file_is_refused_by_its_suffix_and_by_its_bytes(fcn8s_copy, capsys):
    joblib = pytest.importorskip("joblib")
    card = fcn8s_copy / "fcn8s.shapes"
    joblib.dump({"w": [1.0]}, card / "model.joblib", compress=3)
    assert _push(fcn8s_copy) == 3
    assert "model.joblib is a pickle checkpoint (.joblib)" in capsys.readouterr().err
    (card / "model.joblib").rename(card / "model.data")
    assert _push(fcn8s_copy) == 3
    assert "model.data is a Python pickle compressed with zlib" in capsys.readouterr().err


def test_text_and_archives_that_look_like_pickles_at_first_are_published(fcn8s_copy, capsys):
    """The first byte of a protocol-0 pickle is ordinary text ('(', 'c', ']'); only a file that
    parses as pickle opcodes up to STOP is one."""
    import gzip

    card = fcn8s_copy / "fcn8s.shapes"
    (card / "notes.txt").write_bytes(b"(see the recipe)\n")
    (card / "classes.txt").write_bytes(b"cat\ndog\n")
    (card / "samples.gz").write_bytes(gzip.compress(b"(a compressed note)"))
    (card / "broken.gz").write_bytes(b"\x1f\x8b not gzip at all")
    # 'c' + two lines read as a GLOBAL, then "0." as POP, STOP: a pickle's STOP ends the file
    (card / "metrics.csv").write_text("confidence,precision,recall\n0.5,0.91,0.88\n0.6,0.93,0.85\n")
    # a header 11816 bytes long starts the file with "(."
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).ljust(11816).encode()
    (card / "extra.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + bytes(4))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("examples/a.txt", "an example")
    (card / "examples.zip.gz").write_bytes(gzip.compress(archive.getvalue()))
    assert _push(fcn8s_copy) == 0
    assert "classes.txt" in capsys.readouterr().out


def test_a_zip_python_cannot_list_is_no_checkpoint_and_no_crash(fcn8s_copy, capsys):
    """A zip whose names are flagged UTF-8 but are not raised UnicodeDecodeError: a traceback."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a.txt", "hi")
    data = bytearray(archive.getvalue())
    central = data.find(b"PK\x01\x02")
    data[central + 9] |= 0x08  # bit 11 of the flags (bit 3 of their high byte): names are UTF-8
    data[central + 46] = 0xFF  # and its name is not
    (fcn8s_copy / "fcn8s.shapes" / "odd.zip").write_bytes(bytes(data))
    assert _push(fcn8s_copy) == 0


def test_a_repo_id_without_an_org_is_a_usage_error(fcn8s_copy, capsys):
    assert main(["hub", "push", "fcn8s.shapes", "--repo-id", "fcn8s", "--hubcards", str(fcn8s_copy), "--dry-run"]) == 2
    assert "zoo hub push: error: --repo-id 'fcn8s' is not of the form ORG/NAME" in capsys.readouterr().err


@pytest.mark.parametrize("protocol", [0, 1])
@pytest.mark.parametrize("compress", [0, "zlib", "gzip"])
@pytest.mark.parametrize("dtype", ["float32", "object"])
def test_an_old_protocol_joblib_file_holding_arrays_is_refused(fcn8s_copy, capsys, protocol, compress, dtype):
    """joblib writes an array's raw bytes (an object array's as a protocol-5 pickle) into the pickle
    stream, so the opcode walk of a protocol 0/1 joblib file (any scikit-learn model) broke before
    STOP and the file was published."""
    joblib = pytest.importorskip("joblib")
    import numpy as np

    card = fcn8s_copy / "fcn8s.shapes"
    joblib.dump({"coef": np.zeros((4, 4), dtype=dtype)}, card / "extra_model.sav", protocol=protocol,
                compress=compress)
    assert _push(fcn8s_copy) == 3
    assert "extra_model.sav is a Python pickle (protocol 0 or 1)" in capsys.readouterr().err


def test_a_numpy_file_of_python_objects_is_refused_and_one_of_numbers_is_not(fcn8s_copy, capsys):
    """np.load(allow_pickle=True) unpickles an object array: such an .npy or .npz was published."""
    import numpy as np

    card = fcn8s_copy / "fcn8s.shapes"
    np.save(card / "example_input.npy", np.zeros((1, 3, 8, 8), np.float32))
    np.savez(card / "examples.npz", images=np.zeros((2, 3, 8, 8), np.float32))
    assert _push(fcn8s_copy) == 0
    capsys.readouterr()
    np.save(card / "labels.npy", np.array([{"name": "cat"}], dtype=object))
    assert _push(fcn8s_copy) == 3
    assert "labels.npy is a NumPy array of Python objects (pickled)" in capsys.readouterr().err
    (card / "labels.npy").unlink()
    np.savez(card / "examples.npz", images=np.zeros(2), names=np.array(["a", None], dtype=object))
    assert _push(fcn8s_copy) == 3
    assert "examples.npz is a NumPy archive whose 'names' holds Python objects" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["last.ckpt", "MODEL.PT", "weights.Pickle"])
def test_a_checkpoint_is_refused_by_its_suffix_in_any_case(fcn8s_copy, capsys, name):
    """A Lightning ``.ckpt`` or an upper-case ``.PT`` is a pickle checkpoint whatever its bytes say."""
    (fcn8s_copy / "fcn8s.shapes" / name).write_bytes(b"not a pickle, but named as one")
    assert _push(fcn8s_copy) == 3
    assert f"{name} is a pickle checkpoint ({name[name.rindex('.'):]})" in capsys.readouterr().err


def test_a_gzipped_torch_checkpoint_is_refused(fcn8s_copy, capsys):
    """torch.save's zip, gzipped: only a zip whose first entry is a pickle is a checkpoint."""
    import gzip

    import torch

    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, buffer)
    (fcn8s_copy / "fcn8s.shapes" / "model.tar.gz").write_bytes(gzip.compress(buffer.getvalue()))
    assert _push(fcn8s_copy) == 3
    assert "model.tar.gz is a zip archive (a torch.save checkpoint) compressed with gzip" in capsys.readouterr().err


def test_each_refusal_of_a_cards_files_says_how_to_fix_it(fcn8s_copy, tmp_path, capsys):
    card = fcn8s_copy / "fcn8s.shapes"
    (tmp_path / "secret.txt").write_text("TOPSECRET")
    (card / "notes.txt").symlink_to(tmp_path / "secret.txt")
    (tmp_path / "extra").mkdir()
    (card / "extra").symlink_to(tmp_path / "extra", target_is_directory=True)
    (card / "pytorch_model.bin").write_bytes(b"\x80\x02}q\x00.")
    assert _push(fcn8s_copy) == 3
    err = capsys.readouterr().err
    assert "outside the card, which would be published; copy the file into the card or remove the link" in err
    assert "whose files would not be published; copy them into the card or remove the link" in err
    assert "which the zoo never publishes; convert it to safetensors or move it out of the card" in err


def test_the_report_command_a_stale_explainer_report_names_rewrites_the_card(tmp_path, capsys):
    cards = tmp_path / "cards"
    shutil.copytree(HUBCARDS / "cnn_cam.digits", cards / "cnn_cam.digits")
    report = cards / "cnn_cam.digits" / "explainers.json"
    report.write_text(json.dumps({**json.loads(report.read_text()), "sha256": "0" * 64}))
    assert main(["hub", "push", "cnn_cam.digits", "--repo-id", "acme/digits", "--hubcards", str(cards),
                 "--dry-run"]) == 3
    card = cards / "cnn_cam.digits"
    assert (f"python -m zoo_explainers.report cnn_cam.digits --card {card} --weights {card / 'model.safetensors'} "
            "--write-card`, or delete it") in capsys.readouterr().err


def test_a_card_without_a_readme_or_with_unreadable_metadata_is_refused(fcn8s_copy, capsys):
    readme = fcn8s_copy / "fcn8s.shapes" / "README.md"
    text = readme.read_text()
    readme.unlink()
    assert _push(fcn8s_copy) == 3
    assert f"{readme} is missing; write the card with `zoo train` or zoo.cards.rewrite_card" in capsys.readouterr().err
    readme.write_text(text.replace("license: apache-2.0", "license: [apache-2.0", 1))
    assert _push(fcn8s_copy) == 3
    assert f"{readme} has unreadable metadata" in capsys.readouterr().err


def test_a_model_index_naming_another_metric_than_config_json_is_refused_both_ways(fcn8s_copy, capsys):
    """A metric the card states that config.json does not record, and one config.json records that
    the card leaves out, are each named."""
    readme = fcn8s_copy / "fcn8s.shapes" / "README.md"
    readme.write_text(readme.read_text().replace("    - type: miou\n", "    - type: pixel_accuracy\n", 1))
    assert _push(fcn8s_copy) == 3
    err = capsys.readouterr().err
    assert "model-index states pixel_accuracy=0.882 that config.json does not record" in err
    assert "model-index lacks miou (config.json: 0.882; a card's YAML lists each measured metric" in err


def test_a_file_that_only_starts_like_a_zlib_stream_is_published(fcn8s_copy, capsys):
    """0x78 0x9c is a zlib header, and also the start of any file that happens to begin with "x\\x9c"."""
    (fcn8s_copy / "fcn8s.shapes" / "sample.dat").write_bytes(b"\x78\x9c not a zlib stream at all")
    assert _push(fcn8s_copy) == 0
    assert "sample.dat" in capsys.readouterr().out
