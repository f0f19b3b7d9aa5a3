"""Fetching pretrained weight files from the Hugging Face Hub (or any HF-compatible mirror).

Everything goes through ``huggingface_hub`` (its cache layout, locks, tokens and progress
bars), so a file fetched by the zoo is shared with every other HF tool. What the zoo adds:

- settings are read from the environment at call time (``HF_ENDPOINT``, ``HF_HOME`` /
  ``HF_HUB_CACHE``, ``HF_HUB_OFFLINE``, ``HF_HUB_ETAG_TIMEOUT``), not only at import;
- one quick metadata probe without back-off first, so an unreachable, hanging or failing
  endpoint gives a clear error within the timeout instead of minutes of back-off (a busy one,
  answering 408, 429, 500, 502, 503 or 504, is asked twice more, a few seconds apart, when nothing
  cached could stand in);
- the probe's commit id and ETag must be plain names (no path separator, ``..``): huggingface_hub
  makes cache paths of them;
- typed errors (:mod:`zoo.errors`) that name the repo, file, revision and endpoint and say
  what to set, with any token redacted;
- the pinned sha256 is checked before the file is used; a mismatching file is evicted from
  the cache (blob and snapshot link) so the next call downloads it again. A file that passed
  is not hashed again until it changes, in this process or a later one (:mod:`zoo.checked_files`).
  Without a pinned sha256 (another revision, timm's tags) a safetensors file's header is checked
  instead, with the same eviction: a bad download never sticks in the cache.

The cache folder's refs, snapshots and eviction are :mod:`zoo.hub_cache`; what an endpoint's
errors mean is :mod:`zoo.hub_errors`.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from zoo import checked_files, hf_constants
from zoo.errors import (
    ArgumentError,
    ChecksumError,
    HubAuthError,
    HubDownloadError,
    HubEntryNotFoundError,
    HubError,
    HubNotFoundError,
    HubOfflineError,
    HubRevisionNotFoundError,
    HubUnavailableError,
    WeightsError,
)
from zoo.hub_cache import (
    cached_at,
    cached_commits,
    evict,
    from_cache,
    read_ref,
    ref_path,
    restore_ref,
    snapshot_commit,
    snapshot_file,
)
from zoo.hub_errors import (
    again_on_dropped_connection,
    again_while_busy,
    classify_http,
    redact,
    server_unavailable,
    transport_reason,
    unavailable_message,
    what,
)
from zoo.specs import PretrainedCfg, hub_path_problem

logger = logging.getLogger("zoo.hub")

DEFAULT_ENDPOINT = "https://huggingface.co"
DEFAULT_ETAG_TIMEOUT = 10
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
TIMEOUT_VARIABLES = ("HF_HUB_ETAG_TIMEOUT", "HF_HUB_DOWNLOAD_TIMEOUT")
COMMIT_RE = re.compile(r"[0-9a-f]{40}")
_TRUE = {"1", "on", "yes", "true"}


@dataclass(frozen=True)
class HubSettings:
    """The huggingface_hub settings in force for one call, read from the environment."""

    endpoint: str
    cache_dir: str
    offline: bool
    etag_timeout: float
    offline_by: str | None = None  # the variable that switched offline mode on
    download_timeout: int | None = None  # HF_HUB_DOWNLOAD_TIMEOUT where set above 0, else huggingface_hub's own

    @classmethod
    def from_env(cls, environ=None) -> "HubSettings":
        env = os.environ if environ is None else environ
        home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or
                                                   os.path.join(os.path.expanduser("~"), ".cache"), "huggingface")
        cache = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE") or os.path.join(home, "hub")
        # as huggingface_hub reads them: the first variable that is set decides (HF_HUB_OFFLINE=0 wins)
        offline_by = next((k for k in OFFLINE_VARIABLES if env.get(k)), None)
        if offline_by is not None and env[offline_by].strip().lower() not in _TRUE:
            offline_by = None
        check_hub_settings(env)
        endpoint = (env.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
        # as huggingface_hub reads it: 0 or less means the default
        timeout = float(int(env.get("HF_HUB_ETAG_TIMEOUT") or DEFAULT_ETAG_TIMEOUT))
        download_timeout = int(env.get("HF_HUB_DOWNLOAD_TIMEOUT") or 0)
        return cls(endpoint=endpoint,
                   cache_dir=os.path.expandvars(os.path.expanduser(cache)), offline=offline_by is not None,
                   etag_timeout=timeout if timeout > 0 else float(DEFAULT_ETAG_TIMEOUT), offline_by=offline_by,
                   download_timeout=download_timeout if download_timeout > 0 else None)


def check_hub_settings(environ=None) -> None:
    """A HubError naming a variable huggingface_hub cannot read: its import fails with a bare
    ValueError on a timeout that is not whole seconds (it reads them with ``int()``) or an
    ``HF_ENDPOINT`` no URL parser takes (so a command that imports it, olah included, checks
    this first)."""
    env = os.environ if environ is None else environ
    check_endpoint((env.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/"))
    for name in TIMEOUT_VARIABLES:
        value = env.get(name)
        try:
            int(value or 0)
        except ValueError:
            raise HubError(f"{name}={value!r}: huggingface_hub takes a whole number of seconds there; set "
                           f"e.g. {name}=10, or unset it for the default") from None


def check_endpoint(endpoint: str) -> None:
    """A :class:`HubError` naming ``HF_ENDPOINT`` for a value no HTTP client can use (huggingface_hub
    itself fails at import with a bare ValueError): a space or control character, often carried
    over from a ``.env`` or YAML file, or a port that is not a number. (No ``http(s)://`` is refused
    where a download would use the endpoint: offline it is never used.)"""
    from urllib.parse import urlsplit

    problem = None
    if any(ord(ch) <= 32 or ord(ch) == 127 for ch in endpoint):
        problem = "holds a space or a control character (a stray newline or \\r?)"
    else:
        try:
            urlsplit(endpoint).port
        except ValueError:
            problem = "has a port that is not a number"
    if problem:
        raise HubError(redact(f"HF_ENDPOINT={endpoint!r} {problem}; set it to the hub's URL, such as "
                              f"http://127.0.0.1:8090 (what `zoo hub serve` prints), or unset it for "
                              f"{DEFAULT_ENDPOINT}"))


def fetch(cfg: PretrainedCfg, revision: str | None = None, *, tqdm_class=None) -> Path:
    """The local path of ``cfg``'s file, downloaded or from the cache, sha256-verified.

    ``revision`` overrides ``cfg.revision``; the pinned sha256 is checked where it applies (the
    pinned revision or its commit, see :func:`_pin_applies`: another commit may legitimately hold
    other bytes). Without a pin, a
    ``.safetensors`` file must at least have a whole header; other files (``config.json``) are
    checked by their readers.
    """
    settings = HubSettings.from_env()
    rev = revision or cfg.revision
    problem = hub_path_problem(rev)
    if problem:
        raise ArgumentError(f"revision {problem}; pass a branch, tag or commit such as 'main'")
    ref = ref_path(cfg, rev, settings)
    for attempt in range(1 if settings.offline else 2):
        ref_before = read_ref(ref)
        cached_before = set() if settings.offline else _cached_files(cfg, settings)
        path = _cached_or_downloaded(cfg, rev, settings, tqdm_class, ref_before)
        try:
            if _pin_applies(cfg, rev, path, settings):
                verify_sha256(path, cfg, rev, offline_by=settings.offline_by)
            elif cfg.filename.endswith(".safetensors"):
                check_header(path, offline_by=settings.offline_by)
            else:
                os.stat(path)  # FileNotFoundError when another process evicted it meanwhile
            return path
        except FileNotFoundError:
            continue  # another process evicted it between our download and our check: once more
        except WeightsError as exc:  # refused (ChecksumError included): the cache keeps what it had
            restore_ref(ref, ref_before, written=snapshot_commit(path))
            if attempt == 0 and path in cached_before and not path.exists():
                # the copy that failed was on this disk before the call (it rotted, something wrote over
                # it, a download without checks left it), not the server's answer: evicted, so fetch it now
                logger.warning(redact(f"the cached copy of {what(cfg, rev)} at {path} was refused and removed "
                                      f"({exc}); downloading it again from {settings.endpoint}"))
                continue
            raise
    raise HubDownloadError(redact(
        f"{what(cfg, rev)} disappeared from the cache at {settings.cache_dir} while it was being checked: "
        "another process found it did not match and removed it. Run the call again; if it keeps failing, "
        "the server holds a bad file."))


def _cached_files(cfg: PretrainedCfg, settings: HubSettings) -> set[Path]:
    """The file as cached at each commit: a download that returns one of them served what was on
    this disk before the call (huggingface_hub reuses a commit's snapshot, ref or no ref)."""
    return {snapshot_file(cfg, commit, settings) for commit in cached_commits(cfg, settings)}


def resolved_commit(cfg: PretrainedCfg, revision: str | None = None) -> str | None:
    """The commit whose weights ``revision`` (default: the pinned one) serves: itself when it is a
    full commit sha, else the commit the cache recorded for that branch or tag (None if it recorded
    none), or, where the cache lacks that commit's weights, the commit of the copy :func:`fetch`
    serves instead (a short sha's, the pinned copy's). A second file of the same repo (its
    ``config.json``) fetched at it matches the weights, whatever the branch did since."""
    rev = revision or cfg.revision
    if COMMIT_RE.fullmatch(rev):
        return rev
    settings = HubSettings.from_env()
    served = _cached_copy(cfg, rev, settings, warn=False)
    return snapshot_commit(served) if served is not None else read_ref(ref_path(cfg, rev, settings))


def _pin_applies(cfg: PretrainedCfg, rev: str, path: Path, settings: HubSettings) -> bool:
    """Whether the pinned sha256 is checked: for the pinned revision, for a revision the cache says
    resolved to the same commit (a commit, its short form, another tag: what an offline error
    suggests passing), and for a file the cache stores as the pinned blob (huggingface_hub names
    large-file blobs by their sha256). Another revision may legitimately hold other bytes."""
    if not cfg.sha256:
        return False
    if rev == cfg.revision:
        return True
    pinned_commit = read_ref(ref_path(cfg, cfg.revision, settings))
    if pinned_commit and ((len(rev) >= 7 and pinned_commit.startswith(rev))
                          or read_ref(ref_path(cfg, rev, settings)) == pinned_commit):
        return True
    return Path(path).resolve().name == cfg.sha256


def _cached_or_downloaded(cfg: PretrainedCfg, rev: str, settings: HubSettings, tqdm_class,
                          ref_before: str | None) -> Path:
    if not settings.offline:
        cached = from_cache(cfg, rev, settings) if COMMIT_RE.fullmatch(rev) else None
        # a file at a commit never changes: cached, it needs no request
        return cached if cached is not None else _download(cfg, rev, settings, tqdm_class, ref_before)
    path = _cached_copy(cfg, rev, settings)
    if path is None:
        others = cached_commits(cfg, settings)
        unverified = (", none of them the pinned sha256, so such a revision= is loaded unverified"
                      if cfg.sha256 and rev == cfg.revision else "")
        held = (f" The cache holds it at other commits: {', '.join(others)} (pass revision=<commit> to use one"
                f"{unverified})." if others else "")
        raise HubOfflineError(redact(
            f"{settings.offline_by} is set and {what(cfg, rev)} is not in the cache at {settings.cache_dir}.{held} "
            f"Either unset {settings.offline_by} and set HF_ENDPOINT to a reachable hub (for example the "
            "embedded one: `zoo hub serve hubcards/`), or pre-fetch it into this cache with "
            "`zoo download NAME` on a machine that has the hub, or point HF_HUB_CACHE/HF_HOME at a "
            "cache that holds it, or load a local file: weights='path/to/model.safetensors' (--weights PATH in "
            "the CLI)."))
    return path


def _cached_copy(cfg: PretrainedCfg, rev: str, settings: HubSettings, *, warn: bool = True) -> Path | None:
    """The cached file ``rev`` serves without asking an endpoint (offline, or as the fallback when it
    fails): where huggingface_hub's cache resolves ``rev``, else the one cached commit a short sha
    starts, else, for the pinned revision, the copy with the pinned sha256. That copy serves too
    where the file the ref names fails the pin: another HF tool sharing the cache fetched a newer
    ``main``, or another process's download is being refused right now."""
    found = from_cache(cfg, rev, settings) or _cached_by_short_commit(cfg, rev, settings)
    if found is not None and not _fails_the_pin(cfg, rev, found):
        return found
    return _pinned_copy(cfg, rev, settings, warn=warn, named=found) or found


def _fails_the_pin(cfg: PretrainedCfg, rev: str, path: Path) -> bool:
    if not cfg.sha256 or rev != cfg.revision:
        return False
    try:
        return sha256_of(path) != cfg.sha256
    except OSError:
        return False  # gone meanwhile: fetch's own check says so


def _cached_by_short_commit(cfg: PretrainedCfg, rev: str, settings: HubSettings) -> Path | None:
    """A short commit sha (as the Hub's pages show it) names the one cached commit it starts;
    huggingface_hub's cache finds commits by their full sha only."""
    if not re.fullmatch(r"[0-9a-f]{7,39}", rev):
        return None
    matches = [commit for commit in cached_commits(cfg, settings) if commit.startswith(rev)]
    return from_cache(cfg, matches[0], settings) if len(matches) == 1 else None


def _pinned_copy(cfg: PretrainedCfg, rev: str, settings: HubSettings, *, warn: bool = True,
                 named: Path | None = None) -> Path | None:
    """For the pinned revision, a cached copy of the file whose sha256 is the pinned one, at
    whatever commit. A download killed part-way (SIGKILL, a SIGTERM in a script) leaves
    ``refs/<revision>`` on a commit the cache lacks, which a download that raises puts back
    (:func:`zoo.hub_cache.restore_ref`), and a cache filled by commit has no ref at all; the pin
    still names the bytes, so the copy it holds serves. ``named``: the file the ref names, where
    it is cached but fails the pin."""
    if not cfg.sha256 or rev != cfg.revision:
        return None
    for commit in cached_commits(cfg, settings):
        path = snapshot_file(cfg, commit, settings)
        try:
            pinned = sha256_of(path) == cfg.sha256
        except OSError:
            continue
        if pinned and warn:
            at = read_ref(ref_path(cfg, rev, settings))
            if named is not None:
                ref = (f"refs/{rev} names commit {snapshot_commit(named)}, whose file is not the pinned one (another "
                       f"HF tool fetched a newer {rev}?)")
            elif at:
                ref = f"refs/{rev} names commit {at}, whose file the cache lacks (a download stopped part-way?)"
            else:
                ref = f"the cache records no commit for {rev!r} (fetched by commit only?)"
            logger.warning(redact(f"{cfg.hf_hub_id}: {ref}; using the copy with the pinned sha256, cached at "
                                  f"commit {commit}"))
        if pinned:
            return path
    return None


def check_header(path: str | Path, *, offline_by: str | None = None) -> None:
    """Without a pinned sha256, at least refuse a file that is not whole safetensors (truncated,
    a pickle, garbage), and evict it so that the next call downloads it again (offline, or in a
    read-only cache, it stays: see :func:`_refused_file_fate`)."""
    from zoo.safetensors_file import read_header

    if not os.path.exists(path):
        raise FileNotFoundError(path)
    try:
        read_header(path)  # remembered, so loading does not parse it again
    except WeightsError as exc:
        raise WeightsError(" ".join(filter(None, [str(exc), _refused_file_fate(path, offline_by)]))) from None


def sha256_of(path: str | Path, *, fresh: bool = False) -> str:
    """The file's sha256, hashed once while the file stays the same: :mod:`zoo.checked_files`
    remembers it, also for later processes (serve and the checks hash the same cards).

    ``fresh``: hash the bytes now, whatever is remembered. For publishing: a file written through
    a shared memory map can keep its identity (tmpfs never updates the times of such writes)."""
    before = checked_files.identity(path)
    known = None if fresh else checked_files.recall(before, "sha256", durable=True)
    if known is None:
        known = _hash_file(path)
        checked_files.remember(path, before, "sha256", known, durable=True)
    return known


def _hash_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: str | Path, cfg: PretrainedCfg, revision: str, *, offline_by: str | None = None) -> None:
    """Raise :class:`ChecksumError` (after evicting the file from the cache) on a mismatch.

    Offline (``offline_by`` names the setting) the file is kept: nothing could fetch it again, and
    it may be the right file under a wrong pin; it is refused at every load while they disagree.
    The file is hashed once while it stays unchanged (:func:`sha256_of`).
    """
    actual = sha256_of(path)
    if actual == cfg.sha256:
        return
    fate = _refused_file_fate(path, offline_by)
    raise ChecksumError(
        f"sha256 mismatch for {cfg.hf_hub_id}/{cfg.filename} (revision {revision!r}): expected "
        f"{cfg.sha256}, got {actual}. The file was not loaded.{' ' + fate if fate else ''} If the server holds a "
        "wrong or tampered file, fix it there (or the hub card); if the weights were republished on purpose, "
        "update the sha256 in the plugin's PretrainedCfg.")


