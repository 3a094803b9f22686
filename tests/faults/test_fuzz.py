"""Property-based fuzzing (Hypothesis) of the CLI's arguments and of suite and config files.

For any generated input the CLI exits 0 or 2, prints no traceback, and when it exits 2 prints
one line starting with "error:" and leaves the watched folder as it was. Training, tuning and
measuring are replaced by a stand-in that stops the command once every check has passed (an
exit 0 would train; the checks are what is fuzzed), so the test stays fast. Seeded
(`derandomize`) and bounded (`max_examples`), so every run tries the same inputs."""

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path

import pytest
from helpers import exit_code, snapshot

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed: pip install -e '.[dev]'")
st = hypothesis.strategies

EXAMPLES = 300


class Validated(Exception):
    """Raised by the stand-ins: every check passed, the command would now train, tune or measure."""


def stop(*args, **kwargs):
    raise Validated


COMMANDS = ["run", "report", "list", "tune", "perf"]
WORDS = ["--suite", "ablations", "claims", "nope", "--suite-file",
         "--config", "FILE", "--quick", "--seeds", "--epochs", "--dataset", "digits", "mnist", "lines", "--data-dir",
         "--device", "cpu", "cuda", "auto", "--results", "--reports", "results", "reports", "r/../x", "--study",
         "--trial", "--from-study", "--storage", "sqlite:///o.db", "postgresql://u:pw@h/db", "--trials", "--workers",
         "--objectives", "test_recon_mse", "rate", "--compare", "--json", "--stack", "on", "off", "--executor",
         "process", "--jobs", "--no-progress", "--max-regression", "0", "1", "-1", "3", "1e9", "nan", "", " ",
         "--compile", "\x00", "é", "/dev/zero", "a" * 300]
KEYS = ["name", "description", "seeds", "defaults", "runs", "label", "axis", "seed", "beta", "latent_dim",
        "hidden_dim", "epochs", "dataset", "device", "model", "arch", "recon_loss", "lr", "batch_size", "data_dir",
        "train_images", "iwae_k", "regularizer", "moment_ratio", "bogus", ""]
VALUES = st.one_of(st.integers(-3, 10**7), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                   st.sampled_from(["digits", "mnist", "vae", "ae", "conv", "mse", "bce", "gaussian", "cpu", "cuda",
                                    "x", "", "$x^{", "<b>", "\u202e"]),
                   st.text(max_size=8), st.lists(st.integers(0, 3), max_size=3), st.none())
RUN = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=5)
SUITE = st.dictionaries(st.sampled_from(KEYS), st.one_of(VALUES, st.lists(RUN, max_size=3), RUN), max_size=5)
FILE = st.one_of(SUITE.map(json.dumps), st.text(max_size=40), st.binary(max_size=40).map(lambda b: b.decode("latin-1")))


@pytest.fixture
def stand_ins(monkeypatch):
    from bench import commands, perf, tune

    monkeypatch.setattr(commands, "run_suite", stop)
    monkeypatch.setattr(tune, "run_study", stop)
    monkeypatch.setattr(perf, "measure", stop)


ANY_COMMAND = st.tuples(st.sampled_from(COMMANDS), st.lists(st.sampled_from(WORDS), max_size=7)).map(
    lambda t: [t[0], *t[1]])
OPTIONS = [["--dataset", "digits"], ["--epochs", "1"], ["--seeds", "2"], ["--quick"], ["--device", "cpu"],
           ["--no-progress"], ["--results", "r"], ["--reports", "p"]]
RUN_A_FILE = st.tuples(st.sampled_from(["--suite-file", "--config"]),
                       st.lists(st.sampled_from(OPTIONS), max_size=4)).map(
    lambda t: ["run", t[0], "FILE", *[w for option in t[1] for w in option]])


@hypothesis.settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                     suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture,
                                            hypothesis.HealthCheck.too_slow])
@hypothesis.given(words=st.one_of(ANY_COMMAND, RUN_A_FILE), text=st.one_of(SUITE.map(json.dumps), FILE),
                  suffix=st.sampled_from([".json", ".toml", ".TOML", ""]))
def test_any_input_exits_0_or_2_with_one_line_and_changes_nothing_when_refused(stand_ins, words, text, suffix):
    home = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            file = Path(tmp) / f"input{suffix}"
            file.write_text(text, encoding="utf-8", errors="surrogateescape")
            (Path(tmp) / "keep.txt").write_text("keep me")
            args = [str(file) if w == "FILE" else w for w in words]
            before = snapshot(Path(tmp))
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                try:
                    code = exit_code(args)
                except Validated:
                    code = 0
            message = err.getvalue()
            hypothesis.event(f"{words[0]}: exit {code}")  # pytest --hypothesis-show-statistics shows the mix
            assert code in (0, 2), (args, text, message)
            assert "Traceback" not in message, (args, text, message)
            if code == 2:
                lines = message.strip().splitlines()
                assert len(lines) == 1 and lines[0].startswith("error:"), (args, text, message)
                assert snapshot(Path(tmp)) == before, (args, text)
        finally:
            os.chdir(home)
