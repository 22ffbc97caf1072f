"""Detached child processes tracked by pid files: start, check, stop.

The stack outlives the ``bundlestream dev up`` that started it, so each server runs in its own
session with its output in a log file, and its pid file is the only handle later commands have.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from deploy.errors import StackError


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def is_alive(pid: int, cmd_marker: str | None = None) -> bool:
    """True when ``pid`` runs and (if given) its command line contains ``cmd_marker``.

    The marker guards against a stale pid file whose number now belongs to another program.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":  # zombie: exited, not yet reaped
            return False
    except (OSError, IndexError):
        pass
    if cmd_marker is None:
        return True
    try:
        cmdline = (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return True  # no /proc: trust the signal check
    return cmd_marker in cmdline


def path_markers(path: Path) -> tuple[str, ...]:
    """A config path as it may appear in a command line: as given, and with symlinks resolved.

    Worktrees reach the shared cache through a symlink: the broker started from one spelling of
    the path must still be recognised (and its pid file kept) when checked through the other.
    """
    return tuple(dict.fromkeys((str(path), str(path.resolve()))))


def running_pid(pid_file: Path, cmd_marker: str | tuple[str, ...]) -> int | None:
    """The pid from ``pid_file`` if that process is still ours and alive; stale files are removed.

    ``cmd_marker``: one string, or several of which the command line must contain any one.
    """
    pid = read_pid(pid_file)
    if pid is None:
        return None
    markers = (cmd_marker,) if isinstance(cmd_marker, str) else cmd_marker
    if any(is_alive(pid, marker) for marker in markers):
        return pid
    pid_file.unlink(missing_ok=True)
    return None


def spawn_detached(
    cmd: list[str],
    log_file: Path,
    pid_file: Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in a new session, output appended to ``log_file``, pid written to ``pid_file``.

    No pipe is shared with the caller, so a CI runner waiting on our stdout never hangs on it.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    pid_file.write_text(f"{proc.pid}\n")
    return proc


def stop_pid(pid: int, term_timeout_s: float = 30.0) -> bool:
    """SIGTERM, wait up to ``term_timeout_s``, then SIGKILL. Returns True if it had to kill."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + term_timeout_s
    while time.monotonic() < deadline:
        _reap(pid)
        if not is_alive(pid):
            return False
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    for _ in range(50):
        _reap(pid)
        if not is_alive(pid):
            break
        time.sleep(0.1)
    return True


def stop_recorded(
    name: str, pid: int | None, pid_file: Path, term_timeout_s: float, log: Callable[[str], None]
) -> bool:
    """Stop the process a pid file records (SIGTERM, then SIGKILL) and clear the file. True if one ran."""
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    killed = stop_pid(pid, term_timeout_s=term_timeout_s)
    pid_file.unlink(missing_ok=True)
    log(f"{name}: stopped pid {pid}" + (" (SIGKILL)" if killed else ""))
    return True


def _reap(pid: int) -> None:
    """Collect our own exited child so it does not linger as a zombie (no-op for others)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log at {path})"


def wait_ready(
    name: str,
    pid: int | None,
    answers: Callable[[], bool],
    log_file: Path,
    *,
    timeout_s: float,
    poll_s: float,
    silence: str,
) -> None:
    """Poll ``answers`` until it is true; fail fast (with the log's tail) if ``pid`` exited.

    ``silence`` says what did not happen, for the timeout error: "did not answer PING on ...".
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pid is not None and not is_alive(pid):
            raise StackError(
                f"{name} exited during start-up; last lines of {log_file}:\n" + tail(log_file)
            )
        if answers():
            return
        time.sleep(poll_s)
    raise StackError(
        f"{name} {silence} within {timeout_s:.0f} s; last lines of {log_file}:\n" + tail(log_file)
    )
