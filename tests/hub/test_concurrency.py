"""Many processes and threads creating the same pretrained model against one fresh cache.

huggingface_hub's file locks must make them share one download: all succeed, all get the
card's exact weights, the file is transferred once, and the cache holds no partial or
corrupt file afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from zoo.hub import sha256_of
from zoo.testing.hub_fixture import cache_files

WORKER = r"""
import hashlib, json, sys, threading
from zoo.testing.hub_fixture import register_hubtest
register_hubtest(json.loads(sys.argv[1]))
import torch, zoo
torch.set_num_threads(1)
threads = int(sys.argv[2])
print("ready", flush=True)
sys.stdin.readline()  # the parent releases every process at once
digests, errors = [], []
def work():
    try:
        model = zoo.create("hubtest_seg.conc", pretrained=True)
        h = hashlib.sha256()
        for key, value in sorted(model.state_dict().items()):
            h.update(key.encode()); h.update(value.numpy().tobytes())
        digests.append(h.hexdigest())
    except BaseException as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
pool = [threading.Thread(target=work) for _ in range(threads)]
for t in pool: t.start()
for t in pool: t.join()
print(json.dumps({"digests": digests, "errors": errors}), flush=True)
"""


def _state_digest(path):
    import hashlib

    from safetensors.torch import load_file

    h = hashlib.sha256()
    for key, value in sorted(load_file(str(path)).items()):
        h.update(key.encode())
        h.update(value.numpy().tobytes())
    return h.hexdigest()


def _get_count(server, hub_id):
    log = server.log_file.read_text(errors="replace")
    return sum(1 for line in log.splitlines() if f'"GET /{hub_id}/resolve/' in line and "model.safetensors" in line)


def _run(hub, processes, threads):
    before = _get_count(hub.server, "zoo-tests/hubtest_seg.conc")
    env_tags = json.dumps(hub.tags)
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, env_tags, str(threads)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(processes)]
    try:
        for w in workers:
            line = w.stdout.readline()
            assert line.strip() == "ready", w.stderr.read()
        for w in workers:
            w.stdin.write("go\n")
            w.stdin.flush()
        results = []
        for w in workers:
            out, err = w.communicate(timeout=240)
            assert w.returncode == 0, err[-3000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    errors = [e for r in results for e in r["errors"]]
    assert errors == []
    digests = {d for r in results for d in r["digests"]}
    assert sum(len(r["digests"]) for r in results) == processes * threads
    assert digests == {_state_digest(hub.card("conc") / "model.safetensors")}
    assert _get_count(hub.server, "zoo-tests/hubtest_seg.conc") - before == 1  # downloaded once

    files = cache_files(hub.cache)
    assert not [p for p in files if p.endswith(".incomplete")]
    blobs = [p for p in files if "/blobs/" in p]
    assert len(blobs) == 1 and sha256_of(hub.cache / blobs[0]) == hub.tags["conc"]["sha256"]


def test_3_processes_of_4_threads_at_once_share_one_download(hub):
    """The default suite's share of the issue's 8 x 8 (below, slow): threads of one process and
    processes at once, so CI sees both kinds of contention."""
    _run(hub, processes=3, threads=4)


@pytest.mark.slow
def test_8_processes_of_8_threads_at_once_share_one_download(hub):
    _run(hub, processes=8, threads=8)
