"""Fetching pretrained weight files from the Hugging Face Hub (or any HF-compatible mirror).

Everything goes through ``huggingface_hub`` (its cache layout, locks, tokens and progress
bars), so a file fetched by the zoo is shared with every other HF tool. What the zoo adds:

- settings are read from the environment at call time (``HF_ENDPOINT``, ``HF_HOME`` /
  ``HF_HUB_CACHE``, ``HF_HUB_OFFLINE``, ``HF_HUB_ETAG_TIMEOUT``), not only at import;
- one quick metadata probe without retries first, so an unreachable, hanging or failing
  endpoint gives a clear error within the timeout instead of minutes of back-off;
- typed errors (:mod:`zoo.errors`) that name the repo, file, revision and endpoint and say
  what to set, with any token redacted;
- the pinned sha256 is checked before the file is used; a mismatching file is evicted from
  the cache (blob and snapshot link) so the next call downloads it again. A file that passed
  is not hashed again until it changes, in this process or a later one (:mod:`zoo.checked_files`).
  Without a pinned sha256 (another revision, timm's tags) the safetensors header is checked
  instead, with the same eviction: a bad download never sticks in the cache.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from zoo import checked_files
from zoo.errors import (
    ChecksumError,
    HubAuthError,
    HubDownloadError,
    HubError,
    HubNotFoundError,
    HubOfflineError,
    HubRevisionNotFoundError,
    HubUnavailableError,
    WeightsError,
)
from zoo.specs import PretrainedCfg

logger = logging.getLogger("zoo.hub")

DEFAULT_ENDPOINT = "https://huggingface.co"
DEFAULT_ETAG_TIMEOUT = 10
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
_TRUE = {"1", "on", "yes", "true"}


@dataclass(frozen=True)
class HubSettings:
    """The huggingface_hub settings in force for one call, read from the environment."""

    endpoint: str
    cache_dir: str
    offline: bool
    etag_timeout: float
    offline_by: str | None = None  # the variable that switched offline mode on

    @classmethod
    def from_env(cls, environ=None) -> "HubSettings":
        env = os.environ if environ is None else environ
        home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or
                                                   os.path.join(os.path.expanduser("~"), ".cache"), "huggingface")
        cache = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE") or os.path.join(home, "hub")
        offline_by = next((k for k in OFFLINE_VARIABLES if (env.get(k) or "").strip().lower() in _TRUE), None)
        try:  # as huggingface_hub reads it: whole seconds, and 0 or less means the default
            timeout = float(int(env.get("HF_HUB_ETAG_TIMEOUT") or DEFAULT_ETAG_TIMEOUT))
        except ValueError:
            timeout = float(DEFAULT_ETAG_TIMEOUT)
        return cls(endpoint=(env.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/"),
                   cache_dir=os.path.expandvars(os.path.expanduser(cache)), offline=offline_by is not None,
                   etag_timeout=timeout if timeout > 0 else float(DEFAULT_ETAG_TIMEOUT), offline_by=offline_by)


def fetch(cfg: PretrainedCfg, revision: str | None = None, *, tqdm_class=None) -> Path:
    """The local path of ``cfg``'s file, downloaded or from the cache, sha256-verified.

    ``revision`` overrides ``cfg.revision``; the pinned sha256 is checked only for the pinned
    revision (another revision may legitimately hold other bytes). Without a pin, a
    ``.safetensors`` file must at least have a whole header; other files (``config.json``) are
    checked by their readers.
    """
    settings = HubSettings.from_env()
    rev = revision or cfg.revision
    ref = _ref_path(cfg, rev, settings)
    for _ in range(1 if settings.offline else 2):
        ref_before = _read_ref(ref)
        path = _cached_or_downloaded(cfg, rev, settings, tqdm_class)
        try:
            if _pin_applies(cfg, rev, path, settings):
                verify_sha256(path, cfg, rev, offline_by=settings.offline_by)
            elif cfg.filename.endswith(".safetensors"):
                check_header(path)
            else:
                os.stat(path)  # FileNotFoundError when another process evicted it meanwhile
            return path
        except FileNotFoundError:
            continue  # another process evicted it between our download and our check: once more
        except WeightsError:  # refused (ChecksumError included): the cache keeps what it had
            _restore_ref(ref, ref_before)
            raise
    raise HubDownloadError(redact(
        f"{_what(cfg, rev)} disappeared from the cache at {settings.cache_dir} while it was being checked: "
        "another process found it did not match and removed it. Run the call again; if it keeps failing, "
        "the server holds a bad file."))


def _pin_applies(cfg: PretrainedCfg, rev: str, path: Path, settings: HubSettings) -> bool:
    """Whether the pinned sha256 is checked: for the pinned revision, for a commit the cache says
    the pinned revision resolved to (what an offline error suggests passing), and for a file the
    cache stores as the pinned blob (huggingface_hub names large-file blobs by their sha256).
    Another revision may legitimately hold other bytes."""
    if not cfg.sha256:
        return False
    if rev == cfg.revision:
        return True
    pinned_commit = _read_ref(_ref_path(cfg, cfg.revision, settings))
    if pinned_commit and len(rev) >= 7 and pinned_commit.startswith(rev):
        return True
    return Path(path).resolve().name == cfg.sha256


def _cached_or_downloaded(cfg: PretrainedCfg, rev: str, settings: HubSettings, tqdm_class) -> Path:
    if not settings.offline:
        return _download(cfg, rev, settings, tqdm_class)
    path = _from_cache(cfg, rev, settings)
    if path is None:
        others = _cached_commits(cfg, settings)
        held = (f" The cache holds it at other commits: {', '.join(others)} (pass revision=<commit> to use one)."
                if others else "")
        raise HubOfflineError(redact(
            f"{settings.offline_by} is set and {_what(cfg, rev)} is not in the cache at {settings.cache_dir}.{held} "
            f"Either unset {settings.offline_by} and set HF_ENDPOINT to a reachable hub (for example the "
            "embedded one: `zoo hub serve hubcards/`), or pre-fetch it into this cache with "
            "`zoo download NAME` on a machine that has the hub, or point HF_HUB_CACHE/HF_HOME at a "
            "cache that holds it, or pass weights='path/to/model.safetensors'."))
    return path


def check_header(path: str | Path) -> None:
    """Without a pinned sha256, at least refuse a file that is not whole safetensors (truncated,
    a pickle, garbage), and evict it so that the next call downloads it again."""
    from zoo.weights import read_header

    if not os.path.exists(path):
        raise FileNotFoundError(path)
    try:
        read_header(path)  # remembered, so loading does not parse it again
    except WeightsError as exc:
        evicted = evict(path)
        note = " It was removed from the cache; the next call downloads it again." if evicted else ""
        raise WeightsError(f"{exc}{note}") from None


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: str | Path, cfg: PretrainedCfg, revision: str, *, offline_by: str | None = None) -> None:
    """Raise :class:`ChecksumError` (after evicting the file from the cache) on a mismatch.

    Offline (``offline_by`` names the setting) the file is kept: nothing could fetch it again, and
    it may be the right file under a wrong pin; it is refused at every load while they disagree.
    The file is hashed once while it stays unchanged; the digest is remembered on disk for
    later processes (:mod:`zoo.checked_files`).
    """
    before = checked_files.identity(path)
    actual = checked_files.recall(before, "sha256", durable=True)
    if actual is None:
        actual = sha256_of(path)
        checked_files.remember(path, before, "sha256", actual, durable=True)
    if actual == cfg.sha256:
        return
    try:
        if offline_by:
            where = (f"; it was kept in the cache, since {offline_by} is set and nothing could fetch it again (it "
                     "is refused at every load while the sha256 disagrees)")
        else:
            evicted = evict(path)
            where = f" and was removed from the cache ({', '.join(evicted)})" if evicted else ""
    except OSError as exc:
        where = (f"; it could not be removed from the cache ({exc.strerror or exc}: a read-only cache?), so "
                 "replace or delete it there")
    raise ChecksumError(
        f"sha256 mismatch for {cfg.hf_hub_id}/{cfg.filename} (revision {revision!r}): expected "
        f"{cfg.sha256}, got {actual}. The file was not loaded{where}. If the server holds a wrong or "
        "tampered file, fix it there (or the hub card); if the weights were republished on purpose, "
        "update the sha256 in the plugin's PretrainedCfg.")


def evict(path: str | Path) -> list[str]:
    """Remove a cached file: its snapshot link and the blob it points to. Returns what was removed.

    Raises ``OSError`` when the cache cannot be written (read-only), leaving the file in place.
    """
    path = Path(path)
    removed = []
    targets = [path]
    if path.is_symlink():
        targets.append(path.resolve())
    lock = _blob_lock(targets[-1])
    with lock:
        for target in targets:
            try:
                target.unlink()
                removed.append(str(target))
            except FileNotFoundError:
                pass
    return removed


def _blob_lock(blob: Path):
    # The lock huggingface_hub takes around writing this blob: .locks/<repo folder>/<etag>.lock
    import contextlib

    from huggingface_hub.utils import WeakFileLock

    if blob.parent.name != "blobs":
        return contextlib.nullcontext()
    lock_path = blob.parent.parent.parent / ".locks" / blob.parent.parent.name / f"{blob.name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    return WeakFileLock(str(lock_path))


# ----------------------------------------------------------------------------- internals
def _what(cfg: PretrainedCfg, rev: str) -> str:
    return f"{cfg.hf_hub_id}/{cfg.filename} (revision {rev!r})"


def _repo_folder(cfg: PretrainedCfg, settings: HubSettings) -> Path:
    """The repository's folder in the huggingface_hub cache (``models--org--name``)."""
    from huggingface_hub.file_download import repo_folder_name

    return Path(settings.cache_dir) / repo_folder_name(repo_id=cfg.hf_hub_id, repo_type="model")


