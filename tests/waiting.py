"""Waiting on other processes by their progress, not by the clock.

A fixed time limit that holds on a quiet machine fails on a loaded 2-core one (CI saw a
subprocess test time out at load 8-12). These helpers fail a wait only when the process shows no
sign of life for STALL_SECONDS: neither the caller's progress value changes nor the process (and
its children) use any CPU. A process that is slow because the machine is busy still uses CPU; a
hung one does not. LIMIT_SECONDS keeps every loop bounded even for one that spins.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

#: No progress and no CPU used for this long: the process is hung.
STALL_SECONDS = float(os.environ.get("PIXSIFT_TEST_STALL_SECONDS", "120"))
#: Whatever happens, a wait ends after this long (a process spinning without progress).
LIMIT_SECONDS = float(os.environ.get("PIXSIFT_TEST_LIMIT_SECONDS", "1800"))
POLL_SECONDS = 0.05
LOOK_SECONDS = 1.0


def no_progress() -> None:
    return None


def cpu_seconds(pid: int) -> float:
    """CPU time used so far by ``pid`` and its living descendants (0 where /proc is missing)."""
    ticks, children = 0, {pid}
    stats = []
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone, or not ours to read
        stats.append((int(entry.parent.name), int(fields[1]), int(fields[11]) + int(fields[12])))
    changed = True
    while changed:  # descendants: parents are found before or after their children
        changed = False
        for process_id, parent, _ in stats:
            if parent in children and process_id not in children:
                children.add(process_id)
                changed = True
    ticks = sum(used for process_id, _, used in stats if process_id in children)
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_until(
    condition: Callable[[], bool],
    process: subprocess.Popen,
    what: str,
    progress: Callable[[], object] = no_progress,
    stall_seconds: float = STALL_SECONDS,
) -> None:
    """Return once ``condition()`` holds; fail if ``process`` exits first or stalls."""
    started = last_change = last_look = time.monotonic()
    last_seen: tuple[object, float] | None = None
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the process ended (status {process.returncode}) before {what}")
        now = time.monotonic()
        if now - last_look >= LOOK_SECONDS:  # /proc is read once a second, not every poll
            last_look, seen = now, (progress(), cpu_seconds(process.pid))
            if seen != last_seen:
                last_seen, last_change = seen, now
        if now - last_change > stall_seconds or now - started > LIMIT_SECONDS:
            raise AssertionError(
                f"no {what}: the process made no progress for {now - last_change:.0f} s "
                f"({now - started:.0f} s in all)"
            )
        time.sleep(POLL_SECONDS)


def wait_for_exit(
    process: subprocess.Popen,
    what: str = "exit",
    progress: Callable[[], object] = no_progress,
    stall_seconds: float = STALL_SECONDS,
) -> int:
    """The exit status of ``process``, waiting as long as it makes progress."""
    try:
        wait_until(lambda: process.poll() is not None, process, what, progress, stall_seconds)
    except AssertionError:
        if process.poll() is None:
            raise
    return process.returncode


def communicate(
    process: subprocess.Popen,
    what: str = "exit",
    progress: Callable[[], object] = no_progress,
    stall_seconds: float = STALL_SECONDS,
) -> tuple[object, object]:
    """``process.communicate()`` (its pipes drained meanwhile, so a full pipe cannot stall
    it), waiting as long as it makes progress."""
    import threading

    outputs: list[tuple[object, object]] = []
    drain = threading.Thread(target=lambda: outputs.append(process.communicate()), daemon=True)
    drain.start()
    try:
        wait_for_exit(process, what, progress, stall_seconds)
    except AssertionError:
        process.kill()
        raise
    drain.join()
    return outputs[0]


def thread_cpu_seconds(thread: threading.Thread) -> float:
    """CPU time used so far by ``thread`` of this process (0 where /proc is missing)."""
    try:
        stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for_thread(
    thread: threading.Thread,
    what: str = "the thread's end",
    condition: Callable[[], bool] | None = None,
    stall_seconds: float = STALL_SECONDS,
) -> None:
    """Return once ``condition()`` holds (by default: once ``thread`` has ended); fail if the
    thread ends first or neither its CPU time nor its liveness changes for ``stall_seconds``."""
    done = condition or (lambda: not thread.is_alive())
    started = last_change = last_look = time.monotonic()
    last_seen: float | None = None
    while not done():
        if condition is not None and not thread.is_alive():
            raise AssertionError(f"the thread ended before {what}")
        now = time.monotonic()
        if now - last_look >= LOOK_SECONDS:
            last_look, seen = now, thread_cpu_seconds(thread)
            if seen != last_seen:
                last_seen, last_change = seen, now
        if now - last_change > stall_seconds or now - started > LIMIT_SECONDS:
            raise AssertionError(f"no {what}: the thread made no progress")
        time.sleep(POLL_SECONDS)
