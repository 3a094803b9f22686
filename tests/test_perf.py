"""bench perf: the arithmetic it divides by, the reference pipeline's data, and the gate."""

import json

import pytest
import torch

from bench import perf
from bench.cli import main
from vae_core import RunConfig, load_dataset
from vae_core.models import build_model


def test_flop_count_of_the_default_vae_is_3_9_mflop_per_training_image():
    model = build_model(RunConfig(), (1, 28, 28))
    weights = 784 * 400 + 400 * 40 + 20 * 400 + 400 * 784
    assert perf.train_flop_per_image(model) == 6 * weights == pytest.approx(3.9e6, rel=0.01)


def test_flop_counter_agrees_with_the_hand_count_on_the_mlp_and_counts_convolutions():
    """PyTorch's counter on one step of the default MLP: the hand count less the first layer's
    input gradient (2 FLOP per weight), which is never computed; the conv VAE counts more."""
    hand = 6 * (784 * 400 + 400 * 40 + 20 * 400 + 400 * 784)
    assert perf.step_flop_per_image(RunConfig(), (1, 28, 28)) == hand - 2 * 784 * 400
    assert perf.step_flop_per_image(perf.CONV_RGB, (3, 32, 32)) > 5 * hand


def test_memory_case_counts_the_data_as_stored(monkeypatch):
    """A small set through every stage: uint8 data is a quarter of float32's bytes, and each
    stage's peak is at least the one before it (a process's peak only grows)."""
    monkeypatch.setitem(perf.MEMORY_SETS, "tiny", (200, 50, (3, 16, 16)))
    cases = {dtype: perf.memory_case("tiny", dtype, "cpu", steps=2) for dtype in ("uint8", "float32")}
    assert cases["uint8"]["data_bytes"] == 250 * 3 * 16 * 16 and cases["float32"]["data_bytes"] == 4 * 250 * 768
    hosts = [cases["uint8"]["stages"][s]["host_bytes"] for s in perf.MEMORY_STAGES]
    assert hosts == sorted(hosts) and hosts[0] > 0
    assert "tiny" in perf.memory_line(cases["uint8"]) and "uint8" in perf.memory_line(cases["uint8"])


def test_classic_pipeline_reads_the_same_images_through_torchvision(tmp_path):
    import torchvision

    data = load_dataset("digits")
    images = torch.nn.functional.interpolate(data.train_x[:20], size=(28, 28))
    perf.write_mnist_idx(tmp_path, images, data.train_y[:20])
    mnist = torchvision.datasets.MNIST(str(tmp_path), train=True, transform=torchvision.transforms.ToTensor())
    assert len(mnist) == 20
    x, y = mnist[3]
    assert y == int(data.train_y[3]) and torch.allclose(x, images[3], atol=1 / 255)


def result(ratios: dict) -> dict:
    return {"ratios": ratios}


def test_gate_fails_only_beyond_the_allowed_fall():
    base = result({"harness_vs_plain_b128": 0.96, "harness_vs_plain_b512": 0.97})
    same = result({"harness_vs_plain_b128": 0.84, "harness_vs_plain_b512": 1.05})
    assert perf.compare(same, base, 0.15) == []  # -12.5%, +8%: within 15%
    worse = result({"harness_vs_plain_b128": 0.96, "harness_vs_plain_b512": 0.80})
    failures = perf.compare(worse, base, 0.15)
    assert len(failures) == 1 and "harness_vs_plain_b512 fell from 0.970 to 0.800 (-18%" in failures[0]


def test_machine_bound_ratios_are_reported_not_gated():
    portable = {"harness_vs_plain_b128": 0.96, "harness_vs_plain_b512": 0.97}
    base = {"machine": "cpu A, 2 threads",
            "ratios": {**portable, "gemm_fraction_b128": 0.63, "harness_vs_classic_b128": 3.96,
                       "peak_fraction_b128": 0.51}}
    noisy = {"machine": "cpu A, 2 threads",
             "ratios": {**portable, "gemm_fraction_b128": 0.465, "harness_vs_classic_b128": 2.98,
                        "peak_fraction_b128": 0.39}}
    assert perf.compare(noisy, base, 0.15) == []  # measured spreads of one code: -26%, -25%, -24%


def test_the_plain_reference_trains_the_harness_default_network():
    """Same layer shapes as the harness's default model, so both do the same arithmetic."""
    from vae_core.config import RunConfig
    from vae_core.models import build_model

    shapes = lambda m: sorted(tuple(p.shape) for p in m.parameters())  # noqa: E731
    assert shapes(perf.PlainVAE()) == shapes(build_model(RunConfig(), (1, 28, 28)))
    images = torch.rand(300, 1, 28, 28)
    assert perf.plain_images_per_s("cpu", images, 128, epochs=1) > 0