def _ref_path(cfg: PretrainedCfg, rev: str, settings: HubSettings) -> Path:
    """``refs/<rev>`` of the repository's cache folder: the commit a branch name resolves to offline."""
    return _repo_folder(cfg, settings) / "refs" / rev


def _read_ref(ref: Path) -> str | None:
    try:
        return ref.read_text()
    except (OSError, UnicodeDecodeError):
        return None


def _restore_ref(ref: Path, before: str | None) -> None:
    """Put ``refs/<rev>`` back as it was before a download whose file was refused.

    The download moved the branch to the server's new commit; left so, an offline call would look
    for the refused file there and report nothing cached, although the verified file of the commit
    the ref named before is still in the cache.
    """
    try:
        if before is None:
            ref.unlink(missing_ok=True)
        elif _read_ref(ref) != before:
            ref.write_text(before)
    except OSError:  # a read-only cache: the download could not have moved it either
        pass


def _cached_commits(cfg: PretrainedCfg, settings: HubSettings) -> list[str]:
    """Commits whose snapshot in the cache holds ``cfg``'s file (whatever the branch refs say)."""
    snapshots = _repo_folder(cfg, settings) / "snapshots"
    try:
        return sorted(p.name for p in snapshots.iterdir() if (p / cfg.filename).exists())
    except OSError:
        return []


