"""The embedded offline hub: hub-card folders served as Hugging Face repos by olah on loopback.

Why: machines without internet (CI, air-gapped sites, this project's own tests) still need
``zoo.create(..., pretrained=True)`` to go through the real ``huggingface_hub`` client. olah
(PyPI) serves local git repositories as Hub repos (``mirrors-path``, ``offline = true``); this
module turns every ``hubcards/<arch>.<tag>/`` folder into such a repository and runs olah.

Each repository has exactly one commit whose author, committer and dates are fixed, so its
commit sha depends only on the card's files: the same card gives the same sha on every
machine, and a plugin may pin it as ``revision``. Weight files (``*.safetensors`` and anything
over 1 MiB) are stored as git-LFS objects, as on the real Hub, so the cache names their blobs
by sha256.

Each server also serves a one-file probe repository ``zoo-serve-probe/<random>`` that only its
own olah has: the server is ready when that repository's commit answers on the port. Any other
answer (another server's olah, serving the same cards, or any other program) is not taken for
its own; if its olah then exits, the port was taken first and the start fails saying so.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from zoo.cache_dir import zoo_cache_dir
from zoo.cards import card_files
from zoo.errors import HubError
from zoo.extras import require
from zoo.hub import sha256_of
from zoo.hub_server_files import clear_dead_servers, record_olah, remove_run_files, run_file
from zoo.specs import first_party_hub_id, is_hub_id

LFS_MIN_SIZE = 1 << 20
_GIT_DATE = "2000-01-01T00:00:00+0000"


def default_cache_dir() -> Path:
    return zoo_cache_dir() / "hub-serve"


# ----------------------------------------------------------------------------- cards -> git repos
def card_dirs(hubcards_dir: str | Path) -> list[Path]:
    """The ``<arch>.<tag>`` folders of a hub-cards directory, sorted."""
    root = Path(hubcards_dir)
    if not root.is_dir():
        raise HubError(f"{root}: no such hub-cards directory")
    return sorted(p for p in root.iterdir() if p.is_dir() and "." in p.name and not p.name.startswith("."))


def card_hub_id(card_dir: str | Path) -> str:
    """The Hub repo id a card is served under.

    The registry's ``PretrainedCfg.hf_hub_id`` for ``<arch>.<tag>`` when it is registered (that
    is what ``zoo.create`` will ask for), else ``hf_hub_id`` in the card's config.json, else
    ``visionzoo/<arch>.<tag>``. The id becomes a folder path, so one in config.json that is not
    ``org/name`` (``../x``, ``/abs``) is refused rather than served from outside the cache.
    """
    from zoo.errors import AmbiguousNameError
    from zoo.registry import get_registry

    card_dir = Path(card_dir)
    try:
        cfg = get_registry().pretrained_cfg_of_card(card_dir.name)
    except AmbiguousNameError as exc:  # served all the same, under the card's own id
        warnings.warn(f"{card_dir.name}: {exc} Served under its config.json hf_hub_id (or the default) instead.",
                      stacklevel=2)
        cfg = None
    if cfg is not None:
        return cfg.hf_hub_id
    config = card_dir / "config.json"
    hub_id = None
    with contextlib.suppress(OSError, ValueError, AttributeError, RecursionError):
        hub_id = json.loads(config.read_text()).get("hf_hub_id")
    if hub_id is None:
        return first_party_hub_id(card_dir.name)
    if not is_hub_id(hub_id):
        raise HubError(f"{config}: hf_hub_id {hub_id!r} is not a Hub repo id of the form 'org/name'; "
                       "correct it, or remove it to serve the card as "
                       f"{first_party_hub_id(card_dir.name)}")
    return hub_id


def _fingerprint(card_dir: Path, files: list[Path]) -> str:
    """What the served commit depends on: each of the card's ``files``, its mode and its bytes."""
    digest = hashlib.sha256()
    for path in files:
        rel = path.relative_to(card_dir).as_posix()
        digest.update(f"{rel}\0{os.access(path, os.X_OK)}\0{sha256_of(path)}\n".encode())
    return digest.hexdigest()


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_AUTHOR_NAME": "visionzoo", "GIT_AUTHOR_EMAIL": "hub@visionzoo.invalid",
           "GIT_COMMITTER_NAME": "visionzoo", "GIT_COMMITTER_EMAIL": "hub@visionzoo.invalid",
           "GIT_AUTHOR_DATE": _GIT_DATE, "GIT_COMMITTER_DATE": _GIT_DATE}
    result = subprocess.run(["git", "-c", "commit.gpgsign=false", "-c", "core.autocrlf=false", *args],
                            cwd=repo, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise HubError(f"git {' '.join(args)} failed in {repo}: {result.stderr.strip()}")
    return result.stdout.strip()


def build_repo(card_dir: str | Path, repo_dir: str | Path) -> str:
    """Make ``repo_dir`` a git repository holding ``card_dir``'s files in one deterministic commit.

    Reused as is when the card has not changed. Returns the commit sha.
    """
    card_dir, repo_dir = Path(card_dir), Path(repo_dir)
    files = card_files(card_dir)  # listed once: each listing opens every file to refuse pickles
    fingerprint = _fingerprint(card_dir, files)
    stamp = repo_dir / ".git" / "zoo-fingerprint"
    if stamp.is_file() and stamp.read_text() == fingerprint:
        return _git(repo_dir, "rev-parse", "HEAD")
    repo_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{repo_dir.name}.", dir=repo_dir.parent))
    try:
        _git(work, "init", "-q", "-b", "main", ".")
        for path in files:
            rel = path.relative_to(card_dir)
            dest = work / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".safetensors" or path.stat().st_size >= LFS_MIN_SIZE:
                oid = sha256_of(path)
                obj = work / ".git" / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
                obj.parent.mkdir(parents=True, exist_ok=True)
                _link_or_copy(path, obj)
                dest.write_text(f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\n"
                                f"size {path.stat().st_size}\n")
            else:
                shutil.copy2(path, dest)
        _git(work, "add", "-A")
        _git(work, "commit", "-q", "--allow-empty", "-m", f"hub card {card_dir.name}")
        (work / ".git" / "zoo-fingerprint").write_text(fingerprint)
        if repo_dir.exists():
            shutil.rmtree(repo_dir)
        os.replace(work, repo_dir)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return _git(repo_dir, "rev-parse", "HEAD")


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def build_mirrors(hubcards_dir: str | Path, cache_dir: str | Path) -> dict[str, str]:
    """Build (or reuse) one repository per card under ``<cache_dir>/mirrors/models/<org>/<name>``,
    and remove the repositories of cards no longer in ``hubcards_dir`` (olah serves whatever the
    folder holds). Returns ``{hub_id: commit_sha}``. A lock keeps two servers on one cache from racing.
    """
    import shutil

    from filelock import FileLock

    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    models = cache_dir / "mirrors" / "models"
    repos: dict[str, str] = {}
    with FileLock(str(cache_dir / ".build.lock")):
        for card in card_dirs(hubcards_dir):
            hub_id = card_hub_id(card)
            if hub_id in repos:
                raise HubError(f"two hub cards map to {hub_id}; rename one of them ({card})")
            repo_dir = models / hub_id
            if repo_dir.resolve().parent.parent != models.resolve():  # build_repo replaces it
                raise HubError(f"{card}: repo id {hub_id!r} would be served from outside {models}")
            repos[hub_id] = build_repo(card, repo_dir)
        for stale in (repo for repo in models.glob("*/*") if repo.relative_to(models).as_posix() not in repos):
            shutil.rmtree(stale, ignore_errors=True)
    return repos


def served_dir(cache_dir: str | Path, hubcards_dir: str | Path) -> Path:
    """The folder under ``cache_dir`` for serving ``hubcards_dir``: one per served folder, so a
    second server of another folder never rebuilds the repositories a running one serves."""
    folder = Path(hubcards_dir).resolve()
    return Path(cache_dir) / f"{folder.name}-{hashlib.sha256(str(folder).encode()).hexdigest()[:10]}"


# ----------------------------------------------------------------------------- olah
def write_config(cache_dir: str | Path, port: int, host: str = "127.0.0.1") -> Path:
    """The olah TOML config: serve ``<cache_dir>/mirrors`` and this server's probe offline on ``host:port``."""
    cache_dir = Path(cache_dir)
    probe = run_file(cache_dir, port, ".probe")
    netloc = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    text = "\n".join([
        "# written by `zoo hub serve`; olah serves the git repositories under mirrors-path",
        "[basic]",
        f"host = {json.dumps(host)}",
        f"port = {port}",
        f"repos-path = {json.dumps(str(cache_dir / 'olah-repos'))}",
        f"mirrors-path = [{json.dumps(str(cache_dir / 'mirrors'))}, {json.dumps(str(probe))}]",
        'mirror-scheme = "http"',
        f"mirror-netloc = {json.dumps(netloc)}",
        f"mirror-lfs-netloc = {json.dumps(netloc)}",
        "",
        "[accessibility]",
        "offline = true",
        "",
    ])
    path = run_file(cache_dir, port, ".toml")
    path.write_text(text)
    return path


def build_probe(cache_dir: str | Path, port: int) -> tuple[str, str]:
    """This server's probe repository (:func:`run_file` ``.probe``, a mirrors-path of its own): a
    random name and content, so no other process answers its ``(hub_id, commit)``."""
    token = secrets.token_hex(8)
    hub_id = f"zoo-serve-probe/{token}"
    probe = run_file(cache_dir, port, ".probe")
    shutil.rmtree(probe, ignore_errors=True)
    repo = probe / "models" / hub_id
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main", ".")
    (repo / "README.md").write_text(f"The `zoo hub serve` probe {token}: the server's own olah answers it.\n")
    _git(repo, "add", "README.md")
    _git(repo, "commit", "-q", "-m", "probe")
    return hub_id, _git(repo, "rev-parse", "HEAD")


def served_commit(endpoint: str, hub_id: str) -> str | None:
    """The commit ``endpoint`` names for ``hub_id`` at main, or None (no answer, or another kind)."""
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback never goes through one
    try:
        with no_proxy.open(f"{endpoint}/api/models/{hub_id}/revision/main", timeout=2) as answer:
            return json.load(answer).get("sha")
    except (OSError, ValueError, AttributeError):  # HTTPError is an OSError
        return None


def port_taken_error(host: str, port: int) -> HubError:
    return HubError(f"port {port} on {host} is already in use (another `zoo hub serve`?); pass another --port "
                    "(0 takes a free one), or stop the server that uses it")


def is_loopback(host: str) -> bool:
    """Whether ``host`` reaches this machine only: ``localhost``, 127.0.0.0/8, ::1 (also written
    ``[::1]``, or IPv4-mapped ``::ffff:127.0.0.1``)."""
    host = host.strip("[]").rstrip(".").lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # a host name
        return host == "localhost"
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        _bind(s, host, 0)
        return s.getsockname()[1]


def port_in_use(host: str, port: int) -> bool:
    """Whether something listens on ``host:port`` (a closed connection in TIME_WAIT does not count).
    A host or port no server could listen on is a :class:`HubError` saying so."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            _bind(s, host, port)
        except _PortInUse:
            return True
    return False


class _PortInUse(Exception):
    pass


def _bind(s: socket.socket, host: str, port: int) -> None:
    if not 0 <= port <= 65535:
        raise HubError(f"port {port} is not a port number: pass one in 0-65535 (0 takes a free one)")
    try:
        s.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise _PortInUse from exc
        hint = ("a --port above 1023, or run with the right to bind it" if exc.errno == errno.EACCES
                else "a --host naming an address of this machine (default 127.0.0.1)")
        raise HubError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pass {hint}") from exc


def _olah_command(config: Path, log_dir: Path) -> list[str]:
    script = Path(sys.executable).with_name("olah-cli")
    if script.is_file():
        head = [str(script)]
    elif shutil.which("olah-cli"):
        head = [shutil.which("olah-cli")]
    else:
        head = [sys.executable, "-c", "import sys; from olah.server import cli; sys.argv[0] = 'olah-cli'; cli()"]
    return [*head, "-c", str(config), "--log-path", str(log_dir)]


@dataclass
class HubServer:
    """olah serving a hub-cards directory. Use as a context manager, or ``start()``/``stop()``."""

    hubcards_dir: Path
    port: int = 0
    cache_dir: Path | None = None
    host: str = "127.0.0.1"
    startup_timeout: float = 90.0
    repos: dict[str, str] = field(default_factory=dict)
    _process: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.hubcards_dir = Path(self.hubcards_dir)
        # absolute: olah runs in the cache dir and reads its config by this path
        self.cache_dir = served_dir(Path(self.cache_dir or default_cache_dir()).absolute(), self.hubcards_dir)

    @property
    def endpoint(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    @property
    def log_file(self) -> Path:
        """olah's output (:func:`run_file`); removed by a clean :meth:`stop`."""
        return run_file(self.cache_dir, self.port, ".out")

    def _output_tail(self) -> str:
        return self.log_file.read_text(errors="replace")[-2000:] if self.log_file.is_file() else ""

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> "HubServer":
        """Build the repositories and start olah; return once this server's own olah answers."""
        if self.running:
            return self
        require("serve", "olah", purpose="`zoo hub serve`")
        try:
            self.repos = build_mirrors(self.hubcards_dir, self.cache_dir)
        except OSError as exc:
            if isinstance(exc, HubError):
                raise
            raise HubError(f"cannot build the served repositories in {self.cache_dir} ({exc}); pass --cache-dir "
                           "(or set ZOO_CACHE_DIR) to a writable folder") from exc
        clear_dead_servers(self.cache_dir)
        if not self.port:
            self.port = free_port(self.host)
        elif port_in_use(self.host, self.port):
            raise port_taken_error(self.host, self.port)
        try:
            probe = build_probe(self.cache_dir, self.port)
            config = write_config(self.cache_dir, self.port, self.host)
            with open(self.log_file, "ab") as log:
                self._process = subprocess.Popen(
                    _olah_command(config, self.cache_dir / "logs"), cwd=self.cache_dir, stdout=log,
                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            record_olah(self.cache_dir, self.port, self._process.pid)
            self._wait_ready(*probe)
        except BaseException:
            if self._process is None:  # olah never started: nothing of it to keep
                remove_run_files(self.cache_dir, self.port)
            self.stop()  # its output stays when it died at start: the reason is in there
            raise
        return self

    def _wait_ready(self, probe_id: str, probe_commit: str) -> None:
        """Until this server's probe answers: another process on the port is never taken for its olah."""
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                if port_in_use(self.host, self.port):  # taken after the check, before olah could bind it
                    self.log_file.unlink(missing_ok=True)  # the error says it all
                    raise port_taken_error(self.host, self.port)
                raise HubError(f"olah exited at start; see {self.log_file}. Its output:\n{self._output_tail()}")
            if served_commit(self.endpoint, probe_id) == probe_commit:
                return
            time.sleep(0.2)
        raise HubError(f"olah did not answer on {self.endpoint} within {self.startup_timeout:g} s. Its output:\n"
                       f"{self._output_tail()}")

    def stop(self) -> None:
        """Stop olah (SIGTERM, then SIGKILL after 10 s). The port can be reused by ``start()``.

        Its files go (:mod:`zoo.hub_server_files`), but for its output when it had died by itself
        (the reason is in there)."""
        process, self._process = self._process, None
        if process is None:
            return
        died = process.poll() is not None
        if not died:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        remove_run_files(self.cache_dir, self.port, keep_output=died)

    def kill(self) -> None:
        """Stop olah abruptly (SIGKILL), as a crash or a pulled cable would."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def __enter__(self) -> "HubServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def serve(hubcards_dir: str | Path = "hubcards", *, port: int = 0, cache_dir: str | Path | None = None,
          host: str = "127.0.0.1") -> HubServer:
    """``with serve("hubcards") as hub: os.environ["HF_ENDPOINT"] = hub.endpoint``."""
    return HubServer(Path(hubcards_dir), port=port, cache_dir=cache_dir, host=host)
