"""Edges of fetching found by an audit: read-only and unwritable caches, files without a pinned
sha256, settings frozen by huggingface_hub at import, pinned revisions a mirror lacks, a port
already taken, and `zoo download` exit codes. Real olah servers and real files throughout."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import warnings

import pytest
from huggingface_hub import constants

import zoo
from zoo import hub as zoo_hub
from zoo.cli import main as cli_main
from zoo.errors import HubError, HubOfflineError, HubRevisionNotFoundError
from zoo.hub_server import HubServer
from zoo.model_config import hub_config
from zoo.testing.hub_fixture import weight_files


def _without_write_permission(code: str, cache) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter that cannot write under ``cache`` (made read-only).

    root ignores permission bits, so as root the process drops the capabilities that let it.
    """
    prefix = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot make a cache read-only for the test")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]
    subprocess.run(["chmod", "-R", "a-w", str(cache)], check=True)
    try:
        return subprocess.run([*prefix, sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(cache)], check=True)


DIGITS = "import zoo; zoo.create('cnn_cam.digits', pretrained=True)"


def test_a_tampered_file_in_a_read_only_cache_is_a_checksum_error(served_hubcards):
    cache = os.environ["HF_HUB_CACHE"]
    blob = zoo_hub.fetch(zoo.model_info("cnn_cam.digits").pretrained["digits"]).resolve()
    data = bytearray(blob.read_bytes())
    data[-1] ^= 1  # one bit of the last weight
    blob.write_bytes(bytes(data))
    result = _without_write_permission(DIGITS, cache)  # online: the refused file would be evicted
    assert "ChecksumError" in result.stderr and "could not be removed from the cache" in result.stderr, result.stderr
    assert "PermissionError" not in result.stderr
    assert "downloading it again" not in result.stderr  # it was not removed: no second try, no such warning


def test_a_truncated_unpinned_file_in_a_read_only_cache_is_a_weights_error(served_hubcards):
    """Without a pin (timm's tags, revision=) the header check refused the file and its eviction's
    lock file raised a bare "OSError: Read-only file system" naming neither the model nor the fault."""
    cache = os.environ["HF_HUB_CACHE"]
    blob = zoo_hub.fetch(zoo.model_info("cnn_cam.digits").pretrained["digits"]).resolve()
    blob.write_bytes(blob.read_bytes()[:-10])
    code = ("import dataclasses, zoo; from zoo import hub; "
            "hub.fetch(dataclasses.replace(zoo.model_info('cnn_cam.digits').pretrained['digits'], sha256=None))")
    result = _without_write_permission(code, cache)
    assert "WeightsError" in result.stderr and "could not be removed from the cache" in result.stderr, result.stderr
    assert "OSError" not in result.stderr and "PermissionError" not in result.stderr


def test_an_unwritable_cold_cache_says_so(served_hubcards, tmp_path, monkeypatch):
    cache = tmp_path / "read-only-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    result = _without_write_permission(DIGITS, cache)
    assert "cannot be written" in result.stderr and "HF_HUB_CACHE" in result.stderr, result.stderr
    assert "run the same call again" not in result.stderr


def test_a_cache_path_the_system_refuses_is_blamed_on_the_cache_not_the_endpoint(hub, monkeypatch):
    """ENAMETOOLONG (also EDQUOT, EISDIR...) got "run the same call again once the endpoint is stable"."""
    monkeypatch.setenv("HF_HUB_CACHE", str(hub.cache.parent / ("c" * 300)))
    with pytest.raises(HubError, match="cannot be written.*HF_HUB_CACHE") as info:
        zoo.create("hubtest_seg.toy", pretrained=True)
    assert "endpoint is stable" not in str(info.value)


