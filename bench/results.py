"""A stored suite as one table: every run a row (its suite, the axes it serves, label, key,
config fields, status and scalar metrics), read from the store that the report reads, for the
analyses a report does not make.

    from bench.results import load_runs
    df = load_runs("ablations")            # results/ablations/manifest.json and results/runs/
    df.groupby(["model", "recon_loss"]).test_recon_mse.mean()

`python -m bench export --suite NAME --out FILE.csv|FILE.parquet` writes the same table.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from bench.frames import records_frame
from bench.store import Store, write_atomic
from vae_core.config import ConfigError

#: The file formats `export_runs` writes, by suffix: how to turn the table into the file's bytes.
FORMATS: dict[str, Callable[[pd.DataFrame], bytes]] = {
    ".csv": lambda df: df.to_csv(index=False).encode(),
    ".parquet": lambda df: _parquet(df),
}


def load_runs(suite: str, results: Path | str = "results") -> pd.DataFrame:
    """The runs the suite's last invocation asked for and that are stored, one row each, in
    suite order: `suite`, `on_axes` (the report sections the run serves, comma-separated:
    the baseline serves several), then the columns of `bench.frames.records_frame`. A suite that
    was never run, or whose manifest is unreadable, is a one-line `ConfigError`."""
    manifest, records = Store(Path(results), suite).load_manifest_runs(with_images=False)
    axes: dict[str, list[str]] = {}
    for entry in manifest.entries:
        axes.setdefault(entry.key, []).append(entry.axis)
    df = records_frame(records, manifest.labels())
    df.insert(0, "on_axes", df.key.map(lambda key: ",".join(dict.fromkeys(axes[key]))))
    df.insert(0, "suite", manifest.suite)
    return df


def export_runs(suite: str, results: Path, out: Path) -> pd.DataFrame:
    """Write `load_runs(suite, results)` to `out`, as CSV or Parquet by its suffix (atomically:
    a reader never sees half a file); returns the table. The suffix and folder are checked
    before anything is read."""
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; give a file name ending in .csv or .parquet")
    if out.suffix.lower() not in FORMATS:
        raise ConfigError(f"--out {out}: write .csv or .parquet (the format is read from the suffix)")
    if not out.parent.is_dir():
        raise ConfigError(f"--out {out}: folder {out.parent} does not exist; create it first")
    df = load_runs(suite, results)
    write_atomic(out, FORMATS[out.suffix.lower()](df))
    return df


def _parquet(df: pd.DataFrame) -> bytes:
    try:
        import pyarrow  # noqa: F401  (pandas' Parquet engine)
    except ImportError:
        raise ConfigError("writing Parquet needs pyarrow: pip install -e '.[parquet]', or export to a .csv file") \
            from None
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()
