"""zoo.create(pretrained=True) through the real huggingface_hub client and a real olah server."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import logging
import os
import shutil
import threading
import time
import warnings

import pytest
import torch
from safetensors.torch import load_file

import zoo
from zoo import aligned_copies, checked_files
from zoo import hub as zoo_hub
from zoo.cache_dir import zoo_cache_dir
from zoo.cli import main as cli_main
from zoo.errors import (
    ChecksumError,
    HubDownloadError,
    HubEntryNotFoundError,
    HubNotFoundError,
    HubOfflineError,
    HubRevisionNotFoundError,
    HubUnavailableError,
)
from zoo.model_config import hub_config
from zoo.registry import reset_registry
from zoo.testing.hub_fixture import cache_files, register_hubtest, weight_files
from zoo.weights import WeightsMismatchWarning

UNREACHABLE = "http://127.0.0.1:9"  # discard port: nothing listens there


def assert_same_weights(model, card_file):
    ref = load_file(str(card_file))
    state = model.state_dict()
    assert set(state) == set(ref)
    for key, value in ref.items():
        assert torch.equal(state[key], value), key


def test_pretrained_equals_card_then_offline_from_cache(hub, monkeypatch):
    model = zoo.create("hubtest_seg.toy", pretrained=True)
    assert not model.training
    assert_same_weights(model, hub.card("toy") / "model.safetensors")
    assert any("/blobs/" in p for p in cache_files(hub.cache))

    # Offline, and with an endpoint that could not answer anyway: served from the cache.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", UNREACHABLE)
    assert_same_weights(zoo.create("hubtest_seg.toy", pretrained=True), hub.card("toy") / "model.safetensors")


@contextlib.contextmanager
def recording_endpoint():
    """An endpoint on loopback that records every request made to it (and answers 500)."""
    seen: list[str] = []

    class Recording(http.server.BaseHTTPRequestHandler):
        def _answer(self):
            seen.append(f"{self.command} {self.path}")
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_HEAD = do_POST = _answer

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recording)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_offline_with_the_file_cached_makes_no_network_call(hub, monkeypatch, caplog):
    """Issue: with HF_HUB_OFFLINE=1 and the file cached, create works with no network call. The
    test above cannot tell: a zoo asking the endpoint anyway is served from the cache all the
    same once the request fails. Here the endpoint is up and counts what reaches it."""
    zoo.create("hubtest_seg.toy", pretrained=True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    caplog.set_level(logging.WARNING)
    with recording_endpoint() as (endpoint, seen):
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
        for name in ("hubtest_seg.toy", "hubtest_seg"):
            assert_same_weights(zoo.create(name, pretrained=True), hub.card("toy") / "model.safetensors")
        assert cli_main(["download", "hubtest_seg.toy"]) == 0  # already there, offline: nothing asked
    assert seen == []
    assert "cached copy" not in caplog.text  # served as an offline load, not as a fallback after a failure


def test_bare_arch_takes_default_tag(hub):
    assert_same_weights(zoo.create("hubtest_seg", pretrained=True), hub.card("toy") / "model.safetensors")


def test_a_builder_error_comes_before_the_download(hub, monkeypatch):
    """An option the builder refuses failed only once the weights were downloaded (timm fails at
    once), and offline or with the hub unreachable the hub's error hid it."""
    with pytest.raises(TypeError, match="no_such_option"):
        zoo.create("hubtest_seg.toy", pretrained=True, no_such_option=1)
    assert not hub.cache.exists() or weight_files(hub.cache) == []
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(TypeError, match="no_such_option"):
        zoo.create("hubtest_seg.toy", pretrained=True, no_such_option=1)


def test_revision_main_and_commit_sha_are_served(hub):
    sha = hub.server.repos["zoo-tests/hubtest_seg.toy"]
    for revision in ("main", sha):
        model = zoo.create("hubtest_seg.toy", pretrained=True, revision=revision)
        assert_same_weights(model, hub.card("toy") / "model.safetensors")


@pytest.mark.parametrize("token", [None, "hf_not_needed_here"])  # with a token it was "the endpoint refused the token"
def test_revision_that_does_not_exist(hub, monkeypatch, token):
    if token:
        monkeypatch.setenv("HF_TOKEN", token)
    with pytest.raises(HubRevisionNotFoundError) as info:
        zoo.create("hubtest_seg.toy", pretrained=True, revision="no-such-branch")
    message = str(info.value)
    assert "zoo-tests/hubtest_seg.toy" in message and "no-such-branch" in message
    assert weight_files(hub.cache) == []
    # The next good call succeeds.
    zoo.create("hubtest_seg.toy", pretrained=True)