def _from_cache(cfg: PretrainedCfg, rev: str, settings: HubSettings) -> Path | None:
    from huggingface_hub import try_to_load_from_cache  # a file-system look-up only, no HTTP client

    found = try_to_load_from_cache(cfg.hf_hub_id, cfg.filename, cache_dir=settings.cache_dir, revision=rev)
    return Path(found) if isinstance(found, str) else None  # else None or "cached as missing"


def _cached_at(cfg: PretrainedCfg, rev: str, commit: str | None, settings: HubSettings) -> Path | None:
    """The cached file of ``commit``, when ``rev`` already resolves to it in the cache (a commit
    names its files' content, so nothing is left to download or to record)."""
    if not commit or (rev != commit and _read_ref(_ref_path(cfg, rev, settings)) != commit):
        return None
    return _from_cache(cfg, commit, settings)


def _download(cfg: PretrainedCfg, rev: str, settings: HubSettings, tqdm_class) -> Path:
    import httpx2
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub.errors import FileMetadataError, HfHubHTTPError, LocalEntryNotFoundError

    where = f"{_what(cfg, rev)} from {settings.endpoint}"
    _apply_call_time_settings(settings)
    url = hf_hub_url(cfg.hf_hub_id, cfg.filename, revision=rev, endpoint=settings.endpoint)
    try:  # one probe, no retries: fail fast and clearly
        metadata = _again_on_dropped_connection(
            lambda: get_hf_file_metadata(url, timeout=settings.etag_timeout, endpoint=settings.endpoint))
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status is not None and status >= 500 or status in (408, 429):
            cached = _fallback_to_cache(cfg, rev, settings, f"the server answered {status}")
            if cached is not None:
                return cached
        error = _classify_http(exc, cfg, rev, settings)
        if isinstance(error, HubUnavailableError):  # e.g. HF_ENDPOINT is some other web server
            cached = _fallback_to_cache(cfg, rev, settings, f"the server answered {status} and is not a Hub")
            if cached is not None:
                return cached
        raise error from None
    except (httpx2.TimeoutException, httpx2.TransportError, FileMetadataError) as exc:
        reason = _reason(exc, settings)
        cached = _fallback_to_cache(cfg, rev, settings, reason)
        if cached is not None:
            return cached
        raise HubUnavailableError(_unavailable_message(where, reason, settings)) from None
    except OSError as exc:  # not the network: huggingface_hub's own files (e.g. HF_HOME/token)
        raise HubError(redact(
            f"Cannot download {where}: huggingface_hub could not read its local files ({exc.strerror or exc}: "
            f"{exc.filename}). Point HF_HOME (and HF_HUB_CACHE) at folders you can read and write.")) from None

    cached = _cached_at(cfg, rev, metadata.commit_hash, settings)
    if cached is not None:  # the probe answered what hf_hub_download would ask again: no second request
        return cached
    try:
        return Path(hf_hub_download(cfg.hf_hub_id, cfg.filename, revision=rev, endpoint=settings.endpoint,
                                    cache_dir=settings.cache_dir, etag_timeout=settings.etag_timeout,
                                    tqdm_class=tqdm_class))
    except HfHubHTTPError as exc:
        raise _classify_http(exc, cfg, rev, settings) from None
    except LocalEntryNotFoundError as exc:  # the endpoint went away between probe and download
        raise HubUnavailableError(_unavailable_message(where, redact(str(exc)), settings)) from None
    except (httpx2.HTTPError, OSError) as exc:
        if isinstance(exc, HubError):
            raise
        if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC,
                                                      errno.ENOTDIR):
            raise HubError(redact(
                f"Cannot download {where}: the cache at {settings.cache_dir} cannot be written "
                f"({exc.strerror}: {exc.filename}). Point HF_HUB_CACHE (or HF_HOME) at a writable folder "
                "with free space, or pre-fill this cache elsewhere and use it with HF_HUB_OFFLINE=1.")) from None
        from huggingface_hub import constants

        reason = (f"no data for {constants.HF_HUB_DOWNLOAD_TIMEOUT:g} s (HF_HUB_DOWNLOAD_TIMEOUT), 6 attempts"
                  if isinstance(exc, httpx2.TimeoutException) else f"{type(exc).__name__}: {exc}")
        raise HubDownloadError(redact(
            f"Downloading {where} failed part-way: {reason}. Nothing partial was kept in the cache; "
            "run the same call again once the endpoint is stable.")) from None


