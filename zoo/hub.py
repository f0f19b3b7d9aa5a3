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
"""

from __future__ import annotations

import hashlib
import logging
import os
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
)
from zoo.specs import PretrainedCfg

logger = logging.getLogger("zoo.hub")

DEFAULT_ENDPOINT = "https://huggingface.co"
_TRUE = {"1", "on", "yes", "true"}


@dataclass(frozen=True)
class HubSettings:
    """The huggingface_hub settings in force for one call, read from the environment."""

    endpoint: str
    cache_dir: str
    offline: bool
    etag_timeout: float

    @classmethod
    def from_env(cls, environ=None) -> "HubSettings":
        env = os.environ if environ is None else environ
        home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or
                                                   os.path.join(os.path.expanduser("~"), ".cache"), "huggingface")
        cache = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE") or os.path.join(home, "hub")
        offline = (env.get("HF_HUB_OFFLINE") or env.get("TRANSFORMERS_OFFLINE") or "").strip().lower() in _TRUE
        try:
            timeout = float(env.get("HF_HUB_ETAG_TIMEOUT") or 10)
        except ValueError:
            timeout = 10.0
        return cls(endpoint=(env.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/"),
                   cache_dir=os.path.expandvars(os.path.expanduser(cache)), offline=offline,
                   etag_timeout=timeout)


def fetch(cfg: PretrainedCfg, revision: str | None = None, *, tqdm_class=None) -> Path:
    """The local path of ``cfg``'s weights file, downloaded or from the cache, sha256-verified.

    ``revision`` overrides ``cfg.revision``; the pinned sha256 is checked only for the pinned
    revision (another revision may legitimately hold other bytes).
    """
    settings = HubSettings.from_env()
    rev = revision or cfg.revision
    if settings.offline:
        path = _from_cache(cfg, rev, settings)
        if path is None:
            raise HubOfflineError(_redact(
                f"HF_HUB_OFFLINE is set and {_what(cfg, rev)} is not in the cache at {settings.cache_dir}. "
                "Either unset HF_HUB_OFFLINE and set HF_ENDPOINT to a reachable hub (for example the "
                "embedded one: `zoo hub serve hubcards/`), or pre-fetch it into this cache with "
                "`zoo download NAME` on a machine that has the hub, or point HF_HUB_CACHE/HF_HOME at a "
                "cache that holds it."))
    else:
        path = _download(cfg, rev, settings, tqdm_class)
    if cfg.sha256 and rev == cfg.revision:
        verify_sha256(path, cfg, rev)
    return path


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: str | Path, cfg: PretrainedCfg, revision: str) -> None:
    """Raise :class:`ChecksumError` (after evicting the file from the cache) on a mismatch.

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
    evicted = evict(path)
    raise ChecksumError(
        f"sha256 mismatch for {cfg.hf_hub_id}/{cfg.filename} (revision {revision!r}): expected "
        f"{cfg.sha256}, got {actual}. The file was not loaded"
        + (f" and was removed from the cache ({', '.join(evicted)})" if evicted else "")
        + ". If the server holds a wrong or tampered file, fix it there (or the hub card); if the "
        "weights were republished on purpose, update the sha256 in the plugin's PretrainedCfg.")


def evict(path: str | Path) -> list[str]:
    """Remove a cached file: its snapshot link and the blob it points to. Returns what was removed."""
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


def _from_cache(cfg: PretrainedCfg, rev: str, settings: HubSettings) -> Path | None:
    from huggingface_hub import try_to_load_from_cache  # a file-system look-up only, no HTTP client

    found = try_to_load_from_cache(cfg.hf_hub_id, cfg.filename, cache_dir=settings.cache_dir, revision=rev)
    return Path(found) if isinstance(found, str) else None  # else None or "cached as missing"


def _download(cfg: PretrainedCfg, rev: str, settings: HubSettings, tqdm_class) -> Path:
    import httpx2
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub.errors import FileMetadataError, HfHubHTTPError, LocalEntryNotFoundError

    where = f"{_what(cfg, rev)} from {settings.endpoint}"
    url = hf_hub_url(cfg.hf_hub_id, cfg.filename, revision=rev, endpoint=settings.endpoint)
    try:  # one probe, no retries: fail fast and clearly
        _again_on_dropped_connection(
            lambda: get_hf_file_metadata(url, timeout=settings.etag_timeout, endpoint=settings.endpoint))
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status is not None and status >= 500 or status in (408, 429):
            cached = _fallback_to_cache(cfg, rev, settings, f"the server answered {status}")
            if cached is not None:
                return cached
        raise _classify_http(exc, cfg, rev, settings) from None
    except (httpx2.TimeoutException, httpx2.TransportError, FileMetadataError) as exc:
        reason = _reason(exc, settings)
        cached = _fallback_to_cache(cfg, rev, settings, reason)
        if cached is not None:
            return cached
        raise HubUnavailableError(_unavailable_message(where, reason, settings)) from None

    _apply_download_timeout()
    try:
        return Path(hf_hub_download(cfg.hf_hub_id, cfg.filename, revision=rev, endpoint=settings.endpoint,
                                    cache_dir=settings.cache_dir, etag_timeout=settings.etag_timeout,
                                    tqdm_class=tqdm_class))
    except HfHubHTTPError as exc:
        raise _classify_http(exc, cfg, rev, settings) from None
    except LocalEntryNotFoundError as exc:  # the endpoint went away between probe and download
        raise HubUnavailableError(_unavailable_message(where, _redact(str(exc)), settings)) from None
    except (httpx2.HTTPError, OSError) as exc:
        if isinstance(exc, HubError):
            raise
        from huggingface_hub import constants

        reason = (f"no data for {constants.HF_HUB_DOWNLOAD_TIMEOUT:g} s (HF_HUB_DOWNLOAD_TIMEOUT), 6 attempts"
                  if isinstance(exc, httpx2.TimeoutException) else f"{type(exc).__name__}: {exc}")
        raise HubDownloadError(_redact(
            f"Downloading {where} failed part-way: {reason}. Nothing partial was kept in the cache; "
            "run the same call again once the endpoint is stable.")) from None


