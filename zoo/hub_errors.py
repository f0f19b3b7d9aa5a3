"""What an endpoint's answers mean: its HTTP errors and transport failures turned into typed zoo
errors (:mod:`zoo.errors`) that name the repo, file, revision and endpoint and say what to set,
with every token and URL password redacted.
"""

from __future__ import annotations

import os
import re
import time
from typing import TYPE_CHECKING

from zoo.errors import (
    HubAuthError,
    HubEntryNotFoundError,
    HubError,
    HubNotFoundError,
    HubRevisionNotFoundError,
    HubUnavailableError,
)
from zoo.specs import PretrainedCfg

if TYPE_CHECKING:
    from zoo.hub import HubSettings


def what(cfg: PretrainedCfg, rev: str) -> str:
    return f"{cfg.hf_hub_id}/{cfg.filename} (revision {rev!r})"


def again_on_dropped_connection(call):
    """Run ``call``; once more if a kept-alive connection turned out to be closed by the server."""
    import httpx2

    try:
        return call()
    except (httpx2.ReadError, httpx2.RemoteProtocolError):
        return call()


BUSY_STATUSES = (408, 429, 500, 502, 503, 504)  # rate limiting, overload, a failing upstream: worth a retry
BUSY_WAITS = (1.0, 2.0)  # seconds before the second and third try, where the server names none
LONGEST_RETRY_AFTER = 10.0  # a server asking for a longer wait is not waited for: the error says so


def server_unavailable(status: int | None) -> bool:
    """Whether an HTTP status says the server cannot serve now (any 5xx, 408, 429), so a cached
    copy may stand in; only :data:`BUSY_STATUSES` among them are worth asking again."""
    return status is not None and (status >= 500 or status in (408, 429))


def again_while_busy(call, may_wait, log):
    """Run ``call``; while it fails with an HTTP status saying the server is busy and
    ``may_wait()`` (nothing cached could stand in), wait (its Retry-After, else
    :data:`BUSY_WAITS`) and ask again, at most twice. A rate-limiting mirror's first 429 is no
    reason to fail; huggingface_hub's own requests retry too."""
    from huggingface_hub.errors import HfHubHTTPError

    for wait in (*BUSY_WAITS, None):
        try:
            return call()
        except HfHubHTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if wait is None or status not in BUSY_STATUSES or not may_wait():
                raise
            wait = _retry_after(exc) or wait
            if wait > LONGEST_RETRY_AFTER:
                raise
            log(f"the server answered {status}; asking again in {wait:g} s")
            time.sleep(wait)


