"""The claims ledger: every verdict rule fed synthetic numbers whose verdict is known, and the
claims suite end to end on the tiny digits data."""

import math
import re

import pandas as pd
from helpers import AE, VAE, exit_code, frame
from markupsafe import escape

from bench.claims import CLAIMS
from bench.claims.base import SMOOTHNESS_FIGURES
from bench.claims.c10_posterior_prior import mmd_null_level
from bench.options import SuiteOptions
from bench.stats import beats, side
from bench.suites import SUITES
from vae_core.metrics import METRICS

LOW, HIGH, SPREAD = [1.0, 1.01, 0.99], [2.0, 2.01, 1.99], [0.5, 1.5, 2.5]  # apart, apart, overlapping both


def verdict(claim_id: str, *groups) -> str:
    return CLAIMS[claim_id].decide(frame(*groups)).verdict


def test_comparisons_need_apart_intervals_and_follow_the_metric_direction():
    lo, hi, wide = frame(({}, {"test_recon_mse": LOW})), frame(({}, {"test_recon_mse": HIGH})), \
        frame(({}, {"test_recon_mse": SPREAD}))
    assert side(hi, lo, "test_recon_mse") == 1 and side(lo, hi, "test_recon_mse") == -1
    assert beats(lo, hi, "test_recon_mse") == 1  # lower error is better
    assert side(wide, lo, "test_recon_mse") == 0
    one_seed = frame(({}, {"test_recon_mse": [5.0]}))
    assert side(one_seed, lo, "test_recon_mse") == 0  # no interval from one seed


def as_better(metric: str, values: list[float]) -> list[float]:
    """Values on a lower-is-better scale turned into `metric`'s own direction (3 - v where higher
    is better), so LOW means "better" whichever way a metric points."""
    return [3 - v for v in values] if METRICS[metric].better == "higher" else values


def c1_groups(vae_values: list[float], ae_values: list[float]):
    groups = []
    for arch in ("mlp", "conv"):
        groups += [({**VAE, "arch": arch}, {m: as_better(m, vae_values) for m in SMOOTHNESS_FIGURES}),
                   ({**AE, "arch": arch}, {m: as_better(m, ae_values) for m in SMOOTHNESS_FIGURES})]
    groups += [({**VAE, "dataset": "lines"}, {"angle_path_error_deg": vae_values}),
               ({**AE, "dataset": "lines"}, {"angle_path_error_deg": ae_values})]
    return groups


def test_c1_rule():
    assert verdict("C1", *c1_groups(LOW, HIGH)) == "confirmed"
    assert verdict("C1", *c1_groups(HIGH, LOW)) == "refuted"
    assert verdict("C1", *c1_groups(SPREAD, LOW)) == "inconclusive"


def c2_groups(test: dict[int, list[float]], gap: dict[int, list[float]], small=None):
    """The AE latent sweep on all the data, and in the small-data regime when `small` gives
    (test, gap) for it."""
    groups = [({**AE, "latent_dim": z}, {"test_recon_mse": test[z], "recon_mse_gap": gap[z]}) for z in test]
    if small is not None:
        groups += [({**AE, "latent_dim": z, "train_images": 500, "epochs": 100},
                    {"test_recon_mse": small[0][z], "recon_mse_gap": small[1][z]}) for z in small[0]]
    return groups


def test_c2_rule():
    u_shape = {2: [30.0, 30.1, 29.9], 8: LOW, 32: HIGH}
    growing_gap = {2: LOW, 8: LOW, 32: HIGH}
    assert verdict("C2", *c2_groups(u_shape, growing_gap)) == "confirmed"
    falling = {2: [30.0, 30.1, 29.9], 8: HIGH, 32: LOW}
    assert verdict("C2", *c2_groups(falling, growing_gap)) == "inconclusive"  # one regime refuting is not enough
    assert verdict("C2", *c2_groups(falling, growing_gap, (falling, growing_gap))) == "refuted"
    # over-fitting shows with little data although not with all of it: the trade-off is there
    assert verdict("C2", *c2_groups(falling, growing_gap, (u_shape, growing_gap))) == "confirmed"
    assert verdict("C2", *c2_groups({2: [30.0, 30.1, 29.9], 8: LOW, 32: [0.5, 1.5, 3.5]},
                                               growing_gap)) == "inconclusive"
    # the largest size has the lowest mean, but its interval overlaps the next one's: not a refutation
    overlapping = CLAIMS["C2"].decide(frame(*c2_groups({2: [30.0, 30.1, 29.9], 8: SPREAD, 32: [0.9, 1.0, 1.1]},
                                                       growing_gap)))
    assert overlapping.verdict == "inconclusive" and "no over-fitting shows at this budget" in overlapping.reason