@pytest.mark.parametrize("damage", ["truncated", "a list as dtype"])  # the second raised TypeError: kept
def test_a_bad_download_without_a_pinned_sha256_does_not_stick_in_the_cache(hub, damage):
    import struct

    cfg = zoo.model_info("hubtest_seg").pretrained["toy"]
    commit = hub.server.repos[cfg.hf_hub_id]  # another revision: the pinned sha256 does not apply
    blob = zoo_hub.fetch(cfg, revision=commit).resolve()
    if damage == "truncated":
        blob.write_bytes(blob.read_bytes()[:-10])
    else:
        header = b'{"w": {"dtype": ["F32"], "shape": [1], "data_offsets": [0, 4]}}'
        blob.write_bytes(struct.pack("<Q", len(header)) + header + bytes(4))
    bad = blob.read_bytes()
    zoo.create("hubtest_seg.toy", pretrained=True, revision=commit)  # refused, evicted, downloaded again: good
    assert blob.read_bytes() != bad  # the server's good copy, under the same content name


def test_a_rotted_copy_of_a_tag_that_pins_no_sha256_is_evicted_and_fetched_again(hub):
    """The test above goes through the pinned sha256 (the blob is named by it); a tag with no pin
    (timm's, a third party's) relies on the header check alone to evict a bad copy."""
    import dataclasses

    cfg = dataclasses.replace(zoo.model_info("hubtest_seg").pretrained["toy"], sha256=None)
    blob = zoo_hub.fetch(cfg).resolve()
    good = blob.read_bytes()
    blob.write_bytes(good[:-10])  # truncated on disk
    assert zoo_hub.fetch(cfg).resolve().read_bytes() == good  # refused on its header, evicted, downloaded again


def test_offline_a_refused_file_without_a_pin_is_kept_too(hub, monkeypatch):
    """As with a pin: offline nothing could fetch it again."""
    import dataclasses

    from zoo.errors import WeightsError

    cfg = dataclasses.replace(zoo.model_info("hubtest_seg").pretrained["toy"], sha256=None)
    blob = zoo_hub.fetch(cfg).resolve()
    blob.write_bytes(blob.read_bytes()[:-10])
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsError, match="kept in the cache, since HF_HUB_OFFLINE is set"):
        zoo_hub.fetch(cfg)
    assert blob.exists()


def test_offline_mode_frozen_at_import_by_huggingface_hub_is_not_the_last_word(hub, monkeypatch):
    """huggingface_hub reads HF_HUB_OFFLINE once, at import; the zoo reads it at call time."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # as if imported while it was set
    zoo.create("hubtest_seg.toy", pretrained=True)


def test_huggingface_hubs_own_offline_setting_is_left_as_found(hub, monkeypatch):
    """The zoo wrote its call-time reading into huggingface_hub's globals for good: a process
    another library had put offline went online for every later huggingface_hub call."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_DOWNLOAD_TIMEOUT", 7)
    monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "3")
    zoo.create("hubtest_seg.toy", pretrained=True)
    assert constants.HF_HUB_OFFLINE is True and constants.HF_HUB_DOWNLOAD_TIMEOUT == 7


