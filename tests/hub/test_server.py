"""`zoo hub serve`: hub cards as deterministic git repositories, served by olah on loopback."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import tomllib

import pytest

from zoo.errors import HubError
from zoo.hub_server import build_repo, card_dirs, card_hub_id, write_config
from zoo.testing.hub_fixture import make_card, seeded_state


def test_card_becomes_one_deterministic_commit_with_lfs_weights(tmp_path):
    card, sha = make_card(tmp_path / "cards", "hubtest_seg.toy", seeded_state(0))
    first = build_repo(card, tmp_path / "a" / "repo")
    second = build_repo(card, tmp_path / "b" / "repo")
    assert first == second and len(first) == 40  # same files -> same commit, on any machine
    assert build_repo(card, tmp_path / "a" / "repo") == first  # reused as is
    pointer = (tmp_path / "a" / "repo" / "model.safetensors").read_text()
    assert pointer.startswith("version https://git-lfs.github.com/spec/v1\n") and f"oid sha256:{sha}" in pointer
    assert (tmp_path / "a" / "repo" / ".git" / "lfs" / "objects" / sha[:2] / sha[2:4] / sha).is_file()
    (card / "README.md").write_text("changed\n")
    assert build_repo(card, tmp_path / "a" / "repo") != first


def test_the_served_repo_holds_exactly_the_files_push_would_publish(tmp_path):
    from zoo.cards import card_files
    from zoo.cli.hub import push_plan

    card, sha = make_card(tmp_path / "cards", "hubtest_seg.toy", seeded_state(0))
    config = json.loads((card / "config.json").read_text())
    (card / "config.json").write_text(json.dumps({**config, "sha256": sha}))
    for junk in (".DS_Store", "__pycache__/recipe.cpython-311.pyc", ".ipynb_checkpoints/README-checkpoint.md"):
        (card / junk).parent.mkdir(exist_ok=True)
        (card / junk).write_text("local clutter\n")
    (card / "extra").mkdir()
    (card / "extra" / "notes.txt").write_text("published\n")
    build_repo(card, tmp_path / "repo")
    served = subprocess.run(["git", "ls-files"], cwd=tmp_path / "repo", capture_output=True, text=True).stdout.split()
    published = [str(p.relative_to(card)) for p in card_files(card)]
    assert sorted(served) == published == ["README.md", "config.json", "extra/notes.txt", "model.safetensors"]
    assert [str(p.relative_to(card)) for p in push_plan("hubtest_seg.toy", tmp_path / "cards")[1]] == published


def test_each_served_folder_has_its_own_repositories_and_gone_cards_go(tmp_path):
    """Two servers of two folders on one cache: the second rebuilt the first one's repositories
    (its clients then got the other folder's weights); a card removed from a folder stayed served."""
    from zoo.hub_server import HubServer, build_mirrors

    for folder, seed in (("a", 0), ("b", 1)):
        make_card(tmp_path / folder, "hubtest_seg.toy", seeded_state(seed))
        make_card(tmp_path / folder, f"hubtest_seg.only_{folder}", seeded_state(seed))
    serve_a = HubServer(tmp_path / "a", cache_dir=tmp_path / "cache").cache_dir
    serve_b = HubServer(tmp_path / "b", cache_dir=tmp_path / "cache").cache_dir
    assert serve_a != serve_b and serve_a.parent == serve_b.parent == tmp_path / "cache"
    commit_a = build_mirrors(tmp_path / "a", serve_a)["visionzoo/hubtest_seg.toy"]
    build_mirrors(tmp_path / "b", serve_b)
    assert build_mirrors(tmp_path / "a", serve_a)["visionzoo/hubtest_seg.toy"] == commit_a  # left alone
    shutil.rmtree(tmp_path / "a" / "hubtest_seg.only_a")
    build_mirrors(tmp_path / "a", serve_a)
    assert sorted(p.name for p in (serve_a / "mirrors" / "models" / "visionzoo").iterdir()) == ["hubtest_seg.toy"]


def test_two_servers_of_one_folder_started_together_each_serve_their_own_port(tmp_path):
    """Both wrote one olah.toml, so both olahs read the port written last: one failed to bind it,
    the other port was never served, and both servers ended with errors."""
    import concurrent.futures
    import urllib.request

    from zoo.hub_server import HubServer, free_port

    make_card(tmp_path / "cards", "hubtest_seg.toy", seeded_state(0))
    ports = [free_port()]
    while len(ports) < 2:
        ports += [p for p in [free_port()] if p not in ports]
    servers = [HubServer(tmp_path / "cards", port=p, cache_dir=tmp_path / "cache") for p in ports]
    try:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            list(pool.map(HubServer.start, servers))
        for server in servers:
            (hub_id,) = server.repos
            with urllib.request.urlopen(f"{server.endpoint}/{hub_id}/resolve/main/config.json", timeout=10) as r:
                assert r.status == 200 and server.running
    finally:
        for server in servers:
            server.stop()
    assert not list(servers[0].cache_dir.glob("olah-*"))  # each server's config and output go with it


def test_hub_id_comes_from_config_or_default_org(tmp_path):
    make_card(tmp_path, "unet.shapes", seeded_state(0))
    make_card(tmp_path, "foo.bar", seeded_state(0), hf_hub_id="acme/foo.bar")
    (tmp_path / "not-a-card").mkdir()
    assert [p.name for p in card_dirs(tmp_path)] == ["foo.bar", "unet.shapes"]
    assert card_hub_id(tmp_path / "foo.bar") == "acme/foo.bar"
    assert card_hub_id(tmp_path / "unet.shapes") in ("visionzoo/unet.shapes",)  # registry agrees or default
    (tmp_path / "foo.bar" / "config.json").write_text("[" * 100_000)  # RecursionError in json: a traceback before
    assert card_hub_id(tmp_path / "foo.bar") == "visionzoo/foo.bar"
    with pytest.raises(HubError, match="no such hub-cards directory"):
        card_dirs(tmp_path / "nope")


@pytest.mark.parametrize("bad_id", ["../../victim", "/abs/victim", "acme/../../victim", "no-slash", 7])
def test_a_cards_hub_id_never_reaches_outside_the_serve_cache(tmp_path, bad_id):
    """A served folder may come from anyone: its config.json's hf_hub_id becomes a folder path
    that build_repo replaces, so '../x' or an absolute path deleted folders outside the cache."""
    from zoo.hub_server import build_mirrors

    victim = tmp_path / "victim"
    (victim / "data").mkdir(parents=True)
    (victim / "data" / "file.txt").write_text("keep me")
    card, _ = make_card(tmp_path / "cards", "foo.bar", seeded_state(0))
    config = json.loads((card / "config.json").read_text())
    (card / "config.json").write_text(json.dumps({**config, "hf_hub_id": str(victim) if bad_id == "/abs/victim"
                                                  else bad_id}))
    serve = tmp_path / "serve" / "a" / "b"
    with pytest.raises(HubError, match="not a Hub repo id of the form 'org/name'"):
        build_mirrors(tmp_path / "cards", serve)
    assert (victim / "data" / "file.txt").read_text() == "keep me"
    assert not (tmp_path / "serve" / "victim").exists() and not list(tmp_path.glob("serve/**/.git"))


def test_olah_config_is_loopback_and_offline(tmp_path):
    config = tomllib.loads(write_config(tmp_path, 8123).read_text())
    assert config["basic"]["host"] == "127.0.0.1"
    assert config["basic"]["mirrors-path"] == [str(tmp_path / "mirrors"), str(tmp_path / f"olah-8123-{os.getpid()}.probe")]
    assert config["accessibility"]["offline"] is True


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP])  # SIGHUP: a closed terminal left olah serving
def test_serve_command_prints_endpoint_serves_cards_and_stops(tmp_path, stop):
    from huggingface_hub import hf_hub_download

    make_card(tmp_path / "cards", "hubtest_seg.toy", seeded_state(0), hf_hub_id="zoo-tests/hubtest_seg.toy")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "zoo.cli", "hub", "serve", str(tmp_path / "cards"), "--port", "0",
                             "--cache-dir", str(tmp_path / "serve")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, preexec_fn=_as_from_a_terminal)
    try:
        line = _endpoint_line(proc)
        endpoint = line.split("=", 1)[1]
        path = hf_hub_download("zoo-tests/hubtest_seg.toy", "config.json", endpoint=endpoint,
                               cache_dir=str(tmp_path / "hf"))
        assert json.loads(Path(path).read_text())["hf_hub_id"] == "zoo-tests/hubtest_seg.toy"
        proc.send_signal(stop)
        proc.communicate(timeout=30)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()  # waits, and closes the pipes
    # olah went with it: nothing answers on that port any more.
    host, port = endpoint.rsplit("/", 1)[1].split(":")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex((host, int(port))) != 0:
                break
        time.sleep(0.2)
    else:
        pytest.fail(f"olah still answers on {endpoint} after `zoo hub serve` stopped")


