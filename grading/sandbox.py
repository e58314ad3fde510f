"""The sandbox each submission is graded in: bubblewrap (namespaces) plus prlimit (resource limits).

Inside: no network (a new network namespace with only loopback, which the kernel's ZeroMQ needs),
its own PID namespace (everything dies with it), the system and Python read-only, from the course
only ``helpers/`` and ``notebooks/`` and this package, read-only (``solutions/``, the gradebook, git
history and every student's folder are simply not there). The submission and its template are
read-only at ``/job/in`` and ``/job/template.ipynb``; the only writable places are the job's own
copy of the checkpoint cache (``/job/cache``) and a private ``/tmp``. Results leave through a pipe
(see ``grading.run_one``), never through a file the learner's code could reach. Limits per
process: memory (data segment), CPU time, open files, size of any file written, and (for a grader
that is not root) the number of processes.

bubblewrap is Debian's ``bubblewrap`` package (``make sandbox`` installs it when run as root). When
it cannot start, grading refuses with :class:`SandboxUnavailable` unless the instructor opts out
(``--no-sandbox`` or ``GRADING_NO_SANDBOX=1``).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

JOB = "/job"
OPT_OUT_ENV = "GRADING_NO_SANDBOX"
COURSE_PARTS = ("helpers", "notebooks")
GRADING = Path(__file__).resolve().parent  # this package, wherever it is installed
# The environment's interpreter by a path that exists inside (the venv itself may be a symlink).
PYTHON = Path(sys.prefix).resolve() / "bin" / Path(sys.executable).name
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc")
SECRETS = ("/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/ssh")


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot start on this machine."""


@dataclass(frozen=True)
class Limits:
    """Per-process limits inside the sandbox."""

    memory_bytes: int = 4 * 2**30  # data segment: where tensors and Python objects live
    cpu_seconds: int = 900
    processes: int = 4096  # threads count too; not enforced by Linux for root
    file_bytes: int = 256 * 2**20
    open_files: int = 1024

    def prlimit(self) -> list[str]:
        return ["prlimit", f"--data={self.memory_bytes}", f"--cpu={self.cpu_seconds}",
                f"--nproc={self.processes}", f"--fsize={self.file_bytes}", f"--nofile={self.open_files}",
                "--"]


def opted_out() -> bool:
    return os.environ.get(OPT_OUT_ENV, "") not in ("", "0")


def _python_paths() -> list[Path]:
    """The interpreter, the virtual environment and the ``helpers`` source (for editable installs)."""
    paths = [Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(),
             Path(sys.executable).resolve().parent.parent]
    spec = importlib.util.find_spec("helpers")
    if spec and spec.origin:
        paths.append(Path(spec.origin).resolve().parent)
    return paths


def read_only_paths(course_root: Path, data_dir: Path) -> list[Path]:
    """What the sandbox sees, read-only: system, Python, the course's public parts, the data."""
    wanted = [Path(p) for p in SYSTEM] + _python_paths() + [course_root / p for p in COURSE_PARTS] + [GRADING]
    wanted.append(data_dir)
    unique = sorted({p for p in wanted if p.exists()}, key=lambda p: len(p.parts))
    return [p for i, p in enumerate(unique) if not any(p.is_relative_to(q) for q in unique[:i])]


def bwrap_command(argv: list[str], job_dir: Path, course_root: Path, data_dir: Path, env: dict[str, str],
                  limits: Limits = Limits()) -> list[str]:
    """``argv`` wrapped in bubblewrap and prlimit, with ``job_dir``'s parts mounted at ``/job``."""
    root = course_root.resolve()
    cmd = ["bwrap", "--die-with-parent", "--new-session", "--unshare-all", "--clearenv",
           "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/dev/shm"]
    # Outer mounts first: an empty course root, then what it shows (helpers/, notebooks/, ...).
    mounts = [(Path("/tmp"), ["--tmpfs", "/tmp"]), (root, ["--tmpfs", str(root)])]
    mounts += [(p, ["--ro-bind", str(p), str(p)]) for p in read_only_paths(root, data_dir)]
    for _, mount in sorted(mounts, key=lambda m: len(m[0].parts)):
        cmd += mount
    for secret in SECRETS:
        if Path(secret).exists():
            cmd += ["--ro-bind", "/dev/null", secret] if Path(secret).is_file() else ["--tmpfs", secret]
    job = job_dir.resolve()
    cmd += ["--ro-bind", str(job / "in"), f"{JOB}/in", "--ro-bind", str(job / "template.ipynb"),
            f"{JOB}/template.ipynb", "--bind", str(job / "cache"), f"{JOB}/cache", "--chdir", "/tmp",
            "--remount-ro", str(root), "--remount-ro", "/"]
    for key, value in sorted(env.items()):
        cmd += ["--setenv", key, value]
    return cmd + ["--", *limits.prlimit(), *argv]


def sandbox_env(course_root: Path, data_dir: Path, threads: int) -> dict[str, str]:
    """The whole environment inside the sandbox (nothing else is inherited)."""
    return {"PATH": f"{PYTHON.parent}:/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp",
            "PYTHONPATH": str(GRADING.parent), "PRUNING_OFFLINE": "1",
            "PRUNING_CACHE_DIR": f"{JOB}/cache", "PRUNING_DATA_DIR": str(data_dir),
            "MPLCONFIGDIR": "/tmp/matplotlib", "IPYTHONDIR": "/tmp/ipython",
            "JUPYTER_RUNTIME_DIR": "/tmp/jupyter", "OMP_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads), "PYTHONHASHSEED": "0", "LANG": "C.UTF-8"}


def check_available(course_root: Path, data_dir: Path, scratch: Path) -> None:
    """Start one empty sandbox; raise :class:`SandboxUnavailable` saying why and what to do."""
    advice = ("Install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`, or `make sandbox` as "
              "root) on a kernel that allows user namespaces, or grade without a sandbox at your own "
              f"risk with --no-sandbox (or {OPT_OUT_ENV}=1): learner code then runs with your rights.")
    if shutil.which("bwrap") is None:
        raise SandboxUnavailable("the grading sandbox needs bubblewrap (`bwrap`), which is not installed. "
                                 + advice)
    for part in ("in", "cache"):
        (scratch / part).mkdir(parents=True, exist_ok=True)
    (scratch / "template.ipynb").touch()
    probe = bwrap_command(["true"], scratch, course_root, data_dir, sandbox_env(course_root, data_dir, 1))
    done = subprocess.run(probe, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        why = done.stderr.strip() or f"exit status {done.returncode}"
        raise SandboxUnavailable(f"the grading sandbox cannot start here ({why}). {advice}")