@pytest.mark.parametrize("environ, offline", [
    ({"TRANSFORMERS_OFFLINE": "1"}, True),
    ({"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "1"}, False),  # the first one set decides
    ({"HF_HUB_OFFLINE": "", "TRANSFORMERS_OFFLINE": "1"}, True),  # empty is unset
    ({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "0"}, True),
])
def test_offline_is_read_as_huggingface_hub_reads_it(environ, offline):
    assert zoo_hub.HubSettings.from_env(environ).offline is offline


@pytest.mark.parametrize("environ, cache", [
    ({"HF_HOME": "/h", "HUGGINGFACE_HUB_CACHE": "/legacy"}, "/legacy"),  # huggingface_hub's older name
    ({"HF_HUB_CACHE": "/c", "HUGGINGFACE_HUB_CACHE": "/legacy"}, "/c"),
    ({"XDG_CACHE_HOME": "/x"}, "/x/huggingface/hub"),
    ({"HF_HUB_CACHE": "~/c"}, os.path.expanduser("~/c")),
])
def test_the_cache_is_found_where_huggingface_hub_looks(environ, cache):
    """Else a file huggingface_hub downloaded was not where the zoo checked, evicted or looked offline."""
    assert zoo_hub.HubSettings.from_env(environ).cache_dir == cache


@pytest.mark.parametrize("endpoint, says", [
    ("http://127.0.0.1:41773 ", "holds a space or a control character"),
    ("http://127.0.0.1:41773\r", "holds a space or a control character"),
    ("http://127.0.0.1:41773\x7f", "holds a space or a control character"),  # DEL
    ("http://127.0.0.1:port", "has a port that is not a number"),
])
def test_an_endpoint_no_client_can_use_names_hf_endpoint(monkeypatch, capsys, endpoint, says):
    """huggingface_hub's import failed on these with a bare ValueError and a traceback (exit 1)."""
    with pytest.raises(HubError, match=f"HF_ENDPOINT=.*{says}.*http://127.0.0.1:8090"):
        zoo_hub.HubSettings.from_env({"HF_ENDPOINT": endpoint})
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    assert cli_main(["download", "unet.shapes"]) == 3
    assert says in capsys.readouterr().err


@pytest.mark.parametrize("endpoint", ["127.0.0.1:8090", "localhost:8090"])
def test_an_endpoint_without_a_scheme_is_named_where_a_download_uses_it(hub, monkeypatch, caplog, endpoint):
    """It read as an unreachable hub ("UnsupportedProtocol"), and with the file cached only as that
    warning. Offline the endpoint is never used, so it stays no error there."""
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    with pytest.raises(HubError, match=f"HF_ENDPOINT='{endpoint}' does not start with http:// or https://; set it"):
        zoo.create("hubtest_seg.toy", pretrained=True)
    monkeypatch.setenv("HF_ENDPOINT", hub.server.endpoint)
    zoo.create("hubtest_seg.toy", pretrained=True)
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    zoo.create("hubtest_seg.toy", pretrained=True)  # cached: it stands in, with the setting named
    assert f"HF_ENDPOINT='{endpoint}' does not start with http:// or https://); using the cached copy" in caplog.text
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    caplog.clear()
    zoo.create("hubtest_seg.toy", pretrained=True)
    assert "does not start with" not in caplog.text


def test_a_password_in_an_hf_endpoint_no_client_can_use_never_reaches_the_message():
    with pytest.raises(HubError, match="holds a space") as info:
        zoo_hub.HubSettings.from_env({"HF_ENDPOINT": "http://bob:s3cretpw@127.0.0.1:41773 "})
    assert "s3cretpw" not in str(info.value) and "http://***@127.0.0.1:41773" in str(info.value)


def test_the_offline_error_names_the_variable_that_is_set(hub, monkeypatch):
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    with pytest.raises(HubOfflineError, match="TRANSFORMERS_OFFLINE is set.*weights="):
        zoo.create("hubtest_seg.toy", pretrained=True)


@pytest.mark.parametrize("value", ["0", "-1"])
def test_an_etag_timeout_huggingface_hub_would_ignore_means_its_default(value):
    assert zoo_hub.HubSettings.from_env({"HF_HUB_ETAG_TIMEOUT": value}).etag_timeout == 10


@pytest.mark.parametrize("value", ["0", "-1"])
def test_a_download_timeout_huggingface_hub_would_ignore_means_its_default(hub, monkeypatch, value):
    monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", value)
    zoo.create("hubtest_seg.toy", pretrained=True)  # a 0 s timeout failed every download


@pytest.mark.parametrize("variable", ["HF_HUB_ETAG_TIMEOUT", "HF_HUB_DOWNLOAD_TIMEOUT"])
@pytest.mark.parametrize("value", ["2.5", "soon", "+-5"])
def test_a_timeout_that_is_not_whole_seconds_names_the_variable(hub, monkeypatch, capsys, variable, value):
    """huggingface_hub's own import fails on these with a bare ValueError from its constants, also
    in `zoo hub push` and `zoo hub serve` (olah's import), which import it before any fetch."""
    monkeypatch.setenv(variable, value)
    says = f"{variable}='{value}': huggingface_hub takes a whole number of seconds"
    with pytest.raises(HubError, match=re.escape(says)):
        zoo.create("hubtest_seg.toy", pretrained=True)
    for command in (["hub", "push", "unet.shapes", "--repo-id", "a/b", "--dry-run"], ["hub", "serve", "--port", "0"],
                    ["download", "hubtest_seg.toy", "hubtest_seg.conc"]):
        assert cli_main(command) == 3
        assert capsys.readouterr().err.count(says) == 1  # once, not once per name


def test_a_timeout_huggingface_hub_reads_is_accepted():
    assert zoo_hub.HubSettings.from_env({"HF_HUB_ETAG_TIMEOUT": "1_0"}).etag_timeout == 10  # int("1_0")


def test_download_refuses_a_revision_out_of_the_cache_once_as_a_usage_error(hub, capsys):
    assert cli_main(["download", "hubtest_seg.toy", "hubtest_seg.conc", "--revision", "../../x"]) == 2
    err = capsys.readouterr().err
    assert err.count("would lead out of its folder in the Hub cache") == 1


def test_a_pinned_revision_the_mirror_lacks_blames_the_mirror_not_the_caller(hub):
    pinned = zoo.PretrainedCfg("zoo-tests/hubtest_seg.toy", revision="1" * 40)
    with pytest.raises(HubRevisionNotFoundError) as info:
        zoo_hub.fetch(pinned)
    assert "mirror is older than the plugin" in str(info.value)
    assert "omit revision=" not in str(info.value)


def test_serving_on_a_port_already_taken_fails_before_answering_for_another_server(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (tmp_path / "cards").mkdir()
        with pytest.raises(HubError, match=f"port {port} .* already in use"):
            HubServer(tmp_path / "cards", cache_dir=tmp_path / "serve", port=port).start()


def test_download_of_an_unknown_or_weightless_name_is_a_usage_error(hub, capsys):
    assert cli_main(["download", "hubtest_seg.toy", "no_such_model"]) == 2
    assert "Unknown model 'no_such_model'" in capsys.readouterr().err
    assert weight_files(hub.cache) == []  # nothing was downloaded before the bad name was found
    assert cli_main(["download", "hubtest_seg.nosuchtag"]) == 2
    zoo.get_registry().register(_Weightless(), name="weightless")
    assert cli_main(["download", "weightless_net"]) == 2
    assert "zoo download: error: 'weightless_net' has no pretrained weights: nothing to download" in (
        capsys.readouterr().err)


class _Weightless:
    @zoo.hookimpl
    def zoo_architectures(self):
        return [zoo.ArchitectureSpec("weightless_net", "classification", builder="m:f")]


def test_a_refused_republished_file_leaves_the_cached_one_usable_offline(tmp_path, monkeypatch):
    """A mirror's new commit holds other bytes than the pinned sha256: refused, and refs/main
    is put back, so the verified copy of the earlier commit still serves offline. Before, the
    branch stayed on the refused commit and offline use said nothing was cached."""
    from zoo.errors import ChecksumError
    from zoo.hub_server import build_mirrors
    from zoo.testing.hub_fixture import make_card, register_hubtest, seeded_state, use_hub

    cards, cache = tmp_path / "cards", tmp_path / "hf-cache"
    card, sha = make_card(cards, "hubtest_seg.repub", seeded_state(3), hf_hub_id="zoo-tests/hubtest_seg.repub")
    register_hubtest({"repub": dict(hf_hub_id="zoo-tests/hubtest_seg.repub", sha256=sha, num_classes=3)})
    cfg = zoo.model_info("hubtest_seg").pretrained["repub"]
    with HubServer(cards, cache_dir=tmp_path / "serve") as server:
        use_hub(monkeypatch, server.endpoint, cache)
        good = zoo_hub.fetch(cfg).read_bytes()
        refs = list(cache.rglob("refs/main"))
        commit = refs[0].read_text()
        make_card(cards, "hubtest_seg.repub", seeded_state(4), hf_hub_id="zoo-tests/hubtest_seg.repub")
        build_mirrors(cards, server.cache_dir)  # the mirror's main moves to a commit with other weights
        with pytest.raises(ChecksumError):
            zoo_hub.fetch(cfg)
        assert refs[0].read_text() == commit
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert zoo_hub.fetch(cfg).read_bytes() == good


def test_an_interrupted_download_leaves_the_cached_one_usable_offline(tmp_path, monkeypatch):
    """huggingface_hub moves refs/main before it downloads: a download of a new commit that failed
    or was interrupted (Ctrl-C, SIGTERM) left the ref on a commit with nothing cached, so the
    verified copy of the earlier commit no longer served offline."""
    from tqdm.auto import tqdm

    from zoo.hub_server import build_mirrors
    from zoo.testing.hub_fixture import make_card, register_hubtest, seeded_state, use_hub

    class CtrlC(tqdm):  # pressed once the first bytes arrived
        def update(self, n=1):
            raise KeyboardInterrupt

    cards, cache = tmp_path / "cards", tmp_path / "hf-cache"
    make_card(cards, "hubtest_seg.intr", seeded_state(3), hf_hub_id="zoo-tests/hubtest_seg.intr")
    register_hubtest({"intr": dict(hf_hub_id="zoo-tests/hubtest_seg.intr", num_classes=3)})
    cfg = zoo.model_info("hubtest_seg").pretrained["intr"]
    with HubServer(cards, cache_dir=tmp_path / "serve") as server:
        use_hub(monkeypatch, server.endpoint, cache)
        good = zoo_hub.fetch(cfg).read_bytes()
        (ref,) = cache.rglob("refs/main")
        commit = ref.read_text()
        make_card(cards, "hubtest_seg.intr", seeded_state(4), hf_hub_id="zoo-tests/hubtest_seg.intr")
        build_mirrors(cards, server.cache_dir)  # main moves to a commit with other weights
        with pytest.raises(KeyboardInterrupt):
            zoo_hub.fetch(cfg, tqdm_class=CtrlC)
        assert ref.read_text() == commit
        assert not list(cache.rglob("*.incomplete"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert zoo_hub.fetch(cfg).read_bytes() == good


def _fetched_then_ref_moved(tmp_path, monkeypatch):
    """(cfg, good bytes): a pinned tag fetched once, then refs/main moved to a commit the cache does
    not hold, as huggingface_hub leaves it when a download of a republished main is killed."""
    from zoo.testing.hub_fixture import make_card, register_hubtest, seeded_state, use_hub

    cards, cache = tmp_path / "cards", tmp_path / "hf-cache"
    _, sha = make_card(cards, "hubtest_seg.kill", seeded_state(3), hf_hub_id="zoo-tests/hubtest_seg.kill")
    register_hubtest({"kill": dict(hf_hub_id="zoo-tests/hubtest_seg.kill", num_classes=3, sha256=sha)})
    cfg = zoo.model_info("hubtest_seg").pretrained["kill"]
    with HubServer(cards, cache_dir=tmp_path / "serve") as server:
        use_hub(monkeypatch, server.endpoint, cache)
        good = zoo_hub.fetch(cfg).read_bytes()
        assert hub_config(cfg)["architecture"] == "hubtest_seg"  # its config.json cached beside the weights
    (ref,) = cache.rglob("refs/main")
    ref.write_text("f" * 40)  # written before the bytes arrive; a killed process cannot put it back
    return cfg, good


@pytest.mark.parametrize("cut_off", ["offline", "endpoint down"])
def test_a_download_killed_part_way_leaves_the_pinned_copy_usable_offline(cut_off, tmp_path, monkeypatch, caplog):
    """A download killed before it could put the ref back (SIGKILL, SIGTERM in a script, SIGHUP)
    left refs/main on a commit the cache lacks: offline, the verified file was 'not in the cache'."""
    cfg, good = _fetched_then_ref_moved(tmp_path, monkeypatch)
    if cut_off == "offline":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # else the server above has stopped: nothing answers
    assert zoo_hub.fetch(cfg).read_bytes() == good
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the config.json of the weights' commit, not "could not be used"
        assert hub_config(cfg)["architecture"] == "hubtest_seg"
    assert caplog.text.count("using the copy with the pinned sha256") == 1  # said by the fetch, not again by the config


def test_offline_a_short_commit_reads_the_config_of_the_commit_it_names(tmp_path, monkeypatch):
    """The weights came from the commit a short sha names; its config.json was looked up at the pinned
    revision instead, which may be another commit's."""
    cfg, good = _fetched_then_ref_moved(tmp_path, monkeypatch)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (commit,) = [p.name for p in (tmp_path / "hf-cache").rglob("snapshots/*")]
    assert zoo_hub.resolved_commit(cfg, commit[:7]) == commit
    assert hub_config(cfg, commit[:7])["architecture"] == "hubtest_seg"


def test_a_full_commit_resolves_to_itself_with_nothing_cached(tmp_path, monkeypatch):
    """Its config.json is then fetched at that commit, not at the pinned branch, which may have moved."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    cfg = zoo.PretrainedCfg("zoo-tests/hubtest_seg.toy", sha256="0" * 64)
    assert zoo_hub.resolved_commit(cfg, "a" * 40) == "a" * 40


def test_offline_other_commits_that_fail_the_pin_are_not_offered_as_the_tag(tmp_path, monkeypatch):
    """The offline hint offered the cached commits as the way to the tag, though none held the pinned
    file, and revision=<one> loaded it unverified without a word: the hint now says so."""
    import dataclasses

    cfg, _ = _fetched_then_ref_moved(tmp_path, monkeypatch)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    wrong_pin = dataclasses.replace(cfg, sha256="0" * 64)
    with pytest.raises(HubOfflineError, match="none of them the pinned sha256, so such a revision= is loaded "
                                              "unverified"):
        zoo_hub.fetch(wrong_pin)


def test_a_ref_another_process_moved_meanwhile_is_not_put_back(tmp_path):
    """Two processes, one refused (a tampered mirror) and one verified: the refused one's restore
    deleted the ref the other had just written."""
    from zoo.hub_cache import restore_ref

    ref = tmp_path / "refs" / "main"
    ref.parent.mkdir()
    ref.write_text("b" * 40)  # the other process's verified commit, written after ours
    restore_ref(ref, None, written="a" * 40)
    assert ref.read_text() == "b" * 40
    ref.write_text("a" * 40)  # still ours: put back as it was (absent)
    restore_ref(ref, None, written="a" * 40)
    assert not ref.exists()
    ref.write_text("a" * 40)
    restore_ref(ref, "c" * 40, written="a" * 40)
    assert ref.read_text() == "c" * 40


def test_eviction_waits_for_the_lock_huggingface_hub_holds_while_writing_the_blob(tmp_path):
    """A refused file is evicted under huggingface_hub's own lock on its blob, so that another
    process writing that blob meanwhile is not left with a half-deleted entry."""
    import threading

    from huggingface_hub.utils import WeakFileLock

    from zoo.hub_cache import evict

    repo = tmp_path / "models--org--name"
    blob, link = repo / "blobs" / ("e" * 64), repo / "snapshots" / ("a" * 40) / "model.safetensors"
    blob.parent.mkdir(parents=True)
    link.parent.mkdir(parents=True)
    blob.write_bytes(b"refused")
    link.symlink_to(blob)
    lock = tmp_path / ".locks" / repo.name / f"{blob.name}.lock"
    lock.parent.mkdir(parents=True)
    with WeakFileLock(str(lock)):  # another process writing the blob
        evicting = threading.Thread(target=evict, args=(link,))
        evicting.start()
        evicting.join(0.5)
        assert evicting.is_alive() and blob.exists() and link.exists()
    evicting.join(30)
    assert not evicting.is_alive() and not blob.exists() and not link.exists() and not link.parent.exists()


def test_a_branch_fetched_online_after_its_commit_is_recorded_for_offline_use(hub, monkeypatch):
    """A cache filled by commit has no refs/main; fetching main online when main is that commit must
    record the ref (huggingface_hub writes it), else offline use of main says nothing is cached."""
    import dataclasses

    cfg = dataclasses.replace(zoo.model_info("hubtest_seg").pretrained["toy"], sha256=None)  # no pin to fall back on
    zoo_hub.fetch(cfg)
    commit = next(hub.cache.rglob("refs/main")).read_text()
    shutil.rmtree(hub.cache)
    by_commit = zoo_hub.fetch(cfg, revision=commit)
    assert not list(hub.cache.rglob("refs/main"))
    assert zoo_hub.fetch(cfg) == by_commit
    assert [ref.read_text() for ref in hub.cache.rglob("refs/main")] == [commit]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert zoo_hub.fetch(cfg) == by_commit


def test_the_repos_config_json_is_read_at_the_commit_the_weights_came_from(tmp_path, monkeypatch):
    """A branch that moves between the weights and their config.json (a mirror syncing) must not
    pair these weights with another commit's class names, nor move the branch's ref in the cache."""
    from zoo.cli import main as cli_main
    from zoo.hub_server import build_mirrors
    from zoo.model_config import hub_config
    from zoo.testing.hub_fixture import make_card, register_hubtest, seeded_state, use_hub

    cards, cache = tmp_path / "cards", tmp_path / "hf-cache"
    _, sha = make_card(cards, "hubtest_seg.cfg", seeded_state(3), hf_hub_id="zoo-tests/hubtest_seg.cfg",
                       label_names=["bg", "a", "b"])
    register_hubtest({"cfg": dict(hf_hub_id="zoo-tests/hubtest_seg.cfg", sha256=sha, num_classes=3)})
    cfg = zoo.model_info("hubtest_seg").pretrained["cfg"]
    with HubServer(cards, cache_dir=tmp_path / "serve") as server:
        use_hub(monkeypatch, server.endpoint, cache)
        assert cli_main(["download", "hubtest_seg.cfg"]) == 0  # the weights, then config.json at their commit
        (ref,) = cache.rglob("refs/main")
        commit = ref.read_text()
        make_card(cards, "hubtest_seg.cfg", seeded_state(3), hf_hub_id="zoo-tests/hubtest_seg.cfg",
                  label_names=["bg", "x", "y"])
        build_mirrors(cards, server.cache_dir)  # main moves on: the same weights, other class names
        assert hub_config(cfg)["label_names"] == ["bg", "a", "b"]
        assert ref.read_text() == commit


def test_a_repo_without_config_json_is_quiet_offline_too(tmp_path, monkeypatch):
    """Online, a repo without config.json gives {} quietly; offline it warned at every prediction
    ("could not be used") until the cache recorded the absence, as huggingface_hub's own
    ``.no_exist`` markers do."""
    from zoo.model_config import hub_config
    from zoo.testing.hub_fixture import make_card, register_hubtest, seeded_state, use_hub

    cards, cache = tmp_path / "cards", tmp_path / "hf-cache"
    card, sha = make_card(cards, "hubtest_seg.bare", seeded_state(4), hf_hub_id="zoo-tests/hubtest_seg.bare")
    (card / "config.json").unlink()
    register_hubtest({"bare": dict(hf_hub_id="zoo-tests/hubtest_seg.bare", sha256=sha, num_classes=3)})
    cfg = zoo.model_info("hubtest_seg").pretrained["bare"]
    with HubServer(cards, cache_dir=tmp_path / "serve") as server:
        use_hub(monkeypatch, server.endpoint, cache)
        assert cli_main(["download", "hubtest_seg.bare"]) == 0
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert hub_config(cfg) == {}
        commit = (cache / "models--zoo-tests--hubtest_seg.bare" / "refs" / "main").read_text()
        assert hub_config(cfg, revision=commit) == {}
    from huggingface_hub import try_to_load_from_cache

    # huggingface_hub reads the same record: "known not to exist" (a sentinel), not None ("unknown")
    known = try_to_load_from_cache("zoo-tests/hubtest_seg.bare", "config.json", cache_dir=cache, revision=commit)
    assert known is not None and not isinstance(known, str)


def test_hf_home_or_cache_at_a_file_says_which_setting_to_fix(served_hubcards, tmp_path, monkeypatch):
    # Before: a raw NotADirectoryError (HF_HOME), and "run again once the endpoint is stable" (cache).
    afile = tmp_path / "afile"
    afile.write_text("")
    monkeypatch.setenv("HF_HUB_CACHE", str(afile / "hub"))
    with pytest.raises(HubError, match="cannot be written.*Point HF_HUB_CACHE"):
        zoo.create("cnn_cam.digits", pretrained=True)
    # huggingface_hub reads HF_HOME (its token file's folder) at import: a fresh process
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_CACHE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    result = subprocess.run([sys.executable, "-c", DIGITS], env={**env, "HF_HOME": str(afile)},
                            capture_output=True, text=True, timeout=300)
    assert "HubError" in result.stderr and "could not read its local files" in result.stderr, result.stderr
    assert "Point HF_HOME" in result.stderr and "NotADirectoryError" not in result.stderr
    assert "visionzoo/cnn_cam.digits/model.safetensors" in result.stderr  # what could not be downloaded


def test_a_file_another_hf_tool_marked_missing_is_not_in_the_cache(hub, monkeypatch):
    """huggingface_hub records a 404 as ".no_exist/<commit>/<file>" (hf download, transformers): a
    marker, not a file; offline that is "not in the cache", not a TypeError."""
    from zoo.hub import HubSettings
    from zoo.hub_cache import mark_absent

    cfg = zoo.model_info("hubtest_seg").pretrained["toy"]
    commit = hub.server.repos["zoo-tests/hubtest_seg.toy"]
    settings = HubSettings.from_env()
    mark_absent(cfg, commit, settings)
    ref = zoo_hub.ref_path(cfg, "main", settings)
    ref.parent.mkdir(parents=True, exist_ok=True)
    ref.write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubOfflineError, match="is not in the cache"):
        zoo_hub.fetch(cfg)


def test_the_offline_error_names_only_commits_that_hold_the_file(hub, monkeypatch):
    """A snapshot holding only config.json (its weights evicted) is no commit "the cache holds it at"."""
    zoo.create("hubtest_seg.toy", pretrained=True)
    assert cli_main(["download", "hubtest_seg.toy"]) == 0  # config.json too
    (weights,) = hub.cache.rglob("snapshots/*/model.safetensors")
    commit = weights.parent.name
    weights.unlink()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubOfflineError) as info:
        zoo.create("hubtest_seg.toy", pretrained=True, revision="v9")
    assert commit not in str(info.value) and "other commits" not in str(info.value)


def test_a_trailing_slash_in_hf_endpoint_is_taken_as_users_paste_it(hub, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", hub.server.endpoint + "/")
    zoo.create("hubtest_seg.toy", pretrained=True)
    assert zoo_hub.HubSettings.from_env().endpoint == hub.server.endpoint


def test_overlapping_downloads_put_huggingface_hubs_own_settings_back(monkeypatch):
    """Each download put back what it found: the second found the first one's override, and a
    program that had turned huggingface_hub offline in code was online again after two threads."""
    from huggingface_hub import constants

    from zoo import hf_constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_DOWNLOAD_TIMEOUT", 10)
    first, second = hf_constants.overridden(False, 30), hf_constants.overridden(False, 30)
    first.__enter__()
    second.__enter__()  # another thread's download begins
    first.__exit__(None, None, None)
    assert (constants.HF_HUB_OFFLINE, constants.HF_HUB_DOWNLOAD_TIMEOUT) == (False, 30)  # the second still runs
    second.__exit__(None, None, None)
    assert (constants.HF_HUB_OFFLINE, constants.HF_HUB_DOWNLOAD_TIMEOUT) == (True, 10)


def test_a_process_without_standard_error_downloads(hub, tmp_path):
    """pythonw, a daemon, `2>&-`: huggingface_hub's progress bar wrote to None (a bare AttributeError
    that named no download)."""
    import json

    from zoo.testing.hub_fixture import weight_files

    script = ("import zoo; from zoo.testing.hub_fixture import register_hubtest; import json, sys; "
              "register_hubtest(json.loads(sys.argv[1])); zoo.create('hubtest_seg.toy', pretrained=True)")
    env = dict(os.environ, HF_ENDPOINT=hub.server.endpoint, HF_HUB_CACHE=str(tmp_path / "cache"))
    for name in ("HF_HUB_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS"):  # the bar is what failed
        env.pop(name, None)
    result = subprocess.run([sys.executable, "-c", script, json.dumps(hub.tags)], env=env,
                            preexec_fn=lambda: os.close(2), stdout=subprocess.PIPE, text=True)
    assert result.returncode == 0
    assert weight_files(tmp_path / "cache")
