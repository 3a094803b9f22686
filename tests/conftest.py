import signal

import pytest
import torch
from helpers import TINY, exit_code

from vae_core.data import load_dataset


def pytest_configure(config):
    """A shell starts a background job (`cmd &`, nohup) with Ctrl-C ignored, and every process
    the tests start would inherit that: the Ctrl-C tests would send interrupts that nothing
    receives. The tests run as from a terminal, with Python's own handler, whatever started them."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="session")
def tiny_suite_run(tmp_path_factory):
    """The quick ablations suite on digits, run once per test session into `root/r` (results)
    and `root/p` (reports); returns (root, the CLI arguments). Read it; copy it to change it."""
    root = tmp_path_factory.mktemp("tiny-suite")
    args = ["run", "--suite", "ablations", *TINY, "--results", root / "r", "--reports", root / "p"]
    assert exit_code(args) == 0
    return root, args


@pytest.fixture(scope="session")
def tiny_claims_run(tmp_path_factory):
    """The quick claims suite on digits (1 epoch, 1 seed: 32 runs in 29 s, where 2 seeds took
    52 s; the tiny ablations suite runs 2 seeds end to end), run once per test session into
    `root/r` and `root/p`; returns root. Read it; copy it to change it."""
    root = tmp_path_factory.mktemp("tiny-claims")
    args = ["run", "--suite", "claims", "--quick", "--dataset", "digits", "--epochs", "1", "--seeds", "1",
            "--no-progress", "--results", root / "r", "--reports", root / "p"]
    assert exit_code(args) == 0
    return root


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


def pytest_terminal_summary(terminalreporter):
    if FAULT_COUNTS:
        parts = ", ".join(f"{n} {kind}s" for kind, n in sorted(FAULT_COUNTS.items()))
        terminalreporter.write_line(f"robustness: {parts} handled (one line, exit 2, nothing lost)")