@pytest.mark.parametrize("revision", ["../../../victim", "/tmp/victim", "main/../../x"])
def test_a_revision_that_leads_out_of_the_cache_is_refused_before_any_request(hub, tmp_path, revision):
    """huggingface_hub writes refs/<revision> unchecked: behind a lenient mirror that answers any
    revision, '../../../victim' overwrote a file outside the cache with a commit sha."""
    from zoo.errors import ArgumentError

    with pytest.raises(ArgumentError, match="would lead out of its folder in the Hub cache"):
        zoo.create("hubtest_seg.toy", pretrained=True, revision=revision)
    assert not hub.cache.exists() or weight_files(hub.cache) == []


def test_unknown_commit_sha_is_a_clear_error(hub):
    start = time.monotonic()
    with pytest.raises(HubNotFoundError, match="0{40}") as info:
        zoo.create("hubtest_seg.toy", pretrained=True, revision="0" * 40)
    assert time.monotonic() - start < 10  # no minutes of retries
    assert "omit revision= (--revision in the CLI)" in str(info.value)


def test_repository_not_on_the_endpoint(hub):
    with pytest.raises(HubNotFoundError) as info:
        zoo.create("hubtest_seg.missing", pretrained=True)
    assert "zoo-tests/hubtest_seg.missing" in str(info.value)
    assert "zoo hub serve" in str(info.value)


def test_a_repository_someone_else_publishes_gets_no_hub_card_advice(hub):
    """timm's repos never have a hub card: "zoo hub serve must have a hubcards/ folder" misled."""
    cfg = zoo.PretrainedCfg("someone/gone", upstream="someone else's weights")
    with pytest.raises(HubNotFoundError, match="a mirror must mirror that repository") as info:
        zoo_hub.fetch(cfg)
    assert "hubcards" not in str(info.value)


def test_offline_with_empty_cache_says_what_is_needed(hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubOfflineError) as info:
        zoo.create("hubtest_seg.toy", pretrained=True)
    message = str(info.value)
    for needed in ("zoo-tests/hubtest_seg.toy", "model.safetensors", "'main'", "HF_HUB_OFFLINE",
                   "HF_ENDPOINT", "zoo hub serve", str(hub.cache)):
        assert needed in message
    assert isinstance(info.value, OSError)
    assert weight_files(hub.cache) == []
    monkeypatch.delenv("HF_HUB_OFFLINE")
    zoo.create("hubtest_seg.toy", pretrained=True)  # the next good call succeeds