def c3_groups(b0_var: list[float], b0_like: list[float]):
    figures = dict.fromkeys(SMOOTHNESS_FIGURES)
    return [(AE, {m: LOW for m in figures}), ({**VAE, "beta": 0.0}, {"posterior_var": b0_var,
                                                                      **{m: b0_like for m in figures}}),
            (VAE, {"posterior_var": [0.5] * 3, **{m: HIGH for m in figures}})]


def test_c3_rule():
    assert verdict("C3", *c3_groups([0.001] * 3, LOW)) == "confirmed"
    assert verdict("C3", *c3_groups([0.5] * 3, LOW)) == "refuted"
    assert verdict("C3", *c3_groups([0.05] * 3, LOW)) == "inconclusive"
    assert verdict("C3", *c3_groups([0.001] * 3, HIGH)) == "refuted"  # collapsed, yet smooth like the VAE
    assert verdict("C3", *c3_groups([0.001] * 3, SPREAD)) == "inconclusive"  # like both: the intervals decide nothing


def test_c4_rule():
    def kl_only(kl, units, err):
        return ({**VAE, "recon_weight": 0.0}, {"test_kl": [kl] * 3, "active_units": [units] * 3,
                                                "test_recon_mse": [err] * 3, "mean_image_mse": [50.0] * 3})
    assert verdict("C4", kl_only(0.01, 0, 60.0)) == "confirmed"
    assert verdict("C4", kl_only(0.01, 3, 20.0)) == "refuted"
    assert verdict("C4", kl_only(0.5, 0, 45.0)) == "inconclusive"


def c5_groups(rec_cov, kl_acc, both_acc, both_cov):
    z2 = {**VAE, "latent_dim": 2}
    return [({**z2, "beta": 0.0}, {"prior_coverage": rec_cov, "latent_knn_accuracy": [0.8] * 3}),
            ({**z2, "recon_weight": 0.0}, {"prior_coverage": [0.97] * 3, "latent_knn_accuracy": kl_acc}),
            (z2, {"prior_coverage": both_cov, "latent_knn_accuracy": both_acc})]


def test_c5_rule():
    assert verdict("C5", *c5_groups([0.1, 0.11, 0.09], [0.1] * 3, [0.7, 0.71, 0.69],
                                               [0.5, 0.51, 0.49])) == "confirmed"
    assert verdict("C5", *c5_groups([0.5, 0.51, 0.49], [0.1] * 3, [0.7, 0.71, 0.69],
                                               [0.1, 0.11, 0.09])) == "refuted"
    assert verdict("C5", *c5_groups([0.1, 0.3, 0.5], [0.1] * 3, [0.7, 0.71, 0.69],
                                               [0.2, 0.3, 0.4])) == "inconclusive"


def c6_groups(kl_sharp, ratio_sharp: dict[float, list[float]]):
    m = "recon_laplacian_ratio"
    return [(VAE, {m: kl_sharp, "test_recon_mse": LOW})] + [
        ({**VAE, "regularizer": "moments", "moment_ratio": r}, {m: v, "test_recon_mse": LOW})
        for r, v in ratio_sharp.items()]


def test_c6_rule_reads_sharpness_as_distance_from_real():
    real, blurry, blurrier = [1.0, 1.01, 0.99], [0.5, 0.51, 0.49], [0.1, 0.11, 0.09]
    assert verdict("C6", *c6_groups(blurry, {0.05: blurrier, 5.0: real})) == "confirmed"
    assert verdict("C6", *c6_groups(blurrier, {0.05: blurry, 5.0: real})) == "refuted"  # even the worst beats the KL
    assert verdict("C6", *c6_groups([0.1, 0.5, 0.9], {0.05: blurrier, 5.0: real})) == "inconclusive"
    # a ratio twice as "sharp" as real is as far from real as 0: not read as the best
    assert verdict("C6", *c6_groups(blurry, {0.05: [2.0, 2.01, 1.99], 5.0: real})) == "inconclusive"


