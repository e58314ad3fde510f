"""The sandbox the learner's side of each submission runs in: bubblewrap (namespaces), setpriv
(``nobody`` when the grader is root), prlimit, and a memory cgroup where the machine allows one.

Inside: no network (a new network namespace with only loopback), its own PID namespace (it sees
only its own processes; everything dies with it), a cleared environment, the system and Python
read-only, the course's installed ``helpers`` and this package read-only, the data at ``/data``,
a private size-limited ``/tmp``, and ``/job/cache``: a size-limited tmpfs in which each warm
checkpoint is mounted read-only. The course root, ``solutions/``, the gradebook, the job folders,
the submission file and the template (with its hidden tests) are simply not there: the trusted
side sends the learner's cells over a socket and keeps the tests.

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
DATA = "/data"
NOBODY = 65534
HOST_ENV = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8"}  # all that bwrap itself gets
OPT_OUT_ENV = "GRADING_NO_SANDBOX"
GRADING = Path(__file__).resolve().parent  # this package, wherever it is installed
# The environment's interpreter by a path that exists inside (the venv itself may be a symlink).
PYTHON = Path(sys.prefix).resolve() / "bin" / Path(sys.executable).name
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc")
SECRETS = ("/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/ssh")


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot start on this machine."""


@dataclass(frozen=True)
class Limits:
    """Limits of one submission's sandbox. With a memory cgroup (root on cgroup v1, or a delegated
    cgroup v2), ``memory_bytes`` bounds all its processes and its tmpfs together; without one it is
    a per-process limit on the data segment and the tmpfs sizes bound the files."""

    memory_bytes: int = 4 * 2**30
    cpu_seconds: int = 900  # per process
    processes: int = 512  # threads count too (cgroup pids.max, else RLIMIT_NPROC for a non-root grader)
    file_bytes: int = 256 * 2**20
    open_files: int = 1024
    tmp_bytes: int = 512 * 2**20  # the private /tmp
    cache_bytes: int = 512 * 2**20  # new checkpoints the submission's own cells train

    def prlimit(self, cgroup: bool) -> list[str]:
        data = [] if cgroup else [f"--data={self.memory_bytes}"]
        return ["prlimit", *data, f"--cpu={self.cpu_seconds}", f"--nproc={self.processes}",
                f"--fsize={self.file_bytes}", f"--nofile={self.open_files}", "--"]


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


def read_only_paths() -> list[Path]:
    """What the sandbox sees, read-only: system, Python, the course's helpers and this package."""
    wanted = [Path(p) for p in SYSTEM] + _python_paths() + [GRADING]
    unique = sorted({p for p in wanted if p.exists()}, key=lambda p: len(p.parts))
    return [p for i, p in enumerate(unique) if not any(p.is_relative_to(q) for q in unique[:i])]


def unprivileged() -> bool:
    """Whether the sandbox drops to ``nobody`` (the grader runs as root)."""
    return os.geteuid() == 0


def bwrap_command(argv: list[str], data_dir: Path, checkpoints: list[Path], env: dict[str, str],
                  limits: Limits = Limits(), cgroup: bool = False) -> list[str]:
    """``argv`` in bubblewrap: no network, its own PID namespace, a cleared environment, the system
    read-only, a private ``/tmp``, the data at ``/data`` and the warm checkpoints in ``/job/cache``
    (read-only files in a small writable tmpfs). As root, the command inside runs as ``nobody``
    with no capabilities."""
    cmd = ["bwrap", "--die-with-parent", "--new-session", "--unshare-ipc", "--unshare-pid", "--unshare-net",
           "--unshare-uts", "--unshare-cgroup-try", "--clearenv", "--proc", "/proc", "--dev", "/dev",
           "--tmpfs", "/dev/shm"]
    if not unprivileged():
        cmd.insert(1, "--unshare-user")
    bound = read_only_paths()
    for path in bound:
        cmd += ["--ro-bind", str(path), str(path)]
    for secret in SECRETS:
        if Path(secret).exists():
            cmd += ["--ro-bind", "/dev/null", secret] if Path(secret).is_file() else ["--tmpfs", secret]
    cmd += ["--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp",
            "--perms", "1777", "--size", str(limits.cache_bytes), "--tmpfs", f"{JOB}/cache"]
    if data_dir.is_dir():
        cmd += ["--ro-bind", str(data_dir), DATA]
    for checkpoint in checkpoints:
        cmd += ["--ro-bind", str(checkpoint), f"{JOB}/cache/{checkpoint.name}"]
    created = sorted({a for p in bound for a in p.parents if a != Path("/") and not any(
        a == b or a.is_relative_to(b) for b in bound)}, key=lambda p: len(p.parts))
    for folder in created:  # folders bwrap made for the mounts: traversable by nobody
        cmd += ["--chmod", "0755", str(folder)]
    cmd += ["--chdir", "/tmp", "--remount-ro", "/"]
    for key, value in sorted(env.items()):
        cmd += ["--setenv", key, value]
    cmd += ["--"]
    if unprivileged():  # bwrap may switch to nobody, then nothing inside keeps a capability
        cmd[-1:] = ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP", "--"]
        cmd += ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--inh-caps=-all",
                "--bounding-set=-all", "--no-new-privs", "--"]
    return cmd + [*limits.prlimit(cgroup), *argv]


def sandbox_env(threads: int) -> dict[str, str]:
    """The whole environment inside the sandbox (nothing else is inherited)."""
    return {"PATH": f"{PYTHON.parent}:/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp",
            "PYTHONPATH": str(GRADING.parent), "PRUNING_OFFLINE": "1",
            "PRUNING_CACHE_DIR": f"{JOB}/cache", "PRUNING_DATA_DIR": DATA, "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": "/tmp/matplotlib", "IPYTHONDIR": "/tmp/ipython",
            "JUPYTER_RUNTIME_DIR": "/tmp/jupyter", "OMP_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads), "PYTHONHASHSEED": "0", "LANG": "C.UTF-8"}


def check_available(data_dir: Path) -> None:
    """Start one empty sandbox; raise :class:`SandboxUnavailable` saying why and what to do."""
    advice = ("Install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`, or `make sandbox` as "
              "root) on a kernel that allows user namespaces, or grade without a sandbox at your own "
              f"risk with --no-sandbox (or {OPT_OUT_ENV}=1): learner code then runs with your rights.")
    if shutil.which("bwrap") is None:
        raise SandboxUnavailable("the grading sandbox needs bubblewrap (`bwrap`), which is not installed. "
                                 + advice)
    probe = bwrap_command(["true"], data_dir, [], sandbox_env(1))
    done = subprocess.run(probe, capture_output=True, text=True, timeout=60, env=HOST_ENV)
    if done.returncode != 0:
        why = done.stderr.strip() or f"exit status {done.returncode}"
        raise SandboxUnavailable(f"the grading sandbox cannot start here ({why}). {advice}")
