"""zoo.checked_files: answers about a file are reused only while the file is provably unchanged."""

from __future__ import annotations

import json
import os
import time

import pytest
import torch
from safetensors.torch import save_file

from zoo import checked_files
from zoo import safetensors_file
from zoo.errors import WeightsError


@pytest.fixture
def no_racy_window(monkeypatch):
    """Remember answers for files written just now (the tests' files are all fresh)."""
    monkeypatch.setattr(checked_files, "RACY_SECONDS", 0.0)
    checked_files.forget_all()
    yield
    checked_files.forget_all()


def _tick():
    time.sleep(0.05)  # past the file system's timestamp tick, so a rewrite gets new times


def test_answer_is_recalled_while_the_file_is_unchanged(tmp_path, no_racy_window):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    before = checked_files.identity(path)
    checked_files.remember(path, before, "check", "answer")
    assert checked_files.recall(checked_files.identity(path), "check") == "answer"
    assert checked_files.recall(checked_files.identity(path), "other check") is None


@pytest.mark.parametrize("change", ["rewrite same size", "replace", "append"])
def test_any_change_to_the_file_forgets_the_answer(tmp_path, no_racy_window, change):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    checked_files.remember(path, checked_files.identity(path), "check", "answer")
    _tick()
    if change == "rewrite same size":
        path.write_bytes(b"abd")
    elif change == "replace":
        (tmp_path / "g.bin").write_bytes(b"abc")
        os.replace(tmp_path / "g.bin", path)
    else:
        with open(path, "ab") as f:
            f.write(b"!")
    assert checked_files.recall(checked_files.identity(path), "check") is None


def test_a_rewrite_with_its_modification_time_put_back_forgets_the_answer(tmp_path, no_racy_window):
    """`cp -p`, `tar x` or `os.utime` can restore the mtime, never the change time: a same-size
    rewrite so disguised must not keep a remembered sha256."""
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    st = os.stat(path)
    checked_files.remember(path, checked_files.identity(path), "check", "answer")
    _tick()
    path.write_bytes(b"abd")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert checked_files.recall(checked_files.identity(path), "check") is None


def test_a_file_written_just_now_with_an_old_mtime_is_too_recent_to_remember(tmp_path):
    """Its change time is now (a copy keeping the original's mtime): within the racy window."""
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    an_hour_ago = time.time_ns() - 3600 * 10**9
    os.utime(path, ns=(an_hour_ago, an_hour_ago))
    assert not checked_files.settled(path, checked_files.identity(path))


def test_a_file_changed_a_tenth_of_a_second_ago_is_still_too_recent_to_remember(tmp_path):
    """The racy window is ``RACY_SECONDS`` seconds (a FAT timestamp ticks every 2 s), not milliseconds."""
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    time.sleep(0.1)
    assert not checked_files.settled(path, checked_files.identity(path))


def test_file_changed_while_checked_is_not_remembered(tmp_path, no_racy_window):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    before = checked_files.identity(path)
    _tick()
    path.write_bytes(b"xyz")  # changed between the identity and the answer
    checked_files.remember(path, before, "check", "answer")
    assert checked_files.recall(checked_files.identity(path), "check") is None


def test_recently_changed_file_is_not_remembered(tmp_path, monkeypatch):
    # Within the racy window a rewrite could keep the same timestamps: nothing is remembered.
    monkeypatch.setattr(checked_files, "RACY_SECONDS", 3600.0)
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    checked_files.remember(path, checked_files.identity(path), "check", "answer")
    assert checked_files.recall(checked_files.identity(path), "check") is None


def test_weights_file_is_scanned_once_and_again_after_it_changes(tmp_path, no_racy_window, monkeypatch):
    path = tmp_path / "w.safetensors"
    save_file({"w": torch.ones(4)}, str(path))
    scans = []
    real_check = safetensors_file._check_finite
    monkeypatch.setattr(safetensors_file, "_check_finite", lambda *a: scans.append(a) or real_check(*a))
    safetensors_file.load_file(path)
    safetensors_file.load_file(path)
    assert len(scans) == 1

    _tick()
    save_file({"w": torch.tensor([1.0, float("nan"), 1.0, 1.0])}, str(path))  # same size, NaN inside
    with pytest.raises(WeightsError, match="NaN"):
        safetensors_file.load_file(path)
    assert len(scans) == 2


def test_header_is_parsed_again_after_the_file_changes(tmp_path, no_racy_window):
    path = tmp_path / "w.safetensors"
    save_file({"w": torch.ones(4)}, str(path))
    assert safetensors_file.read_header(path)["w"].shape == (4,)
    _tick()
    save_file({"v": torch.ones(4)}, str(path))
    assert list(safetensors_file.read_header(path)) == ["v"]


# ----------------------------------------------------------------------------- the on-disk record
def _recall_in_a_new_process(path, check, env=None):
    import subprocess
    import sys

    code = ("import json, sys; from zoo import checked_files as c; "
            "print(json.dumps(c.recall(c.identity(sys.argv[1]), sys.argv[2], durable=True)))")
    out = subprocess.run([sys.executable, "-c", code, str(path), check], capture_output=True, text=True,
                         env={**os.environ, **(env or {})}, check=True)
    return json.loads(out.stdout)