def _again_on_dropped_connection(call):
    """Run ``call``; once more if a kept-alive connection turned out to be closed by the server."""
    import httpx2

    try:
        return call()
    except (httpx2.ReadError, httpx2.RemoteProtocolError):
        return call()


def _apply_call_time_settings(settings: HubSettings) -> None:
    # huggingface_hub reads HF_HUB_OFFLINE and HF_HUB_DOWNLOAD_TIMEOUT once, at import; a process
    # that changes them later (a notebook, a test) gets what its environment says now.
    from huggingface_hub import constants

    constants.HF_HUB_OFFLINE = settings.offline
    value = os.environ.get("HF_HUB_DOWNLOAD_TIMEOUT")
    try:
        if value and float(value) > 0:
            constants.HF_HUB_DOWNLOAD_TIMEOUT = float(value)
    except ValueError:
        pass


def _fallback_to_cache(cfg, rev, settings, reason) -> Path | None:
    cached = _from_cache(cfg, rev, settings)
    if cached is not None:
        logger.warning(redact(f"{settings.endpoint} unreachable ({reason}); using the cached copy {cached}"))
    return cached


def _reason(exc: Exception, settings: HubSettings) -> str:
    import httpx2

    if isinstance(exc, httpx2.TimeoutException):
        return (f"no answer within {settings.etag_timeout:g} s (HF_HUB_ETAG_TIMEOUT; downloads use "
                "HF_HUB_DOWNLOAD_TIMEOUT)")
    if isinstance(exc, httpx2.ConnectError):
        return f"connection failed ({exc})"
    return f"{type(exc).__name__}: {exc}"


