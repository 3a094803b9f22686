"""Throughput measured in the open, as ratios to references measured in the same process.

Machines here are noisy (shared cores, turbo, neighbours), so absolute images/s are reported
but never gated on. References are measured beside the harness in the same process,
interleaved, over `repeats` rounds:
- a plain training step (`plain_images_per_s`): the harness's default 784-400-20 VAE and loss
  written out by hand, on float images already on the device, with nothing else; each harness
  run follows its plain run, so a pair sees the same machine;
- the classic PyTorch VAE example's pipeline (pytorch/examples `vae/main.py`): a torchvision
  MNIST-format data set with a per-image `ToTensor` transform, a shuffling `DataLoader`, the
  784-400-20 MLP, BCE + KL summed, `loss.item()` every step, Adam 1e-3, batch 128, fed the same
  mnist5k training images (written once as MNIST idx files);
- the step's own matrix products alone (`gemm_images_per_s`), the arithmetic floor of the step;
- the machine's float32 matmul peak (a large square matmul), against which the training step's
  arithmetic (6 FLOP per weight per image) is a fraction.
The gate (`compare`) checks `fit()` against the plain step (the median of the rounds' pairs):
both do the same arithmetic and element-wise work on the same cores, so the ratio carries from
one machine to another and stays within a few per cent on one (0.95-0.98), while any work the
harness adds (a second forward pass, slower bookkeeping) lowers it. The other ratios are
reported, not gated, because they move with the machine: the GEMM fractions set element-wise
work against matrix products, whose relative cost depends on the CPU's caches and on
neighbours (at batch 128: 0.52-0.75 in CI runs of one code, which failed a 25% gate once); the
classic pipeline is per-image Python, bound by one core's speed (harness vs classic 1.92x to
4.32x across machines and runs); the peak fractions compare small products with a large one.

Reported beside them: the conv VAE on 32x32 and 64x64 RGB images (`conv_figures`, its FLOP
counted by `torch.utils.flop_counter`): `fit()`, and its training step with channels-last
memory, bfloat16 autocast and (on a GPU) TF32 and `torch.compile`, each alone and together,
against the matching matmul peak. Instead, with `--memory`, the peak memory of runs on data sets
of CIFAR-10's and CelebA's sizes stored as uint8 and as float32 (`memory`); with
`--evaluation`, what scoring a run costs beside training it, by metric group
(`evaluation_share`); with `--scaling`, a suite's cost against data size and number of runs
(`scaling`); with `--sampling`, what the evaluation's sample sizes buy (`bench.sampling`).
"""

from __future__ import annotations

import json
import platform
import statistics
import struct
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import vae_core.stacked as stacking
from vae_core.config import RunConfig
from vae_core.data import Dataset, load_dataset, unit_float
from vae_core.device import resolve_device, synchronize
from vae_core.metrics.throughput import inference_images_per_s
from vae_core.models import build_model
from vae_core.train import fit, loss_terms, make_optimizer

if TYPE_CHECKING:
    from vae_core.evaluator import Evaluator

GATED = ("harness_vs_plain_b128", "harness_vs_plain_b512")
REPORTED = ("gemm_fraction_b128", "gemm_fraction_b512", "harness_vs_classic_b128", "peak_fraction_b128",
            "peak_fraction_b512")  # shown, not gated


def machine_id(device: str) -> str:
    """Where a measurement was made: the processor (or GPU) and threads, shown in the table."""
    if device == "cuda":
        return torch.cuda.get_device_name(0)
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {torch.get_num_threads()} threads"


def train_flop_per_image(model: nn.Module) -> float:
    """FLOP of one training image through the linear layers: 2 per weight forward, 4 backward
    (input and weight gradients); 3.9 MFLOP for the default 784-400-20 VAE."""
    weights = sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, nn.Linear))
    return 6.0 * weights


def matmul_peak_gflops(device: str, n: int = 2048, repeats: int = 10, dtype: torch.dtype = torch.float32) -> float:
    """GFLOP/s of an n x n matmul in `dtype`: the machine's practical peak for this arithmetic
    (float32 as PyTorch runs it by default: TF32 off on a GPU)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def gemm_images_per_s(model: nn.Module, device: str, batch_size: int, steps: int = 50) -> float:
    """Images/s of the training step's matrix products alone: for each linear layer of `model`,
    x @ W^T (forward), g @ W (input gradient) and g^T @ x (weight gradient) at `batch_size`, on
    random tensors made once. No element-wise work, optimiser or data handling: the step's
    arithmetic floor on this machine, which `fit()` can approach but not pass."""
    products = [(torch.randn(batch_size, m.in_features, device=device),
                 torch.randn(m.out_features, m.in_features, device=device),
                 torch.randn(batch_size, m.out_features, device=device))
                for m in model.modules() if isinstance(m, nn.Linear)]

    def step() -> None:
        for x, w, g in products:
            x @ w.T, g @ w, g.T @ x

    for _ in range(5):
        step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return steps * batch_size / (time.perf_counter() - start)


class PlainVAE(nn.Module):
    """The harness's default network written out by hand: 784-400 ReLU, one head giving mean and
    log-variance (400-40), 20-400 ReLU-784 logits; the reference of the gated ratios."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.head = nn.Linear(784, 400), nn.Linear(400, 40)
        self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.head(F.relu(self.fc1(x.flatten(1)))).chunk(2, dim=-1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.fc4(F.relu(self.fc3(z))), mu, logvar


def plain_images_per_s(device: str, images: torch.Tensor, batch_size: int, epochs: int = 2) -> float:
    """Training images/s of the same step as `fit()`'s default run, written plainly: float
    images already on the device, a shuffled gather per batch, BCE on logits summed per image
    and KL in closed form averaged over the batch, fused Adam; no labels, loss bookkeeping,
    history or per-epoch sync. The same arithmetic as the harness on the same cores, so the
    harness's fraction of it carries between machines, and work the harness adds lowers it."""
    torch.manual_seed(0)
    model = PlainVAE().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    order = torch.Generator().manual_seed(0)
    n = images.shape[0]
    synchronize(device)
    start = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=order).to(device)
        for i in range(0, n, batch_size):
            x = images[perm[i:i + batch_size]]
            logits, mu, logvar = model(x)
            recon = F.binary_cross_entropy_with_logits(logits, x.flatten(1), reduction="none").sum(1).mean()
            kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).sum(1).mean()
            optimizer.zero_grad(set_to_none=True)
            (recon + kl).backward()
            optimizer.step()
    synchronize(device)
    return epochs * n / (time.perf_counter() - start)