def test_durable_answer_is_recalled_by_a_new_process(tmp_path, no_racy_window):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    before = checked_files.identity(path)
    checked_files.remember(path, before, "sha256", "digest", durable=True)
    checked_files.remember(path, before, "in memory only", "answer")
    assert _recall_in_a_new_process(path, "sha256") == "digest"
    assert _recall_in_a_new_process(path, "in memory only") is None
    assert _recall_in_a_new_process(path, "sha256", {"ZOO_REMEMBER_CHECKS": "0"}) is None

    _tick()
    path.write_bytes(b"abd")  # same size, new times: the record no longer applies
    assert _recall_in_a_new_process(path, "sha256") is None
    assert checked_files.recall(checked_files.identity(path), "sha256", durable=True) is None


def test_durable_answers_of_one_file_accumulate(tmp_path, no_racy_window):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    before = checked_files.identity(path)
    checked_files.remember(path, before, "sha256", "digest", durable=True)
    checked_files.remember(path, before, "all finite", True, durable=True)
    checked_files.forget_all()
    assert checked_files.recall(before, "sha256", durable=True) == "digest"
    assert checked_files.recall(before, "all finite", durable=True) is True


@pytest.fixture
def recorded(tmp_path, no_racy_window, monkeypatch):
    """A file whose sha256 is remembered on disk, in a zoo cache of this test: (path, its identity)."""
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    before = checked_files.identity(path)
    checked_files.remember(path, before, "sha256", "digest", durable=True)
    return path, before


def test_record_folder_others_can_write_to_is_not_trusted(tmp_path, recorded):
    # Anyone who can write there could forge "this file was verified": neither read nor written.
    path, before = recorded
    folder = checked_files.record_dir()
    assert folder.stat().st_mode & 0o077 == 0  # created private
    folder.chmod(0o777)
    checked_files.forget_all()
    assert checked_files.recall(before, "sha256", durable=True) is None
    other = tmp_path / "g.bin"
    other.write_bytes(b"xyz")
    checked_files.remember(other, checked_files.identity(other), "sha256", "digest", durable=True)
    assert len(list(folder.iterdir())) == 1  # only the first file's record, written while private


def test_a_record_that_cannot_be_put_in_place_leaves_no_temporary_file(recorded):
    path, before = recorded
    (record,) = checked_files.record_dir().iterdir()
    record.unlink()
    record.mkdir()  # os.replace onto a folder fails: logged, the answer stays in this process only
    checked_files.remember(path, before, "all finite", True, durable=True)
    assert [p.name for p in checked_files.record_dir().iterdir()] == [record.name]
    assert checked_files.recall(before, "all finite") is True


def test_unusable_record_falls_back_to_this_process(tmp_path, no_racy_window, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("ZOO_CACHE_DIR", str(blocker))  # the record folder cannot be created
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    before = checked_files.identity(path)
    checked_files.remember(path, before, "sha256", "digest", durable=True)  # no error
    assert checked_files.recall(before, "sha256", durable=True) == "digest"


@pytest.mark.parametrize("corrupt", [
    lambda identity: '{"identity": [1, 2',  # cut short
    lambda identity: json.dumps({"identity": list(identity), "answers": ["digest"]}),  # answers not a mapping
])
def test_corrupt_record_is_ignored_and_rewritten(tmp_path, no_racy_window, corrupt):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    before = checked_files.identity(path)
    checked_files.remember(path, before, "sha256", "digest", durable=True)
    (record,) = checked_files.record_dir().iterdir()
    record.write_text(corrupt(before))
    checked_files.forget_all()
    assert checked_files.recall(before, "sha256", durable=True) is None
    checked_files.remember(path, before, "sha256", "digest", durable=True)
    checked_files.forget_all()
    assert checked_files.recall(before, "sha256", durable=True) == "digest"


def test_weights_scan_is_not_repeated_by_a_later_process(tmp_path, no_racy_window, monkeypatch):
    path = tmp_path / "w.safetensors"
    save_file({"w": torch.ones(4)}, str(path))
    safetensors_file.load_file(path)
    scans = []
    monkeypatch.setattr(safetensors_file, "_check_finite", lambda *a: scans.append(a))
    checked_files.forget_all()  # as a new process
    safetensors_file.load_file(path)
    assert scans == []


def test_header_is_not_validated_again_by_a_later_process(tmp_path, no_racy_window, monkeypatch):
    path = tmp_path / "w.safetensors"
    save_file({"w": torch.ones(4), "b": torch.zeros(2, 3, dtype=torch.int64)}, str(path))
    first = safetensors_file.read_header(path)
    parsed = []
    real_entry = safetensors_file._entry
    monkeypatch.setattr(safetensors_file, "_entry", lambda *a: parsed.append(a) or real_entry(*a))
    checked_files.forget_all()  # as a new process
    assert safetensors_file.read_header(path) == first
    assert parsed == []
    _tick()
    save_file({"w": torch.ones(4), "b": torch.zeros(3, 2, dtype=torch.int64)}, str(path))
    assert safetensors_file.read_header(path)["b"].shape == (3, 2)
    assert len(parsed) == 2