def test_unreachable_endpoint_fails_fast_and_says_what_to_set(hub, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", UNREACHABLE)
    start = time.monotonic()
    with pytest.raises(HubUnavailableError) as info:
        zoo.create("hubtest_seg.toy", pretrained=True)
    assert time.monotonic() - start < 5
    message = str(info.value)
    for needed in ("zoo-tests/hubtest_seg.toy", "model.safetensors", UNREACHABLE, "HF_ENDPOINT",
                   "zoo hub serve", "HF_HUB_OFFLINE", "weights="):
        assert needed in message
    assert weight_files(hub.cache) == []
    monkeypatch.setenv("HF_ENDPOINT", hub.server.endpoint)
    zoo.create("hubtest_seg.toy", pretrained=True)


def test_unreachable_endpoint_falls_back_to_the_cache(hub, monkeypatch, caplog):
    zoo.create("hubtest_seg.toy", pretrained=True)
    monkeypatch.setenv("HF_ENDPOINT", UNREACHABLE)
    assert_same_weights(zoo.create("hubtest_seg.toy", pretrained=True), hub.card("toy") / "model.safetensors")
    assert "using the cached copy" in caplog.text


def _lfs_object(hub, tag):
    sha = hub.tags[tag]["sha256"]
    return (hub.server.cache_dir / "mirrors" / "models" / hub.tags[tag]["hf_hub_id"] / ".git" / "lfs"
            / "objects" / sha[:2] / sha[2:4] / sha)


def test_tampered_file_served_is_refused_evicted_and_never_loaded(hub, monkeypatch):
    obj = _lfs_object(hub, "tamper")
    good = obj.read_bytes()
    bad = bytearray(good)
    bad[-1] ^= 0xFF  # one flipped bit in the last tensor: still a valid safetensors file
    loads = _tensor_reads(monkeypatch)
    tmp = obj.with_name("tampered")
    tmp.write_bytes(bytes(bad))
    os.replace(tmp, obj)  # a new inode: the card's own file is untouched
    try:
        with pytest.raises(ChecksumError) as info:
            zoo.create("hubtest_seg.tamper", pretrained=True)
    finally:
        tmp.write_bytes(good)
        os.replace(tmp, obj)
    message = str(info.value)
    for needed in ("sha256", "zoo-tests/hubtest_seg.tamper", "model.safetensors", hub.tags["tamper"]["sha256"],
                   hashlib.sha256(bytes(bad)).hexdigest(), "removed from the cache", "the next call downloads it again"):
        assert needed in message
    assert f"expected {hub.tags['tamper']['sha256']}, got {hashlib.sha256(bytes(bad)).hexdigest()}" in message
    assert loads == []  # refused before any tensor was read
    assert weight_files(hub.cache) == []  # neither blob nor snapshot link is kept
    assert not list(hub.cache.rglob("refs/main"))  # nor a ref to the refused commit: the cache had none before
    assert not [d for d in hub.cache.rglob("snapshots/*") if not any(d.iterdir())]  # nor an empty snapshot
    assert_same_weights(zoo.create("hubtest_seg.tamper", pretrained=True),
                        hub.card("tamper") / "model.safetensors")
    assert loads  # the spies see a load: their silence above meant something


def _tensor_reads(monkeypatch) -> list[str]:
    """The files whose tensors are read from now on, at the lowest level every zoo load goes through
    (safetensors' own readers; a spy on a zoo function missed a read made another way)."""
    import safetensors
    import safetensors.torch

    reads = []
    for module, name in ((safetensors.torch, "load_file"), (safetensors, "safe_open")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name,
                            lambda path, *a, _real=real, **k: reads.append(str(path)) or _real(path, *a, **k))
    return reads


def test_file_corrupted_in_the_cache_is_refused_and_fetched_again_in_the_same_call(hub, caplog):
    """The ChecksumError told the user to fix a server that was fine: the bad copy was the local one."""
    zoo.create("hubtest_seg.toy", pretrained=True)
    blob = next(p for p in hub.cache.rglob("blobs/*"))
    blob.write_bytes(blob.read_bytes()[:-4] + b"\0\0\0\0")
    assert_same_weights(zoo.create("hubtest_seg.toy", pretrained=True), hub.card("toy") / "model.safetensors")
    assert "was refused and removed (sha256 mismatch" in caplog.text and "downloading it again" in caplog.text


def test_a_corrupted_copy_cached_by_commit_only_is_fetched_again_in_the_same_call(hub, caplog):
    """Filled with revision=<commit>, the cache has no refs/main: the rotted copy was taken for the
    server's answer, a ChecksumError told the user to fix the server, and only the next call worked."""
    zoo.create("hubtest_seg.toy", pretrained=True)
    ref = next(hub.cache.rglob("refs/main"))
    ref.unlink()  # as a cache filled by commit only has it
    blob = next(p for p in hub.cache.rglob("blobs/*"))
    blob.write_bytes(blob.read_bytes()[:-4] + b"\0\0\0\0")
    assert_same_weights(zoo.create("hubtest_seg.toy", pretrained=True), hub.card("toy") / "model.safetensors")
    assert "was refused and removed (sha256 mismatch" in caplog.text and "downloading it again" in caplog.text


def test_any_file_is_hashed_once_while_it_stays_the_same(tmp_path, monkeypatch):
    """zoo hub serve (at each start), push and the pretrained_tags check re-read every card's
    weights to hash them; only the download check remembered its digest."""
    monkeypatch.setattr(checked_files, "RACY_SECONDS", 0.0)
    hashed = []
    real_hash = zoo_hub._hash_file
    monkeypatch.setattr(zoo_hub, "_hash_file", lambda path: hashed.append(path) or real_hash(path))
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"weights")
    for _ in range(3):
        assert zoo_hub.sha256_of(path) == hashlib.sha256(b"weights").hexdigest()
    assert len(hashed) == 1
    time.sleep(0.05)
    path.write_bytes(b"Weights")
    assert zoo_hub.sha256_of(path) == hashlib.sha256(b"Weights").hexdigest() and len(hashed) == 2


