"""Train several same-shaped models at once: `fit_stacked(configs) -> [TrainResult]`.

The runs of a suite that differ only in seed, beta, KL warm-up and reconstruction loss share an
architecture, across ablation axes, so their weights can be stacked and every step run for all
of them together with `torch.func.vmap` over `functional_call` (see the PyTorch tutorial "Model
ensembling"). Each model keeps what makes `fit()` reproducible: its own initialisation
(`torch.manual_seed(seed)`), its own batch order and its own reparameterisation noise, drawn
from generators in the same state `fit()` would use, and its own reconstruction loss (each loss
of the stack weighed 1 or 0 per model). The losses are summed, so each model's gradient is its
own, and Adam is elementwise, so each model trains as `fit()` would train it alone, up to the
rounding of batched matrix products (`tests/test_stacked.py` checks the metrics agree).

Why: a step of this small MLP is launch-bound on a GPU (a few microseconds of arithmetic per
kernel), so M models cost little more than one. On a CPU the step is arithmetic-bound and
stacking gains nothing, so the runner stacks only on a GPU; `python -m bench perf` measures the
ratio on the machine at hand (docs/performance.md).

`compile_step=True` compiles the stacked forward and backward with `torch.compile`, once for
each batch shape (the full batch and the last, smaller one), reused every epoch and by later
stacks of the same shape (dynamo's cache; the compile time of such a stack is its first step's):
on a GPU in mode "reduce-overhead", which records the step's kernels as CUDA graphs and replays
them with one launch (the remedy for a launch-bound step), elsewhere with inductor's fused
kernels. The batch gather, the noise draws and Adam stay outside, as in the eager step, so a
compiled model trains as the eager one does up to the rounding of fused kernels. The compile
time is reported apart (`TrainResult.compile_seconds`), not counted as training time.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable

import torch
from torch.func import functional_call, stack_module_state, vmap

from vae_core.config import RunConfig
from vae_core.data import Dataset, dataset_for, unit_float
from vae_core.device import synchronize, training_device
from vae_core.models import ARCHITECTURES, build_model
from vae_core.train import TrainResult, forward, kl_weight, make_optimizer, ready_to_score, terms_of

#: The `torch.compile` backend of `compile_step`; tests set "aot_eager" (the same graph capture and
#: autograd, no code generation: seconds to compile instead of half a minute on 2 CPU cores).
COMPILE_BACKEND = "inductor"
#: Graphs the compiled step may hold: one per stack shape (`compiled`).
RECOMPILE_LIMIT = 256

#: Config fields that may differ within a stack; everything else must be equal.
FREE_FIELDS = ("seed", "beta", "kl_warmup_epochs", "recon_loss")  # each epoch's KL weight, each loss per model


def stack_key(config: RunConfig) -> tuple:
    """Configs with the same key can be trained in one stack."""
    return tuple((k, v) for k, v in sorted(vars(config).items()) if k not in FREE_FIELDS)


def stackable(config: RunConfig) -> bool:
    """Whether `fit_stacked` can train this config: not a conditional model (it reads labels),
    not an adversarial one (its discriminator has its own optimizer), and not a user's networks
    (which may hold what vmap cannot batch, such as batch norm)."""
    return config.model != "cvae" and config.adv_weight == 0 and config.arch in ARCHITECTURES


def compiled(step: Callable, device: str) -> Callable:
    """`step` compiled for fixed shapes: with CUDA graphs on a GPU (mode "reduce-overhead"), with
    inductor's kernels elsewhere; another backend (`COMPILE_BACKEND`) takes no mode. Every stack
    of a suite (each width, latent size, model kind and number of models, at two batch shapes) is
    one more graph of the one vmapped step: past dynamo's default of 8 graphs the rest would
    silently run eager, so the step is called under `RECOMPILE_LIMIT`. With CUDA graphs each call
    starts a new step: the caller reads (sums) the last replay's outputs before the next one
    overwrites them."""
    cuda_graphs = COMPILE_BACKEND == "inductor" and device == "cuda"
    if COMPILE_BACKEND != "inductor":
        graph = torch.compile(step, backend=COMPILE_BACKEND, dynamic=False)
    else:
        graph = torch.compile(step, mode="reduce-overhead" if cuda_graphs else "default", dynamic=False)

    def call(*args: torch.Tensor) -> torch.Tensor:
        if cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()
        with torch._dynamo.config.patch(recompile_limit=RECOMPILE_LIMIT):
            return graph(*args)

    return call


def fit_stacked(
    configs: list[RunConfig], data: Dataset | None = None, on_epoch: Callable[[int], None] | None = None,
    compile_step: bool = False,
) -> list[TrainResult]:
    """Train every config (all with one `stack_key`) together; one `TrainResult` per config, as
    `fit()` would return it. A model whose loss turns non-finite is marked diverged at that
    epoch; the others train on (their gradients do not mix). `compile_step` compiles the step
    (see the module docstring)."""
    if len({stack_key(c) for c in configs}) != 1:
        raise ValueError("fit_stacked needs configs that differ only in " + ", ".join(FREE_FIELDS))
    if not all(map(stackable, configs)):
        raise ValueError("fit_stacked cannot train conditional or adversarial models; use fit()")
    first = configs[0]
    device = training_device(first)
    data = (data or dataset_for(first)).to(device)
    models, noise_gens, order_gens = [], [], []
    for config in configs:  # the same draws as fit(): init, then noise, from torch.manual_seed(seed)
        torch.manual_seed(config.seed)
        order_gens.append(torch.Generator().manual_seed(config.seed))
        models.append(build_model(config, data.image_shape).to(device))
        gen = torch.Generator(device=device)
        if device == "cpu":
            gen.set_state(torch.get_rng_state())
        else:
            gen.manual_seed(config.seed)
        noise_gens.append(gen)
    params, _ = stack_module_state(models)
    params = {k: v.detach().requires_grad_() for k, v in params.items()}
    base = copy.deepcopy(models[0]).to("meta")
    optimizer = make_optimizer(params.values(), first)

    losses = sorted({c.recon_loss for c in configs})  # one: the loss alone, as fit() computes it
    mix = torch.tensor([[float(c.recon_loss == name) for name in losses] for c in configs], device=device)

    def one_model(p: dict, x: torch.Tensor, eps: torch.Tensor, beta: torch.Tensor,
                  weights: torch.Tensor) -> torch.Tensor:
        logits, posterior = forward(lambda *args: functional_call(base, p, args), x, first, eps)
        recon_mix = dict(zip(losses, weights, strict=True)) if len(losses) > 1 else None
        terms = terms_of(logits, posterior, x, first, beta, recon_mix=recon_mix)
        return torch.stack([terms["loss"], terms["recon"], terms["kl"], terms["posterior_var"]])

    step_terms = compiled(vmap(one_model), device) if compile_step else vmap(one_model)
    compiled_shapes: set[tuple] = set()  # a new batch shape compiles: its first step is timed as compile time
    compile_seconds = 0.0
    n, m = data.train_x.shape[0], len(configs)
    histories: list[list[dict]] = [[] for _ in configs]
    diverged: list[int | None] = [None] * m
    synchronize(device)
    start = time.perf_counter()
    for epoch in range(1, first.epochs + 1):
        epoch_start, epoch_compile = time.perf_counter(), 0.0
        betas = torch.tensor([kl_weight(c, epoch) for c in configs], device=device)
        perms = torch.stack([torch.randperm(n, generator=g) for g in order_gens]).to(data.train_x.device)
        sums = torch.zeros(m, 4, device=device)
        n_batches = 0
        for s in range(0, n, first.batch_size):
            x = unit_float(data.train_x[perms[:, s : s + first.batch_size]], device)  # (M, b, C, H, W)
            eps = torch.stack([torch.randn((x.shape[1], first.latent_dim), generator=g, device=device)
                               for g in noise_gens])
            first_of_shape = compile_step and tuple(x.shape) not in compiled_shapes
            if first_of_shape:
                synchronize(device)
                compile_start = time.perf_counter()
            terms = step_terms(params, x, eps, betas, mix)  # (M, 4)
            optimizer.zero_grad(set_to_none=True)
            terms[:, 0].sum().backward()
            if first_of_shape:  # forward and backward compiled (and run once) for this shape
                synchronize(device)
                epoch_compile += time.perf_counter() - compile_start
                compiled_shapes.add(tuple(x.shape))
            optimizer.step()
            sums += terms.detach()
            n_batches += 1
        means = (sums / n_batches).tolist()  # one sync per epoch
        seconds = time.perf_counter() - epoch_start - epoch_compile
        compile_seconds += epoch_compile
        for i, (loss, recon, kl, posterior_var) in enumerate(means):
            if diverged[i] is not None:
                continue
            histories[i].append({"epoch": epoch, "loss": loss, "recon": recon, "kl": kl,
                                 "kl_weight": float(betas[i]), "posterior_var": posterior_var,
                                 "seconds": seconds, "images_per_s": n / seconds})
            if not math.isfinite(loss):
                diverged[i] = epoch
        if on_epoch is not None:
            on_epoch(epoch)
        if all(d is not None for d in diverged):
            break
    synchronize(device)
    train_seconds = time.perf_counter() - start - compile_seconds
    results = []
    for i, config in enumerate(configs):
        model = build_model(config, data.image_shape)
        model.load_state_dict({k: v[i].detach().cpu() for k, v in params.items()})
        model = ready_to_score(model.to(device), data, config)
        epochs_run = len(histories[i])
        results.append(TrainResult(model, device, "ok" if diverged[i] is None else "diverged", diverged[i],
                                   train_seconds, n * epochs_run / train_seconds, histories[i], m,
                                   compile_seconds))
    return results