def _refused_file_fate(path: str | Path, offline_by: str | None) -> str:
    """Evict a refused file from the cache where that helps, and say what became of it.

    Offline (``offline_by`` names the setting) it is kept: nothing could fetch it again, and it may
    be the right file under a wrong pin; it is refused at every load while it stays so. A read-only
    cache keeps it too, and the refusal stays the zoo's error, not the lock file's ``OSError``."""
    if offline_by:
        return (f"It was kept in the cache, since {offline_by} is set and nothing could fetch it again (it is "
                "refused at every load until it is replaced).")
    try:
        evicted = evict(path)
    except OSError as exc:
        return (f"It could not be removed from the cache ({exc.strerror or exc}: a read-only cache?), so replace "
                "or delete it there.")
    return (f"It was removed from the cache ({', '.join(evicted)}); the next call downloads it again." if evicted
            else "")


# ----------------------------------------------------------------------------- internals
def _download(cfg: PretrainedCfg, rev: str, settings: HubSettings, tqdm_class, ref_before: str | None) -> Path:
    if tqdm_class is None and sys.stderr is None:  # pythonw, a daemon, 2>&-: the bar would write to None
        tqdm_class = _no_bar_class()
    with hf_constants.overridden(settings.offline, settings.download_timeout):
        return _probe_and_download(cfg, rev, settings, tqdm_class, ref_before)