def test_c7_rule():
    def groups(pooled_err):
        return [({**VAE, "model": "pooled"}, {"test_recon_mse": pooled_err, "mean_image_mse": [50.0] * 3}),
                (VAE, {"test_recon_mse": [20.0, 20.1, 19.9], "mean_image_mse": [50.0] * 3})]
    assert verdict("C7", *groups([52.0, 52.1, 51.9])) == "confirmed"
    assert verdict("C7", *groups([19.0, 20.0, 21.0])) == "refuted"
    assert verdict("C7", *groups([30.0, 30.1, 29.9])) == "inconclusive"


def beta_groups(recon: list[list[float]], kl: list[list[float]], jump: list[list[float]]):
    return [({**VAE, "beta": b}, {"test_recon_mse": r, "test_kl": k, "path_length_excess": j,
                                  "posterior_var": [0.5] * 3})
            for b, r, k, j in zip((0.0, 1.0, 4.0), recon, kl, jump, strict=True)]


def test_c8_rule():
    assert verdict("C8", *beta_groups([LOW, LOW, HIGH], [HIGH, HIGH, LOW], [HIGH, HIGH, LOW])) == \
        "confirmed"
    assert verdict("C8", *beta_groups([HIGH, HIGH, LOW], [HIGH, HIGH, LOW], [HIGH, HIGH, LOW])) == \
        "refuted"
    assert verdict("C8", *beta_groups([LOW, LOW, HIGH], [HIGH, HIGH, LOW], [SPREAD, SPREAD, LOW])) \
        == "inconclusive"


def c9_groups(bce, mse, adv, strong, mse_sweep=None):
    """AE and VAE with each loss, the adversarial variant, and a two-point beta sweep per loss at
    rates 10 (beta 1) and 2 (beta 8) nats / image, unless `mse_sweep` gives the MSE one as
    {beta: (test_kl, ratios)}."""
    m = "recon_laplacian_ratio"
    kl_hi, kl_lo = [10.0, 10.1, 9.9], [2.0, 2.01, 1.99]
    mse_sweep = mse_sweep or {1.0: (kl_hi, mse), 8.0: (kl_lo, [0.02, 0.03, 0.01])}
    return [(AE, {m: bce}), ({**AE, "recon_loss": "mse"}, {m: mse}),
            (VAE, {m: bce, "test_kl": kl_hi}), ({**VAE, "beta": 8.0}, {m: strong, "test_kl": kl_lo}),
            *[({**VAE, "recon_loss": "mse", "beta": b}, {m: ratios, "test_kl": kl}) for b, (kl, ratios) in
              mse_sweep.items()],
            ({**VAE, "recon_loss": "mse", "adv_weight": 10.0}, {m: adv})]


def test_c9_rule_reads_sharpness_as_distance_from_real():
    bce, mse, strong = [0.5, 0.51, 0.49], [0.2, 0.21, 0.19], [0.05, 0.06, 0.04]
    assert verdict("C9", *c9_groups(bce, mse, [0.9, 0.91, 0.89], strong)) == "confirmed"
    assert verdict("C9", *c9_groups(bce, mse, [0.1, 0.11, 0.09], strong)) == "refuted"
    assert verdict("C9", *c9_groups(bce, mse, [0.3, 0.6, 0.9], strong)) == "inconclusive"
    # twice as "sharp" as real images is no nearer to real than 0.2 is: not a sharpening remedy
    assert verdict("C9", *c9_groups(bce, mse, [2.2, 2.21, 2.19], strong)) == "refuted"


def test_c9_compares_the_vae_losses_at_equal_rate_not_at_equal_beta():
    """The MSE VAE at beta = 1 is blurrier than the BCE one (0.2 vs 0.5) but sits at a lower rate
    (2.5 vs 10 nats); read at the rate both sweeps reach (5), it is the sharper one."""
    bce, mse, strong = [0.5, 0.51, 0.49], [0.2, 0.21, 0.19], [0.05, 0.06, 0.04]
    sweep = {1.0: ([2.5, 2.51, 2.49], mse), 0.1: ([12.0, 12.1, 11.9], [0.55, 0.56, 0.54])}
    finding = CLAIMS["C9"].decide(frame(*c9_groups(bce, mse, [0.9, 0.91, 0.89], strong, sweep)))
    assert finding.verdict == "refuted"
    assert "VAE at equal rate (5 nats / image): MSE further from it than BCE: no, the opposite" in finding.reason
    # sweeps that share no rate decide nothing on that part
    apart = {1.0: ([50.0, 50.1, 49.9], mse), 0.1: ([80.0, 80.1, 79.9], mse)}
    finding = CLAIMS["C9"].decide(frame(*c9_groups(bce, mse, [0.9, 0.91, 0.89], strong, apart)))
    assert finding.verdict == "inconclusive" and "reach no common rate" in finding.reason


