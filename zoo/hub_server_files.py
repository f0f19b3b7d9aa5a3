"""The files a running ``zoo hub serve`` keeps beside its repositories, and what a dead one leaves.

Each server has olah's config (``.toml``), olah's output (``.out``), olah's pid (``.pid``) and a
probe repository (``.probe``, see :mod:`zoo.hub_server`), all named ``olah-PORT-PID`` after the
port and the zoo process: servers of one folder, even racing for one port, never read or remove
each other's. A clean stop removes them.

Why a dead server needs more than its files removed: olah runs in a session of its own (a
Ctrl-C in the terminal reaches the zoo, which then stops olah in order), so a zoo process killed
with SIGKILL leaves its olah serving, and holding the port, for good. The next server of the
cache stops that olah, once it has made sure the recorded pid still runs olah with the dead
server's config: a pid can be reused by an unrelated process. That check reads the command
line from /proc; where there is none (macOS), the orphan is left alone with a warning.
(Linux's PR_SET_PDEATHSIG is no substitute: it fires when the *thread* that started olah ends,
which stopped the olah of a server started from a worker thread.)
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
import warnings
from pathlib import Path

SUFFIXES = (".toml", ".out", ".pid", ".probe")


def run_file(cache_dir: str | Path, port: int, suffix: str, pid: int | None = None) -> Path:
    """One of the files (:data:`SUFFIXES`) of the server of process ``pid`` (default: this one)."""
    return Path(cache_dir) / f"olah-{port}-{os.getpid() if pid is None else pid}{suffix}"


def record_olah(cache_dir: str | Path, port: int, olah_pid: int) -> None:
    run_file(cache_dir, port, ".pid").write_text(f"{olah_pid}\n")


def remove_run_files(cache_dir: str | Path, port: int, pid: int | None = None, keep_output: bool = False) -> None:
    for suffix in SUFFIXES:
        path = run_file(cache_dir, port, suffix, pid)
        if suffix == ".out" and keep_output:
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def clear_dead_servers(cache_dir: str | Path) -> None:
    """Stop the olah of each server of ``cache_dir`` whose zoo process is gone, and remove its files."""
    dead = set()
    for path in Path(cache_dir).glob("olah-*-*.*"):
        named = re.fullmatch(r"olah-(\d+)-(\d+)\.\w+", path.name)
        if named and not _alive(int(named[2])):
            dead.add((int(named[1]), int(named[2])))
    for port, pid in sorted(dead):
        if _stop_orphan(cache_dir, port, pid):  # files of an olah still serving stay: the next start retries
            remove_run_files(cache_dir, port, pid)


def _stop_orphan(cache_dir: str | Path, port: int, pid: int) -> bool:
    """Stop the olah the dead server ``pid`` left; whether none of it is left running (or, without
    /proc, whether the user was told which pid to stop)."""
    try:
        olah = int(run_file(cache_dir, port, ".pid", pid).read_text())
    except (OSError, ValueError):  # no olah recorded: it died before starting one
        return True
    config = run_file(cache_dir, port, ".toml", pid)
    if not Path("/proc/self/cmdline").is_file():
        warnings.warn(f"`zoo hub serve` (pid {pid}, port {port}) died without stopping its olah (pid {olah}); "
                      "without /proc the zoo cannot tell whether that pid is still that olah, so it is left "
                      f"alone: if it still serves, stop it (kill {olah})", stacklevel=3)
        return True
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _runs(olah, config):
            return True
        try:
            os.killpg(olah, sig)  # olah leads a process group of its own (its session)
        except ProcessLookupError:
            return True
        except PermissionError:  # another user's to stop: its files stay, for a server that may
            warnings.warn(f"`zoo hub serve` (pid {pid}, port {port}) died and left its olah (pid {olah}) serving; "
                          f"it is not yours to stop: ask its owner to kill {olah}", stacklevel=3)
            return False
        deadline = time.monotonic() + 10
        while _runs(olah, config) and time.monotonic() < deadline:
            time.sleep(0.05)
    return not _runs(olah, config)


def _runs(pid: int, config: Path) -> bool:
    """Whether process ``pid`` runs with ``config`` among its arguments, however either spells the
    path (``a/../b``, a linked folder); a zombie runs nothing."""
    try:
        arguments = [os.fsdecode(arg) for arg in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if arg]
    except OSError:
        return False
    wanted = os.path.realpath(config)
    if any(os.path.isabs(arg) and os.path.realpath(arg) == wanted for arg in arguments):
        return True  # the zoo always passes olah its config as an absolute path
    try:  # a relative one (another process's cwd may be unreadable: another user's)
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return False
    return any(os.path.realpath(os.path.join(cwd, arg)) == wanted for arg in arguments)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, and is someone else's
        pass
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether ``pid`` has exited and only waits for its parent to collect it (a killed server whose
    parent is busy, or was itself an orphan under an init that never collects): /proc says so."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]  # after "pid (command)" comes the state
