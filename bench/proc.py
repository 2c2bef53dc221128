"""What /proc says about a server process: CPU time, memory, and its indexing worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
WORKER_MODULE = "catcher.index_worker"


def _stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name (field 3, the state, first)."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a whole process (all threads), in seconds."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / TICK


def reaped_children_cpu(pid: int) -> float:
    """CPU seconds of the children the process has waited for (cutime + cstime): a
    worker that ended and was replaced is counted here."""
    fields = _stat(pid)
    return (int(fields[13]) + int(fields[14])) / TICK


def rss(pid: int) -> int:
    """Resident memory in bytes (VmRSS)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"VmRSS not in /proc/{pid}/status")


def children(pid: int) -> list[int]:
    """The process's live children, from each thread's ``children`` list (a child is
    listed under the thread that started it)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
        except OSError:
            continue
        found.extend(int(child) for child in text.split())
    return found


def index_worker(pid: int) -> int | None:
    """The id of the server's ``python -m catcher.index_worker`` child, if one runs."""
    for child in children(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if WORKER_MODULE.encode() in command:
            return child
    return None


def indexing_cpu(pid: int) -> tuple[float, int | None]:
    """CPU seconds spent by the server's indexing workers so far (the live one and any
    it has reaped), and the live worker's id."""
    worker = index_worker(pid)
    total = reaped_children_cpu(pid)
    if worker is not None:
        try:
            total += cpu_seconds(worker)
        except OSError:  # it ended between the look-up and the read
            worker = None
    return total, worker


def worker_startup_cpu(root: Path, env: dict[str, str]) -> float:
    """CPU seconds a worker takes to start and end with no work: its import cost, paid
    once per catcher; measured on a worker started here with nothing on its input."""
    process = subprocess.Popen(
        [sys.executable, "-m", WORKER_MODULE],
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    _, _, usage = os.wait4(process.pid, 0)
    process.returncode = 0  # reaped above; keeps Popen from waiting again
    return usage.ru_utime + usage.ru_stime