def test_a_remeasurement_keeps_the_better_of_two_rounds():
    first = result({"harness_vs_plain_b128": 0.8, "harness_vs_plain_b512": 0.97})
    second = result({"harness_vs_plain_b128": 0.95, "harness_vs_plain_b512": 0.9})
    assert perf.best_of(first, second)["ratios"] == {"harness_vs_plain_b128": 0.95, "harness_vs_plain_b512": 0.97}


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """One `bench perf` run; its conv figures at 16x16 and 32x32 (the CI gate run measures the
    real 32x32 and 64x64)."""
    path = tmp_path_factory.mktemp("perf") / "now.json"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(perf, "CONV_SIZES", (16, 32))
        assert main(["perf", "--repeats", "1", "--device", "cpu", "--json", str(path)]) == 0
    return json.loads(path.read_text())


def test_perf_measures_every_figure(measured):
    assert set(measured["ratios"]) == set(perf.GATED + perf.REPORTED)
    assert all(v > 0 for v in measured["images_per_s"].values())
    assert 0 < measured["ratios"]["peak_fraction_b128"] < 1.5
    assert 0 < measured["ratios"]["gemm_fraction_b128"] < 1.5  # fit() does the step's products and more
    assert 0.5 < measured["ratios"]["harness_vs_plain_b128"] < 1.5  # the same step, with bookkeeping
    assert measured["machine"] == perf.machine_id("cpu")
    conv = measured["conv"]  # 32x32 has 4x the pixels of 16x16, so 4x the arithmetic per image
    assert [f["image_size"] for f in conv.values()] == [16, 32] and perf.CONV_SIZES == (32, 64)
    assert conv["rgb32"]["train_mflop_per_image"] == pytest.approx(4 * conv["rgb16"]["train_mflop_per_image"], 0.01)
    for figure in conv.values():
        assert set(figure["steps"]) == set(perf.STEP_VARIANTS)  # the GPU's variants only on a GPU
        assert all(0 < f < 1.5 for f in [figure["fit_peak_fraction"]] + [s["peak_fraction"]
                                                                         for s in figure["steps"].values()])
    text = perf.table(measured)
    assert "conv VAE, 32x32 RGB, batch 256, fit()" in text and "step, channels_last+bf16" in text


def test_every_step_variant_runs_here_as_far_as_the_cpu_allows(digits, monkeypatch):
    """The GPU's variants (TF32, compiled) run on the CPU too, TF32 as a no-op and the compile
    with aot_eager (the graph inductor would compile, in seconds), and TF32 is switched back."""
    from vae_core.data import unit_float

    monkeypatch.setattr("vae_core.stacked.COMPILE_BACKEND", "aot_eager")
    config, images = perf.CONV_RGB.replace(batch_size=64), unit_float(digits.train_x[:128])  # 8x8 grey
    before = torch.backends.cuda.matmul.allow_tf32
    for name, features in (perf.STEP_VARIANTS | perf.GPU_STEP_VARIANTS).items():
        assert perf.step_images_per_s(config, images, "cpu", features, steps=2, warmup=1) > 0, name
    assert torch.backends.cuda.matmul.allow_tf32 == before
    with pytest.raises(ValueError, match="at least 64 images"):
        perf.step_images_per_s(config, images[:10], "cpu")


def test_a_gpu_steps_fraction_is_of_its_own_arithmetics_peak(measured):
    flop, peak = measured["train_mflop_per_image"] * 1e6, measured["peak_gflops"]
    ips = 0.3 * peak * 1e9 / flop  # 30% of the float32 peak
    text = perf.table({**measured, "bf16_peak_gflops": 2 * peak, "tf32_peak_gflops": 3 * peak,
                       "gpu_variants": {"fp32_b128": ips, "bf16_b128": ips, "tf32_b128": ips}})
    line = lambda name: next(t for t in text.splitlines() if t.startswith(f"GPU step {name} "))  # noqa: E731
    assert [line(n).split()[-1] for n in ("fp32_b128", "bf16_b128", "tf32_b128")] == ["30%", "15%", "10%"]


def test_a_step_is_measured_against_the_peak_of_its_own_arithmetic():
    peaks = {"fp32": 100.0, "bf16": 400.0, "tf32": 200.0}
    variants = [(), ("channels_last",), ("channels_last", "bf16"), ("tf32",), ("bf16", "compiled")]
    assert [perf.peak_for(features, peaks) for features in variants] == [100.0, 100.0, 400.0, 200.0, 400.0]
    images = perf.rgb_images(64, 5)
    assert images.shape == (5, 3, 64, 64) and 0 <= images.min() and images.max() <= 1
    assert torch.equal(perf.rgb_images(32, 5), load_dataset("shapes").train_x[:5])  # the set as it is


def test_perf_compare_exits_1_on_a_regression_and_0_without(measured, tmp_path, capsys, monkeypatch):
    rounds = []
    monkeypatch.setattr(perf, "measure", lambda *a, **k: rounds.append(k) or measured)  # measured once, above
    high = {**measured, "ratios": {k: v * 10 for k, v in measured["ratios"].items()}}
    (tmp_path / "high.json").write_text(json.dumps(high))
    (tmp_path / "low.json").write_text(json.dumps({**measured, "ratios": {k: v / 10 for k, v in
                                                                            measured["ratios"].items()}}))
    assert main(["perf", "--repeats", "1", "--device", "cpu", "--compare", str(tmp_path / "high.json")]) == 1
    out = capsys.readouterr()
    assert "measuring once more" in out.out and "REGRESSION" in out.err and len(rounds) == 2
    assert main(["perf", "--repeats", "1", "--device", "cpu", "--compare", str(tmp_path / "low.json")]) == 0
    assert len(rounds) == 3 and "no regression" in capsys.readouterr().out


