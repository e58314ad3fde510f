"""One memory (and pids) cgroup per submission, so that its processes and its tmpfs pages are
bounded together. Used where the grader may create cgroups: as root on cgroup v1
(``/sys/fs/cgroup/{memory,pids}``), or in a delegated cgroup v2 folder (``memory.max``).
Elsewhere :func:`create` returns None and the sandbox falls back to per-process limits plus
fixed tmpfs sizes (see :class:`grading.sandbox.Limits`)."""

from __future__ import annotations

import os
import time
from pathlib import Path

V1 = Path("/sys/fs/cgroup")
PARENT = "pruning-grading"


class Cgroup:
    def __init__(self, folders: list[Path]):
        self.folders = folders

    def enter(self) -> None:
        """Move the calling process in (``preexec_fn`` of the sandbox: before bwrap starts)."""
        for folder in self.folders:
            (folder / "cgroup.procs").write_text("0")

    def peak(self) -> int | None:
        for name in ("memory.max_usage_in_bytes", "memory.peak"):
            for folder in self.folders:
                if (folder / name).exists():
                    return int((folder / name).read_text())
        return None

    def remove(self) -> None:
        for folder in self.folders:
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)  # its last processes are still exiting


def _v1(name: str, memory_bytes: int, processes: int) -> Cgroup | None:
    memory, pids = V1 / "memory", V1 / "pids"
    if not (memory / "memory.limit_in_bytes").exists() or not os.access(memory, os.W_OK):
        return None
    folders = []
    try:
        for root in (memory, pids):
            if not (root / "cgroup.procs").exists():
                continue
            folder = root / PARENT / name
            folder.mkdir(parents=True, exist_ok=True)
            folders.append(folder)
        (memory / PARENT / name / "memory.limit_in_bytes").write_text(str(memory_bytes))
        swap = memory / PARENT / name / "memory.memsw.limit_in_bytes"
        if swap.exists():
            swap.write_text(str(memory_bytes))
        if (pids / PARENT / name / "pids.max").exists():
            (pids / PARENT / name / "pids.max").write_text(str(processes))
    except OSError:
        Cgroup(folders).remove()
        return None
    return Cgroup(folders)


def _v2(name: str, memory_bytes: int, processes: int) -> Cgroup | None:
    base = os.environ.get("GRADING_CGROUP2")  # a delegated folder, e.g. /sys/fs/cgroup/user.slice/...
    if not base or not (Path(base) / "cgroup.subtree_control").exists():
        return None
    folder = Path(base) / name
    try:
        folder.mkdir(exist_ok=True)
        (folder / "memory.max").write_text(str(memory_bytes))
        (folder / "memory.swap.max").write_text("0") if (folder / "memory.swap.max").exists() else None
        (folder / "pids.max").write_text(str(processes)) if (folder / "pids.max").exists() else None
    except OSError:
        Cgroup([folder]).remove()
        return None
    return Cgroup([folder])


def create(name: str, memory_bytes: int, processes: int) -> Cgroup | None:
    """A fresh cgroup for one submission, or None where this machine does not let us make one."""
    return _v2(name, memory_bytes, processes) or _v1(name, memory_bytes, processes)