class ClassicVAE(nn.Module):
    """The model of the classic example, as users write it: separate mean and log-variance
    heads, a sigmoid decoder, and BCE on probabilities."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = F.relu(self.fc1(x.view(-1, 784)))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar


def write_mnist_idx(root: Path, images: torch.Tensor, labels: torch.Tensor) -> Path:
    """Write images in [0, 1] as torchvision's MNIST/raw training files (idx format)."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    pixels = (images.squeeze(1).numpy() * 255).round().astype(np.uint8)
    n = len(pixels)
    (raw / "train-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x803, n, 28, 28) + pixels.tobytes())
    (raw / "train-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, n)
                                                  + labels.numpy().astype(np.uint8).tobytes())
    for name, magic, shape in (("t10k-images-idx3-ubyte", 0x803, (0, 28, 28)), ("t10k-labels-idx1-ubyte", 0x801, (0,))):
        (raw / name).write_bytes(struct.pack(f">I{len(shape)}I", magic, *shape))
    return root


def classic_images_per_s(device: str, root: Path, epochs: int = 1, batch_size: int = 128) -> float:
    """Training images/s of the classic example's pipeline on the MNIST files under `root`."""
    import torchvision

    data = torchvision.datasets.MNIST(str(root), train=True, transform=torchvision.transforms.ToTensor())
    extra = {"num_workers": 1, "pin_memory": True} if device == "cuda" else {}
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True, **extra)
    torch.manual_seed(0)
    model = ClassicVAE().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    total = 0.0
    synchronize(device)
    start = time.perf_counter()
    for _ in range(epochs):
        for x, _ in loader:
            x = x.to(device)
            optimizer.zero_grad()
            recon, mu, logvar = model(x)
            loss = F.binary_cross_entropy(recon, x.view(-1, 784), reduction="sum") \
                - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            loss.backward()
            total += loss.item()
            optimizer.step()
    synchronize(device)
    return epochs * len(data) / (time.perf_counter() - start)


def step_flop_per_image(config: RunConfig, image_shape: tuple[int, int, int], batch: int = 8) -> float:
    """FLOP of one training image through every layer, forward and backward, as PyTorch's own
    counter (`torch.utils.flop_counter`) counts the matrix products and convolutions of one step
    of the harness's loss (3.3 MFLOP for the default MLP VAE, where `train_flop_per_image` counts
    3.9: the first layer's input gradient, which it includes, is never computed)."""
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    model = build_model(config, image_shape)
    x = torch.rand(batch, *image_shape)
    with FlopCounterMode(display=False) as counter:
        loss_terms(model, x, config)["loss"].backward()
    return counter.get_total_flops() / batch


#: The conv VAE on RGB images, as `perf` measures it: on `shapes` (32x32), and on `shapes`
#: upsampled to 64x64 (`rgb_images`), the resolution of CelebA as the harness trains it.
CONV_RGB = RunConfig(arch="conv", dataset="shapes")
CONV_SIZES = (32, 64)
CONV_BATCH = 256
#: Ways of running a training step, measured one at a time and then together (`step_images_per_s`):
#: channels-last memory (NHWC, which oneDNN and cuDNN convolutions prefer), bfloat16 autocast
#: (the harness's `precision="bf16"`),
#: and on a GPU TF32 matmuls and `torch.compile` as `run --compile` compiles (CUDA graphs,
#: `vae_core.stacked.compiled`; on the CPU inductor's compile takes longer than the whole perf
#: run, and `stacked_vs_sequential(compiled=True)` measures it there).
STEP_VARIANTS = {"fp32": (), "channels_last": ("channels_last",), "bf16": ("bf16",),
                 "channels_last+bf16": ("channels_last", "bf16")}
GPU_STEP_VARIANTS = {"tf32": ("tf32",), "compiled": ("compiled",),
                     "channels_last+bf16+compiled": ("channels_last", "bf16", "compiled")}