def test_verified_file_is_hashed_once_until_it_changes(hub, monkeypatch):
    monkeypatch.setattr(checked_files, "RACY_SECONDS", 0.0)  # the blob was downloaded just now
    checked_files.forget_all()
    hashed = []
    real_hash = zoo_hub._hash_file
    monkeypatch.setattr(zoo_hub, "_hash_file", lambda path: hashed.append(path) or real_hash(path))
    try:
        zoo.create("hubtest_seg.toy", pretrained=True)
        zoo.create("hubtest_seg.toy", pretrained=True)
        assert len(hashed) == 1
        checked_files.forget_all()  # as a new process: the digest comes from the on-disk record
        zoo.create("hubtest_seg.toy", pretrained=True)
        assert len(hashed) == 1

        time.sleep(0.05)  # past the timestamp tick: the rewrite below gets new times
        blob = next(p for p in hub.cache.rglob("blobs/*"))
        blob.write_bytes(blob.read_bytes()[:-4] + b"\0\0\0\0")  # in place, same size
        zoo.create("hubtest_seg.toy", pretrained=True)  # hashed: refused, evicted, downloaded and hashed again
        assert len(hashed) == 3
    finally:
        checked_files.forget_all()


def test_hub_file_gets_an_aligned_copy_and_a_local_file_does_not(hub, monkeypatch):
    # the fixture's files are written by safetensors.torch.save_file: most tensors unaligned
    monkeypatch.setattr(checked_files, "RACY_SECONDS", 0.0)  # the blob was downloaded just now
    monkeypatch.setattr(aligned_copies, "MIN_UNALIGNED_BYTES", 1)
    folder = zoo_cache_dir() / "aligned"
    local = hub.card("toy") / "model.safetensors"
    zoo.create("hubtest_seg.toy", weights=local)
    assert not folder.exists() or not list(folder.iterdir())
    first = zoo.create("hubtest_seg.toy", pretrained=True)
    (copy,) = folder.iterdir()
    checked_files.forget_all()  # as a new process: loads from the copy
    assert_same_weights(zoo.create("hubtest_seg.toy", pretrained=True), local)
    assert_same_weights(first, local)
    assert list(folder.iterdir()) == [copy]


def test_another_revision_holding_other_bytes_is_not_held_to_the_pin(hub):
    """Another revision may legitimately hold other bytes: a commit the cache does not know the
    pinned revision resolved to, whose file is not stored as the pinned blob, loads unchecked."""
    reset_registry()
    register_hubtest({**hub.tags, "toy": {**hub.tags["toy"], "sha256": "0" * 64}})  # pins other bytes
    commit = hub.server.repos["zoo-tests/hubtest_seg.toy"]
    model = zoo.create("hubtest_seg.toy", pretrained=True, revision=commit)  # main never resolved here
    assert_same_weights(model, hub.card("toy") / "model.safetensors")
    with pytest.raises(ChecksumError, match="sha256"):
        zoo.create("hubtest_seg.toy", pretrained=True)  # the pinned revision: the pin is checked


def test_the_commit_the_pinned_revision_resolved_to_is_checked_too(hub, monkeypatch, caplog):
    """An offline error suggests revision=<commit>: for the commit `main` resolved to (or its short
    form) the pin still holds, so a corrupted cache is refused rather than loaded."""
    commit = hub.server.repos["zoo-tests/hubtest_seg.toy"]
    # offline the full commit or a prefix of it (resolved to the one cached commit it starts);
    # online, a prefix the server resolves to a commit whose file the cache holds as the pinned blob
    for revision, offline in ((commit, True), (commit[:7], True), (commit[:7], False)):
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        zoo.create("hubtest_seg.toy", pretrained=True)  # refs/main -> commit, the verified file cached
        blob = next(p for p in hub.cache.rglob("blobs/*"))
        blob.write_bytes(blob.read_bytes()[:-4] + b"\0\0\0\0")
        checked_files.forget_all()
        if offline:  # nothing could fetch it again: kept, and refused
            monkeypatch.setenv("HF_HUB_OFFLINE", "1")
            with pytest.raises(ChecksumError, match="sha256"):
                zoo.create("hubtest_seg.toy", pretrained=True, revision=revision)
            assert blob.exists()
        else:  # the cache's copy was refused, removed and fetched again in the same call
            model = zoo.create("hubtest_seg.toy", pretrained=True, revision=revision)
            assert_same_weights(model, hub.card("toy") / "model.safetensors")
            assert "was refused and removed (sha256 mismatch" in caplog.text
        blob.unlink(missing_ok=True)


