"""Command line: `python -m bench run | list | report`.

A user's mistake ends with one line naming the problem and the fix, exit status 2, no
traceback, and nothing on disk changed: every option is checked before a folder is touched.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vae_core.config import ConfigError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        self.exit(EXIT_USAGE, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def _bounded_int(low: int, high: int) -> type:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range; use {low} to {high}")
        return value
    parse.__name__ = "integer"
    return parse  # type: ignore[return-value]


def build_parser() -> argparse.ArgumentParser:
    from bench.suites import SUITES
    from vae_core.config import DEVICES
    from vae_core.data import DATASETS

    parser = _Parser(prog="python -m bench", description="Benchmark and ablation harness for autoencoders.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def folders(p: argparse.ArgumentParser) -> None:
        p.add_argument("--results", type=Path, default=Path("results"), help="results folder (default: results)")
        p.add_argument("--reports", type=Path, default=Path("reports"), help="reports folder (default: reports)")

    run = sub.add_parser("run", help="train a suite (reusing cached runs) and write its HTML report",
                         description="Train every run of a suite that is not cached yet, then write "
                                     "reports/<suite>.html. Interrupt and rerun at will: finished runs are kept.")
    run.add_argument("--suite", required=True, choices=sorted(SUITES), metavar="NAME",
                     help=f"suite to run: {', '.join(sorted(SUITES))}")
    run.add_argument("--quick", action="store_true", help="smaller grids, fewer epochs and seeds (about a minute)")
    run.add_argument("--seeds", type=_bounded_int(1, 100), help="number of seeds per run (default: 3, quick 2)")
    run.add_argument("--epochs", type=_bounded_int(1, 10000), help="epochs per run (default: 20, quick 5)")
    run.add_argument("--dataset", default="mnist5k", choices=list(DATASETS), metavar="D",
                     help=f"data set: {', '.join(DATASETS)} (default: mnist5k, offline)")
    run.add_argument("--data-dir", help="folder holding a torchvision data set (MNIST/raw, FashionMNIST/raw); "
                                        "without it, mnist and fashion-mnist are downloaded")
    run.add_argument("--device", default="auto", choices=list(DEVICES), metavar="DEV",
                     help="auto (cuda > mps > cpu), cpu, cuda or mps")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    folders(run)

    lst = sub.add_parser("list", help="list suites, their runs and what is cached",
                         description="List the suites with their number of runs, and the cached results with "
                                     "their training throughput.")
    lst.add_argument("--results", type=Path, default=Path("results"), help="results folder (default: results)")

    rep = sub.add_parser("report", help="re-render a suite's report from stored results, without training",
                         description="Re-render reports/<suite>.html from the results of the suite's last run.")
    rep.add_argument("--suite", required=True, choices=sorted(SUITES), metavar="NAME",
                     help=f"suite: {', '.join(sorted(SUITES))}")
    folders(rep)
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    from bench.report import write_report
    from bench.runner import run_suite
    from bench.store import prepare_folder
    from bench.suites import SUITES, SuiteOptions
    from vae_core.data import load_dataset
    from vae_core.device import resolve_device

    if args.data_dir is not None and args.dataset not in ("mnist", "fashion-mnist"):
        raise ConfigError(f"--data-dir applies to mnist and fashion-mnist, not {args.dataset}; drop it")
    resolve_device(args.device)
    options = SuiteOptions(quick=args.quick, seeds=args.seeds, epochs=args.epochs, dataset=args.dataset,
                           data_dir=args.data_dir, device=args.device)
    runs = SUITES[args.suite].build(options)
    load_dataset(args.dataset, args.data_dir)  # a missing data set fails here, before any folder is made
    results = prepare_folder(args.results, "results", "--results")
    reports = prepare_folder(args.reports, "reports", "--reports")
    records, manifest = run_suite(args.suite, runs, options, results, show_progress=not args.no_progress)
    path = write_report(args.suite, records, manifest, reports)
    bad = sum(r.status != "ok" for r in records)
    print(f"{len(records)} runs ({manifest['trained']} trained, {manifest['cached']} cached, {bad} not ok) "
          f"in {manifest['wall_seconds']:.1f} s")
    print(f"report: {path}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from bench.report import write_report
    from bench.store import Store, prepare_folder

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
        return {"run": cmd_run, "report": cmd_report, "list": cmd_list}[args.command](args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted: finished runs are stored; run the same command again to continue", file=sys.stderr)
        return 130