def _unavailable_message(where: str, reason: str, settings: HubSettings) -> str:
    return redact(
        f"Cannot download {where}: {reason}. Nothing usable is in the cache at {settings.cache_dir}. "
        "To fix: start the embedded hub with `zoo hub serve hubcards/` and export the HF_ENDPOINT it "
        "prints, or set HF_ENDPOINT to a reachable Hub mirror; or pre-fetch with `zoo download NAME` "
        "where the hub is reachable and set HF_HUB_OFFLINE=1 with HF_HOME/HF_HUB_CACHE pointing at "
        "that cache; or pass weights='path/to/model.safetensors'.")


def _classify_http(exc, cfg: PretrainedCfg, rev: str, settings: HubSettings) -> HubError:
    """Turn an HTTP error into a typed zoo error, asking the endpoint what exactly is missing."""
    from huggingface_hub.errors import (
        GatedRepoError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    status = exc.response.status_code if getattr(exc, "response", None) is not None else None
    where = f"{_what(cfg, rev)} on {settings.endpoint}"
    detail = redact(str(exc).splitlines()[0]) if str(exc) else type(exc).__name__
    if isinstance(exc, GatedRepoError) or status == 403:
        return HubAuthError(redact(
            f"Access to {where} was refused ({detail}). The repository is gated or private: set HF_TOKEN "
            "(or run `hf auth login`) with a token that may read it."))
    if status == 401 and _tokens():
        return HubAuthError(redact(
            f"{where}: the endpoint refused the token in use ({detail}). Check HF_TOKEN (or `hf auth login`): "
            "it is wrong, expired, or may not read this repository."))
    if status == 401 and exc.response.headers.get("X-Error-Code") != "RepoNotFound":
        # The Hub answers 401 with error code RepoNotFound for a repository it does not show; a bare
        # 401 is a mirror that wants credentials.
        message = exc.response.headers.get("X-Error-Message")
        return HubAuthError(redact(
            f"{where}: the endpoint requires authentication (401{': ' + message if message else ''}). Set "
            "HF_TOKEN (or run `hf auth login`) with a token it accepts."))
    if isinstance(exc, RevisionNotFoundError):  # the server said so itself
        return _revision_missing(cfg, rev, settings)
    if isinstance(exc, (RepositoryNotFoundError, RemoteEntryNotFoundError)) or \
            status in (401, 404) or (status is not None and status >= 500):
        found = _diagnose(cfg, rev, settings)
        if isinstance(exc, RemoteEntryNotFoundError) and found is None:
            # A mirror without the /api routes cannot tell more than the download's own answer.
            found = HubNotFoundError(redact(
                f"{where}: the endpoint has no file {cfg.filename!r} there. Check the plugin's "
                "PretrainedCfg.filename, or the mirror's copy of the repository."))
        if found is not None:
            return found
    if status is not None and status >= 500:
        return HubUnavailableError(_unavailable_message(where, f"the server answered {status} ({detail})",
                                                        settings))
    if status == 401:
        return HubAuthError(redact(f"{where}: {detail}. Set HF_TOKEN if the repository is private."))
    if status == 404:  # no error code a Hub or olah sends, and the /api routes could not tell either
        return HubUnavailableError(_unavailable_message(
            where, f"the endpoint answered 404 ({detail}) without saying what is missing, and its /api "
            "routes do not answer: it does not look like a Hub or a Hub mirror (check HF_ENDPOINT)", settings))
    return HubError(redact(f"{where}: {detail}"))


def _diagnose(cfg: PretrainedCfg, rev: str, settings: HubSettings) -> HubError | None:
    """Which of repository, revision or file is missing (None when the endpoint cannot tell)."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=settings.endpoint)
    timeout = settings.etag_timeout

    def info(revision):
        """ModelInfo, "missing" (the endpoint says so) or "error" (it cannot tell)."""
        from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

        try:
            return _again_on_dropped_connection(
                lambda: api.model_info(cfg.hf_hub_id, revision=revision, timeout=timeout))
        except (RepositoryNotFoundError, RevisionNotFoundError):
            return "missing"
        except HfHubHTTPError as exc:
            # The Hub answers 401 for a repository that does not exist; a bare 404 (no RepoNotFound
            # code) comes from a mirror without the /api routes, which cannot tell.
            status = exc.response.status_code if exc.response is not None else None
            return "missing" if status == 401 else "error"
        except Exception:  # noqa: BLE001 - unreachable, timeout: cannot tell
            return "error"

    at_rev = info(rev)
    if not isinstance(at_rev, str):
        files = sorted(s.rfilename for s in (at_rev.siblings or []))
        if cfg.filename not in files:
            return HubNotFoundError(redact(
                f"{cfg.hf_hub_id} (revision {rev!r}) on {settings.endpoint} has no file {cfg.filename!r}; "
                f"it has: {', '.join(files) or 'no files'}. Check the plugin's PretrainedCfg.filename."))
        return None
    at_main = info("main") if rev != "main" else at_rev
    if not isinstance(at_main, str):
        return _revision_missing(cfg, rev, settings)
    if at_main == "missing":
        return HubNotFoundError(redact(
            f"Repository {cfg.hf_hub_id} was not found on {settings.endpoint} (needed: {_what(cfg, rev)}). "
            "Check HF_ENDPOINT (for the embedded hub: `zoo hub serve hubcards/` must have a "
            f"hubcards/<arch>.<tag>/ folder for it), or set HF_TOKEN if the repository is private."))
    return None


def _revision_missing(cfg: PretrainedCfg, rev: str, settings: HubSettings) -> HubRevisionNotFoundError:
    what = f"{cfg.hf_hub_id} on {settings.endpoint} has no revision {rev!r} (branch, tag or commit), so " \
           f"{cfg.filename} cannot be fetched at it."
    if rev == cfg.revision:
        advice = ("That is the revision the plugin pins: the mirror is older than the plugin (update the "
                  "mirror), or the plugin pins a revision that was never published (a plugin bug).")
    else:
        advice = "Use an existing revision, or omit revision= to use the pinned one."
    return HubRevisionNotFoundError(redact(f"{what} {advice}"))


def _tokens() -> list[str]:
    tokens = {os.environ.get(k) for k in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    try:
        from huggingface_hub import get_token

        tokens.add(get_token())
    except Exception:  # noqa: BLE001 - no token store is fine
        pass
    return [t for t in tokens if t and len(t) >= 4]


def redact(text: str) -> str:
    """Never let a token, or a password written into HF_ENDPOINT's URL, reach a message or a log line."""
    for token in _tokens():
        text = text.replace(token, "***")
    return re.sub(r"://[^/@\s]+@", "://***@", text)
