import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from filelock import FileLock
from helpers import TINY, exit_code

from vae_core.data import load_dataset

#: Most pytest-xdist workers `-n auto` starts (pyproject's addopts): one per core up to this, as each
#: holds PyTorch and its data sets in memory and starts `bench` processes of its own.
MAX_WORKERS = 4


def pytest_configure(config):
    """A shell starts a background job (`cmd &`, nohup) with Ctrl-C ignored, and every process
    the tests start would inherit that: the Ctrl-C tests would send interrupts that nothing
    receives. The tests run as from a terminal, with Python's own handler, whatever started them.

    A pytest-xdist worker computes with its share of the cores (one each for two workers on two
    cores), and so do the `bench` processes it starts (OMP_NUM_THREADS): with every worker's threads
    on every core they would oversubscribe the cores."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if workers := int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", 0)):
        threads = max(1, (os.cpu_count() or 1) // workers)
        torch.set_num_threads(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config):
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS))


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], bool]) -> Path:
    """A folder that `build(folder)` fills (returning True once it succeeded), built once per test
    session and read by every pytest-xdist worker: each worker built its own copy before, and the
    second copies of the two tiny suites cost a core 20 to 60 s, as many as 30 s of the suite's wall
    time (the pattern of pytest-xdist's "Making session-scoped fixtures execute only once"). A worker
    that needs it while another builds it waits on the lock; a failed build is tried again by the
    next worker and fails it too. Without xdist it is a plain session folder."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        root = tmp_path_factory.mktemp(name)
        assert build(root)
        return root
    root = tmp_path_factory.getbasetemp().parent / name  # the session's folder above the workers' own
    built = root.with_name(f"{name}.built")
    with FileLock(root.with_name(f"{name}.lock")):
        if not built.exists():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir()
            assert build(root)
            built.touch()
    return root


@pytest.fixture(scope="session")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="session")
def digits_evaluator(digits):
    """The evaluator network of `digits` (1.5 s to train), shared: read it, never change it."""
    from vae_core.evaluator import train_evaluator

    return train_evaluator(digits)


@pytest.fixture(scope="session")
def tiny_suite_run(tmp_path_factory):
    """The quick ablations suite on digits, run once per test session into `root/r` (results)
    and `root/p` (reports); returns (root, the CLI arguments). Read it; copy it to change it."""
    def args(root: Path) -> list:
        return ["run", "--suite", "ablations", *TINY, "--results", root / "r", "--reports", root / "p"]

    root = built_once(tmp_path_factory, "tiny-suite", lambda root: exit_code(args(root)) == 0)
    return root, args(root)


@pytest.fixture(scope="session")
def tiny_claims_run(tmp_path_factory):
    """The quick claims suite on digits (1 epoch, 1 seed: 32 runs in 29 s, where 2 seeds took
    52 s; the tiny ablations suite runs 2 seeds end to end), run once per test session into
    `root/r` and `root/p`; returns root. Read it; copy it to change it."""
    def build(root: Path) -> bool:
        return exit_code(["run", "--suite", "claims", "--quick", "--dataset", "digits", "--epochs", "1", "--seeds",
                          "1", "--no-progress", "--results", root / "r", "--reports", root / "p"]) == 0

    return built_once(tmp_path_factory, "tiny-claims", build)


#: The id of every test this session collected, before `-m` and `-k` deselect any (for the robustness
#: table's check in test_structure, which would otherwise collect the suite again in a subprocess).
COLLECTED: list[str] = []


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    COLLECTED[:] = [item.nodeid for item in items]


@pytest.fixture
def rng():
    return torch.Generator().manual_seed(0)


# Counts of the bad inputs tried and the faults survived, printed at the end of the run.
FAULT_COUNTS: dict[str, int] = {}


@pytest.fixture
def survived():
    """Call `survived("bad input")` (or "fault") once a test has shown a case handled."""
    def count(kind: str) -> None:
        FAULT_COUNTS[kind] = FAULT_COUNTS.get(kind, 0) + 1
    return count


def pytest_sessionfinish(session):
    """A pytest-xdist worker hands its counts to the controller, which prints the summary."""
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["fault_counts"] = dict(FAULT_COUNTS)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    for kind, n in node.workeroutput.get("fault_counts", {}).items():
        FAULT_COUNTS[kind] = FAULT_COUNTS.get(kind, 0) + n


def pytest_terminal_summary(terminalreporter):
    if FAULT_COUNTS:
        parts = ", ".join(f"{n} {kind}s" for kind, n in sorted(FAULT_COUNTS.items()))
        terminalreporter.write_line(f"robustness: {parts} handled (one line, exit 2, nothing lost)")