def test_c10_rule():
    def groups(mmd, prior_fid):
        return [(VAE, {"agg_posterior_mmd": mmd, "prior_fid": prior_fid, "recon_fid": LOW})]
    assert verdict("C10", *groups([0.05, 0.051, 0.049], HIGH)) == "confirmed"
    assert verdict("C10", *groups([0.0, 0.0005, -0.0005], LOW)) == "refuted"
    assert verdict("C10", *groups([0.05, 0.051, 0.049], SPREAD)) == "inconclusive"


def test_mmd_null_level_is_small_and_what_prior_samples_reach():
    level = mmd_null_level(2, n=300, draws=10)
    assert 0 < level < 0.02


def test_c11_rule():
    cvae = {**VAE, "model": "cvae"}
    assert verdict("C11", (cvae, {"cond_accuracy": [0.9, 0.91, 0.89]})) == "confirmed"
    assert verdict("C11", (cvae, {"cond_accuracy": [0.1, 0.11, 0.09]})) == "refuted"
    assert verdict("C11", (cvae, {"cond_accuracy": [0.2, 0.5, 0.8]})) == "inconclusive"


def test_c12_rule():
    def groups(curve, exact=99.0):
        measured = {f"iwae_nll_k{k}": v for k, v in curve.items()}
        flat = {**measured, "test_exact_nll": [exact] * 3, "exact_nll_quadrature_error": [0.01] * 3}
        return [(VAE, measured), ({**VAE, "latent_dim": 2}, flat)]
    falls = {1: [101.0, 102, 103], 10: [100.0, 101, 102], 1000: [99.0, 100, 101]}
    assert verdict("C12", *groups(falls)) == "confirmed"
    assert verdict("C12", *groups({1: [99.0, 100, 101], 1000: [101.0, 102, 103]})) == "refuted"
    assert verdict("C12", *groups(falls, exact=105.0)) == "refuted"  # bounds below the exact -log p(x)
    assert verdict("C12", *groups({1: [100.0, 100, 100], 1000: [99.0, 100, 101]})) == "inconclusive"
    assert verdict("C12", *groups(falls)[:1]) == "inconclusive"  # no 2-D VAE, no exact value to check against


def test_c13_rule():
    def groups(mc):
        return [(VAE, {"test_kl": [10.0] * 3, "test_kl_mc": mc, "test_kl_mc_se": [0.01] * 3})]
    assert verdict("C13", *groups([10.01, 9.99, 10.02])) == "confirmed"
    assert verdict("C13", *groups([10.01, 9.99, 10.2])) == "refuted"
    assert verdict("C13", *groups([10.01, 9.99, 10.04])) == "inconclusive"


def test_checks_of_mathematical_facts_are_counted_apart_and_every_rule_has_a_history():
    from bench.claims.base import CHECK, CLAIM, UNCHANGED

    assert {c.id for c in CLAIMS.values() if c.kind == CHECK} == {"C4", "C12", "C13"}
    assert all(c.kind in (CLAIM, CHECK) and c.history for c in CLAIMS.values())
    assert all(c.why_check for c in CLAIMS.values() if c.kind == CHECK)
    changed = {c.id for c in CLAIMS.values() if c.changed_after_numbers}
    assert changed == {"C1", "C2", "C3", "C6", "C8", "C9", "C12"}  # changed after numbers were seen, and say so
    assert all(c.history != UNCHANGED for c in CLAIMS.values() if c.changed_after_numbers)
    assert "2.04" not in CLAIMS["C9"].rule + CLAIMS["C9"].history  # no number of one past run in a rule's text


def test_missing_runs_are_inconclusive_not_an_error():
    empty = frame((VAE, {"test_recon_mse": LOW}))
    for claim in CLAIMS.values():
        finding = claim.decide(empty.iloc[0:0].reindex(columns=empty.columns))
        assert finding.verdict == "inconclusive" and finding.reason


def test_the_suite_has_runs_for_every_claim_and_trains_the_baseline_once():
    runs = SUITES["claims"].build(SuiteOptions(quick=True))
    assert {r.axis for r in runs} == set(CLAIMS)
    baseline = [r.config for r in runs if r.config.iwae_k == 1000 and r.config.latent_dim == 20 and r.config.seed == 0]
    assert len(set(baseline)) == 1 and len(baseline) >= 8  # one run serves C1, C3, C4, C6-C12