def test_offline_a_short_commit_names_the_cached_commit_it_starts(hub, monkeypatch):
    """It said the cache held the file "at other commits" and named that very commit."""
    commit = hub.server.repos["zoo-tests/hubtest_seg.toy"]
    zoo.create("hubtest_seg.toy", pretrained=True, revision=commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = zoo.create("hubtest_seg.toy", pretrained=True, revision=commit[:7])
    assert_same_weights(model, hub.card("toy") / "model.safetensors")
    with pytest.raises(HubOfflineError, match="is not in the cache"):
        zoo.create("hubtest_seg.toy", pretrained=True, revision="0000000")
    (snapshot,) = hub.cache.rglob(f"snapshots/{commit}")
    shutil.copytree(snapshot, snapshot.with_name(commit[:7] + "f" * 33), symlinks=True)
    with pytest.raises(HubOfflineError, match="is not in the cache"):  # two cached commits start so: none is meant
        zoo.create("hubtest_seg.toy", pretrained=True, revision=commit[:7])


def test_a_tag_at_the_pinned_commit_is_checked_in_a_cache_copied_without_symlinks(hub, monkeypatch):
    """`cp -rL` of a cache: snapshot files are plain files, so no blob name says "pinned"; a tag the
    cache records at the pinned revision's commit is still held to the pin."""
    zoo.create("hubtest_seg.toy", pretrained=True)
    (ref_main,) = hub.cache.rglob("refs/main")
    (ref_main.parent / "v1").write_text(ref_main.read_text())
    snapshot = next(hub.cache.rglob("snapshots/*/model.safetensors"))
    data = snapshot.read_bytes()
    snapshot.unlink()
    snapshot.write_bytes(data[:-4] + b"\0\0\0\0")  # a plain, corrupted copy
    checked_files.forget_all()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ChecksumError, match="sha256"):
        zoo.create("hubtest_seg.toy", pretrained=True, revision="v1")


@pytest.mark.parametrize("revision", ["short commit", "pinned as a commit"])
def test_the_pinned_commit_is_checked_in_a_cache_copied_without_symlinks(hub, monkeypatch, revision):
    """In a cache of plain files (`cp -rL`, huggingface_hub where symlinks are not allowed) no blob
    name says "pinned": the short form of the commit the pinned revision resolved to, and a revision
    pinned as a full commit (which writes no ref), are held to the pin all the same."""
    import dataclasses

    commit = hub.server.repos["zoo-tests/hubtest_seg.toy"]
    cfg = zoo.model_info("hubtest_seg").pretrained["toy"]
    if revision == "pinned as a commit":
        cfg, revision = dataclasses.replace(cfg, revision=commit), None
    else:
        revision = commit[:7]
    zoo_hub.fetch(cfg)
    snapshot = next(hub.cache.rglob("snapshots/*/model.safetensors"))
    data = snapshot.read_bytes()
    snapshot.unlink()
    snapshot.write_bytes(data[:-4] + b"\0\0\0\0")  # a plain, corrupted copy: its header is whole
    checked_files.forget_all()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ChecksumError, match="sha256"):
        zoo_hub.fetch(cfg, revision=revision)


def test_offline_a_refused_file_is_kept_since_nothing_could_fetch_it_again(hub, monkeypatch):
    """A wrong pin (a plugin's mistake) must not cost an air-gapped machine its only copy: offline the
    refused file stays cached, is refused at every load, and loads once the pin is right."""
    good_sha = hub.tags["toy"]["sha256"]
    zoo.create("hubtest_seg.toy", pretrained=True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    reset_registry()
    register_hubtest({**hub.tags, "toy": {**hub.tags["toy"], "sha256": "0" * 64}})
    for _ in range(2):
        with pytest.raises(ChecksumError, match="kept in the cache, since HF_HUB_OFFLINE is set"):
            zoo.create("hubtest_seg.toy", pretrained=True)
    reset_registry()
    register_hubtest({**hub.tags, "toy": {**hub.tags["toy"], "sha256": good_sha}})
    assert_same_weights(zoo.create("hubtest_seg.toy", pretrained=True), hub.card("toy") / "model.safetensors")


def test_offline_the_pinned_copy_serves_when_the_branch_names_a_newer_commit(hub, monkeypatch, caplog):
    """Another HF tool sharing the cache fetched a re-published main: refs/main named a file that is
    not the pinned one, and offline loads raised ChecksumError with the pinned copy still cached."""
    zoo.create("hubtest_seg.toy", pretrained=True)
    ref = next(hub.cache.rglob("refs/main"))
    newer = ref.parent.parent / "snapshots" / ("d" * 40) / "model.safetensors"
    newer.parent.mkdir(parents=True)
    newer.write_bytes(b"republished, other bytes")
    ref.write_text("d" * 40)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert_same_weights(zoo.create("hubtest_seg.toy", pretrained=True), hub.card("toy") / "model.safetensors")
    assert f"refs/main names commit {'d' * 40}, whose file is not the pinned one" in caplog.text
    assert newer.read_bytes() == b"republished, other bytes"  # not ours to remove


def test_a_cached_file_costs_one_request_not_two(hub, monkeypatch):
    """The zoo's metadata probe already tells the commit: when the cache holds that commit's file,
    huggingface_hub's download (a second HEAD to the endpoint) is skipped."""
    import huggingface_hub

    real, calls = huggingface_hub.hf_hub_download, []
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda *a, **k: calls.append(a) or real(*a, **k))
    real_probe, probes = huggingface_hub.get_hf_file_metadata, []
    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata",
                        lambda *a, **k: probes.append(a) or real_probe(*a, **k))
    zoo.create("hubtest_seg.toy", pretrained=True)
    assert len(calls) == 1  # the first time it downloads
    model = zoo.create("hubtest_seg.toy", pretrained=True)
    assert len(calls) == 1 and len(probes) == 2
    commit = hub.server.repos["zoo-tests/hubtest_seg.toy"]
    model_by_commit = zoo.create("hubtest_seg.toy", pretrained=True, revision=commit)
    assert len(calls) == 1 and len(probes) == 2  # a file at a commit never changes: cached, no request
    assert_same_weights(model, hub.card("toy") / "model.safetensors")
    assert_same_weights(model_by_commit, hub.card("toy") / "model.safetensors")