def _again_on_dropped_connection(call):
    """Run ``call``; once more if a kept-alive connection turned out to be closed by the server."""
    import httpx2

    try:
        return call()
    except (httpx2.ReadError, httpx2.RemoteProtocolError):
        return call()


def _apply_download_timeout() -> None:
    # huggingface_hub reads HF_HUB_DOWNLOAD_TIMEOUT once, at import; honour a later setting too.
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_DOWNLOAD_TIMEOUT")
    try:
        if value and float(value) > 0:
            constants.HF_HUB_DOWNLOAD_TIMEOUT = float(value)
    except ValueError:
        pass


def _fallback_to_cache(cfg, rev, settings, reason) -> Path | None:
    cached = _from_cache(cfg, rev, settings)
    if cached is not None:
        logger.warning(_redact(f"{settings.endpoint} unreachable ({reason}); using the cached copy {cached}"))
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
    return _redact(
        f"Cannot download {where}: {reason}. Nothing usable is in the cache at {settings.cache_dir}. "
        "To fix: start the embedded hub with `zoo hub serve hubcards/` and export the HF_ENDPOINT it "
        "prints, or set HF_ENDPOINT to a reachable Hub mirror; or pre-fetch with `zoo download NAME` "
        "where the hub is reachable and set HF_HUB_OFFLINE=1 with HF_HOME/HF_HUB_CACHE pointing at "
        "that cache.")


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
    detail = _redact(str(exc).splitlines()[0]) if str(exc) else type(exc).__name__
    if isinstance(exc, GatedRepoError) or status == 403:
        return HubAuthError(_redact(
            f"Access to {where} was refused ({detail}). The repository is gated or private: set HF_TOKEN "
            "(or run `hf auth login`) with a token that may read it."))
    if isinstance(exc, (RepositoryNotFoundError, RevisionNotFoundError, RemoteEntryNotFoundError)) or \
            status in (401, 404) or (status is not None and status >= 500):
        found = _diagnose(cfg, rev, settings)
        if found is not None:
            return found
    if status is not None and status >= 500:
        return HubUnavailableError(_unavailable_message(where, f"the server answered {status} ({detail})",
                                                        settings))
    if status == 401:
        return HubAuthError(_redact(f"{where}: {detail}. Set HF_TOKEN if the repository is private."))
    return HubError(_redact(f"{where}: {detail}"))


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
            status = exc.response.status_code if exc.response is not None else None
            return "missing" if status in (401, 404) else "error"
        except Exception:  # noqa: BLE001 - unreachable, timeout: cannot tell
            return "error"

    at_rev = info(rev)
    if not isinstance(at_rev, str):
        files = sorted(s.rfilename for s in (at_rev.siblings or []))
        if cfg.filename not in files:
            return HubNotFoundError(_redact(
                f"{cfg.hf_hub_id} (revision {rev!r}) on {settings.endpoint} has no file {cfg.filename!r}; "
                f"it has: {', '.join(files) or 'no files'}. Check the plugin's PretrainedCfg.filename."))
        return None
    at_main = info("main") if rev != "main" else at_rev
    if not isinstance(at_main, str):
        return HubRevisionNotFoundError(_redact(
            f"{cfg.hf_hub_id} on {settings.endpoint} has no revision {rev!r} (branch, tag or commit), "
            f"so {cfg.filename} cannot be fetched at it. Use an existing revision (or omit revision= to "
            "use the pinned one)."))
    if at_main == "missing":
        return HubNotFoundError(_redact(
            f"Repository {cfg.hf_hub_id} was not found on {settings.endpoint} (needed: {_what(cfg, rev)}). "
            "Check HF_ENDPOINT (for the embedded hub: `zoo hub serve hubcards/` must have a "
            f"hubcards/<arch>.<tag>/ folder for it), or set HF_TOKEN if the repository is private."))
    return None


def _tokens() -> list[str]:
    tokens = {os.environ.get(k) for k in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    try:
        from huggingface_hub import get_token

        tokens.add(get_token())
    except Exception:  # noqa: BLE001 - no token store is fine
        pass
    return [t for t in tokens if t and len(t) >= 4]


def _redact(text: str) -> str:
    """Never let a token reach a message or a log line."""
    for token in _tokens():
        text = text.replace(token, "***")
    return text