def test_a_claims_suite_in_bf16_is_selected_by_each_claim_as_in_fp32():
    """--precision is the suite's setting, as --device is: every run takes it, and each claim's
    groups hold as many runs as in float32 (none left out for not being the float32 baseline)."""
    from vae_core.config import config_dict

    sizes = {}
    for precision in ("fp32", "bf16"):
        runs = SUITES["claims"].build(SuiteOptions(quick=True, precision=precision))
        assert {r.config.precision for r in runs} == {precision}
        df = pd.DataFrame([config_dict(r.config) for r in runs]).drop_duplicates()
        sizes[precision] = {c.id: {name: len(rows) for name, rows in c.select(df).items()} for c in CLAIMS.values()}
    assert sizes["bf16"] == sizes["fp32"] and sum(n for groups in sizes["bf16"].values() for n in groups.values()) > 100


def test_claims_suite_end_to_end_writes_a_ledger_of_thirteen_verdicts(tiny_claims_run, tmp_path):
    root = tiny_claims_run
    html = (root / "p" / "claims.html").read_text()
    for claim_id, claim in CLAIMS.items():
        assert f'id="{claim_id}"' in html and str(escape(claim.rule)) in html
    verdicts = re.findall(r'<span class="verdict (confirmed|refuted|inconclusive)(?: quick)?">', html)
    assert len(verdicts) == 2 * 13  # ledger row and section heading
    assert "domain classifier, not Inception" in html
    assert "Checks of mathematical facts" in html and html.count("Rule history.") == 13
    assert list((root / "r" / "evaluators").glob("digits-*.pt"))
    assert exit_code(["report", "--suite", "claims", "--results", root / "r", "--reports", tmp_path / "q"]) == 0
    assert (tmp_path / "q" / "claims.html").is_file()


def test_each_claim_reads_its_own_runs_not_those_other_claims_added():
    """The claims suite holds one baseline VAE and many variants; a group pools only its own
    config's seeds (a C7 or C10 "baseline VAE" must not average in the conv VAE, the latent
    sweep, the moment penalties or the beta sweep)."""
    seeds = {"test_recon_mse": LOW}
    df = frame((VAE, seeds), ({**VAE, "arch": "conv"}, seeds), ({**VAE, "latent_dim": 8}, seeds),
               ({**VAE, "regularizer": "moments", "moment_ratio": 5.0}, seeds), ({**VAE, "beta": 4.0}, seeds),
               ({**VAE, "recon_loss": "mse"}, seeds), ({**AE, "latent_dim": 8}, seeds), (AE, seeds),
               ({**AE, "latent_dim": 8, "train_images": 500, "epochs": 100}, seeds))
    baseline = set(frame((VAE, seeds)).key)
    for claim_id, group in (("C7", "per-sample posterior"), ("C10", "VAE"), ("C1", "MLP VAE"), ("C3", "VAE beta=1"),
                            ("C12", "VAE"), ("C9", "VAE BCE"), ("C6", "closed-form KL")):
        assert set(CLAIMS[claim_id].select(df)[group].key) == baseline, (claim_id, group)
    c2 = CLAIMS["C2"].select(df)
    assert sorted(c2["AE"].latent_dim.unique()) == [8, 20] and sorted(c2["VAE"].latent_dim.unique()) == [8, 20]
    assert list(c2["AE small data"].latent_dim.unique()) == [8]
    assert sorted(CLAIMS["C8"].select(df)["sweep"].beta.unique()) == [1.0, 4.0]


def test_no_interval_is_shown_outside_what_a_metric_can_take_and_two_seeds_show_their_range():
    from bench.stats import spread, stat
    from vae_core.metrics import metric_bounds

    assert metric_bounds("prior_coverage") == (0.0, 1.0) and metric_bounds("recon_mse_gap")[0] == -math.inf
    assert metric_bounds("train_images_per_s") == (0.0, math.inf)
    three = pd.DataFrame({"prior_coverage": [0.6, 0.9, 0.99], "train_images_per_s": [10.0, 2000.0, 10.0]})
    s = stat(three, "prior_coverage")
    assert s.hi == 1.0 and s.lo > 0 and str(s).endswith(", 1]")  # the t-interval runs past 1: clipped
    assert stat(three, "train_images_per_s").lo == 0.0
    two = pd.DataFrame({"prior_fid": [58.0, 366.0]})
    s = stat(two, "prior_fid")
    assert str(s) == "212 (58 to 366)" and s.whisker() == (58.0, 366.0)  # the range, no t-interval of factor 12.7
    assert spread([58.0, 366.0], (0.0, math.inf)) == (58.0, 366.0)
    assert spread([0.6, 0.9, 0.99], (0.0, 1.0))[1] == 1.0