def test_num_classes_and_in_chans_adapt_like_timm(hub):
    ref = load_file(str(hub.card("toy") / "model.safetensors"))
    with pytest.warns(WeightsMismatchWarning, match="re-initialised head.bias, head.weight") as record:
        model = zoo.create("hubtest_seg.toy", pretrained=True, num_classes=5, in_chans=1)
    assert "adapted stem.weight" in str(record[0].message)
    assert record[0].filename == __file__  # the caller's line, not the zoo's, so filters can name the caller
    assert model.head.weight.shape == (5, 8, 1, 1) and not model.training
    assert torch.allclose(model.stem.weight, ref["stem.weight"].sum(1, keepdim=True))
    assert torch.equal(model.bn.running_var, ref["bn.running_var"])

    with pytest.warns(WeightsMismatchWarning):
        model = zoo.create("hubtest_seg.toy", pretrained=True, in_chans=4)
    expected = torch.cat([ref["stem.weight"], ref["stem.weight"][:, :1]], 1) * (3 / 4)
    assert torch.allclose(model.stem.weight, expected)
    assert torch.equal(model.head.weight, ref["head.weight"])
    assert model(torch.zeros(1, 4, 32, 32)).shape == (1, 3, 32, 32)


def test_same_head_gives_no_warning(hub):
    with warnings.catch_warnings():
        warnings.simplefilter("error", WeightsMismatchWarning)
        zoo.create("hubtest_seg.toy", pretrained=True, num_classes=3)


def test_download_command_prefetches_for_offline_use(hub, monkeypatch, capsys):
    assert cli_main(["download", "hubtest_seg.toy", "hubtest_seg.conc"]) == 0
    out = capsys.readouterr().out
    assert "hubtest_seg.toy\t" in out and "hubtest_seg.conc\t" in out
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert_same_weights(zoo.create("hubtest_seg.conc", pretrained=True), hub.card("conc") / "model.safetensors")
    # the repo's config.json came along: zoo predict/explain read class names and preprocessing from it
    assert hub_config(zoo.model_info("hubtest_seg").pretrained["conc"])["architecture"] == "hubtest_seg"


@pytest.mark.parametrize("name", ["hubtest_seg", "hubtest_seg.[t]oy"])  # its default tag; an fnmatch pattern
def test_download_command_takes_a_bare_arch_or_any_fnmatch_pattern(hub, capsys, name):
    assert cli_main(["download", name]) == 0
    assert capsys.readouterr().out.startswith("hubtest_seg.toy\t")


def test_download_command_prints_a_qualified_name_back_as_asked(hub, capsys):
    """Where two plugins claim a name, the qualified name (the one that works) is what is printed."""
    from zoo.testing.hub_fixture import HubTestPlugin

    zoo.get_registry().register(HubTestPlugin(hub.tags), name="hubtest", distribution="zoo-hub-tests-copy")
    assert cli_main(["download", "zoo-hub-tests:hubtest_seg.toy"]) == 0
    assert capsys.readouterr().out.startswith("zoo-hub-tests:hubtest_seg.toy\t")


