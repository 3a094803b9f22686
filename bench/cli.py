"""Command line: `python -m bench run | list | report | tune`.

A user's mistake ends with one line naming the problem and the fix, exit status 2, no
traceback, and nothing on disk changed: every option is checked before a folder is touched.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from vae_core.config import ConfigError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        self.exit(EXIT_USAGE, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def _bounded(kind: type, low: float, high: float) -> type:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is out of range; use {low:g} to {high:g}")
        return value
    parse.__name__ = kind.__name__
    return parse  # type: ignore[return-value]


def _path(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; give a folder or file name")
    return Path(text)


def _dir_text(text: str) -> str:
    return str(_path(text))


def _name(text: str) -> str:
    from bench.suites import safe_name

    try:
        return safe_name(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    from bench.executors import EXECUTORS
    from bench.search_space import SEARCH_SPACE, objectives_help
    from bench.suites import SUITES
    from vae_core.config import DEVICES
    from vae_core.data import DATASETS

    parser = _Parser(prog="python -m bench", description="Benchmark and ablation harness for autoencoders.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def results(p: argparse.ArgumentParser) -> None:
        p.add_argument("--results", type=_path, default=Path("results"), help="results folder (default: results)")

    def reports(p: argparse.ArgumentParser) -> None:
        p.add_argument("--reports", type=_path, default=Path("reports"), help="reports folder (default: reports)")

    def data_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--epochs", type=_bounded(int, 1, 10000), help="epochs per run")
        p.add_argument("--dataset", choices=list(DATASETS), metavar="D",
                       help=f"data set: {', '.join(DATASETS)} (default: mnist5k, offline)")
        p.add_argument("--data-dir", type=_dir_text,
                       help="folder holding a torchvision data set (MNIST/raw, FashionMNIST/raw); "
                            "without it, mnist and fashion-mnist are downloaded")
        p.add_argument("--device", choices=list(DEVICES), metavar="DEV",
                       help="auto (cuda > mps > cpu; the default), cpu, cuda or mps")

    def storage(p: argparse.ArgumentParser) -> None:
        p.add_argument("--storage", help="Optuna storage URL (default: sqlite:///RESULTS/optuna.db); "
                                         "postgresql+psycopg2://USER:PW@HOST/DB to share a study between machines, "
                                         "journal:///FILE.log for many processes on one machine")

    run = sub.add_parser(
        "run", help="train a suite (reusing cached runs) and write its HTML report",
        description="Train every run of a suite that is not cached yet, then write reports/<suite>.html. "
                    "Interrupt and rerun at will: finished runs are kept. Instead of a suite, --config FILE or "
                    "--from-study NAME --trial N trains one configuration over several seeds.")
    what = run.add_mutually_exclusive_group(required=True)
    what.add_argument("--suite", choices=sorted(SUITES), metavar="NAME", help=f"suite: {', '.join(sorted(SUITES))}")
    what.add_argument("--suite-file", type=_path, metavar="FILE",
                      help="a suite of your own, as TOML or JSON: [defaults] and [[runs]] tables of RunConfig "
                           "fields, each run with an optional label and axis (see README)")
    what.add_argument("--config", type=_path, metavar="FILE",
                      help="JSON or TOML file of RunConfig fields (model, recon_loss, beta, latent_dim, ...)")
    what.add_argument("--from-study", type=_name, metavar="NAME", help="re-run a trial of a tuning study")
    run.add_argument("--trial", type=_bounded(int, 0, 10**9), help="trial number, with --from-study")
    storage(run)
    run.add_argument("--quick", action="store_true", help="smaller grids, fewer epochs and seeds (about a minute)")
    run.add_argument("--seeds", type=_bounded(int, 1, 100), help="seeds per run (default: 3; quick: 2)")
    data_options(run)
    run.add_argument("--executor", choices=EXECUTORS, default="inline",
                     help="where runs train: inline (this process, default), process (a local process pool), "
                          "ray (Ray tasks; pip install -e '.[ray]')")
    run.add_argument("--jobs", type=_bounded(int, 1, 1024), help="processes for --executor process (default: cores)")
    run.add_argument("--stack", choices=("auto", "on", "off"), default="auto",
                     help="train runs that differ only in seed and beta together (torch.func.vmap); auto = on "
                          "a GPU, where it wins (inline executor only)")
    run.add_argument("--address", help="Ray cluster address for --executor ray (default: start a local Ray)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    results(run)
    reports(run)

    lst = sub.add_parser("list", help="list suites, their runs and what is cached",
                         description="List the suites with their number of runs, and the cached results with "
                                     "their training throughput.")
    results(lst)

    rep = sub.add_parser("report", help="re-render a suite's or a study's report, without training",
                         description="Re-render reports/<suite>.html from the suite's stored results, or "
                                     "reports/study-<name>.html from a tuning study.")
    which = rep.add_mutually_exclusive_group(required=True)
    which.add_argument("--suite", type=_name, metavar="NAME", help="a suite that was run into --results")
    which.add_argument("--study", type=_name, metavar="NAME", help="a tuning study in --storage")
    storage(rep)
    results(rep)
    reports(rep)

    perf = sub.add_parser(
        "perf", help="measure throughput against the classic example and the matmul peak; gate regressions",
        description="Training and inference images/s of the harness, side by side in this process with the "
                    "classic PyTorch VAE example's pipeline (per-image ToTensor + DataLoader) and the machine's "
                    "float32 matmul peak. --compare fails (exit 1) when a ratio falls more than --max-regression "
                    "below the baseline's; ratios, not absolute times, so the gate holds on a noisy machine.")
    perf.add_argument("--device", choices=list(DEVICES), default="auto", metavar="DEV", help="auto, cpu, cuda, mps")
    perf.add_argument("--repeats", type=_bounded(int, 1, 20), default=3, help="interleaved rounds, best kept")
    perf.add_argument("--json", type=_path, metavar="FILE", help="write the measurements as JSON")
    perf.add_argument("--compare", type=_path, metavar="FILE", help="a stored JSON baseline to gate against")
    perf.add_argument("--max-regression", type=_bounded(float, 0, 1), default=0.15, metavar="F",
                      help="allowed fall of each ratio below the baseline, as a fraction (default 0.15)")
    perf.add_argument("--profile", action="store_true",
                      help="also print where the time goes in one training step and one evaluation")

    space = "; ".join(p.describe() for p in SEARCH_SPACE)
    tune = sub.add_parser(
        "tune", help="tune the loss balance with Optuna",
        description=f"Optuna search over the loss balance. Search space: {space} (warm-up capped by the epochs). "
                    f"Objectives: {objectives_help()}. Trials are scored on a validation split held out of the "
                    "training data. One objective prunes hopeless trials after each epoch; several give a Pareto "
                    "front (Optuna cannot prune multi-objective studies). Rerun the same command to resume: "
                    "--trials is the number of finished trials the study should hold.")
    tune.add_argument("--study", required=True, type=_name, metavar="NAME", help="study name (created or resumed)")
    tune.add_argument("--trials", required=True, type=_bounded(int, 1, 100000), metavar="N",
                      help="finished (complete or pruned) trials the study should hold")
    tune.add_argument("--objectives", default="test_recon,smoothness",
                      help="comma-separated objectives (default: test_recon,smoothness)")
    storage(tune)
    tune.add_argument("--workers", type=_bounded(int, 1, 256), default=1,
                      help="worker processes on this machine sharing the study (default 1)")
    tune.add_argument("--timeout", type=_bounded(float, 1, 10**7), metavar="S", help="stop starting trials after S s")
    tune.add_argument("--quick", action="store_true", help="3 epochs per trial instead of 10")
    data_options(tune)
    results(tune)
    tune.add_argument("--reports", type=_path, default=Path("reports"), help="where the study report goes")
    return parser


def _check_data(args: argparse.Namespace) -> None:
    from vae_core.data import load_dataset
    from vae_core.device import resolve_device

    dataset = args.dataset or "mnist5k"
    if args.data_dir is not None and dataset not in ("mnist", "fashion-mnist"):
        raise ConfigError(f"--data-dir applies to mnist and fashion-mnist, not {dataset}; drop it")
    resolve_device(args.device or "auto")
    load_dataset(dataset, args.data_dir)  # a missing data set fails here, before any folder is made


def _storage_url(args: argparse.Namespace) -> str:
    return args.storage or f"sqlite:///{(args.results / 'optuna.db').resolve()}"


def _existing_storage_url(args: argparse.Namespace, study: str) -> str:
    """The storage of an existing study; the default one must exist (opening it would create it)."""
    if args.storage is None and not (args.results / "optuna.db").is_file():
        raise ConfigError(f"no study storage in {args.results}; run python -m bench tune --study {study} "
                          "first, or pass --storage")
    return _storage_url(args)


def cmd_run(args: argparse.Namespace) -> int:
    from bench.report import write_report
    from bench.runner import run_suite
    from bench.store import prepare_folder
    from bench.suites import SUITES, SuiteOptions, config_suite, load_config_file

    if (args.trial is None) != (args.from_study is None):
        raise ConfigError("--from-study and --trial go together; give both")
    if args.suite is None and args.quick:
        raise ConfigError("--quick applies to suites; use --epochs with --config or --from-study")
    if args.executor != "ray" and args.address is not None:
        raise ConfigError("--address applies to --executor ray; drop it or add --executor ray")
    if args.executor != "inline" and args.stack == "on":
        raise ConfigError("--stack on applies to --executor inline; drop one of them")
    if args.executor != "process" and args.jobs is not None:
        raise ConfigError("--jobs applies to --executor process; drop it or add --executor process")
    options = SuiteOptions(quick=args.quick, seeds=args.seeds, epochs=args.epochs, dataset=args.dataset,
                           data_dir=args.data_dir, device=args.device)
    if args.suite is not None:  # a built-in suite takes the defaults; other kinds keep their own values
        suite = SUITES[args.suite]
        options = dataclasses.replace(options, dataset=args.dataset or "mnist5k", device=args.device or "auto")
    elif args.suite_file is not None:
        from bench.suites import load_suite_file

        suite = load_suite_file(args.suite_file, options)
    elif args.config is not None:
        from bench.suites import safe_name

        config = load_config_file(args.config)
        suite = config_suite(safe_name(f"config-{args.config.stem}"), f"the configuration in {args.config}",
                             config, options)
    else:
        from bench.tune import trial_config

        config = trial_config(_existing_storage_url(args, args.from_study), args.from_study, args.trial)
        suite = config_suite(f"study-{args.from_study}-trial-{args.trial}",
                             f"trial {args.trial} of study {args.from_study}, re-run on the train/test split",
                             config, options)
    runs = suite.build(options)
    args.dataset, args.data_dir = runs[0].config.dataset, runs[0].config.data_dir
    _check_data(args)
    results = prepare_folder(args.results, "results", "--results")
    reports = prepare_folder(args.reports, "reports", "--reports")
    records, manifest = run_suite(suite, runs, options, results, show_progress=not args.no_progress,
                                  executor=args.executor, workers=args.jobs, address=args.address,
                                  stack={"auto": None, "on": True, "off": False}[args.stack])
    path = write_report(suite.name, records, manifest, reports)
    bad = sum(r.status != "ok" for r in records)
    print(f"{len(records)} runs ({manifest['trained']} trained, {manifest['cached']} cached, {bad} not ok) "
          f"in {manifest['wall_seconds']:.1f} s")
    print(f"report: {path}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from bench.report import write_report
    from bench.store import Store, prepare_folder

    if args.study is not None:
        return _report_study(args)
    store = Store(args.results, args.suite)
    manifest_path = store.dir / "manifest.json"
    if not manifest_path.is_file():
        raise ConfigError(f"no results for suite {args.suite} in {args.results}; "
                          f"run python -m bench run --suite {args.suite} first")
    try:
        manifest = json.loads(manifest_path.read_text())
        keys = list(dict.fromkeys(e["key"] for e in manifest["entries"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{manifest_path} is unreadable ({exc}); rerun python -m bench run --suite {args.suite}") \
            from None
    records = [r for k in keys if (r := store.load(k)) is not None]
    missing = len(keys) - len(records)
    if not records:
        raise ConfigError(f"none of the runs listed in {manifest_path} is stored; "
                          f"rerun python -m bench run --suite {args.suite}")
    path = write_report(args.suite, records, manifest, prepare_folder(args.reports, "reports", "--reports"))
    if missing:
        print(f"warning: {missing} run(s) of the suite are not stored (failed or removed)", file=sys.stderr)
    print(f"report: {path}")
    return 0


def _report_study(args: argparse.Namespace) -> int:
    import optuna

    from bench.store import prepare_folder
    from bench.study_report import write_study_report
    from bench.tune import open_storage, quiet_optuna, redact

    quiet_optuna()
    url = _existing_storage_url(args, args.study)
    try:
        study = optuna.load_study(study_name=args.study, storage=open_storage(url))
    except KeyError:
        raise ConfigError(f"no study named {args.study} in {redact(url)}; check --study and --storage") from None
    path = write_study_report(study, url, prepare_folder(args.reports, "reports", "--reports"))
    print(f"report: {path}")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from bench.search_space import parse_objectives
    from bench.store import prepare_folder
    from bench.study_report import write_study_report
    from bench.tune import TuneOptions, open_storage, run_study

    objectives = parse_objectives(args.objectives)
    _check_data(args)
    opts = TuneOptions(study=args.study, trials=args.trials, objectives=objectives, storage=args.storage,
                       workers=args.workers, timeout=args.timeout, dataset=args.dataset or "mnist5k",
                       data_dir=args.data_dir, device=args.device or "auto",
                       epochs=args.epochs or (3 if args.quick else 10), results=args.results)
    if args.storage is not None:
        open_storage(args.storage)  # a bad URL or an unreachable server fails before any folder is made
    prepare_folder(args.results, "results", "--results")
    reports = prepare_folder(args.reports, "reports", "--reports")
    study = run_study(opts)
    print(f"report: {write_study_report(study, opts.storage_url, reports)}")
    return 0


def cmd_perf(args: argparse.Namespace) -> int:
    from bench import perf
    from vae_core.device import resolve_device

    device = resolve_device(args.device)
    baseline = None
    if args.compare is not None:
        try:
            baseline = json.loads(args.compare.read_text())
            baseline["ratios"]["harness_vs_classic_b128"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"--compare {args.compare} is not a perf baseline ({type(exc).__name__}: {exc}); "
                              "write one with python -m bench perf --json FILE") from None
    if args.json is not None and not args.json.parent.is_dir():
        raise ConfigError(f"--json {args.json}: folder {args.json.parent} does not exist; create it first")
    result = perf.measure(device, repeats=args.repeats)
    print(perf.table(result))
    if args.profile:
        print(perf.profile(device))
    if args.json is not None:
        perf.save(result, args.json)
        print(f"wrote {args.json}")
    if baseline is not None:
        failures = perf.compare(result, baseline, args.max_regression)
        for line in failures:
            print(f"REGRESSION: {line}", file=sys.stderr)
        if failures:
            return 1
        print(f"no regression beyond {args.max_regression:.0%} against {args.compare}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    import numpy as np

    from bench.store import Store, code_version, run_key
    from bench.suites import SUITES, SuiteOptions

    version = code_version()
    print(f"{'suite':<12} {'mode':<6} {'runs':>5} {'cached':>7} {'train images/s (median)':>24}  description")
    for name, suite in SUITES.items():
        store = Store(args.results, name)
        for quick in (False, True):
            keys = list(dict.fromkeys(run_key(r.config, version) for r in suite.build(SuiteOptions(quick=quick))))
            speeds = []
            for key in keys:
                path = store.run_dir(key) / "metrics.json"
                if path.is_file():
                    try:
                        speeds.append(json.loads(path.read_text())["metrics"]["train_images_per_s"])
                    except (ValueError, KeyError, TypeError):
                        pass
            speed = f"{np.median(speeds):,.0f}" if speeds else "-"
            print(f"{name:<12} {'quick' if quick else 'full':<6} {len(keys):>5} {len(speeds):>7} {speed:>24}  "
                  f"{suite.description if not quick else ''}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return {"run": cmd_run, "report": cmd_report, "list": cmd_list, "tune": cmd_tune,
                "perf": cmd_perf}[args.command](args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted: finished runs and trials are stored; run the same command again to continue",
              file=sys.stderr)
        return 130
