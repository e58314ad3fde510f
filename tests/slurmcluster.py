"""A real single-node Slurm cluster on 127.0.0.1, from Debian's packages (``make slurm`` installs
``slurmctld slurmd slurm-client munge``), started by hand for a test and stopped after it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PACKAGES = ("slurmctld", "slurmd", "sbatch", "sinfo", "munged")
MUNGE_SOCKET = Path("/run/munge/munge.socket.2")


def missing() -> str | None:
    """Why no cluster can be started here, or None."""
    if os.geteuid() != 0:
        return "starting Slurm's daemons needs root (make test runs as root)"
    absent = [p for p in PACKAGES if not shutil.which(p) and not Path(f"/usr/sbin/{p}").exists()]
    return f"Slurm is not installed ({', '.join(absent)}): make slurm" if absent else None


def node_line() -> str:
    """This machine as ``slurmd -C`` describes it, reachable on 127.0.0.1."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("NodeName="))
    return f"{line} NodeAddr=127.0.0.1 State=UNKNOWN"


def config(folder: Path) -> str:
    return "\n".join([
        "ClusterName=grading-test",
        f"SlurmctldHost={socket.gethostname()}(127.0.0.1)",
        "SlurmUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "MpiDefault=none",
        "ReturnToService=2",
        f"StateSaveLocation={folder / 'state'}",
        f"SlurmdSpoolDir={folder / 'spool'}",
        f"SlurmctldPidFile={folder / 'slurmctld.pid'}",
        f"SlurmdPidFile={folder / 'slurmd.pid'}",
        f"SlurmctldLogFile={folder / 'slurmctld.log'}",
        f"SlurmdLogFile={folder / 'slurmd.log'}",
        node_line(),
        "PartitionName=grading Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
        "",
    ])


def _start_munge() -> subprocess.Popen | None:
    if MUNGE_SOCKET.exists():
        return None  # a munged is already running
    MUNGE_SOCKET.parent.mkdir(parents=True, exist_ok=True)
    shutil.chown(MUNGE_SOCKET.parent, "munge", "munge")
    return subprocess.Popen(["runuser", "-u", "munge", "--", "/usr/sbin/munged", "--foreground"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextlib.contextmanager
def cluster(folder: Path, timeout: float = 30):
    """Start munged, slurmctld and slurmd; yield the environment that points Slurm's commands at
    them (``SLURM_CONF``); stop everything afterwards."""
    for sub in ("state", "spool"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    conf = folder / "slurm.conf"
    conf.write_text(config(folder))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    munge = _start_munge()
    try:
        subprocess.run(["/usr/sbin/slurmctld", "-f", str(conf)], env=env, check=True)
        subprocess.run(["/usr/sbin/slurmd", "-f", str(conf)], env=env, check=True)
        deadline = time.monotonic() + timeout
        while True:
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True)
            if state.stdout.strip() == "idle":
                break
            if time.monotonic() > deadline:
                logs = "".join((folder / f).read_text()[-2000:] for f in ("slurmctld.log", "slurmd.log")
                               if (folder / f).exists())
                raise RuntimeError(f"the cluster did not come up: {state.stdout}{state.stderr}\n{logs}")
            time.sleep(0.3)
        yield env
    finally:
        subprocess.run(["scancel", "--full", "--user=root"], env=env, capture_output=True)
        for pid_file in ("slurmd.pid", "slurmctld.pid"):
            with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
                os.kill(int((folder / pid_file).read_text()), signal.SIGTERM)
        if munge is not None:
            munge.terminate()
            munge.wait(timeout=10)