def test_the_repos_config_json_is_fetched_and_a_missing_one_is_quietly_empty(hub, monkeypatch):
    """config.json is not safetensors: fetching it used to fail the weights' header check (and
    evict it), so zoo predict/explain silently ran with default class names and preprocessing."""
    cfg = zoo.model_info("hubtest_seg").pretrained["toy"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert hub_config(cfg) == json.loads((hub.card("toy") / "config.json").read_text())
        assert hub_config(zoo.model_info("hubtest_seg").pretrained["missing"]) == {}  # no such repo
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: warned, not silent
    monkeypatch.setenv("HF_HUB_CACHE", str(hub.cache.parent / "empty-cache"))
    with pytest.warns(UserWarning, match="config.json could not be used"):
        assert hub_config(cfg) == {}


def test_download_command_reports_failures(hub, capsys):
    assert cli_main(["download", "hubtest_seg.missing"]) == 3
    assert "zoo-tests/hubtest_seg.missing" in capsys.readouterr().err


def test_download_command_goes_on_after_a_failure_and_refuses_a_pattern_matching_nothing(hub, capsys):
    assert cli_main(["download", "hubtest_seg.missing", "hubtest_seg.toy"]) == 3  # the failure still counts
    captured = capsys.readouterr()
    assert "hubtest_seg.toy\t" in captured.out and "zoo-tests/hubtest_seg.missing" in captured.err
    assert weight_files(hub.cache)  # the name after the failing one was fetched
    assert cli_main(["download", "zzz_no_such*"]) == 2  # it exited 0, having done nothing
    assert "no pretrained weights match 'zzz_no_such*'" in capsys.readouterr().err


def test_a_cached_pinned_tag_is_served_from_its_ref_without_a_warning(hub, monkeypatch, caplog):
    """The pinned copy, found by hashing every cached commit's file, is the last resort: an ordinary
    offline load uses the commit refs/main names, and says nothing."""
    zoo.create("hubtest_seg.toy", pretrained=True)
    (ref,) = hub.cache.rglob("refs/main")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = zoo.model_info("hubtest_seg").pretrained["toy"]
    path = zoo_hub.fetch(cfg)
    assert path.parent.name == ref.read_text().strip()
    assert "pinned sha256" not in caplog.text


def test_a_blob_named_by_the_pin_is_verified_at_any_commit(hub, caplog):
    """A cache filled by commit only (no refs/main) holds the pinned file as the blob named by its
    sha256: a copy rotted there is refused (and fetched again), not loaded on its header alone."""
    commit = hub.server.repos["zoo-tests/hubtest_seg.toy"]
    zoo.create("hubtest_seg.toy", pretrained=True, revision=commit)
    assert not list(hub.cache.rglob("refs/main"))
    blob = next(p for p in hub.cache.rglob("blobs/*"))
    blob.write_bytes(blob.read_bytes()[:-4] + b"\0\0\0\0")  # the header intact
    checked_files.forget_all()
    model = zoo.create("hubtest_seg.toy", pretrained=True, revision=commit)
    assert_same_weights(model, hub.card("toy") / "model.safetensors")
    assert "was refused and removed (sha256 mismatch" in caplog.text


def test_a_file_removed_by_another_process_during_the_check_is_fetched_once_more(hub, monkeypatch):
    """Another process may evict the file between our download and our check (it found it did not
    match): the call tries once more, then says what happened instead of a bare FileNotFoundError."""
    cfg = zoo.model_info("hubtest_seg").pretrained["toy"]
    real_verify = zoo_hub.verify_sha256
    calls = []

    def evicted_meanwhile(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 1 or always:
            raise FileNotFoundError(path)
        return real_verify(path, *args, **kwargs)

    monkeypatch.setattr(zoo_hub, "verify_sha256", evicted_meanwhile)
    always = False
    assert zoo_hub.fetch(cfg).is_file() and len(calls) == 2
    always = True
    with pytest.raises(HubDownloadError, match="disappeared from the cache .* while it was being checked"):
        zoo_hub.fetch(cfg)


def test_a_refused_file_already_gone_adds_nothing_to_the_message(tmp_path):
    assert zoo_hub._refused_file_fate(tmp_path / "gone.safetensors", None) == ""


def test_sha256_of_fresh_hashes_the_bytes_whatever_is_remembered(tmp_path, monkeypatch):
    """zoo hub push hashes what it publishes afresh: a file written through a shared memory map can
    keep its identity, and the remembered digest with it."""
    monkeypatch.setattr(checked_files, "RACY_SECONDS", 0.0)
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"weights")
    checked_files.forget_all()
    checked_files.remember(path, checked_files.identity(path), "sha256", "0" * 64, durable=True)
    assert zoo_hub.sha256_of(path) == "0" * 64  # remembered
    assert zoo_hub.sha256_of(path, fresh=True) == hashlib.sha256(b"weights").hexdigest()
    checked_files.forget_all()


def test_fetch_returns_verified_path(hub):
    cfg = zoo.model_info("hubtest_seg").pretrained["toy"]
    path = zoo_hub.fetch(cfg)
    assert zoo_hub.sha256_of(path) == cfg.sha256


def test_hf_home_is_honoured_at_call_time(hub, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    path = zoo_hub.fetch(zoo.model_info("hubtest_seg").pretrained["toy"])
    assert str(path).startswith(str(tmp_path / "home" / "hub")) and cache_files(hub.cache) == []


@pytest.mark.parametrize("password", ["s3cretpw", "p@ss@qz9x"])  # httpx takes the host after the last '@'
def test_a_password_in_hf_endpoint_never_reaches_the_message(hub, monkeypatch, password):
    monkeypatch.setenv("HF_ENDPOINT", f"http://bob:{password}@127.0.0.1:9")
    with pytest.raises(HubUnavailableError) as info:
        zoo.create("hubtest_seg.toy", pretrained=True)
    message = str(info.value)
    assert password.rpartition("@")[2] not in message and "bob" not in message
    assert "http://***@127.0.0.1:9" in message


def test_a_password_in_hf_endpoint_never_reaches_the_fallback_warning(hub, monkeypatch, caplog):
    zoo.create("hubtest_seg.toy", pretrained=True)
    monkeypatch.setenv("HF_ENDPOINT", "http://bob:s3cretpw@127.0.0.1:9")
    zoo.create("hubtest_seg.toy", pretrained=True)  # the cached copy stands in, with a warning
    assert "http://***@127.0.0.1:9 unreachable" in caplog.text and "s3cretpw" not in caplog.text


def test_offline_names_the_commits_the_cache_holds_when_the_branch_is_not_cached(hub, monkeypatch, caplog):
    # Fetched by commit only, the cache has no refs/main: offline, "main" is not there, but the file is.
    import dataclasses

    commit = hub.server.repos["zoo-tests/hubtest_seg.toy"]
    zoo.create("hubtest_seg.toy", pretrained=True, revision=commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = zoo.model_info("hubtest_seg").pretrained["toy"]
    assert_same_weights(zoo.create("hubtest_seg.toy", pretrained=True), hub.card("toy") / "model.safetensors")
    assert "the cache records no commit for 'main'" in caplog.text  # the pinned bytes serve the tag
    with pytest.raises(HubOfflineError) as info:  # without a pin nothing says which commit is the tag's
        zoo_hub.fetch(dataclasses.replace(cfg, sha256=None))
    assert f"The cache holds it at other commits: {commit} (pass revision=<commit> to use one)." in str(info.value)
    zoo.create("hubtest_seg.toy", pretrained=True, revision=commit)


def test_download_warns_and_succeeds_when_the_repos_config_json_is_unusable(hub, capsys):
    """The weights are what `zoo download` is for: an unusable config.json (class names,
    preprocessing) is a warning that names it, not a failed download."""
    assert cli_main(["download", "hubtest_seg.toy"]) == 0
    (config,) = hub.cache.rglob("snapshots/*/config.json")
    config.resolve().write_text("{not json")
    capsys.readouterr()
    assert cli_main(["download", "hubtest_seg.toy"]) == 0
    captured = capsys.readouterr()
    assert "hubtest_seg.toy\t" in captured.out
    assert "zoo: warning: hubtest_seg.toy: config.json not usable" in captured.err


def test_a_file_the_repository_lacks_is_named_beside_the_files_it_has(hub):
    """olah answers a missing file as a repository not shown (401): only the endpoint's /api tells that
    the file is what is missing (without it: "Repository not found. Set HF_TOKEN")."""
    cfg = zoo.PretrainedCfg("zoo-tests/hubtest_seg.toy", filename="weights.safetensors")
    with pytest.raises(HubEntryNotFoundError, match="has no file 'weights.safetensors'; it has: .*model.safetensors"):
        zoo_hub.fetch(cfg)


def test_download_warns_and_succeeds_when_the_repos_config_json_cannot_be_fetched(hub, monkeypatch, capsys):
    zoo_hub.fetch(zoo.model_info("hubtest_seg").pretrained["toy"])  # the weights only
    monkeypatch.setenv("HF_ENDPOINT", UNREACHABLE)  # their cached copy stands in; config.json cannot come
    assert cli_main(["download", "hubtest_seg.toy"]) == 0
    captured = capsys.readouterr()
    assert "hubtest_seg.toy\t" in captured.out
    assert "zoo: warning: hubtest_seg.toy: config.json not usable" in captured.err
