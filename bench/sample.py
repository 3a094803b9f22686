"""Trained models back from the results store, without retraining: find a stored run by its
key or its label, rebuild its network from its config, load the weights its run stored
(`model.pt`, read with `weights_only=True`, so nothing in it is executed), and draw images
from the prior.

    from bench.sample import load_model
    config, model = load_model("results", "vae-bce-b1-z20", suite="ablations", seed=0)
"""

from __future__ import annotations

import io
from pathlib import Path

import torch
from torchvision.utils import save_image

from bench.store import RUN_KEY, RUNS, Store, StoredRunError, load_weights, prepare_folder, write_atomic
from vae_core.config import ConfigError, RunConfig
from vae_core.data import load_dataset
from vae_core.metrics.rate import codes, prior_samples
from vae_core.models import AutoEncoder, build_model


def find_run(results: Path, run: str, suite: str | None = None, seed: int = 0) -> tuple[Store, str]:
    """The store and key of a stored run given by its key (any suite, or `suite`) or by its
    label in a suite's manifest (and `seed`); a one-line error when there is none or several."""
    if suite is not None:
        suites = [suite]
    else:
        suites = sorted(p.name for p in Path(results).iterdir() if p.is_dir()) if Path(results).is_dir() else []
    if RUN_KEY.fullmatch(run):  # in the shared runs/, or a suite's folder where an older version stored it
        found = [store for s in suites or [RUNS] if (store := Store(results, s)).run_dir(run).is_dir()]
        if not found:
            raise ConfigError(f"no stored run {run} in {results}{f'/{suite}' if suite else ''}; python -m bench list "
                              "--runs SUITE shows the keys")
        return found[0], run
    matches = []
    for name in suites:
        store = Store(results, name)
        if not store.manifest_path.is_file():
            continue
        manifest, records = store.load_manifest_runs(with_images=False)
        labels = manifest.labels()
        matches += [(store, r.key) for r in records
                    if labels.get(r.key, r.config.label) == run and r.config.seed == seed]
    if len(matches) != 1:
        where = f"suite {suite}" if suite else f"the suites in {results}"
        raise ConfigError(f"{'no run' if not matches else f'{len(matches)} runs'} labelled {run!r} with seed {seed} in "
                          f"{where}; {'give --suite' if matches else 'python -m bench list --runs SUITE shows them'}")
    return matches[0]


def load_model(results: Path | str, run: str, suite: str | None = None, seed: int = 0) -> tuple[RunConfig, AutoEncoder]:
    """The config and trained network (on the CPU, in eval mode) of a stored run."""
    store, key = find_run(Path(results), run, suite, seed)
    record = store.load(key, with_images=False)
    weights = load_weights(store.run_dir(key))
    if record is None or weights is None:
        raise ConfigError(f"run {store.run_dir(key)} was stored without its weights (run --no-weights, or an older "
                          "version); delete its folder and run the suite again to keep them")
    data = load_dataset(record.config.dataset, record.config.data_dir, record.config.image_size)
    model = build_model(record.config, data.image_shape, data.n_classes)
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:  # shapes or names that do not fit the config's network: damage
        raise StoredRunError(store.run_dir(key), exc) from None
    return record.config, model.eval()


@torch.no_grad()
def sample_images(config: RunConfig, model: AutoEncoder, n: int = 64, seed: int = 0) -> torch.Tensor:
    """`n` images decoded from the prior, (n, C, H, W) in [0, 1]: N(0, I) for a VAE; for an AE,
    which has none, the Gaussian fitted to its training codes, as the report's samples are
    (`vae_core.metrics.rate.prior_samples`). A conditional model gets the classes in turn."""
    data = load_dataset(config.dataset, config.data_dir, config.image_size)
    classes = torch.arange(n) % data.n_classes if model.n_classes else None
    z = prior_samples(model, n, torch.Generator().manual_seed(seed),
                      lambda: codes(model, data.train_x, data.train_y if model.n_classes else None))
    return torch.sigmoid(model.decode(z, classes))


def write_samples(results: Path, run: str, out: Path | None, reports: Path, suite: str | None = None,
                  seed: int = 0, n: int = 64) -> Path:
    """Draw `n` samples of a stored run into a PNG grid: `out`, or `<reports>/samples-<key>.png`."""
    store, key = find_run(results, run, suite, seed)
    config, model = load_model(results, key, store.dir.name)
    if out is None:
        out = prepare_folder(reports, "reports", "--reports") / f"samples-{key}.png"
    elif not out.parent.is_dir():
        raise ConfigError(f"--out {out}: folder {out.parent} does not exist; create it first")
    buf = io.BytesIO()
    save_image(sample_images(config, model, n), buf, format="png", nrow=max(1, round(n**0.5)), padding=1,
               pad_value=0.5)
    write_atomic(out, buf.getvalue())
    return out