def test_figures_say_what_a_value_means_on_its_axis():
    from matplotlib.figure import Figure

    from bench.figures import reference_lines

    ax = Figure().subplots()
    ax.plot([0, 1], [0.05, 0.1])
    reference_lines(ax, "prior_laplacian_ratio")  # a ratio to real images of 0.05-0.1: far below real
    assert ax.get_ylim()[1] >= 1.0 and any(list(line.get_ydata()) == [1.0, 1.0] for line in ax.lines)
    ax = Figure().subplots()
    ax.plot([0, 1, 2], [20, 20, 20])
    reference_lines(ax, "active_units")  # a flat count starts at 0, not on a 19-21 axis
    assert ax.get_ylim()[0] == 0


def test_a_ratio_far_from_real_does_not_flatten_the_others_and_a_hue_is_one_legend():
    """C9's bars: an adversarial variant at 2-3 times real sharpness beside runs at 0.04-0.45
    left those as slivers on a linear axis; a ratio spanning more than 10x goes on a log axis.
    A hue split over several panels gets one legend for the figure, not one on the last panel."""
    from bench.figures import metric_figure

    df = pd.DataFrame({"label": ["a", "a", "b", "b", "c", "c"], "seed": [0, 1] * 3,
                       "recon_laplacian_ratio": [0.04, 0.05, 0.4, 0.45, 2.0, 3.0],
                       "recon_fid": [10.0, 12.0, 20.0, 22.0, 200.0, 230.0]})
    ratio, fid = metric_figure(df, "label", ["recon_laplacian_ratio", "recon_fid"], kind="bar").axes
    assert ratio.get_yscale() == "log" and fid.get_yscale() == "linear"  # a distance, not a ratio: linear
    near = df.assign(recon_laplacian_ratio=[0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    assert metric_figure(near, "label", ["recon_laplacian_ratio"], kind="bar").axes[0].get_yscale() == "linear"
    hued = metric_figure(df.assign(loss=["bce", "mse"] * 3), "label", ["recon_laplacian_ratio", "recon_fid"],
                         hue="loss", kind="bar")
    assert len(hued.legends) == 1 and all(ax.get_legend() is None for ax in hued.axes)
    assert [t.get_text() for t in hued.legends[0].get_texts()] == ["bce", "mse"]


def test_throughput_is_never_pooled_across_data_sets():
    from bench.reports.html import throughput_table

    speeds = {"train_images_per_s": [1000.0, 1100.0], "infer_images_per_s": [5e4, 6e4], "train_seconds": [4.0, 5.0]}
    df = frame(({**VAE, "dataset": "mnist5k"}, speeds), ({**VAE, "dataset": "lines"}, speeds))
    df = df.assign(label="vae-bce-b1-z20", device_used="cpu", stacked_with=1)  # one label, two data sets
    header, rows = throughput_table(df)
    assert header[1] == "data set" and sorted(r[1] for r in rows) == ["lines", "mnist5k"]


def test_the_ae_vs_vae_section_reads_the_ground_truth_path_error_where_the_factors_are_known():
    """On `shapes` runs the section compares the AE's and VAE's position path error; on data
    without known factors (digits) it does not mention it."""
    from bench.reports.ablations import section_model

    figures = {m: [1.0, 1.1] for m in ("test_recon_bce", "interp_jump_ratio", "midpoint_nn_ratio", "prior_nn_ratio",
                                       "prior_fid", *SMOOTHNESS_FIGURES)}
    shapes = frame(({**AE, "dataset": "shapes"}, {**figures, "position_path_error_px": [0.67, 0.64]}),
                   ({**VAE, "dataset": "shapes"}, {**figures, "position_path_error_px": [0.60, 0.61]}))
    notes = [note for panel in section_model(shapes, []) for note in panel.text]
    assert any(n.startswith("position_path_error_px (pixels, lower is better): AE") for n in notes), notes
    digits = frame((AE, figures), (VAE, figures))
    assert not any("path_error" in n for panel in section_model(digits, []) for n in panel.text)
