"""Command line: `python -m bench run | list | report | export | sample | tune | perf`.

Parse the arguments, check them, build the typed options (`bench.options`) and hand them down;
the arguments are read, never written. A user's mistake ends with one line naming the problem
and the fix, exit status 2, no traceback, and nothing on disk changed: every option is checked
before a folder is touched. Nothing heavy is imported to parse: the registries that give an
option its choices (suites, data sets, executors) are imported when a value is checked against
them or a help page lists them, and torch, pandas and Optuna by the command that runs, so
`python -m bench --help` answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from bench.argtypes import bounded, dataset_text, file_path, name_text, seed_list, setting
from bench.options import ExecOptions, PerfOptions, SuiteOptions, TuneOptions, default_storage_url
from vae_core.config import DEVICES, PRECISIONS, USER_DATA, ConfigError, RunConfig

if TYPE_CHECKING:
    from bench.suites import Suite

EXIT_USAGE = 2
STACK = {"auto": None, "on": True, "off": False}


class Names:
    """The names of a registry (`module.attribute`), imported when argparse first checks a value
    against them or lists them in a help page, not when the parser is built."""

    def __init__(self, module: str, attribute: str, ordered: bool = False, prefixes: dict[str, str] | None = None
                 ) -> None:
        self.module, self.attribute, self.ordered, self.prefixes = module, attribute, ordered, prefixes or {}

    def names(self) -> list[str]:
        names = list(getattr(importlib.import_module(self.module), self.attribute))
        return names if self.ordered else sorted(names)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names() + [prefix + what for prefix, what in self.prefixes.items()])

    def __contains__(self, name: object) -> bool:  # a `prefixes` value (array:FILE) is checked by its type
        return name in self.names() or str(name).startswith(tuple(self.prefixes))


SUITE_NAMES = Names("bench.suites", "SUITES")
DATASET_NAMES = Names("vae_core.data", "DATASETS", ordered=True, prefixes=USER_DATA)
EXECUTOR_NAMES = Names("bench.executors", "EXECUTORS", ordered=True)


class _Parser(argparse.ArgumentParser):
    """One line for a usage error; a description that needs the registries (`describe`) is
    written when the help page is shown."""

    def __init__(self, *args: object, describe: Callable[[], str] | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.describe = describe

    def format_help(self) -> str:
        if self.describe is not None:
            self.description = self.describe()
        return super().format_help()

    def error(self, message: str) -> None:  # one line instead of usage + message
        self.exit(EXIT_USAGE, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def tune_description() -> str:
    from bench.search_space import SEARCH_SPACE, objectives_help

    space = "; ".join(p.describe() for p in SEARCH_SPACE)
    return (f"Optuna search over the loss balance. Search space: {space} (warm-up capped by the epochs). "
            f"Objectives: {objectives_help()}. Trials are scored on a validation split held out of the "
            "training data. One objective prunes hopeless trials after each epoch; several give a Pareto "
            "front (Optuna cannot prune multi-objective studies). Rerun the same command to resume: "
            "--trials is the number of finished trials the study should hold.")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m bench", description="Benchmark and ablation harness for autoencoders.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def folders(p: argparse.ArgumentParser, reports: bool = True) -> None:
        p.add_argument("--results", type=file_path, default=Path("results"), help="results folder (default: results)")
        if reports:
            p.add_argument("--reports", type=file_path, default=Path("reports"),
                           help="reports folder (default: reports)")

    def data_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--epochs", type=bounded(int, 1, 10000), help="epochs per run")
        p.add_argument("--dataset", type=dataset_text, choices=DATASET_NAMES, metavar="D",
                       help="data set: %(choices)s (default: mnist5k, offline; array:FILE is your own .npy/.npz "
                            "of images, images:FOLDER your image files, see docs/own-data.md)")
        p.add_argument("--data-dir", type=lambda t: str(file_path(t)),
                       help="folder holding a torchvision data set (MNIST/raw, FashionMNIST/raw, "
                            "cifar-10-batches-py, celeba); without it, they are downloaded")
        p.add_argument("--image-size", type=bounded(int, 4, 1024), metavar="PX",
                       help="images:FOLDER only: resize (shorter side) and centre-crop every image to PX x PX")
        p.add_argument("--device", choices=list(DEVICES), metavar="DEV",
                       help="auto (cuda > mps > cpu; the default), cpu, cuda or mps")
        p.add_argument("--precision", choices=list(PRECISIONS), metavar="P",
                       help="fp32 (the default) or bf16: train every run in bfloat16 mixed precision (the network "
                            "under autocast; the loss, weights and metrics in float32)")

    def storage(p: argparse.ArgumentParser) -> None:
        p.add_argument("--storage", help="Optuna storage URL (default: sqlite:///RESULTS/optuna.db); "
                                         "postgresql+psycopg2://USER:PW@HOST/DB to share a study between machines, "
                                         "journal:///FILE.log for many processes on one machine")

    run = sub.add_parser(
        "run", help="train a suite (reusing cached runs) and write its HTML report",
        description="Train every run of a suite that is not cached yet, then write reports/<suite>.html. "
                    "Interrupt and rerun at will: finished runs are kept. Instead of a suite, --config FILE or "
                    "--from-study NAME --trial N trains one configuration over several seeds.")
    what = run.add_mutually_exclusive_group()
    what.add_argument("--suite", choices=SUITE_NAMES, metavar="NAME", help="suite: %(choices)s")
    what.add_argument("--suite-file", type=file_path, metavar="FILE",
                      help="a suite of your own, as TOML or JSON: [defaults] and [[runs]] tables of RunConfig "
                           "fields, each run with an optional label and axis (see docs/usage.md)")
    what.add_argument("--config", type=file_path, metavar="FILE",
                      help="JSON or TOML file of RunConfig fields (model, recon_loss, beta, latent_dim, ...)")
    what.add_argument("--from-study", type=name_text, metavar="NAME", help="re-run a trial of a tuning study")
    run.add_argument("--trial", type=bounded(int, 0, 10**9), help="trial number, with --from-study")
    storage(run)
    run.add_argument("--quick", action="store_true", help="smaller grids, fewer epochs and seeds (about a minute)")
    run.add_argument("--seeds", type=bounded(int, 1, 100), help="seeds per run (default: 3; quick: 2)")
    run.add_argument("--seed-list", type=seed_list, metavar="S1,S2,...", help="these seeds instead of 0 to N-1")
    run.add_argument("--set", type=setting, action="append", default=[], metavar="FIELD=V[,V...]",
                     help="set a RunConfig field of --config, --suite-file, --from-study or, alone, the default "
                          "config; several values sweep it (--set beta=0.5,1,2 --set lr=1e-3,3e-4: 6 configs)")
    run.add_argument("--dry-run", action="store_true", help="print the runs it would train, then stop")
    data_options(run)
    run.add_argument("--executor", choices=EXECUTOR_NAMES, default="inline", metavar="EXECUTOR",
                     help="where runs train: inline (this process, default), process (a local process pool), "
                          "ray (Ray tasks; pip install -e '.[ray]')")
    run.add_argument("--jobs", type=bounded(int, 1, 1024), help="processes for --executor process (default: cores)")
    run.add_argument("--stack", choices=list(STACK), default="auto",
                     help="train runs that differ only in seed, beta, KL warm-up and reconstruction loss together "
                          "(torch.func.vmap); auto = on a GPU, where it wins (inline executor only)")
    run.add_argument("--compile", action="store_true",
                     help="compile the stacked training step with torch.compile, once per batch shape (CUDA "
                          "graphs on a GPU); the compile time is reported apart from the training time")
    run.add_argument("--address", help="Ray cluster address for --executor ray (default: start a local Ray)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--no-report", action="store_true", help="train and store the runs but write no report "
                     "(python -m bench report --suite NAME renders it later from the stored runs)")
    run.add_argument("--no-weights", action="store_true", help="do not store the trained weights (model.pt, "
                     "about 2.6 MB per run of the default MLP); python -m bench sample needs them")
    folders(run)

    lst = sub.add_parser("list", help="list suites, their runs and what is cached",
                         description="List the suites with their number of runs, and the cached results with "
                                     "their training throughput.")
    lst.add_argument("--runs", type=name_text, metavar="SUITE", help="the runs of one stored suite, with their "
                     "label, key, status and headline metrics")
    folders(lst, reports=False)

    smp = sub.add_parser("sample", help="draw images from a stored run's trained model, without retraining",
                         description="Rebuild a stored run's network from its config and stored weights and "
                                     "decode samples from its prior into a PNG grid.")
    smp.add_argument("--run", required=True, metavar="KEY|LABEL", help="a run key, or a label with --seed "
                     "(python -m bench list --runs SUITE shows both)")
    smp.add_argument("--suite", type=name_text, metavar="NAME", help="the suite to look in (default: all)")
    smp.add_argument("--seed", type=bounded(int, 0, 2**31 - 1), default=0, help="the seed of a run given by label")
    smp.add_argument("--n", type=bounded(int, 1, 1024), default=64, help="images to draw (default 64)")
    smp.add_argument("--out", type=file_path, metavar="FILE", help="PNG file (default: REPORTS/samples-KEY.png)")
    folders(smp)

    exp = sub.add_parser("export", help="write a stored suite's runs as one table (CSV or Parquet)",
                         description="One row per run of the suite's last invocation: its suite, the axes it "
                                     "serves, label, key, config fields, status and scalar metrics, read from the "
                                     "stored results the report reads; the format follows --out's suffix. In "
                                     "Python: bench.results.load_runs(SUITE, RESULTS) gives the same DataFrame.")
    exp.add_argument("--suite", required=True, type=name_text, metavar="NAME", help="a suite run into --results")
    exp.add_argument("--out", required=True, type=file_path, metavar="FILE", help="FILE.csv or FILE.parquet "
                     "(Parquet needs pyarrow: pip install -e '.[parquet]')")
    folders(exp, reports=False)

    rep = sub.add_parser("report", help="re-render a suite's or a study's report, without training",
                         description="Re-render reports/<suite>.html from the suite's stored results, or "
                                     "reports/study-<name>.html from a tuning study.")
    which = rep.add_mutually_exclusive_group(required=True)
    which.add_argument("--suite", type=name_text, metavar="NAME", help="a suite that was run into --results")
    which.add_argument("--study", type=name_text, metavar="NAME", help="a tuning study in --storage")
    storage(rep)
    folders(rep)

    perf = sub.add_parser(
        "perf", help="measure throughput against the classic example and the matmul peak; gate regressions",
        description="Training and inference images/s of the harness, side by side in this process with the "
                    "classic PyTorch VAE example's pipeline (per-image ToTensor + DataLoader), the training "
                    "step's own matrix products alone and the machine's float32 matmul peak. --compare fails "
                    "(exit 1) when a gated ratio falls more than --max-regression below the baseline's in two "
                    "measurements in a row; ratios, not absolute times, so the gate holds on a noisy machine. "
                    "fit() against a plain step of the same arithmetic is gated; the ratios to the classic "
                    "pipeline and to the step's matrix products, and the peak fractions, are reported, not "
                    "gated (they vary between machines and runs).")
    perf.add_argument("--device", choices=list(DEVICES), default="auto", metavar="DEV", help="auto, cpu, cuda, mps")
    perf.add_argument("--repeats", type=bounded(int, 1, 20), default=3, help="interleaved rounds, best kept")
    perf.add_argument("--json", type=file_path, metavar="FILE", help="write the measurements as JSON")
    perf.add_argument("--compare", type=file_path, metavar="FILE", help="a stored JSON baseline to gate against")
    perf.add_argument("--max-regression", type=bounded(float, 0, 1), default=0.15, metavar="F",
                      help="allowed fall of each ratio below the baseline, as a fraction (default 0.15)")
    perf.add_argument("--profile", action="store_true",
                      help="also print where the time goes in one training step and one evaluation")
    perf.add_argument("--memory", action="store_true",
                      help="instead, measure peak host (and GPU) memory of runs on data sets of CIFAR-10's and "
                           "CelebA's sizes, stored as uint8 and as float32 (minutes: four processes in turn)")
    perf.add_argument("--evaluation", action="store_true",
                      help="instead, measure what scoring one run costs beside training it, by metric group "
                           "(the default VAE, 20 epochs on mnist5k; under a minute on 2 CPU cores)")
    perf.add_argument("--scaling", action="store_true",
                      help="instead, measure a suite's cost against data size (5k, 20k, 60k images) and number "
                           "of runs (1, 8, 64 stacked), and whether it grows linearly (minutes)")
    perf.add_argument("--sampling", action="store_true",
                      help="instead, measure what the evaluation's sample sizes buy: its seconds at the suites' "
                           "sizes and at half, against how much each sampled figure moves between evaluation "
                           "seeds and between training seeds (the default VAE and AE, 4 seeds each; about 2 "
                           "minutes on 2 CPU cores)")

    tune = sub.add_parser("tune", help="tune the loss balance with Optuna", describe=tune_description)
    tune.add_argument("--study", required=True, type=name_text, metavar="NAME", help="study name (created or resumed)")
    tune.add_argument("--trials", required=True, type=bounded(int, 1, 100000), metavar="N",
                      help="finished (complete or pruned) trials the study should hold")
    tune.add_argument("--objectives", default="test_recon,smoothness",
                      help="comma-separated objectives (default: test_recon,smoothness)")
    storage(tune)
    tune.add_argument("--workers", type=bounded(int, 1, 256), default=1,
                      help="worker processes on this machine sharing the study (default 1)")
    tune.add_argument("--timeout", type=bounded(float, 1, 10**7), metavar="S", help="stop starting trials after S s")
    tune.add_argument("--quick", action="store_true", help="3 epochs per trial instead of 10")
    data_options(tune)
    folders(tune)
    return parser


def storage_url(args: argparse.Namespace) -> str:
    """--storage, or the default one (a study is read with `create=False`: never made here)."""
    return args.storage or default_storage_url(args.results)


RUN_CONFLICTS = (  # (applies when, message)
    (lambda a: a.seeds is not None and a.seed_list is not None, "--seeds and --seed-list both set seeds; give one"),
    (lambda a: a.suite is not None and a.set, "--set changes the runs of --config, --suite-file, --from-study or "
     "the default config; a built-in suite sweeps a fixed grid (change it with --epochs, --dataset, --seeds, "
     "--precision)"),
    (lambda a: a.suite_file is not None and any(len(v) > 1 for _, v in a.set),
     "--set with several values sweeps one config; in a suite file, list the runs (one value per --set here)"),
    (lambda a: len({n for n, _ in a.set}) < len(a.set), "--set gives one field twice; give each field once"),
    (lambda a: not (a.suite or a.suite_file or a.config or a.from_study or a.set),
     "nothing to run: give --suite NAME, --suite-file FILE, --config FILE, --from-study NAME or --set FIELD=V"),
    (lambda a: (a.trial is None) != (a.from_study is None), "--from-study and --trial go together; give both"),
    (lambda a: a.suite is None and a.quick, "--quick applies to suites; use --epochs with --config or --from-study"),
    (lambda a: a.executor != "ray" and a.address is not None,
     "--address applies to --executor ray; drop it or add --executor ray"),
    (lambda a: a.executor != "inline" and a.stack == "on", "--stack on applies to --executor inline; drop one of them"),
    (lambda a: a.executor != "process" and a.jobs is not None,
     "--jobs applies to --executor process; drop it or add --executor process"),
)


def _suite(args: argparse.Namespace, options: SuiteOptions) -> Suite:
    """The suite `run` was asked for: built in, from a suite file, a config file or a study trial."""
    from bench import suites
    from bench.suites import SUITES, config_suite

    if args.suite is not None:
        return SUITES[args.suite]
    if args.suite_file is not None:
        return suites.load_suite_file(args.suite_file, options)
    if args.config is not None:
        return config_suite(suites.name_from_file("config", args.config), f"the configuration in {args.config}",
                            suites.load_config_file(args.config), options)
    if args.from_study is None:  # --set alone: the default config, changed or swept
        return config_suite("sweep", "the default configuration with "
                            + " ".join(f"--set {n}={','.join(map(str, v))}" for n, v in args.set), RunConfig(), options)
    from bench.tune import trial_config

    config = trial_config(storage_url(args), args.from_study, args.trial)
    return config_suite(f"study-{args.from_study}-trial-{args.trial}",
                        f"trial {args.trial} of study {args.from_study}, re-run on the train/test split",
                        config, options)


def run(args: argparse.Namespace) -> int:
    for applies, message in RUN_CONFLICTS:
        if applies(args):
            raise ConfigError(message)
    options = SuiteOptions(quick=args.quick, seeds=args.seeds, seed_list=args.seed_list, epochs=args.epochs,
                           dataset=args.dataset, data_dir=args.data_dir, image_size=args.image_size, device=args.device,
                           precision=args.precision, settings=tuple(args.set))
    how = ExecOptions(executor=args.executor, jobs=args.jobs, address=args.address, stack=STACK[args.stack],
                      compile=args.compile,
                      progress=not args.no_progress, keep_weights=not args.no_weights)
    from bench import commands

    return commands.run(_suite(args, options), options, how, args.results, None if args.no_report else args.reports,
                        dry_run=args.dry_run)


def report(args: argparse.Namespace) -> int:
    from bench import commands

    if args.study is not None:
        return commands.report_study(args.study, storage_url(args), args.reports)
    return commands.report_suite(args.suite, args.results, args.reports)


def tune(args: argparse.Namespace) -> int:
    from bench import commands
    from bench.search_space import parse_objectives

    opts = TuneOptions(study=args.study, trials=args.trials, objectives=parse_objectives(args.objectives),
                       storage=args.storage, workers=args.workers, timeout=args.timeout,
                       dataset=args.dataset or "mnist5k", data_dir=args.data_dir, image_size=args.image_size or 0,
                       device=args.device or "auto", precision=args.precision or "fp32",
                       epochs=args.epochs or (3 if args.quick else 10), results=args.results)
    return commands.tune(opts, args.reports)


def sample(args: argparse.Namespace) -> int:
    from bench.sample import write_samples

    print(f"samples: {write_samples(args.results, args.run, args.out, args.reports, args.suite, args.seed, args.n)}")
    return 0


def export(args: argparse.Namespace) -> int:
    from bench.results import export_runs

    df = export_runs(args.suite, args.results, args.out)
    print(f"{len(df)} runs x {df.shape[1]} columns of suite {args.suite}: {args.out}")
    return 0


def perf(args: argparse.Namespace) -> int:
    from bench import commands

    return commands.perf(PerfOptions(device=args.device, repeats=args.repeats, json=args.json, compare=args.compare,
                                     max_regression=args.max_regression, profile=args.profile, memory=args.memory,
                                     evaluation=args.evaluation, scaling=args.scaling,
                                     sampling=args.sampling))


def list_(args: argparse.Namespace) -> int:
    from bench import commands

    return commands.list_suites(args.results, args.runs)


COMMANDS = {"run": run, "report": report, "list": list_, "tune": tune, "perf": perf, "sample": sample,
            "export": export}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted: finished runs and trials are stored; run the same command again to continue",
              file=sys.stderr)
        return 130