def _as_from_a_terminal() -> None:
    """(In the child, before exec.) A command started from a terminal: SIGHUP and SIGINT at their
    defaults, whatever the test run inherited (under nohup or as a shell's background job, ignored,
    and `zoo hub serve` keeps an ignored signal ignored)."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_serve_under_nohup_survives_a_hangup(tmp_path):
    """nohup ignores SIGHUP; `zoo hub serve` took it over, so `nohup zoo hub serve DIR &` stopped
    when the terminal closed (`zoo download` kept it ignored). SIGTERM still stops it."""

    def under_nohup():
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    make_card(tmp_path / "cards", "hubtest_seg.toy", seeded_state(0), hf_hub_id="zoo-tests/hubtest_seg.toy")
    proc = subprocess.Popen(_serve_command(tmp_path / "cards", 0, tmp_path / "serve"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            preexec_fn=under_nohup)
    try:
        _endpoint_line(proc)
        proc.send_signal(signal.SIGHUP)
        time.sleep(3)  # the serving loop looks at its stop flag every second
        assert proc.poll() is None, proc.communicate()[1]
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        assert proc.returncode == 0
    finally:
        _stop(proc)


def test_serving_a_folder_without_cards_says_so(tmp_path):
    """It served nothing in silence: every download was a HubNotFoundError, found out later."""
    import signal

    (tmp_path / "photos").mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "zoo.cli", "hub", "serve", str(tmp_path / "photos"), "--port",
                             "0", "--cache-dir", str(tmp_path / "serve")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        _endpoint_line(proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert f"zoo: warning: {tmp_path / 'photos'} holds no hub cards" in err


def test_the_served_hubcards_fixture_finds_a_plugin_authors_cards_when_the_zoo_is_installed(tmp_path, monkeypatch):
    """Installed (no source tree beside the zoo package), the fixture looked in site-packages and
    skipped, while every zoo command found ./hubcards."""
    import zoo.card_folders
    from zoo.testing.hub_fixture import source_hubcards

    monkeypatch.delenv("ZOO_HUBCARDS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(zoo.card_folders, "source_hubcards_dir", lambda: None)  # as from a wheel
    assert source_hubcards() == tmp_path / "hubcards"
    monkeypatch.undo()
    monkeypatch.delenv("ZOO_HUBCARDS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hubcards").mkdir()
    assert source_hubcards() == tmp_path / "hubcards"  # beside an editable zoo too: the author's own cards


def test_the_served_hubcards_fixture_serves_the_cards_the_checks_read_when_run_from_tests(tmp_path, monkeypatch):
    """pytest run from a plugin project's tests/ served the zoo's own cards, while the pretrained
    checks read the project's hubcards/ (found up to the project's root)."""
    from zoo.testing.hub_fixture import source_hubcards

    monkeypatch.delenv("ZOO_HUBCARDS_DIR", raising=False)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'acme-zoo'\n")
    (tmp_path / "hubcards").mkdir()
    (tmp_path / "tests").mkdir()
    monkeypatch.chdir(tmp_path / "tests")
    assert source_hubcards() == tmp_path / "hubcards"


def test_a_server_start_clears_dead_servers_files_and_names_an_unusable_cache(tmp_path):
    """A SIGKILLed server's olah-PORT-PID files stayed for good; an unusable --cache-dir gave the
    bare OS error. The olah pid a dead server recorded may have been reused: that process is
    not olah with the dead server's config, and is left alone."""
    from zoo.hub_server import HubServer

    make_card(tmp_path / "cards", "hubtest_seg.toy", seeded_state(0))
    server = HubServer(tmp_path / "cards", cache_dir=tmp_path / "cache")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    server.cache_dir.mkdir(parents=True)
    dead = server.cache_dir / f"olah-18001-{gone.pid}.toml"
    live = server.cache_dir / f"olah-18002-{os.getppid()}.toml"
    died_before_olah = server.cache_dir / f"olah-18003-{gone.pid}.toml"  # no olah pid recorded
    for path in (dead, live, died_before_olah):
        path.write_text("# left behind\n")
    reused = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    dead.with_suffix(".pid").write_text(f"{reused.pid}\n")
    try:
        with server:
            assert not dead.exists() and not dead.with_suffix(".pid").exists() and live.exists()
            assert not died_before_olah.exists()
            assert reused.poll() is None
    finally:
        reused.kill()
        reused.wait()
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    with pytest.raises(HubError, match="pass --cache-dir .*ZOO_CACHE_DIR"):
        HubServer(tmp_path / "cards", cache_dir=blocked).start()