def test_perf_refuses_a_file_that_is_no_baseline(tmp_path, capsys):
    (tmp_path / "x.json").write_text("{}")
    assert main(["perf", "--compare", str(tmp_path / "x.json")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_evaluation_share_times_every_applicable_group_of_one_run():
    """--profile's evaluation table: the evaluator's groups run (it is trained for the data set),
    the conditional one does not (an unconditional VAE), and the total is what it says."""
    from vae_core.metrics import GROUPS

    share = perf.evaluation_share("cpu", dataset="digits", epochs=1, repeats=1, n_stacked=2)
    assert {"features", "feature_paths", "likelihood"} <= set(share["groups_s"])
    assert "conditional" not in share["groups_s"] and set(share["groups_s"]) <= {g.name for g in GROUPS}
    assert share["train_s"] > 0 and share["evaluate_s"] > 0
    text = perf.evaluation_share_table(share)
    total = share["train_s"] + share["evaluate_s"]
    assert f"evaluation is {share['evaluate_s'] / total:.0%} of the run" in text and "feature_paths" in text
    stacked = share["stacked"]  # the same models scored alone and as one stack
    assert stacked["models"] == 2 and min(stacked["alone_s_per_model"], stacked["stacked_s_per_model"]) > 0
    assert stacked["speedup"] == pytest.approx(stacked["alone_s_per_model"] / stacked["stacked_s_per_model"])
    assert stacked["passes_s_per_model"] + stacked["figures_s_per_model"] == pytest.approx(
        stacked["stacked_s_per_model"])
    assert f"{stacked['speedup']:.2f}x" in text


@pytest.mark.parametrize("extra", [["--memory", "--evaluation"], ["--evaluation", "--profile"],
                                   ["--scaling", "--memory"]])
def test_perf_modes_that_measure_one_thing_refuse_company(extra, capsys):
    assert main(["perf", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "alone" in err[0]


def test_linear_growth_tells_linear_from_quadratic_cost():
    """Known answers: cost a + b*n (fixed part, then linear) is at most linear; b*n^2 is not."""
    sizes = [5_000, 20_000, 60_000]
    point = lambda n, s: {"images": n, "total_s": s, "evaluator_s": s, "train_s": s, "evaluate_s": s}  # noqa: E731
    linear = perf.linear_growth([point(n, 2.0 + 1e-3 * n) for n in sizes], "images")
    quadratic = perf.linear_growth([point(n, 1e-7 * n * n) for n in sizes], "images")
    assert linear["linear"] and linear["per_unit_vs_smallest"]["total_s"][0] == 1.0
    assert not quadratic["linear"] and quadratic["per_unit_vs_smallest"]["total_s"] == pytest.approx([1, 4, 12])
    hidden = [{**point(n, 100.0 + 1e-3 * n), "evaluate_s": 1e-7 * n * n} for n in sizes]  # a quadratic part
    assert not perf.linear_growth(hidden, "images")["linear"]


def test_scaled_mnist_grows_mnist5k_without_repeating_it():
    data = perf.scaled_mnist(12_000)
    assert (len(data.train_x), len(data.test_x)) == (9_600, 2_400) and data.train_x.dtype == torch.uint8
    base = load_dataset("mnist5k")
    assert torch.equal(data.train_x[:4000], base.train_x) and torch.equal(data.train_y[4000:8000], base.train_y)
    assert not torch.equal(data.train_x[4000:8000], base.train_x)  # a shifted copy, not the same images


def test_suite_cost_times_each_part_of_a_suite(digits):
    cost = perf.suite_cost(digits, 2, "cpu", epochs=1)
    assert cost["runs"] == 2 and cost["images"] == len(digits.train_x) + len(digits.test_x)
    assert not cost["stacked"]  # as the runner's --stack auto on the CPU
    assert cost["total_s"] == pytest.approx(cost["evaluator_s"] + cost["train_s"] + cost["evaluate_s"])
    assert min(cost["evaluator_s"], cost["train_s"], cost["evaluate_s"]) > 0
    assert cost["images_per_s"] == pytest.approx(2 * 1 * len(digits.train_x) / cost["total_s"])


def test_the_stacked_figure_times_the_compiled_step_apart_where_asked(digits, monkeypatch):
    monkeypatch.setattr("vae_core.stacked.COMPILE_BACKEND", "aot_eager")  # the graph inductor compiles, in 2 s
    figure = perf.stacked_vs_sequential("cpu", digits, n_models=2, epochs=1, compiled=True)
    assert figure["compiled_images_per_s"] > 0 and figure["compile_seconds"] > 0 and figure["compiled_vs_eager"] > 0
    assert "compiled" not in str(perf.stacked_vs_sequential("cpu", digits, n_models=2, epochs=1))  # the CPU: not
    assert "step compiled (run --compile)" in perf.stacked_lines(figure)[1]
