"""What produced a set of numbers: versions, device, machine and commit, recorded in every
manifest and study report."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import torch

import vae_core
from bench.store import code_version


def environment() -> dict:
    """Versions, device, machine, commit."""
    cuda = torch.cuda.is_available()
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "vae_bench": vae_core.__version__,
        "code_version": code_version(),
        "platform": platform.platform(),
        "cpu_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "git_commit": _git_commit(),
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
