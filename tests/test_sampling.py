"""The evaluation's draws (`vae_core.metrics.Draws`) and what their sizes buy (`bench.sampling`)."""

import math

import pytest
import torch

import vae_core.metrics as m
from bench import sampling
from bench.cli import main
from bench.work import evaluate_result, evaluate_stack
from vae_core.config import RunConfig
from vae_core.metrics import DEFAULT_DRAWS, Draws, evaluate, run_draws
from vae_core.models import build_model
from vae_core.train import fit


def test_draws_are_validated_and_halved():
    with pytest.raises(ValueError, match="Draws.feature_samples must be at least 1"):
        Draws(feature_samples=0)
    assert DEFAULT_DRAWS == Draws(m.EVAL_SEED, m.N_FEATURE_SAMPLES, m.N_PATH_LENGTH_STEPS, m.IWAE_IMAGES)
    assert run_draws(0) == DEFAULT_DRAWS and run_draws(1) == Draws(m.EVAL_SEED + m.DRAW_SEED_STEP)
    half = Draws(seed=7, feature_samples=9, path_length_steps=1, iwae_images=2).halved()
    assert half == Draws(seed=7, feature_samples=4, path_length_steps=1, iwae_images=1)


def test_draws_set_the_sample_sizes_and_the_seed_moves_only_the_sampled_figures(digits, digits_evaluator):
    torch.manual_seed(0)
    vae = build_model(RunConfig(dataset="digits"), digits.image_shape).eval()
    small = Draws(feature_samples=40, path_length_steps=2, iwae_images=16)
    s = m.Scoring(vae, digits, "bce", digits_evaluator, 10, small)
    assert s.all_samples.shape[0] == s.midpoints.shape[0] == 40
    assert s.path_points[0].shape[0] == m.N_PATHS * 2 and s.iwae_log_weights[10].shape[-1] == 16
    only = ["test_recon_mse", "recon_fid", "prior_fid", "perceptual_path_length", "test_iwae_nll"]
    suite = evaluate(vae, digits, evaluator=digits_evaluator, only=only, iwae_k=10).metrics
    assert evaluate(vae, digits, evaluator=digits_evaluator, only=only, iwae_k=10, draws=DEFAULT_DRAWS).metrics == suite
    other = evaluate(vae, digits, evaluator=digits_evaluator, only=only, iwae_k=10,
                     draws=run_draws(1)).metrics
    assert other["test_recon_mse"] == suite["test_recon_mse"] and other["recon_fid"] == suite["recon_fid"]
    assert all(other[n] != suite[n] for n in ("prior_fid", "perceptual_path_length", "test_iwae_nll"))


def test_noise_separates_the_draws_spread_from_the_training_seeds():
    """Known answers: a VAE figure of seed + 2 * [draw 1] has a draw sd of sqrt(2) (two draws, 0
    and 2 apart) and a seed sd of 1/sqrt(2) on draw 0 (seeds 0 and 1); the AE's figure adds 5 +
    seed to it, so the gap is 5 + seed: no draw noise, the same seed sd, mean 5.5."""
    rows = []
    for sizes in ("suite", "half"):
        for seed in (0, 1):
            for draw in (0, 1):
                vae = seed + 2.0 * draw * (1 if sizes == "suite" else 2)
                for model, value in (("vae", vae), ("ae", vae + 5 + seed)):
                    rows.append({"model": model, "seed": seed, "sizes": sizes, "draw": draw,
                                 **dict.fromkeys(sampling.SIZED_METRICS, value)})
    rows = [{**r, "test_iwae_nll": None} if r["model"] == "ae" else r for r in rows]  # the AE has no bound
    rows = [{**r, "test_exact_nll": None, "exact_nll_quadrature_error": None} for r in rows]  # 20-d latents
    table = sampling.noise({"rows": rows}).set_index("metric")
    row = table.loc["prior_fid"]
    assert row.vae_draw_sd_suite == pytest.approx(math.sqrt(2)) and row.vae_draw_sd_half == pytest.approx(
        math.sqrt(8))
    assert row.vae_seed_sd == pytest.approx(math.sqrt(0.5)) and row.vae_value == pytest.approx(0.5)
    assert row.gap == pytest.approx(5.5) and row.gap_seed_sd == pytest.approx(math.sqrt(0.5))
    assert row.gap_draw_sd_suite == 0 and row.gap_draw_sd_half == 0
    assert math.isnan(table.loc["test_iwae_nll"].gap) and not math.isnan(table.loc["test_iwae_nll"].vae_value)
    assert "test_exact_nll" not in table.index  # neither model has it in these rows


def test_sampling_measures_both_sizes_and_prints_them():
    result = sampling.measure("cpu", dataset="digits", epochs=1, seeds=2, n_draws=2, repeats=1)
    assert len(result["rows"]) == 2 * 2 * 2 * 2  # models x seeds x sizes x draws
    assert result["sizes"]["half"]["feature_samples"] == DEFAULT_DRAWS.feature_samples // 2
    assert min(result["evaluate_s"].values()) > 0 and result["train_s"] > 0
    text = sampling.table(result)
    share = result["evaluate_s"]["suite"] / (result["evaluate_s"]["suite"] + result["train_s"])
    assert f"({share:.0%} of a run" in text and "prior_fid" in text and "AE - VAE" in text


def test_sampling_measures_alone(capsys):
    assert main(["perf", "--sampling", "--evaluation"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "alone" in err[0]


def test_a_suite_scores_each_seed_on_its_own_draws_alone_and_stacked(digits):
    """Runs of two seeds are scored on two draws (the sampled figures differ for one model, the
    deterministic ones do not), and a stack of both seeds scores each as alone."""
    config = RunConfig(dataset="digits", epochs=1, device="cpu")
    result = fit(config, digits)
    configs = [config, config.replace(seed=1)]
    alone = [evaluate_result(c, "k", result, digits).metrics for c in configs]
    assert alone[0]["test_recon_mse"] == alone[1]["test_recon_mse"]
    assert alone[0]["interp_jump_ratio"] != alone[1]["interp_jump_ratio"]
    assert alone[0]["test_iwae_nll"] != alone[1]["test_iwae_nll"]
    stacked = [r.metrics for r in evaluate_stack(configs, ["k", "k"], [result, result], digits)]
    for a, s in zip(alone, stacked, strict=True):
        assert s["interp_jump_ratio"] == pytest.approx(a["interp_jump_ratio"], rel=1e-4)
        assert s["test_iwae_nll"] == pytest.approx(a["test_iwae_nll"], rel=1e-4)