def _no_bar_class():
    from huggingface_hub.utils import tqdm

    class NoBar(tqdm):
        """huggingface_hub's progress bar, never shown: without a standard error it raised AttributeError."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "disable": True})

    return NoBar


def _probe_and_download(cfg: PretrainedCfg, rev: str, settings: HubSettings, tqdm_class,
                        ref_before: str | None) -> Path:
    import httpx2
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub.errors import FileMetadataError, HfHubHTTPError, LocalEntryNotFoundError

    where = f"{what(cfg, rev)} from {settings.endpoint}"
    if not settings.endpoint.lower().startswith(("http://", "https://")):  # read as an unreachable hub before
        reason = f"HF_ENDPOINT={settings.endpoint!r} does not start with http:// or https://"
        return _cached_copy_or_raise(cfg, rev, settings, reason, HubError(redact(
            f"Cannot download {where}: {reason}; set it to the hub's URL, such as http://127.0.0.1:8090 (what "
            f"`zoo hub serve` prints), or unset it for {DEFAULT_ENDPOINT}")))
    url = hf_hub_url(cfg.hf_hub_id, cfg.filename, revision=rev, endpoint=settings.endpoint)
    try:  # one probe, no back-off: fail fast and clearly (a busy server is asked again only with nothing cached)
        metadata = again_while_busy(
            lambda: again_on_dropped_connection(
                lambda: get_hf_file_metadata(url, timeout=settings.etag_timeout, endpoint=settings.endpoint)),
            may_wait=lambda: _cached_copy(cfg, rev, settings, warn=False) is None,
            log=lambda text: logger.warning(redact(f"{settings.endpoint}: {text}")))
    except HfHubHTTPError as exc:
        return _cached_copy_after_http_error(exc, cfg, rev, settings)
    except (httpx2.TimeoutException, httpx2.TransportError, FileMetadataError) as exc:
        reason = transport_reason(exc, settings)
        return _cached_copy_or_raise(cfg, rev, settings, reason,
                                     HubUnavailableError(unavailable_message(where, reason, settings)))
    except OSError as exc:  # not the network: huggingface_hub's own files (e.g. HF_HOME/token)
        raise HubError(redact(
            f"Cannot download {where}: huggingface_hub could not read its local files ({exc.strerror or exc}: "
            f"{exc.filename}). Point HF_HOME (and HF_HUB_CACHE) at folders you can read and write.")) from None

    if metadata.commit_hash is None:  # a 200 without the Hub's headers: a captive portal, some web server
        reason = "the server answered without naming a commit, as a Hub does: it does not look like a Hub"
        return _cached_copy_or_raise(cfg, rev, settings, reason, HubUnavailableError(unavailable_message(
            where, f"{reason} or a Hub mirror (check HF_ENDPOINT)", settings)))
    unsafe = _unsafe_cache_name(metadata)
    if unsafe:  # huggingface_hub would make it a cache path: "../../.bashrc" names a file outside the cache
        reason = f"the server answered {unsafe}, which is not a plain name, as a Hub's commit ids and ETags are"
        return _cached_copy_or_raise(cfg, rev, settings, reason, HubUnavailableError(unavailable_message(
            where, f"{reason}: it is no Hub or a broken mirror (check HF_ENDPOINT)", settings)))
    cached = cached_at(cfg, rev, metadata.commit_hash, settings)
    if cached is not None:  # the probe answered what hf_hub_download would ask again: no second request
        return cached
    try:
        try:
            return Path(hf_hub_download(cfg.hf_hub_id, cfg.filename, revision=rev, endpoint=settings.endpoint,
                                        cache_dir=settings.cache_dir, etag_timeout=settings.etag_timeout,
                                        tqdm_class=tqdm_class))
        except BaseException:  # failed or interrupted (Ctrl-C, SIGTERM): huggingface_hub moved the ref first
            restore_ref(ref_path(cfg, rev, settings), ref_before, written=metadata.commit_hash)
            raise
    except HfHubHTTPError as exc:
        raise classify_http(exc, cfg, rev, settings) from None
    except LocalEntryNotFoundError as exc:  # the endpoint went away between probe and download
        raise HubUnavailableError(unavailable_message(where, redact(str(exc)), settings)) from None
    except (httpx2.HTTPError, OSError) as exc:
        if isinstance(exc, HubError):
            raise
        if isinstance(exc, OSError) and (exc.filename is not None or exc.errno in (  # a file of the cache
                errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR)):
            raise HubError(redact(
                f"Cannot download {where}: the cache at {settings.cache_dir} cannot be written "
                f"({exc.strerror}: {exc.filename}). Point HF_HUB_CACHE (or HF_HOME) at a writable folder "
                "with free space, or pre-fill this cache elsewhere and use it with HF_HUB_OFFLINE=1.")) from None
        from huggingface_hub import constants

        if isinstance(exc, httpx2.TimeoutException):
            reason = f"no data for {constants.HF_HUB_DOWNLOAD_TIMEOUT:g} s (HF_HUB_DOWNLOAD_TIMEOUT), 6 attempts"
        elif "Consistency check failed" in str(exc):  # huggingface_hub's advice (force_download=True) is not ours
            reason = (f"{str(exc).split('(')[0].strip()} (the size the endpoint announced in X-Linked-Size or "
                      "Content-Length): the transfer was cut, or the mirror announces a wrong size")
        else:
            reason = f"{type(exc).__name__}: {exc}"
        raise HubDownloadError(redact(
            f"Downloading {where} failed part-way: {reason.rstrip('. ')}. Nothing partial was kept in the cache; "
            "run the same call again once the endpoint is stable (if it fails the same way, the mirror's "
            "copy or its headers are wrong).")) from None


def _unsafe_cache_name(metadata) -> str | None:
    """The commit id or ETag of the probe's answer that is not one plain file name (huggingface_hub
    names the snapshot folder and the blob after them): a path separator, ``.`` or ``..``, or a
    control character; quoted with its header. Else None: servers' own ETag forms (``"5f3c-1a2b"``,
    ``{SHA1{...}}``, base64) pass."""
    for header, value in (("X-Repo-Commit", metadata.commit_hash), ("ETag", metadata.etag)):
        if value is not None and (value in ("", ".", "..") or re.search(r"[/\\\x00-\x1f\x7f]", value)):
            return f"{header} {value!r}"
    return None


def _cached_copy_after_http_error(exc, cfg: PretrainedCfg, rev: str, settings: HubSettings) -> Path:
    """After the probe's HTTP error: the cached copy where one may stand in, else the typed error.

    A failing or busy server (5xx, 408, 429) lets the cache answer at once, without first asking
    the endpoint's /api what is missing (:func:`classify_http` does); so does an endpoint that is no
    Hub, or one refusing access or not showing the repository (:func:`_cache_may_answer`)."""
    status = exc.response.status_code if exc.response is not None else None
    if server_unavailable(status):
        cached = _fallback_to_cache(cfg, rev, settings, f"the server answered {status}")
        if cached is not None:
            return cached
    error = classify_http(exc, cfg, rev, settings)
    if isinstance(error, HubUnavailableError):  # e.g. HF_ENDPOINT is some other web server
        return _cached_copy_or_raise(cfg, rev, settings, f"the server answered {status} and is not a Hub", error)
    if _cache_may_answer(error):
        return _cached_copy_or_raise(cfg, rev, settings, f"{type(error).__name__}: {error}", error, verb="refused")
    raise error from None


def _cached_copy_or_raise(cfg: PretrainedCfg, rev: str, settings: HubSettings, reason: str, error: HubError,
                          verb: str = "unreachable") -> Path:
    """The cached copy standing in for the endpoint (logged with ``reason``), else ``error``."""
    cached = _fallback_to_cache(cfg, rev, settings, reason, verb=verb)
    if cached is None:
        raise error from None
    return cached


def _cache_may_answer(error: HubError) -> bool:
    """Whether a cached copy may stand in after ``error``, as huggingface_hub's own download lets it:
    refused access (a private repository without a token, a proxy's 403) or a repository the
    endpoint does not show (a partial mirror); not a revision or file the endpoint says is missing."""
    return isinstance(error, (HubAuthError, HubNotFoundError)) and not isinstance(
        error, (HubRevisionNotFoundError, HubEntryNotFoundError))


def _fallback_to_cache(cfg, rev, settings, reason, verb: str = "unreachable") -> Path | None:
    cached = _cached_copy(cfg, rev, settings)
    if cached is not None:
        logger.warning(redact(f"{settings.endpoint} {verb} ({reason}); using the cached copy {cached}"))
    return cached


