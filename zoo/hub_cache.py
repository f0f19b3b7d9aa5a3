"""The huggingface_hub cache folder of one repository, as the zoo reads and repairs it: the refs
(which commit a branch resolved to), the snapshots it holds, and eviction of a refused file.

File-system only: nothing here talks to an endpoint.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from zoo.specs import PretrainedCfg

if TYPE_CHECKING:
    from zoo.hub import HubSettings


def repo_folder(cfg: PretrainedCfg, settings: HubSettings) -> Path:
    """The repository's folder in the huggingface_hub cache (``models--org--name``)."""
    from huggingface_hub.file_download import repo_folder_name

    return Path(settings.cache_dir) / repo_folder_name(repo_id=cfg.hf_hub_id, repo_type="model")


def ref_path(cfg: PretrainedCfg, rev: str, settings: HubSettings) -> Path:
    """``refs/<rev>`` of the repository's cache folder: the commit a branch name resolves to offline."""
    return repo_folder(cfg, settings) / "refs" / rev


def read_ref(ref: Path) -> str | None:
    try:
        return ref.read_text()
    except (OSError, UnicodeDecodeError):
        return None


def restore_ref(ref: Path, before: str | None, written: str | None) -> None:
    """Put ``refs/<rev>`` back as it was before a download that failed or whose file was refused,
    where it still names ``written``, the commit that download moved it to.

    Left so, an offline call would look for the file at that commit and report nothing cached,
    although the verified file of the commit the ref named before is still in the cache. A ref
    another process has moved since (a download that succeeded) is its business and stays.
    """
    try:
        now = read_ref(ref)
        if now == before or now != written:
            return
        if before is None:
            ref.unlink(missing_ok=True)
        else:
            ref.write_text(before)
    except OSError:  # a read-only cache: the download could not have moved it either
        pass


def absent_marker(cfg: PretrainedCfg, commit: str, settings: HubSettings) -> Path:
    """``.no_exist/<commit>/<file>``: huggingface_hub's record that the repository has no such
    file at that commit (a commit never changes, so the answer holds offline too)."""
    return repo_folder(cfg, settings) / ".no_exist" / commit / cfg.filename


def mark_absent(cfg: PretrainedCfg, commit: str, settings: HubSettings) -> None:
    marker = absent_marker(cfg, commit, settings)
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:  # a read-only cache: the next call asks again
        pass


def snapshot_file(cfg: PretrainedCfg, commit: str, settings: HubSettings) -> Path:
    """``snapshots/<commit>/<file>``: where huggingface_hub links ``cfg``'s file of that commit."""
    return repo_folder(cfg, settings) / "snapshots" / commit / cfg.filename


def cached_commits(cfg: PretrainedCfg, settings: HubSettings) -> list[str]:
    """Commits whose snapshot in the cache holds ``cfg``'s file (whatever the branch refs say)."""
    try:
        commits = [p.name for p in (repo_folder(cfg, settings) / "snapshots").iterdir()]
    except OSError:
        return []
    return sorted(c for c in commits if snapshot_file(cfg, c, settings).exists())


def from_cache(cfg: PretrainedCfg, rev: str, settings: HubSettings) -> Path | None:
    from huggingface_hub import try_to_load_from_cache  # a file-system look-up only, no HTTP client

    found = try_to_load_from_cache(cfg.hf_hub_id, cfg.filename, cache_dir=settings.cache_dir, revision=rev)
    return Path(found) if isinstance(found, str) else None  # else None or "cached as missing"


def cached_at(cfg: PretrainedCfg, rev: str, commit: str | None, settings: HubSettings) -> Path | None:
    """The cached file of ``commit``, when ``rev`` already resolves to it in the cache (a commit
    names its files' content, so nothing is left to download or to record)."""
    if not commit or (rev != commit and read_ref(ref_path(cfg, rev, settings)) != commit):
        return None
    return from_cache(cfg, commit, settings)


def evict(path: str | Path) -> list[str]:
    """Remove a cached file: its snapshot link and the blob it points to. Returns what was removed.

    Raises ``OSError`` when the cache cannot be written (read-only), leaving the file in place.
    """
    path = Path(path)
    removed = []
    targets = [path]
    blob = _own_blob(path) if path.is_symlink() else None
    if blob is not None:
        targets.append(blob)
    lock = _blob_lock(targets[-1])
    with lock:
        for target in targets:
            try:
                target.unlink()
                removed.append(str(target))
            except FileNotFoundError:
                pass
    if snapshot_commit(path) is not None:  # a snapshot left empty is a revision of nothing (`hf cache ls`)
        with contextlib.suppress(OSError):
            path.parent.rmdir()
    return removed


def _own_blob(link: Path) -> Path | None:
    """The blob a snapshot link names, where it is one of the same repository folder's ``blobs/``:
    only then is it the cache's to remove. huggingface_hub names blobs by the server's ETag, so a
    hostile mirror can point a link anywhere the user can write (``ETag: "../../../../.bashrc"``).
    The blob as the link names it, not resolved further: a blob that is itself a link (to another
    disk) is removed as a link."""
    repo = next((folder.parent for folder in link.parents if folder.name == "snapshots"), None)
    if repo is None:
        return None
    blob = Path(os.path.normpath(link.parent / os.readlink(link)))
    blobs = repo / "blobs"
    return blob if blob.parent == blobs or blob.parent.resolve() == blobs.resolve() else None


def _blob_lock(blob: Path):
    # The lock huggingface_hub takes around writing this blob: .locks/<repo folder>/<etag>.lock
    from huggingface_hub.utils import WeakFileLock

    if blob.parent.name != "blobs":
        return contextlib.nullcontext()
    lock_path = blob.parent.parent.parent / ".locks" / blob.parent.parent.name / f"{blob.name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    return WeakFileLock(str(lock_path))


def snapshot_commit(path: str | Path) -> str | None:
    """The commit of a file under a cache's ``snapshots/<commit>/``: what it was fetched at."""
    for folder in Path(path).parents:
        if folder.parent.name == "snapshots":
            return folder.name
    return None