def _endpoint_line(proc: subprocess.Popen, timeout: float = 120) -> str:
    """The ``export HF_ENDPOINT=http://127.0.0.1:PORT`` line a ``zoo hub serve`` process prints first.
    Anything else, or nothing within ``timeout`` s, fails the test after killing the process:
    reading the stderr of a server still running blocked the run for good."""
    import select

    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith("export HF_ENDPOINT=http://127.0.0.1:"):
        proc.kill()
        pytest.fail(f"zoo hub serve printed {line!r} instead of its endpoint; its stderr: {proc.communicate()[1]}")
    return line.strip()


def _serve_command(cards: Path, port: int, cache: Path) -> list[str]:
    return [sys.executable, "-m", "zoo.cli", "hub", "serve", str(cards), "--port", str(port), "--cache-dir", str(cache)]


def test_two_servers_started_at_once_on_one_port_one_serves_and_the_other_fails_cleanly(tmp_path):
    """Both passed the port check before either olah had bound the port: the loser's olah failed
    to bind it, and its zoo took the winner's olah for its own (it printed the export line, then
    exited 3 with olah's traceback), or said only 'olah exited at start' with a page of output."""
    import urllib.request

    from zoo.hub_server import HubServer, build_mirrors, free_port

    make_card(tmp_path / "cards", "hubtest_seg.toy", seeded_state(0), hf_hub_id="zoo-tests/hubtest_seg.toy")
    served = HubServer(tmp_path / "cards", cache_dir=tmp_path / "serve").cache_dir
    build_mirrors(tmp_path / "cards", served)  # both servers reuse it, so they reach the port in step
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = [subprocess.Popen(_serve_command(tmp_path / "cards", port, tmp_path / "serve"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    try:
        deadline = time.monotonic() + 90
        while all(p.poll() is None for p in procs) and time.monotonic() < deadline:
            time.sleep(0.1)
        (loser,) = [p for p in procs if p.poll() is not None]
        (winner,) = [p for p in procs if p is not loser]
        out, err = loser.communicate(timeout=30)
        assert loser.returncode == 3 and out == "", err  # it announced nothing
        errors = [line for line in err.splitlines() if line.startswith("zoo: error:")]
        assert errors == [f"zoo: error: port {port} on 127.0.0.1 is already in use (another `zoo hub serve`?); "
                          "pass another --port (0 takes a free one), or stop the server that uses it"], err
        assert "Traceback" not in err
        assert winner.stdout.readline().strip() == f"export HF_ENDPOINT=http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/zoo-tests/hubtest_seg.toy/resolve/main/config.json",
                                    timeout=10) as answer:
            assert answer.status == 200 and winner.poll() is None
        assert {p.name.split(".")[0] for p in served.glob("olah-*")} == {f"olah-{port}-{winner.pid}"}  # none of the loser's
        winner.send_signal(signal.SIGTERM)
        winner.communicate(timeout=30)
        assert winner.returncode == 0
    finally:
        for proc in procs:
            _stop(proc)
    assert not list(served.glob("olah-*"))


def _stop(proc: subprocess.Popen) -> None:
    """Stop a `zoo hub serve` of a failed test as SIGTERM does (a SIGKILL would leave its olah running;
    SIGINT may be ignored where the test run is a background job, and the server keeps it ignored)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.communicate()


def _processes_running(config: Path) -> list[int]:
    """The pids whose command line names ``config`` (a zombie's is empty: it runs nothing)."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if os.fsencode(config) in cmdline.read_bytes().split(b"\0"):
                pids.append(int(cmdline.parent.name))
    return pids


@pytest.mark.skipif(not Path("/proc/self/cmdline").is_file(), reason="finds olah by its command line in /proc")
@pytest.mark.parametrize("spelling", ["as given", "through a link", "with .."])
def test_the_next_server_stops_the_olah_a_sigkilled_server_left_running(tmp_path, spelling):
    """olah runs in its own session, so SIGKILL of `zoo hub serve` left it serving (and holding the
    port) for good; the next server of that cache removed the dead server's files, not its olah,
    and took a killed server that its parent had not collected yet (a zombie) for a live one. A
    next server naming the cache another way left the orphan running and removed its files."""
    from zoo.hub_server import HubServer

    next_cache = {"as given": tmp_path / "serve", "through a link": tmp_path / "link",
                  "with ..": tmp_path / "cards" / ".." / "serve"}[spelling]
    (tmp_path / "link").symlink_to(tmp_path / "serve", target_is_directory=True)

    make_card(tmp_path / "cards", "hubtest_seg.toy", seeded_state(0))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(_serve_command(tmp_path / "cards", 0, tmp_path / "serve"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    olah = None
    try:
        line = _endpoint_line(proc)
        port = int(line.rsplit(":", 1)[1])
        served = HubServer(tmp_path / "cards", cache_dir=tmp_path / "serve").cache_dir
        config = served / f"olah-{port}-{proc.pid}.toml"
        (olah,) = _processes_running(config)
        os.kill(proc.pid, signal.SIGKILL)  # not collected yet: a zombie, as under an init that never collects
        deadline = time.monotonic() + 30
        while Path(f"/proc/{proc.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
            assert time.monotonic() < deadline, "the killed server did not exit"
            time.sleep(0.05)
        assert _processes_running(config) == [olah]  # the orphan
        with HubServer(tmp_path / "cards", cache_dir=next_cache):
            assert _processes_running(config) == []
            assert not list(served.glob(f"olah-{port}-{proc.pid}*"))
            with socket.socket() as s:
                assert s.connect_ex(("127.0.0.1", port)) != 0  # its port is free again
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
        if olah is not None:  # never leave the orphan of a failed run behind
            with contextlib.suppress(ProcessLookupError):
                os.killpg(olah, signal.SIGKILL)


def test_a_relative_cache_dir_serves(tmp_path, monkeypatch):
    """olah runs in the cache dir: it looked for its config (named relative to the caller's
    folder) there, and `zoo hub serve --cache-dir rel` failed with olah's traceback."""
    from zoo.hub_server import HubServer

    make_card(tmp_path / "cards", "hubtest_seg.toy", seeded_state(0))
    monkeypatch.chdir(tmp_path)
    with HubServer(Path("cards"), cache_dir=Path("rel-cache")) as server:
        assert server.running and server.cache_dir.parent == tmp_path / "rel-cache"


@pytest.mark.parametrize("host, says", [("192.0.2.1", "Cannot assign requested address"),  # TEST-NET-1: not ours
                                        ("no.such.host.invalid", "")])
def test_a_host_no_server_could_listen_on_is_named_not_taken_for_a_busy_port(tmp_path, capsys, host, says):
    """Any bind error read as "port in use": --host 192.0.2.1 was told to pick another --port."""
    from zoo.cli import main

    make_card(tmp_path / "cards", "hubtest_seg.toy", seeded_state(0))
    code = main(["hub", "serve", str(tmp_path / "cards"), "--host", host, "--port", "8097",
                 "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code == 3 and f"cannot listen on {host}:8097 ({says}" in err, err
    assert f"zoo: warning: binding {host}: every hub card becomes readable from the network" in err
    assert "pass a --host naming an address of this machine" in err and "in use" not in err
    assert not list((tmp_path / "cache").rglob("olah-*")), "no server files are left behind"


@pytest.mark.parametrize("port", [70000, -1])
def test_a_port_out_of_range_is_a_usage_error(tmp_path, capsys, port):
    """bind() raised OverflowError: a traceback and exit 1."""
    from zoo.cli import main
    from zoo.hub_server import HubServer

    make_card(tmp_path / "cards", "hubtest_seg.toy", seeded_state(0))
    assert main(["hub", "serve", str(tmp_path / "cards"), "--port", str(port), "--cache-dir", str(tmp_path / "c")]) == 2
    assert f"zoo hub serve: error: --port must be in 0-65535 (0 takes a free one), got {port}" in capsys.readouterr().err
    with pytest.raises(HubError, match=f"port {port} is not a port number"):
        HubServer(tmp_path / "cards", port=port, cache_dir=tmp_path / "c").start()


def test_every_loopback_address_is_loopback():
    from zoo.hub_server import is_loopback

    assert all(map(is_loopback, ["127.0.0.1", "127.0.0.2", "localhost", "::1", "LOCALHOST", "localhost.", "[::1]",
                                 "::ffff:127.0.0.1"]))
    assert not any(map(is_loopback, ["0.0.0.0", "192.0.2.1", "example.org", "::"]))


def test_an_orphan_given_its_config_as_a_relative_path_is_recognised(tmp_path):
    from zoo.hub_server_files import _runs

    config = tmp_path / "olah-1-2.toml"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "--config", config.name],
                             cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while b"--config" not in Path(f"/proc/{other.pid}/cmdline").read_bytes() and time.monotonic() < deadline:
            time.sleep(0.01)  # until it has exec'd
        assert _runs(other.pid, tmp_path / "." / config.name)
        assert not _runs(other.pid, tmp_path / "olah-1-3.toml")
    finally:
        other.kill()
        other.wait()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to look as another user")
def test_another_users_orphan_is_still_recognised(tmp_path):
    """Recognising the orphan read its working folder too, which /proc keeps from other users: the
    server then took a live olah for gone and removed its files."""
    config = tmp_path / "olah-1-2.toml"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "--config", str(config)],
                             cwd=tmp_path)
    try:
        probe = f"from zoo.hub_server_files import _runs; print(_runs({other.pid}, {str(config)!r}))"
        seen = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                               probe], capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
        assert seen.stdout.strip() == "True", seen.stderr
    finally:
        other.kill()
        other.wait()


def test_a_hidden_folder_in_hubcards_is_no_card(tmp_path):
    make_card(tmp_path, "unet.shapes", seeded_state(0))
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".git").mkdir()
    assert [p.name for p in card_dirs(tmp_path)] == ["unet.shapes"]


def test_the_commit_changes_with_a_files_name_or_mode_and_large_files_are_lfs(tmp_path):
    """The served commit depends on each file's path, mode and bytes; a file of 1 MiB or more is
    an LFS object whatever its suffix, as on the real Hub."""
    card, _ = make_card(tmp_path / "cards", "hubtest_seg.toy", seeded_state(0))
    (card / "notes.txt").write_text("notes\n")
    (card / "example.bin").write_bytes(bytes(1 << 20))
    first = build_repo(card, tmp_path / "repo")
    pointer = (tmp_path / "repo" / "example.bin").read_text()
    assert pointer.startswith("version https://git-lfs.github.com/spec/v1\n") and f"size {1 << 20}\n" in pointer
    (card / "notes.txt").chmod(0o755)
    executable = build_repo(card, tmp_path / "repo")
    assert executable != first
    (card / "notes.txt").rename(card / "readme.txt")
    assert build_repo(card, tmp_path / "repo") not in (first, executable)


def test_two_cards_served_under_one_hub_id_are_refused(tmp_path):
    from zoo.hub_server import build_mirrors

    make_card(tmp_path / "cards", "foo.bar", seeded_state(0), hf_hub_id="acme/model")
    make_card(tmp_path / "cards", "foo.baz", seeded_state(1), hf_hub_id="acme/model")
    with pytest.raises(HubError, match="two hub cards map to acme/model; rename one of them"):
        build_mirrors(tmp_path / "cards", tmp_path / "serve")


def test_two_served_folders_of_one_name_do_not_share_repositories(tmp_path):
    """The serve cache is one folder per served folder: two checkouts' hubcards/ must not rebuild
    each other's repositories."""
    from zoo.hub_server import served_dir

    first, second = served_dir(tmp_path / "cache", tmp_path / "a" / "hubcards"), \
        served_dir(tmp_path / "cache", tmp_path / "b" / "hubcards")
    assert first != second and first.parent == second.parent == tmp_path / "cache"


def test_a_registered_tag_is_served_under_its_registered_hub_id(tmp_path):
    """zoo.create asks for the registered PretrainedCfg.hf_hub_id: a card is served there even when
    its config.json names another repo or none."""
    from zoo.testing.hub_fixture import register_hubtest

    card, sha = make_card(tmp_path, "hubtest_seg.toy", seeded_state(0), hf_hub_id="acme/elsewhere")
    register_hubtest({"toy": dict(hf_hub_id="zoo-tests/hubtest_seg.toy", sha256=sha, num_classes=3)})
    assert card_hub_id(card) == "zoo-tests/hubtest_seg.toy"


def test_serve_exits_3_naming_the_log_when_its_olah_dies(tmp_path):
    """A server whose olah has gone must not go on printing nothing while every download fails."""
    make_card(tmp_path / "cards", "hubtest_seg.toy", seeded_state(0))
    proc = subprocess.Popen(_serve_command(tmp_path / "cards", 0, tmp_path / "serve"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        _endpoint_line(proc)
        (pid_file,) = (tmp_path / "serve").glob("*/olah-*.pid")
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 3 and "zoo: error: olah stopped; see " in err, err
        log = Path(err.split("olah stopped; see ", 1)[1].split()[0])
        assert log.is_file()  # a server whose olah died keeps its output: the reason is in there
    finally:
        _stop(proc)


def test_olah_is_told_an_ipv6_host_in_brackets(tmp_path):
    config = tomllib.loads(write_config(tmp_path, 8123, host="::1").read_text())
    assert config["basic"]["host"] == "::1"
    assert config["basic"]["mirror-netloc"] == config["basic"]["mirror-lfs-netloc"] == "[::1]:8123"


def test_a_failed_build_leaves_no_half_built_repository(tmp_path):
    card, _ = make_card(tmp_path / "cards", "hubtest_seg.toy", seeded_state(0))
    (tmp_path / "serve").mkdir()
    (tmp_path / "serve" / "repo").write_text("a file where the repository goes")
    with pytest.raises(OSError):
        build_repo(card, tmp_path / "serve" / "repo")
    assert sorted(p.name for p in (tmp_path / "serve").iterdir()) == ["repo"]


def test_another_program_answering_on_the_port_is_not_taken_for_the_servers_olah(tmp_path, monkeypatch):
    """The port is checked free before olah starts, but another program may bind it in between
    (simulated here by skipping the check): its answers, whatever commit they name, are not this
    server's probe, so the start fails instead of reporting a hub that is not there."""
    import http.server
    import threading

    import zoo.hub_server
    from zoo.hub_server import HubServer

    class AnyRepo(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"sha": "0" * 40}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AnyRepo)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    make_card(tmp_path / "cards", "hubtest_seg.toy", seeded_state(0))
    monkeypatch.setattr(zoo.hub_server, "port_in_use", lambda host, port: False)
    server = HubServer(tmp_path / "cards", port=other.server_address[1], cache_dir=tmp_path / "serve",
                       startup_timeout=30)
    try:
        with pytest.raises(HubError, match="olah exited at start"):
            server.start()
    finally:
        server.stop()
        other.shutdown()
        other.server_close()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to clear as another user")
def test_another_users_orphan_keeps_its_files_and_is_named(tmp_path):
    """A dead server's olah that the user may not stop keeps serving: its files stay, for a server that
    may stop it (its owner's), and the user is told which pid to ask about. A live server of another
    user (signal 0 is refused) is no dead one."""
    import tempfile

    cache = Path(tempfile.mkdtemp(prefix="zoo-orphans-"))  # under /tmp: tmp_path is not another user's to read
    try:
        cache.chmod(0o777)
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        config = cache / f"olah-18004-{gone.pid}.toml"
        config.write_text("# left behind\n")
        olah = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "-c", str(config)],
                                start_new_session=True)  # root's: not the other user's to stop
        deadline = time.monotonic() + 30
        cmdline = Path(f"/proc/{olah.pid}/cmdline")
        while str(config).encode() not in cmdline.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.01)  # until it has exec'd
        config.with_suffix(".pid").write_text(f"{olah.pid}\n")
        live = cache / f"olah-18005-{os.getpid()}.toml"  # this process: to the other user, someone else's live server
        live.write_text("# serving\n")
        try:
            code = f"from zoo.hub_server_files import clear_dead_servers; clear_dead_servers({str(cache)!r})"
            result = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable,
                                     "-c", code], capture_output=True, text=True,
                                    env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
            assert f"it is not yours to stop: ask its owner to kill {olah.pid}" in result.stderr, result.stderr
            assert olah.poll() is None and config.exists() and config.with_suffix(".pid").exists()
            assert live.exists()
        finally:
            olah.kill()
            olah.wait()
    finally:
        shutil.rmtree(cache)