def rgb_images(size: int, n: int) -> torch.Tensor:
    """`n` of the `shapes` training images at `size` x `size` (bilinear), float in [0, 1]."""
    x = unit_float(load_dataset("shapes").train_x[:n])
    return x if size == x.shape[-1] else F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def step_images_per_s(config: RunConfig, images: torch.Tensor, device: str, features: tuple[str, ...] = (),
                      steps: int = 6, warmup: int = 2) -> float:
    """Images/s of the harness's training step (`loss_terms` + Adam, as `fit()` runs it) at
    `config.batch_size` on `images` already on `device`, with the `features` of `STEP_VARIANTS`
    or `GPU_STEP_VARIANTS`; timed over `steps` steps after `warmup` (and any compilation)."""
    torch.manual_seed(0)
    batch = config.batch_size
    if images.shape[0] < batch:
        raise ValueError(f"a step at batch {batch} needs at least {batch} images, not {images.shape[0]}")
    x = images[: images.shape[0] // batch * batch].to(device)
    model = build_model(config, tuple(x.shape[1:])).to(device)
    if "channels_last" in features:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    optimizer = make_optimizer(model.parameters(), config)
    config = config.replace(precision="bf16" if "bf16" in features else "fp32")

    def step(xb: torch.Tensor) -> torch.Tensor:
        loss = loss_terms(model, xb, config)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    run = stacking.compiled(step, resolve_device(device)) if "compiled" in features else step
    batches = x.split(batch)
    with tf32_matmuls("tf32" in features):
        for i in range(warmup):
            run(batches[i % len(batches)])
        synchronize(device)
        start = time.perf_counter()
        for i in range(steps):
            run(batches[i % len(batches)])
        synchronize(device)
        return steps * batch / (time.perf_counter() - start)


@contextmanager
def tf32_matmuls(enabled: bool) -> Iterator[None]:
    """CUDA float32 matmuls in TF32 (`enabled`) or not, inside the block; the setting before it
    restored after (a no-op off a GPU)."""
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous


def peak_for(features: tuple[str, ...], peaks: dict[str, float]) -> float:
    """The matmul peak a variant's arithmetic runs against: bf16's, TF32's, or float32's."""
    return peaks["bf16" if "bf16" in features else "tf32" if "tf32" in features else "fp32"]


def conv_figures(device: str, peaks: dict[str, float], repeats: int = 2, n_images: int = 1024) -> dict[str, dict]:
    """The conv VAE at 32x32 and 64x64 RGB (`CONV_SIZES`), batch `CONV_BATCH`: `fit()`'s training
    images/s (two epochs on `n_images`, best of `repeats`) and each step variant's (4 steps after
    one of warm-up, best of `repeats`), each with its fraction of the matching matmul peak
    (`peak_for`; FLOP per image from `step_flop_per_image`)."""
    variants = STEP_VARIANTS | (GPU_STEP_VARIANTS if resolve_device(device) == "cuda" else {})
    out: dict[str, dict] = {}
    for size in CONV_SIZES:
        images = rgb_images(size, n_images)
        config = CONV_RGB.replace(batch_size=CONV_BATCH, epochs=2, device=device)
        flop = step_flop_per_image(CONV_RGB, tuple(images.shape[1:]))
        y = torch.zeros(len(images), dtype=torch.int64)
        data = Dataset(f"shapes{size}", images, y, images[:CONV_BATCH], y[:CONV_BATCH]).to(device)
        fit_ips = max(fit(config, data).train_images_per_s for _ in range(repeats))
        figure = {"image_size": size, "train_mflop_per_image": flop / 1e6, "batch": CONV_BATCH,
                  "fit_images_per_s": fit_ips, "fit_peak_fraction": fit_ips * flop / 1e9 / peaks["fp32"], "steps": {}}
        for name, features in variants.items():
            try:  # the images `data` already holds on the device
                ips = max(step_images_per_s(config, data.train_x, device, features, steps=4, warmup=1)
                          for _ in range(repeats))
            except Exception as exc:  # report what failed instead of hiding the whole table
                figure["steps"][name] = {"error": f"{type(exc).__name__}: {exc}"[:200]}
                continue
            figure["steps"][name] = {"images_per_s": ips, "peak_fraction": ips * flop / 1e9 / peak_for(features, peaks)}
        out[f"rgb{size}"] = figure
    return out


def matmul_peaks(device: str, fp32: float | None = None) -> dict[str, float]:
    """The matmul peaks a step's fraction is taken against: float32 (`fp32` where already
    measured), bfloat16 and, on a GPU, TF32."""
    peaks = {"fp32": fp32 or matmul_peak_gflops(device), "bf16": matmul_peak_gflops(device, dtype=torch.bfloat16)}
    if resolve_device(device) == "cuda":
        with tf32_matmuls(True):
            peaks["tf32"] = matmul_peak_gflops(device)
    return peaks


#: Data sets of CIFAR-10's and CelebA's sizes at the resolution the harness trains them:
#: (training images, test images, image shape). `perf --memory` fills them with random pixels.
MEMORY_SETS = {"cifar10": (50_000, 10_000, (3, 32, 32)), "celeba64": (162_770, 19_962, (3, 64, 64))}
MEMORY_STAGES = ("loaded", "on device", "trained", "scored")


def memory_case(name: str, dtype: str, device: str, steps: int = 20) -> dict:
    """Peak memory of this process (run it in a fresh one) through the stages of a run on a data
    set of `MEMORY_SETS[name]`'s size stored as `dtype` ("uint8", as the harness keeps 8-bit
    data, or "float32"): built on the host, moved to `device`, `steps` training steps of the conv
    VAE at batch 128 (each batch made float on the device), then scored as `evaluate` scores
    reconstructions (the test split made float once; the training split read in batches).
    Host: peak resident set (getrusage), bytes; device: torch's peak allocation on CUDA."""
    import resource

    from vae_core.data import iterate_batches
    from vae_core.metrics import evaluate

    n_train, n_test, shape = MEMORY_SETS[name]
    generator = torch.Generator().manual_seed(0)

    def images(n: int) -> torch.Tensor:
        out = torch.empty((n, *shape), dtype=getattr(torch, dtype))
        for i in range(0, n, 8192):  # a chunk at a time: no transient copy of the whole set
            chunk = torch.randint(0, 256, (min(8192, n - i), *shape), dtype=torch.uint8, generator=generator)
            out[i : i + 8192] = chunk if dtype == "uint8" else chunk.float() / 255
        return out

    def peaks() -> dict:
        host = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
        return {"host_bytes": host, "device_bytes": torch.cuda.max_memory_allocated() if device == "cuda" else None}

    labels = lambda n: torch.arange(n) % 10  # noqa: E731
    data = Dataset(name, images(n_train), labels(n_train), images(n_test), labels(n_test))
    stages = {"loaded": peaks()}
    data = data.to(device)
    stages["on device"] = peaks()
    config = CONV_RGB.replace(dataset=name, device=device)
    torch.manual_seed(0)
    model = build_model(config, data.image_shape).to(device)
    optimizer = make_optimizer(model.parameters(), config)
    batches = iterate_batches((data.train_x,), config.batch_size, torch.Generator().manual_seed(0))
    for _ in range(steps):
        (x,) = next(batches)
        loss = loss_terms(model, unit_float(x, device), config)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    synchronize(device)
    stages["trained"] = peaks()
    evaluate(model, data, config.recon_loss, only=["test_recon_mse", "mean_image_mse"])
    stages["scored"] = peaks()
    data_bytes = sum(t.numel() * t.element_size() for t in (data.train_x, data.test_x))
    return {"set": name, "dtype": dtype, "device": device, "images": n_train + n_test, "image_shape": list(shape),
            "data_bytes": data_bytes, "steps": steps, "stages": stages}


def memory(device: str, steps: int = 20) -> dict:
    """`memory_case` for each set of `MEMORY_SETS` stored as uint8 and as float32, each in a
    fresh process (a process's peak is its own), one after another."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    cases = []
    for name in MEMORY_SETS:
        for dtype in ("uint8", "float32"):
            with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                cases.append(pool.submit(memory_case, name, dtype, device, steps).result())
            print(memory_line(cases[-1]), flush=True)
    return {"device": device, "machine": machine_id(device), "torch": torch.__version__, "cases": cases}


def memory_line(case: dict) -> str:
    gb = lambda b: "n/a" if b is None else f"{b / 1e9:.2f} GB"  # noqa: E731
    stages = case["stages"]
    return (f"{case['set']:<9} {case['images']:>7,} images {'x'.join(map(str, case['image_shape']))} as "
            f"{case['dtype']:<7} data {gb(case['data_bytes']):>8}; peak host "
            + ", ".join(f"{s} {gb(stages[s]['host_bytes'])}" for s in MEMORY_STAGES)
            + (f"; peak device {gb(stages['scored']['device_bytes'])}" if case["device"] == "cuda" else ""))


def harness_images_per_s(device: str, data: Dataset, batch_size: int, epochs: int = 2) -> float:
    """Training images/s of the harness's own `fit()` (per-epoch bookkeeping included)."""
    result = fit(RunConfig(batch_size=batch_size, epochs=epochs, device=device), data)
    return result.train_images_per_s


def paired_median(values: list[float], references: list[float]) -> float:
    """Median over rounds of each value divided by the reference measured beside it."""
    return statistics.median(v / r for v, r in zip(values, references, strict=True))


def measure(device: str = "auto", repeats: int = 3, epochs: int = 2, ungated: bool = True) -> dict:
    """Every figure of the perf table, best of `repeats` interleaved rounds; `ungated=False`
    skips the figures no gate reads (stacked training, GPU variants)."""
    device = resolve_device(device)
    data = load_dataset("mnist5k")
    model = build_model(RunConfig(), data.image_shape)
    flop = train_flop_per_image(model)
    runs: dict[str, list[float]] = {k: [] for k in ("classic_b128", "plain_b128", "harness_b128", "plain_b512",
                                                    "harness_b512", "gemm_b128", "gemm_b512", "peak_gflops")}
    with tempfile.TemporaryDirectory(prefix="vae-bench-perf-") as tmp:
        root = write_mnist_idx(Path(tmp), unit_float(data.train_x), data.train_y)
        device_data = data.to(device)
        plain_x = unit_float(device_data.train_x)
        harness_images_per_s(device, device_data, 128, epochs=1)  # warm-up
        plain_images_per_s(device, plain_x, 512, epochs=1)
        for _ in range(repeats):
            runs["peak_gflops"].append(matmul_peak_gflops(device))
            runs["gemm_b128"].append(gemm_images_per_s(model, device, 128))
            runs["gemm_b512"].append(gemm_images_per_s(model, device, 512))
            runs["classic_b128"].append(classic_images_per_s(device, root, epochs=1))
            for batch in (128, 512):  # each harness run right after its reference: a pair sees the same machine
                runs[f"plain_b{batch}"].append(plain_images_per_s(device, plain_x, batch, epochs))
                runs[f"harness_b{batch}"].append(harness_images_per_s(device, device_data, batch, epochs))
        infer = inference_images_per_s(model.to(device).eval(), unit_float(device_data.test_x), repeats=5)
    best = {k: max(v) for k, v in runs.items()}
    peak = best["peak_gflops"]
    out = {
        "device": device,
        "device_name": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "machine": machine_id(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "train_mflop_per_image": flop / 1e6,
        "images_per_s": {**{k: v for k, v in best.items() if k != "peak_gflops"}, "inference_b1024": infer},
        "peak_gflops": peak,
        "ratios": {
            **{f"harness_vs_plain_b{b}": paired_median(runs[f"harness_b{b}"], runs[f"plain_b{b}"])
               for b in (128, 512)},
            "harness_vs_classic_b128": best["harness_b128"] / best["classic_b128"],
            "gemm_fraction_b128": best["harness_b128"] / best["gemm_b128"],
            "gemm_fraction_b512": best["harness_b512"] / best["gemm_b512"],
            "peak_fraction_b128": best["harness_b128"] * flop / 1e9 / peak,
            "peak_fraction_b512": best["harness_b512"] * flop / 1e9 / peak,
        },
    }
    if not ungated:
        return out
    out["stacked"] = stacked_vs_sequential(device, device_data)
    peaks = matmul_peaks(device, fp32=peak)
    out |= {f"{k}_peak_gflops": v for k, v in peaks.items() if k != "fp32"}  # fp32's is "peak_gflops"
    out["conv"] = conv_figures(device, peaks, repeats=min(repeats, 2))
    if device == "cuda":
        out["gpu_variants"] = gpu_variants(device_data)
    return out


def stacked_vs_sequential(device: str, data: Dataset, n_models: int = 8, epochs: int = 2,
                          compiled: bool | None = None) -> dict[str, float]:
    """Training images/s summed over `n_models` seeds, trained together (`fit_stacked`) and one
    after another (`fit`), and their ratio (the per-model speed-up). With `compiled` (default: on
    a GPU, where CUDA graphs can win) also the stack with its step compiled (`run --compile`),
    counted over training time as the runner reports it (the compile time apart) against the
    eager stack's training time."""
    from vae_core.stacked import fit_stacked

    configs = [RunConfig(epochs=epochs, device=device, seed=s) for s in range(n_models)]
    fit_stacked(configs[:2], data)  # warm-up
    start = time.perf_counter()
    eager = fit_stacked(configs, data)[0]
    stacked = n_models * epochs * data.train_x.shape[0] / (time.perf_counter() - start)
    start = time.perf_counter()
    for config in configs:
        fit(config, data)
    sequential = n_models * epochs * data.train_x.shape[0] / (time.perf_counter() - start)
    out = {"models": n_models, "stacked_images_per_s": stacked, "sequential_images_per_s": sequential,
           "ratio": stacked / sequential}
    if compiled if compiled is not None else resolve_device(device) == "cuda":
        result = fit_stacked(configs, data, compile_step=True)[0]
        out |= {"compiled_images_per_s": n_models * result.train_images_per_s, "compile_seconds":
                result.compile_seconds, "compiled_vs_eager": eager.train_seconds / result.train_seconds}
    return out


def gpu_variants(data: Dataset) -> dict[str, float | str]:
    """Training-step images/s on a GPU of the default MLP VAE at batch 128 and 1024, with each
    step variant of `STEP_VARIANTS` and `GPU_STEP_VARIANTS` that applies to it (an MLP's input
    has no memory layout to choose), over 200 steps after 10 of warm-up (and compilation)."""
    images = unit_float(data.train_x)
    out: dict[str, float | str] = {}
    for batch in (128, 1024):
        for name, features in (STEP_VARIANTS | GPU_STEP_VARIANTS).items():
            if "channels_last" in features:
                continue
            try:
                out[f"{name}_b{batch}"] = step_images_per_s(RunConfig(batch_size=batch), images, "cuda", features,
                                                            steps=200, warmup=10)
            except Exception as exc:  # report what failed instead of hiding the whole table
                out[f"{name}_b{batch}_error"] = f"{type(exc).__name__}: {exc}"[:200]
    return out


def best_of(first: dict, second: dict) -> dict:
    """`second` with each ratio the better of two measurements (a re-measurement after a failed
    gate: one slow round on a shared machine is noise, two in a row are a regression)."""
    return {**second, "ratios": {k: max(v, first["ratios"].get(k, v)) for k, v in second["ratios"].items()}}


def compare(current: dict, baseline: dict, max_regression: float) -> list[str]:
    """Ratios that fell more than `max_regression` (a fraction) below the baseline's."""
    failures = []
    for name in GATED:
        base, now = baseline["ratios"].get(name), current["ratios"].get(name)
        if base is not None and now is not None and now < base * (1 - max_regression):
            failures.append(f"{name} fell from {base:.3f} to {now:.3f} ({now / base - 1:+.0%}, allowed "
                            f"-{max_regression:.0%})")
    return failures


def table(result: dict) -> str:
    ips, ratios, peak = result["images_per_s"], result["ratios"], result["peak_gflops"]
    flop = result["train_mflop_per_image"] * 1e6
    lines = [f"device {result['device']} ({result.get('machine', result['device_name'])}), torch {result['torch']}, "
             f"{result['threads']} torch threads; matmul peak {peak:,.0f} GFLOP/s; "
             f"{result['train_mflop_per_image']:.2f} MFLOP per training image",
             f"{'what':<38} {'images/s':>12} {'vs classic':>11} {'vs plain':>9} {'% of GEMMs':>11} {'% of peak':>10}"]
    rows = [("classic example pipeline, batch 128", "classic_b128", None, None),
            ("plain step, batch 128", "plain_b128", None, None),
            ("plain step, batch 512", "plain_b512", None, None),
            ("the step's matrix products, batch 128", "gemm_b128", None, None),
            ("the step's matrix products, batch 512", "gemm_b512", None, None),
            ("harness fit(), batch 128", "harness_b128", "harness_vs_plain_b128", "gemm_fraction_b128"),
            ("harness fit(), batch 512", "harness_b512", "harness_vs_plain_b512", "gemm_fraction_b512")]
    for name, key, vs_plain, fraction in rows:
        value = ips[key]
        lines.append(f"{name:<38} {value:>12,.0f} {value / ips['classic_b128']:>10.2f}x "
                     f"{format(ratios[vs_plain], '.3f') if vs_plain else '':>9} "
                     f"{format(ratios[fraction], '.0%') if fraction else '':>11} {value * flop / 1e9 / peak:>9.0%}")
    lines.append(f"{'inference (encode+decode), batch 1024':<38} {ips['inference_b1024']:>12,.0f}")
    peaks = stored_peaks(result)
    # a GPU step's % is of its own arithmetic's peak (`peak_for`), as the conv lines' are
    variants = STEP_VARIANTS | GPU_STEP_VARIANTS
    for name, value in result.get("gpu_variants", {}).items():
        blank = f"{'':>11} {'':>9} {'':>11}"
        features = variants.get(name.rsplit("_b", 1)[0], ())
        lines.append(f"{'GPU step ' + name:<38} " + (
            f"{value:>12,.0f} {blank} {value * flop / 1e9 / peak_for(features, peaks):>9.0%}"
            if isinstance(value, float) else str(value)))
    for figure in result.get("conv", {}).values():
        lines += conv_lines(figure, peaks)
    if "stacked" in result:
        lines += stacked_lines(result["stacked"])
    lines.append("gated ratios: " + ", ".join(f"{k} {ratios[k]:.3f}" for k in GATED) + "; reported: "
                 + ", ".join(f"{k} {ratios[k]:.3f}" for k in REPORTED))
    return "\n".join(lines)


def stored_peaks(result: dict) -> dict[str, float]:
    """The matmul peaks of `matmul_peaks` as `measure` stores them: float32's as "peak_gflops",
    each other one as "{name}_peak_gflops" (bf16, and on a GPU tf32)."""
    others = {k.removesuffix("_peak_gflops"): v for k, v in result.items() if k.endswith("_peak_gflops")}
    return {"fp32": result["peak_gflops"]} | others


def conv_lines(figure: dict, peaks: dict[str, float]) -> list[str]:
    """The table's lines of one image size of `conv_figures`."""
    size, batch = figure["image_size"], figure["batch"]
    what = f"conv VAE, {size}x{size} RGB, batch {batch}"
    lines = [f"{what + ', fit()':<38} {figure['fit_images_per_s']:>12,.0f} {'':>11} {'':>9} {'':>11} "
             f"{figure['fit_peak_fraction']:>9.0%}"]
    for name, step in figure["steps"].items():
        label = f"  step, {name}"
        lines.append(f"{label:<38} " + (f"{step['images_per_s']:>12,.0f} {'':>11} {'':>9} {'':>11} "
                                        f"{step['peak_fraction']:>9.0%}" if "error" not in step else step["error"]))
    others = ", ".join(f"{k} {v:,.0f}" for k, v in peaks.items() if k != "fp32")
    lines.append(f"  ({figure['train_mflop_per_image']:.1f} MFLOP per training image, counted by "
                 f"torch.utils.flop_counter; a bf16 step's % is of the bf16 matmul peak, GFLOP/s: {others})")
    return lines


def stacked_lines(st: dict) -> list[str]:
    """The table's lines of `stacked_vs_sequential`'s figure."""
    lines = [f"{st['models']} models, batch 128, stacked (vmap) vs one after another: "
             f"{st['stacked_images_per_s']:,.0f} vs {st['sequential_images_per_s']:,.0f} images/s "
             f"summed over models ({st['ratio']:.2f}x)"]
    if "compiled_images_per_s" in st:
        lines.append(f"  the stack with its step compiled (run --compile): {st['compiled_images_per_s']:,.0f} "
                     f"images/s over training time ({st['compiled_vs_eager']:.2f}x the eager stack's), "
                     f"after {st['compile_seconds']:.1f} s compiling")
    return lines


def save(result: dict, path: Path) -> None:
    path.write_text(json.dumps(result, indent=1) + "\n")


def profile(device: str, steps: int = 20) -> str:
    """Where the time goes: torch.profiler tables (top operators by self time) of `steps`
    training steps of the default VAE at batch 128, and of one `evaluate()` on mnist5k."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from vae_core.metrics import evaluate

    data = load_dataset("mnist5k").to(device)
    config = RunConfig(device=device)
    torch.manual_seed(0)
    model = build_model(config, data.image_shape).to(device)
    optimizer = make_optimizer(model.parameters(), config)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    sort = "self_cuda_time_total" if device == "cuda" else "self_cpu_time_total"
    batches = unit_float(data.train_x[: steps * 128]).view(steps, 128, *data.image_shape)
    with torch_profile(activities=activities) as train_prof:
        for x in batches:
            loss = loss_terms(model, x, config)["loss"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        synchronize(device)
    with torch_profile(activities=activities) as eval_prof:
        evaluate(model, data)
        synchronize(device)
    return (f"== {steps} training steps, batch 128 ==\n{train_prof.key_averages().table(sort_by=sort, row_limit=12)}"
            f"\n== one evaluate() on mnist5k ==\n{eval_prof.key_averages().table(sort_by=sort, row_limit=12)}")


def evaluation_share(device: str, dataset: str = "mnist5k", epochs: int = 20, repeats: int = 3,
                     n_stacked: int = 8) -> dict:
    """What scoring one run costs beside training it: the default VAE trained `epochs` epochs on
    `dataset` (as the ablations suite trains it on mnist5k), then `evaluate()` with the data
    set's evaluator network, every metric group, best of `repeats`; and the seconds of each
    group in `GROUPS` order (best of `repeats` too), where a tensor several groups share (the
    test posterior, the prior samples) counts for the first group that reads it. After the first
    round `vae_core.metrics` keeps the reference test images' nearest training distances,
    sharpness, evaluator features and their k-NN radii, as it does for every run of a suite after
    the first.
    Then `stacked_evaluation` for `n_stacked` models (none for 0)."""
    from vae_core.evaluator import train_evaluator
    from vae_core.metrics import GROUPS, IWAE_K, Scoring, evaluate

    data = load_dataset(dataset).to(device)
    evaluator = train_evaluator(data, device)
    start = time.perf_counter()
    model = fit(RunConfig(dataset=dataset, device=device, epochs=epochs), data).model
    train_s = time.perf_counter() - start
    evaluate_s = []
    for _ in range(repeats):
        start = time.perf_counter()
        evaluate(model, data, evaluator=evaluator)
        synchronize(device)
        evaluate_s.append(time.perf_counter() - start)
    groups: dict[str, float] = {}
    with torch.no_grad():
        model.eval()
        for _ in range(repeats):  # a fresh Scoring each round, so its shared tensors are computed anew
            scoring = Scoring(model, data, "bce", evaluator, IWAE_K)
            for group in GROUPS:
                if group.applies(scoring):
                    start = time.perf_counter()
                    group.compute(scoring)
                    synchronize(device)
                    seconds = time.perf_counter() - start
                    groups[group.name] = min(seconds, groups.get(group.name, seconds))
    out = {"device": device, "machine": machine_id(device), "torch": torch.__version__, "dataset": dataset,
           "epochs": epochs, "repeats": repeats, "train_s": train_s, "evaluate_s": min(evaluate_s),
           "groups_s": groups}
    if n_stacked:
        out["stacked"] = stacked_evaluation(device, data, evaluator, n_stacked, repeats=repeats)
    return out


def stacked_evaluation(device: str, data: Dataset, evaluator: Evaluator | None, n_models: int = 8, epochs: int = 2,
                       repeats: int = 3) -> dict:
    """Seconds per model of scoring `n_models` default VAEs (seeds 0, 1, ..., trained together
    `epochs` epochs) one after another with `evaluate()` against all at once with
    `evaluate_stacked()`, every metric group, each on its seed's draws as a suite scores it
    (`run_draws`), best of `repeats` each, interleaved, so that both see the same machine;
    `speedup` is alone / stacked (higher is better). The stacked time is also split into its two
    stages, the vmapped model passes (`passes_s_per_model`) and the figures computed one model at
    a time (`figures_s_per_model`, the evaluator's features among them), which stacking leaves as
    they are."""
    from vae_core.metrics import evaluate, run_draws, score, stacked_scorings

    configs = [RunConfig(dataset=data.name, device=device, epochs=epochs, seed=s) for s in range(n_models)]
    models = [r.model for r in stacking.fit_stacked(configs, data)]
    draws = [run_draws(config.seed) for config in configs]
    evaluate(models[0], data, evaluator=evaluator)  # the kept real-image figures, as for every run but a suite's first
    alone, passes, figures = [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        for model, model_draws in zip(models, draws, strict=True):
            evaluate(model, data, evaluator=evaluator, draws=model_draws)
        synchronize(device)
        alone.append((time.perf_counter() - start) / n_models)
        start = time.perf_counter()
        # in parts, as `evaluate_stacked`
        scorings = list(stacked_scorings(models, data, evaluator=evaluator, draws=draws))
        synchronize(device)
        passes.append((time.perf_counter() - start) / n_models)
        start = time.perf_counter()
        for s in scorings:
            score(s)
        synchronize(device)
        figures.append((time.perf_counter() - start) / n_models)
    stacked = [p + f for p, f in zip(passes, figures, strict=True)]
    best = stacked.index(min(stacked))  # the round whose stages are reported
    return {"models": n_models, "epochs": epochs, "alone_s_per_model": min(alone),
            "stacked_s_per_model": min(stacked), "speedup": min(alone) / min(stacked),
            "passes_s_per_model": passes[best], "figures_s_per_model": figures[best]}


def evaluation_share_table(share: dict) -> str:
    """`evaluation_share`'s result as the text `bench perf --evaluation` prints."""
    total = share["train_s"] + share["evaluate_s"]
    lines = [f"== one run of the default VAE on {share['dataset']}, {share['epochs']} epochs ==",
             f"training {share['train_s']:.2f} s, evaluation {share['evaluate_s']:.2f} s (best of {share['repeats']}): "
             f"evaluation is {share['evaluate_s'] / total:.0%} of the run",
             "seconds by metric group (a shared tensor counts for the first group that reads it):"]
    lines += [f"  {name:<18} {seconds:6.3f}" for name, seconds in share["groups_s"].items()]
    if stacked := share.get("stacked"):
        lines.append(f"{stacked['models']} models scored one after another: {stacked['alone_s_per_model']:.2f} s "
                     f"per model; stacked (evaluate_stacked): {stacked['stacked_s_per_model']:.2f} s per model, "
                     f"{stacked['speedup']:.2f}x (its model passes {stacked['passes_s_per_model']:.2f} s, the figures "
                     f"computed one model at a time {stacked['figures_s_per_model']:.2f} s)")
    return "\n".join(lines)


SCALING_SIZES = (5_000, 20_000, 60_000)  # images, train and test together (4:1, as mnist5k)
SCALING_RUNS = (1, 8, 64)  # runs of one suite, stacked where the runner stacks them (on a GPU)
SCALING_TOLERANCE = 1.25  # "linear": no part's cost per unit above this multiple of the smallest point's


def scaled_mnist(n_images: int, seed: int = 0) -> Dataset:
    """mnist5k's images repeated up to `n_images` (train and test kept apart, 4:1), every copy
    after the first rolled by -2..2 pixels in each direction, so a larger set is not the same
    images again: the sizes of MNIST (60,000) and beyond without a download."""
    base = load_dataset("mnist5k")
    generator = torch.Generator().manual_seed(seed)

    def grow(x: torch.Tensor, y: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        parts, labels = [x], [y]
        while sum(len(p) for p in parts) < n:
            dy, dx = torch.randint(-2, 3, (2,), generator=generator).tolist()
            parts.append(torch.roll(x, shifts=(dy, dx), dims=(2, 3)))
            labels.append(y)
        return torch.cat(parts)[:n], torch.cat(labels)[:n]

    n_test = n_images // 5
    train_x, train_y = grow(base.train_x, base.train_y, n_images - n_test)
    test_x, test_y = grow(base.test_x, base.test_y, n_test)
    return Dataset(f"mnist-{n_images}", train_x, train_y, test_x, test_y)


def suite_cost(data: Dataset, n_runs: int, device: str, epochs: int) -> dict:
    """Seconds a suite of `n_runs` default VAEs (seeds 0, 1, ...) costs on `data`: its evaluator
    network trained once, the runs trained and scored as the runner's `--stack auto` does (one
    stack on a GPU, one after another elsewhere), with every metric group; and the
    suite-level throughput, training images (runs x epochs x training set) per second of the
    whole suite, evaluator and scoring included (`images_per_s`, higher is better)."""
    from vae_core.evaluator import train_evaluator
    from vae_core.metrics import evaluate, evaluate_stacked, run_draws
    from vae_core.stacked import fit_stacked

    data = data.to(device)
    start = time.perf_counter()
    evaluator = train_evaluator(data, device)
    evaluator_s = time.perf_counter() - start
    configs = [RunConfig(dataset=data.name, device=device, epochs=epochs, seed=s) for s in range(n_runs)]
    stacked = n_runs > 1 and resolve_device(device) == "cuda"
    start = time.perf_counter()
    results = fit_stacked(configs, data) if stacked else [fit(config, data) for config in configs]
    synchronize(device)
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    draws = [run_draws(config.seed) for config in configs]  # each seed its own, as a suite scores them
    if stacked:
        evaluate_stacked([result.model for result in results], data, evaluator=evaluator, draws=draws)
    else:
        for result, run_draw in zip(results, draws, strict=True):
            evaluate(result.model, data, evaluator=evaluator, draws=run_draw)
    synchronize(device)
    evaluate_s = time.perf_counter() - start
    total_s = evaluator_s + train_s + evaluate_s
    return {"images": len(data.train_x) + len(data.test_x), "runs": n_runs, "stacked": stacked,
            "evaluator_s": evaluator_s, "train_s": train_s, "evaluate_s": evaluate_s, "total_s": total_s,
            "images_per_s": n_runs * epochs * len(data.train_x) / total_s}


def linear_growth(points: list[dict], unit: str) -> dict:
    """Whether cost grows at most linearly in `unit` ("images" or "runs"): each point's seconds
    per unit against the smallest point's, for the whole suite and for each of its parts (a part
    that grows faster must not hide behind a larger linear one). Fixed costs make small points
    dearer per unit, so only a rise counts against it."""
    first = points[0]
    per_unit = {part: [p[part] / p[unit] / (first[part] / first[unit]) for p in points]
                for part in ("total_s", "evaluator_s", "train_s", "evaluate_s")}
    return {"unit": unit, "per_unit_vs_smallest": per_unit,
            "linear": all(r <= SCALING_TOLERANCE for ratios in per_unit.values() for r in ratios)}


def scaling(device: str, sizes: tuple[int, ...] = SCALING_SIZES, runs: tuple[int, ...] = SCALING_RUNS,
            epochs: int = 2) -> dict:
    """`suite_cost` against data size (one run on `scaled_mnist(n)` for each n of `sizes`) and
    against the number of runs (each count of `runs` on the smallest size), and whether each
    grows at most linearly (`linear_growth`)."""
    suite_cost(scaled_mnist(min(sizes)), 1, device, 1)  # warm-up: first calls and allocations, not measured
    by_size = []
    for n in sizes:
        by_size.append(suite_cost(scaled_mnist(n), 1, device, epochs))
        print(scaling_line(by_size[-1]), flush=True)
    smallest = scaled_mnist(min(sizes))
    by_runs = []
    for n_runs in runs:
        by_runs.append(suite_cost(smallest, n_runs, device, epochs))
        print(scaling_line(by_runs[-1]), flush=True)
    return {"device": device, "machine": machine_id(device), "torch": torch.__version__, "epochs": epochs,
            "tolerance": SCALING_TOLERANCE, "by_size": by_size, "by_runs": by_runs,
            "size_growth": linear_growth(by_size, "images"), "runs_growth": linear_growth(by_runs, "runs")}


def scaling_line(point: dict) -> str:
    runs = f"{point['runs']:>3} run(s)" + (" stacked" if point["stacked"] else "")
    return (f"{point['images']:>7,} images, {runs}: {point['total_s']:7.1f} s (evaluator "
            f"{point['evaluator_s']:.1f} s, training {point['train_s']:.1f} s, scoring {point['evaluate_s']:.1f} s), "
            f"{point['images_per_s']:,.0f} training images/s over the suite")


def scaling_table(result: dict) -> str:
    """`scaling`'s verdicts as the text `bench perf --scaling` prints after its points."""
    lines = []
    for growth in (result["size_growth"], result["runs_growth"]):
        ratios = growth["per_unit_vs_smallest"]
        verdict = "at most linear" if growth["linear"] else "faster than linear"
        unit = growth["unit"][:-1]
        lines.append(f"cost against {growth['unit']}: {verdict}; per {unit}, each point against the smallest: "
                     + ", ".join(f"{part} " + " ".join(f"{r:.2f}x" for r in ratios[part]) for part in ratios)
                     + f" (linear: none above {result['tolerance']:.2f}x)")
    return "\n".join(lines)