def _retry_after(exc) -> float | None:
    """The server's Retry-After in seconds (the delay form; an HTTP date is not honoured)."""
    try:
        value = float(exc.response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return value if value > 0 else None


def transport_reason(exc: Exception, settings: HubSettings) -> str:
    import httpx2

    if isinstance(exc, httpx2.TimeoutException):
        return (f"no answer within {settings.etag_timeout:g} s (HF_HUB_ETAG_TIMEOUT; downloads use "
                "HF_HUB_DOWNLOAD_TIMEOUT)")
    if isinstance(exc, httpx2.ConnectError):
        return f"connection failed ({exc})"
    return f"{type(exc).__name__}: {exc}"


def unavailable_message(where: str, reason: str, settings: HubSettings) -> str:
    return redact(
        f"Cannot download {where}: {reason.rstrip().rstrip('.')}. Nothing usable is in the cache at {settings.cache_dir}. "
        "To fix: start the embedded hub on a folder of hub cards with `zoo hub serve DIR` (hubcards/ of "
        "the source checkout) and export the HF_ENDPOINT it prints, or set HF_ENDPOINT to a reachable Hub mirror; or pre-fetch with `zoo download NAME` "
        "where the hub is reachable and set HF_HUB_OFFLINE=1 with HF_HOME/HF_HUB_CACHE pointing at "
        "that cache; or load a local file: weights='path/to/model.safetensors' (--weights PATH in the CLI).")


def classify_http(exc, cfg: PretrainedCfg, rev: str, settings: HubSettings) -> HubError:
    """Turn an HTTP error into a typed zoo error, asking the endpoint what exactly is missing."""
    from huggingface_hub.errors import (
        GatedRepoError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    status = exc.response.status_code if getattr(exc, "response", None) is not None else None
    where = f"{what(cfg, rev)} on {settings.endpoint}"
    detail = _detail(exc)
    elsewhere = _redirect_host(exc, settings)
    if elsewhere:  # the endpoint answered, and sent the file on to a host that failed: say which
        return HubUnavailableError(unavailable_message(
            where, f"the endpoint sent the file on to {elsewhere}, which answered {status} ({detail}): an expired "
            "download link, or a proxy or firewall blocking that host (the endpoint itself answered; a token "
            "would not help)", settings))
    if isinstance(exc, GatedRepoError) or status == 403:
        return HubAuthError(redact(
            f"Access to {where} was refused ({detail}). The repository is gated or private: set HF_TOKEN "
            "(or run `hf auth login`) with a token that may read it."))
    # The Hub answers 401 with error code RepoNotFound for a repository it does not show (olah for a
    # revision too), with a token or without: diagnosed below. Any other 401 is about credentials.
    not_shown = status == 401 and exc.response.headers.get("X-Error-Code") == "RepoNotFound"
    if status == 401 and not not_shown and _tokens():
        return HubAuthError(redact(
            f"{where}: the endpoint refused the token in use ({detail}). Check HF_TOKEN (or `hf auth login`): "
            "it is wrong, expired, or may not read this repository."))
    if status == 401 and not not_shown:  # a mirror that wants credentials
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
            found = HubEntryNotFoundError(redact(
                f"{where}: the endpoint has no file {cfg.filename!r} there. Check the plugin's "
                "PretrainedCfg.filename, or the mirror's copy of the repository."))
        if found is not None:
            return found
    if server_unavailable(status):
        wait = _retry_after(exc)
        later = f"in {wait:g} s, as it asks" if wait else "later"
        busy = f" (busy: rate limiting or overloaded; try again {later})" if status in BUSY_STATUSES else ""
        return HubUnavailableError(unavailable_message(where, f"the server answered {status} ({detail}){busy}",
                                                        settings))
    if not_shown:  # the /api routes could not tell: the answer's own error code says it
        return _repository_not_found(cfg, rev, settings)
    if status == 401:
        return HubAuthError(redact(f"{where}: {detail}. Set HF_TOKEN if the repository is private."))
    if status == 404:  # no error code a Hub or olah sends, and the /api routes could not tell either
        return HubUnavailableError(unavailable_message(
            where, f"the endpoint answered 404 ({detail}) without saying what is missing, and its /api "
            "routes do not answer: it does not look like a Hub or a Hub mirror (check HF_ENDPOINT)", settings))
    return HubError(redact(f"{where}: {detail}"))


def _redirect_host(exc, settings: HubSettings) -> str | None:
    """The host of the failed request where it is not the endpoint's: the file's download location
    (a CDN), to which the endpoint redirected it. Compared as httpx spells both (host in lower
    case, a scheme's default port left out), not as HF_ENDPOINT was written."""
    import httpx2

    try:
        failed = httpx2.URL(str(exc.response.request.url))
    except Exception:  # noqa: BLE001 - no response or request to read: the endpoint's own answer
        return None
    endpoint = httpx2.URL(settings.endpoint)
    if not failed.host or (failed.host, failed.port) == (endpoint.host, endpoint.port):
        return None
    return failed.host if failed.port is None else f"{failed.host}:{failed.port}"


def _detail(exc) -> str:
    """The first line of huggingface_hub's error, with the server's own explanation where that line
    leaves it out ("Bad request:" and the message on the next line; "403 Forbidden: None.")."""
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    first = re.sub(r":\s*None\.?$", "", text.splitlines()[0].strip())
    server = (getattr(exc, "server_message", None) or "").strip()
    if server and server not in first:
        first = f"{first.rstrip(':. ')}: {server}"
    return redact(first.rstrip(". "))  # the callers end the sentence


def _diagnose(cfg: PretrainedCfg, rev: str, settings: HubSettings) -> HubError | None:
    """Which of repository, revision or file is missing (None when the endpoint cannot tell)."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=settings.endpoint)
    timeout = settings.etag_timeout

    def info(revision):
        """ModelInfo, "missing" (the endpoint says so) or "error" (it cannot tell)."""
        from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

        try:
            return again_on_dropped_connection(
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
            return HubEntryNotFoundError(redact(
                f"{cfg.hf_hub_id} (revision {rev!r}) on {settings.endpoint} has no file {cfg.filename!r}; "
                f"it has: {', '.join(files) or 'no files'}. Check the plugin's PretrainedCfg.filename."))
        return None
    at_main = info("main") if rev != "main" else at_rev
    if not isinstance(at_main, str):
        return _revision_missing(cfg, rev, settings)
    if at_main == "missing":
        return _repository_not_found(cfg, rev, settings)
    return None


def _repository_not_found(cfg: PretrainedCfg, rev: str, settings: HubSettings) -> HubNotFoundError:
    # the embedded hub serves hub cards; weights someone else publishes (timm's) have none
    where = ("for the embedded hub: `zoo hub serve hubcards/` must have a hubcards/<arch>.<tag>/ folder for it"
             if cfg.upstream is None else "a mirror must mirror that repository")
    return HubNotFoundError(redact(
        f"Repository {cfg.hf_hub_id} was not found on {settings.endpoint} (needed: {what(cfg, rev)}). "
        f"Check HF_ENDPOINT ({where}), or set HF_TOKEN if the repository is private."))


def _revision_missing(cfg: PretrainedCfg, rev: str, settings: HubSettings) -> HubRevisionNotFoundError:
    missing = f"{cfg.hf_hub_id} on {settings.endpoint} has no revision {rev!r} (branch, tag or commit), so " \
              f"{cfg.filename} cannot be fetched at it."
    if rev == cfg.revision:
        advice = ("That is the revision the plugin pins: the mirror is older than the plugin (update the "
                  "mirror), or the plugin pins a revision that was never published (a plugin bug).")
    else:
        advice = "Use an existing revision, or omit revision= (--revision in the CLI) to use the pinned one."
    return HubRevisionNotFoundError(redact(f"{missing} {advice}"))


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
    return re.sub(r"://[^/\s]*@", "://***@", text)  # up to the last '@': a raw one may be in the password
