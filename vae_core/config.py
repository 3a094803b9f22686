"""The one description of a training run: a frozen, validated dataclass.

A run is a pure function of its `RunConfig` (plus the code version): the runner hashes
`config_dict(config)` to cache results, so every field that changes a result lives here and
nothing else does.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MODELS = ("ae", "vae", "cvae", "pooled")
ARCHS = ("mlp", "conv")
REGULARIZERS = ("kl", "moments")
RECON_LOSSES = ("mse", "bce", "gaussian")
DEVICES = ("auto", "cpu", "cuda", "mps")
EVAL_SPLITS = ("test", "validation")
PRECISIONS = ("fp32", "bf16")
#: A user's networks, `arch = "package.module:function"` (see `vae_core.models.user_networks`).
USER_ARCH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")
#: A user's data as a data set: `array:FILE` (an .npy/.npz, `vae_core.data.load_array`) or `images:FOLDER` (image
#: files, `vae_core.data.load_folder`); the prefix, and what follows it in a help page.
ARRAY, IMAGES = "array:", "images:"
USER_DATA = {ARRAY: "FILE", IMAGES: "FOLDER"}


class ConfigError(ValueError):
    """A configuration value a user gave is invalid; the message names the fix."""


@dataclass(frozen=True)
class RunConfig:
    """One training run. Defaults match the classic PyTorch VAE example (pytorch/examples,
    `vae/main.py`): MLP 784-400-20, Adam lr 1e-3, batch 128, BCE summed over pixels, beta 1.
    """

    # "ae" (deterministic code), "vae" (Gaussian posterior per input), "cvae" (class label given
    # to encoder and decoder, chapter fig 1.10) or "pooled" (one posterior for the whole batch:
    # the misconception of chapter fig 1.7)
    model: str = "vae"
    # "mlp" (the classic example), "conv" (two stride-2 convolutions each way; no hidden_dim), or a user's
    # networks as "module:function" (`vae_core.models.user_networks`; no hidden_dim)
    arch: str = "mlp"
    # "bce" (Bernoulli decoder), "mse" (Gaussian decoder, variance fixed at 1/2) or "gaussian" (Gaussian
    # decoder whose shared variance is calibrated to the data: Rybkin et al. 2021)
    recon_loss: str = "bce"
    recon_weight: float = 1.0  # weight of the reconstruction term; 0 = KL only (chapter fig 1.13, middle)
    beta: float = 1.0  # weight of the KL term (beta-VAE, Higgins et al. 2017); ignored by the AE
    # "kl": the closed form of eq. 1.6; "moments": the hand-made penalties of eq. 1.4/1.5,
    # 0.5 * (|mu|^2 + moment_ratio * |log sigma^2|^2), weighted by beta
    regularizer: str = "kl"
    moment_ratio: float = 0.5  # 0.5 = the KL's own balance near sigma = 1 (its 2nd-order expansion)
    adv_weight: float = 0.0  # weight of an adversarial loss on reconstructions (a remedy for blur); 0 = none
    kl_warmup_epochs: int = 0  # KL weight ramps linearly from 0 to beta over these epochs (Bowman et al. 2016)
    latent_dim: int = 20
    hidden_dim: int = 400
    epochs: int = 20
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    dataset: str = "mnist5k"
    data_dir: str | None = None  # only for torchvision data sets; None = download to the cache
    # images:FOLDER only: the square side, in pixels, each image is resized (shorter side) and centre-cropped to;
    # 0 = keep their size, which must then be one for all
    image_size: int = 0
    train_images: int = 0  # train on a stratified subset of this many training images; 0 = all (claim C2)
    eval_split: str = "test"  # "validation": train on 80% of the training split, score on the rest (tuning)
    iwae_k: int = 100  # importance samples of the IWAE bound; every power of 10 up to it is reported
    # "fp32", or "bf16": the network's forward pass in training under bfloat16 autocast (mixed precision:
    # the loss, the weights, Adam and the evaluation stay float32; `vae_core.train.forward`)
    precision: str = "fp32"
    device: str = "auto"

    def __post_init__(self) -> None:
        _check_choice("model", self.model, MODELS)
        _check_choice("recon_loss", self.recon_loss, RECON_LOSSES)
        _check_choice("device", self.device, DEVICES)
        _check_choice("eval_split", self.eval_split, EVAL_SPLITS)
        _check_choice("precision", self.precision, PRECISIONS)
        if not USER_ARCH.fullmatch(self.arch):
            _check_choice("arch", self.arch, ARCHS + ("module:function",))
        _check_choice("regularizer", self.regularizer, REGULARIZERS)
        _check_range("beta", self.beta, 0.0, 1e4)
        _check_range("recon_weight", self.recon_weight, 0.0, 1e4)
        _check_range("moment_ratio", self.moment_ratio, 0.0, 1e6)
        _check_range("adv_weight", self.adv_weight, 0.0, 1e4)
        _check_range("iwae_k", self.iwae_k, 1, 100_000, integer=True)
        if self.recon_weight == 0 and (self.model == "ae" or self.beta == 0):
            raise ConfigError("recon_weight=0 leaves nothing to train (an AE has no KL term, and beta is 0); "
                              "give one of them a positive weight")
        _check_range("latent_dim", self.latent_dim, 1, 4096, integer=True)
        _check_range("kl_warmup_epochs", self.kl_warmup_epochs, 0, 10000, integer=True)
        _check_range("hidden_dim", self.hidden_dim, 1, 65536, integer=True)
        _check_range("epochs", self.epochs, 1, 10000, integer=True)
        _check_range("batch_size", self.batch_size, 1, 1 << 20, integer=True)
        _check_range("lr", self.lr, 1e-8, 100.0)
        _check_range("seed", self.seed, 0, 2**31 - 1, integer=True)
        _check_range("train_images", self.train_images, 0, 10**9, integer=True)
        _check_range("image_size", self.image_size, 0, 1024, integer=True)
        if self.image_size and not self.dataset.startswith(IMAGES):
            raise ConfigError(f"image_size={self.image_size} resizes the images of an images:FOLDER data set, and "
                              f"{self.dataset[:SHOWN_KEY]} has a fixed size; leave image_size at 0")
        if 0 < self.image_size < 4:
            raise ConfigError(f"image_size={self.image_size} is too small; give 4 pixels or more, or 0 to keep the "
                              "images' own size")

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)

    @property
    def label(self) -> str:
        """Short human name, e.g. `vae-bce-b1-z20` (seed not included: seeds are pooled)."""
        arch = self.arch.rpartition(":")[2] + "-" if USER_ARCH.fullmatch(self.arch) else self.arch
        model = self.model if self.arch == "mlp" else f"{arch}{self.model}"
        label = f"{model}-{self.recon_loss}" + (f"-b{self.beta:g}" if self.model != "ae" else "")
        if self.regularizer == "moments":
            label += f"-mom{self.moment_ratio:g}"
        label += f"-z{self.latent_dim}"
        defaults = RunConfig.__dataclass_fields__
        for name, short in (("recon_weight", "r"), ("adv_weight", "adv"), ("kl_warmup_epochs", "w"), ("lr", "lr"),
                            ("hidden_dim", "h"), ("batch_size", "bs"), ("iwae_k", "k"), ("train_images", "n"),
                            ("image_size", "px")):
            value = getattr(self, name)
            if value != defaults[name].default:
                label += f"-{short}{value:g}"
        label += "-bf16" if self.precision == "bf16" else ""
        return label + ("-val" if self.eval_split == "validation" else "")

    @property
    def stochastic(self) -> bool:
        """Whether the model has a Gaussian posterior (and so a KL term)."""
        return self.model != "ae"


def config_dict(config: RunConfig) -> dict[str, Any]:
    """Plain dict of a config (JSON-able), in field order."""
    return dataclasses.asdict(config)


#: Characters of an unknown key that an error echoes: a key read from a file may be megabytes long.
SHOWN_KEY = 40


def shown_keys(keys: Iterable[object]) -> list[str]:
    """Keys as an error message shows them, sorted, each cut to SHOWN_KEY characters."""
    return [k if len(k) <= SHOWN_KEY else k[:SHOWN_KEY] + "..." for k in sorted(map(str, keys))]


def config_from_dict(data: dict[str, Any]) -> RunConfig:
    """Inverse of `config_dict`; unknown keys are an error, not silently dropped."""
    known = {f.name for f in dataclasses.fields(RunConfig)}
    if unknown := set(data) - known:
        raise ConfigError(f"unknown run config keys {shown_keys(unknown)}; known keys are {sorted(known)}")
    return RunConfig(**data)


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not one of {', '.join(choices)}")


def _check_range(name: str, value: object, low: float, high: float, integer: bool = False) -> None:
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigError(f"{name}={value!r} must be {'an integer' if integer else 'a number'}")
    if not (low <= value <= high):  # also rejects NaN
        raise ConfigError(f"{name}={value!r} is out of range; use a value in [{low:g}, {high:g}]")
