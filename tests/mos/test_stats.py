"""MOS statistics against independent computations (numpy by hand, scipy and statsmodels
called here directly) on small vote tables built in the test."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from apps.mos import stats
from apps.mos.schemas import ANCHOR_35, ANCHOR_70, HIDDEN_REFERENCE, QualityControl

COLUMNS = ["rater", "item", "utterance", "system", "vote", "role", "expected"]

# rater × utterance votes per system: 4 raters (rows) × 3 utterances (columns).
TABLE = {
    "gt": [[5, 4, 5], [4, 4, 5], [5, 5, 4], [4, 5, 5]],
    "vits": [[4, 4, 5], [4, 3, 4], [5, 4, 4], [3, 4, 4]],
    "tacotron": [[3, 2, 4], [3, 3, 3], [4, 3, 2], [2, 3, 3]],
}


def frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS)


def fixed_votes() -> pd.DataFrame:
    """TABLE as votes, plus a trap and a gold vote per rater that must not enter MOS."""
    rows = []
    for s, (system, matrix) in enumerate(TABLE.items()):
        for r, row in enumerate(matrix, start=1):
            for u, vote in enumerate(row):
                rows.append((r, 10 * s + u, f"u{u}", system, float(vote), "test", np.nan))
    for r in range(1, 5):
        rows.append((r, 900, "u0", "vits", 1.0, "trap", 1.0))
        rows.append((r, 901, "u1", "gt", 1.0, "gold", 5.0))
    return frame(rows)


def crossed(
    n_raters: int, n_utterances: int, *, offset_sd: float, noise_sd: float, seed: int
) -> pd.DataFrame:
    """Every rater rates every utterance of one system: 3 + rater offset + noise."""
    rng = np.random.default_rng(seed)
    offsets = rng.normal(0, offset_sd, n_raters)
    rows = [
        (r, u, f"u{u}", "x", 3 + offsets[r] + rng.normal(0, noise_sd), "test", np.nan)
        for u in range(n_utterances)
        for r in range(n_raters)
    ]
    return frame(rows)


# --- MOS and the analytic intervals ----------------------------------------------------------


def test_system_summary_matches_numpy_and_scipy_on_the_fixed_table():
    summaries = {s.system: s for s in stats.system_summary(fixed_votes(), confidence=0.95)}
    for system, matrix in TABLE.items():
        values = np.array(matrix, dtype=float).ravel()
        n = values.size
        mean, sd = values.sum() / n, math.sqrt(((values - values.sum() / n) ** 2).sum() / (n - 1))
        got = summaries[system]
        assert (got.n_votes, got.n_raters, got.n_utterances) == (12, 4, 3)
        assert got.mos == pytest.approx(mean)
        assert got.sd == pytest.approx(sd)
        z_half = sps.norm.ppf(0.975) * sd / math.sqrt(n)
        t_half = sps.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
        assert got.ci_normal.half_width == pytest.approx(z_half)
        assert got.ci_normal.half_width == pytest.approx(1.96 * sd / math.sqrt(n), rel=1e-4)
        assert (got.ci_normal.low, got.ci_normal.high) == pytest.approx(
            (mean - z_half, mean + z_half)
        )
        assert got.ci_t.half_width == pytest.approx(t_half)
        assert (got.ci_t.low, got.ci_t.high) == pytest.approx((mean - t_half, mean + t_half))
        assert got.ci_cluster.low < mean < got.ci_cluster.high


def test_systems_are_sorted_best_first_and_traps_and_gold_do_not_count():
    summaries = stats.system_summary(fixed_votes())
    assert [s.system for s in summaries] == ["gt", "vits", "tacotron"]
    assert all(s.n_votes == 12 for s in summaries)


def test_a_90_percent_level_changes_both_analytic_intervals():
    gt = stats.system_summary(fixed_votes(), confidence=0.90)[0]
    sd, n = gt.sd, gt.n_votes
    assert gt.ci_normal.half_width == pytest.approx(sps.norm.ppf(0.95) * sd / math.sqrt(n))
    assert gt.ci_t.half_width == pytest.approx(sps.t.ppf(0.95, n - 1) * sd / math.sqrt(n))


def test_a_system_with_one_vote_has_no_sd_and_no_intervals():
    votes = frame([(1, 1, "u0", "lonely", 4.0, "test", np.nan)])
    (only,) = stats.system_summary(votes)
    assert only.mos == 4.0 and only.sd is None
    assert only.ci_normal is None and only.ci_t is None and only.ci_cluster is None


def test_excluded_raters_leave_the_summary():
    summary = stats.system_summary(fixed_votes(), excluded_raters={1, 2})
    gt = next(s for s in summary if s.system == "gt")
    assert gt.n_votes == 6 and gt.mos == pytest.approx(np.mean(TABLE["gt"][2:]))


def test_results_serialise_to_json():
    summary = stats.system_summary(fixed_votes())
    decoded = json.loads(json.dumps([s.to_dict() for s in summary]))
    assert decoded[0]["system"] == "gt" and decoded[0]["ci_t"]["method"] == "t"


# --- the two-way cluster-robust interval -----------------------------------------------------


def cgm_half_width(votes: pd.DataFrame, confidence: float = 0.95) -> float:
    """Cameron–Gelbach–Miller by hand: V = V_rater + V_utterance − V_vote for the mean, each
    a sum of squared within-cluster residual sums over n², with each sandwich's usual
    small-sample factor G/(G − 1)·(n − 1)/(n − 1 − 0) (one regressor), then t(min G − 1)."""
    x = votes["vote"].to_numpy(float)
    e, n = x - x.mean(), len(x)

    def sandwich(groups) -> float:
        sums = pd.Series(e).groupby(np.asarray(groups)).sum().to_numpy()
        g = len(sums)
        return (sums**2).sum() / n**2 * g / (g - 1) * (n - 1) / (n - 1)

    raters, utterances = votes["rater"].to_numpy(), votes["utterance"].to_numpy()
    cells = [f"{r}|{u}" for r, u in zip(raters, utterances, strict=True)]
    v = sandwich(raters) + sandwich(utterances) - sandwich(cells)
    clusters = min(len(set(raters)), len(set(utterances)))
    return sps.t.ppf(1 - (1 - confidence) / 2, clusters - 1) * math.sqrt(v)


def test_cluster_interval_equals_the_two_way_formula_computed_by_hand():
    votes = crossed(8, 6, offset_sd=0.8, noise_sd=0.7, seed=3)
    votes = votes.drop(index=votes.index[::5])  # an incomplete design: not every cell rated
    (x,) = stats.system_summary(votes)
    assert x.ci_cluster.half_width == pytest.approx(cgm_half_width(votes), rel=1e-6)
    assert x.ci_cluster.low == pytest.approx(x.mos - x.ci_cluster.half_width)


def test_a_negative_two_way_variance_falls_back_to_the_larger_one_way_one():
    votes = fixed_votes()
    votes = votes[votes["role"] == "test"]
    fell_back = 0
    for system, group in votes.groupby("system"):
        x = group["vote"].to_numpy(float)
        e, n = x - x.mean(), len(x)

        def one_way(groups, e=e, n=n):
            sums = pd.Series(e).groupby(np.asarray(groups)).sum().to_numpy()
            return (sums**2).sum() / n**2 * len(sums) / (len(sums) - 1)

        cells = group["rater"].astype(str) + "|" + group["utterance"]
        v = one_way(group["rater"]) + one_way(group["utterance"]) - one_way(cells)
        if v <= 0:
            fell_back += 1
            v = max(one_way(group["rater"]), one_way(group["utterance"]))
        clusters = min(group["rater"].nunique(), group["utterance"].nunique())
        expected = sps.t.ppf(0.975, clusters - 1) * math.sqrt(v)
        got = next(s for s in stats.system_summary(group) if s.system == system)
        assert got.ci_cluster.half_width == pytest.approx(expected, rel=1e-6), system
    assert fell_back >= 1  # the fixed table has such a system


def test_cluster_interval_is_far_wider_than_the_naive_one_when_raters_disagree_systematically():
    votes = crossed(20, 30, offset_sd=1.0, noise_sd=0.5, seed=5)
    (x,) = stats.system_summary(votes)
    assert x.ci_cluster.half_width > 3 * x.ci_normal.half_width


def test_cluster_interval_for_independent_votes_is_about_the_naive_one():
    """Pure noise: nothing clusters, so the robust interval is the naive one up to the t(G−1)
    quantile and sampling noise — not √3 wider, as the pigeonhole bootstrap would be."""
    votes = crossed(20, 30, offset_sd=0.0, noise_sd=1.0, seed=5)
    (x,) = stats.system_summary(votes)
    ratio = x.ci_cluster.half_width / x.ci_normal.half_width
    assert 0.75 < ratio < 1.35


def test_one_rater_or_one_utterance_has_no_cluster_interval():
    votes = crossed(1, 6, offset_sd=0.5, noise_sd=1.0, seed=2)
    (x,) = stats.system_summary(votes)
    assert x.ci_cluster is None and x.ci_t is not None


# --- pairwise comparisons --------------------------------------------------------------------


def paired_votes() -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """3 systems × 10 utterances × 5 raters; "c" lacks utterances 8 and 9."""
    rng = np.random.default_rng(21)
    level = {"a": 4.2, "b": 3.9, "c": 3.0}
    rows, grids = [], {}
    for system, mu in level.items():
        grid = np.clip(np.round(mu + rng.normal(0, 0.9, size=(5, 10))), 1, 5)
        if system == "c":
            grid[:, 8:] = np.nan
        grids[system] = grid
        for r in range(5):
            for u in range(10):
                if not np.isnan(grid[r, u]):
                    rows.append((r, u, f"u{u}", system, grid[r, u], "test", np.nan))
    return frame(rows), grids


def test_pairwise_matches_scipy_wilcoxon_and_statsmodels_holm_on_per_utterance_means():
    votes, grids = paired_votes()
    means = {system: grid.mean(axis=0) for system, grid in grids.items()}  # NaN where unrated
    got = {(c.system_a, c.system_b): c for c in stats.pairwise(votes, confidence=0.95)}
    assert set(got) == {("a", "b"), ("a", "c"), ("b", "c")}
    raw = {}
    for a, b in got:
        shared = ~np.isnan(means[a]) & ~np.isnan(means[b])
        diff = means[a][shared] - means[b][shared]
        expected = sps.wilcoxon(diff)
        comparison = got[(a, b)]
        assert comparison.n_utterances == shared.sum()
        assert comparison.mean_a == pytest.approx(means[a][shared].mean())
        assert comparison.mean_b == pytest.approx(means[b][shared].mean())
        assert comparison.difference == pytest.approx(diff.mean())
        assert comparison.statistic == pytest.approx(expected.statistic)
        assert comparison.p_value == pytest.approx(expected.pvalue)
        raw[(a, b)] = expected.pvalue
    pairs = list(raw)
    reject, holm, _, _ = multipletests([raw[p] for p in pairs], alpha=0.05, method="holm")
    for pair, flag, p in zip(pairs, reject, holm, strict=True):
        assert got[pair].p_holm == pytest.approx(p)
        assert got[pair].significant == bool(flag)
    assert got[("a", "c")].n_utterances == 8 and got[("a", "c")].significant


def test_pairs_without_a_paired_test_get_no_p_and_stay_out_of_holm():
    rows = [
        (1, 1, "u0", "x", 4.0, "test", np.nan),
        (1, 2, "u1", "x", 3.0, "test", np.nan),
        (1, 3, "u0", "y", 4.0, "test", np.nan),
        (1, 4, "u1", "y", 3.0, "test", np.nan),  # x − y = 0 on both utterances
        (1, 5, "u0", "z", 2.0, "test", np.nan),  # z shares one utterance with each
    ]
    comparisons = stats.pairwise(frame(rows))
    assert all(c.p_value is None and c.p_holm is None for c in comparisons)
    assert not any(c.significant for c in comparisons)
    assert {c.n_utterances for c in comparisons} == {1, 2}


# --- CMOS ------------------------------------------------------------------------------------


def test_ccr_sign_correction_makes_a_positive_vote_mean_the_system_sounded_better():
    assert stats.ccr_score(2, "rp") == 2  # reference first: "second vs first" = system vs ref
    assert stats.ccr_score(2, "pr") == -2  # system first: the listener compared ref vs system


def test_cmos_is_the_mean_of_the_sign_corrected_votes():
    # A system that sounds better than the reference: listeners say "the second is better"
    # when it plays second (rp) and "the second is worse" when the reference plays second.
    shown_order = [(2, "rp"), (-1, "pr"), (1, "rp"), (-2, "pr"), (0, "rp"), (-1, "pr")]
    rows = [
        (r, r, f"u{r}", "vits", float(stats.ccr_score(shown, order)), "test", np.nan)
        for r, (shown, order) in enumerate(shown_order)
    ]
    rows += [(r, 50 + r, f"u{r}", "worse", -1.0 - r % 2, "test", np.nan) for r in range(6)]
    rows.append((0, 99, "u0", "reference", 0.0, "test", np.nan))
    summary = stats.cmos_summary(frame(rows), reference_system="reference")
    assert [s.system for s in summary] == ["vits", "worse"]
    corrected = np.array([2, 1, 1, 2, 0, 1], dtype=float)
    vits = summary[0]
    assert vits.mos == pytest.approx(corrected.mean()) and vits.mos > 0
    assert vits.ci_t.half_width == pytest.approx(
        sps.t.ppf(0.975, 5) * corrected.std(ddof=1) / math.sqrt(6)
    )
    assert summary[1].mos == pytest.approx(-1.5)


# --- A/B -------------------------------------------------------------------------------------


def ab_frame(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [(i % 7, i, f"u{i % 5}", a, b, p) for i, (a, b, p) in enumerate(rows)],
        columns=["rater", "item", "utterance", "system_a", "system_b", "preferred"],
    )


def test_ab_summary_counts_both_orientations_and_matches_scipy_binomtest():
    rows = [("new", "old", "a")] * 12 + [("new", "old", "b")] * 3 + [("new", "old", "none")]
    # The same pair met the other way round: "a" there is "old".
    rows += [("old", "new", "b")] * 4 + [("old", "new", "a")] + [("old", "new", "none")]
    rows += [("new", "base", "a")] * 6 + [("new", "base", "b")] * 5
    got = {(p.system_a, p.system_b): p for p in stats.ab_summary(ab_frame(rows))}
    assert set(got) == {("new", "old"), ("new", "base")}
    pair = got[("new", "old")]
    assert (pair.n_a, pair.n_b, pair.n_none, pair.n_votes) == (16, 4, 2, 22)
    assert (pair.share_a, pair.share_b, pair.share_none) == pytest.approx((16 / 22, 4 / 22, 2 / 22))
    assert pair.preference_a == pytest.approx(16 / 20)
    expected = sps.binomtest(16, 20, 0.5)
    assert pair.p_value == pytest.approx(expected.pvalue)
    wilson = expected.proportion_ci(0.95, method="wilson")
    assert (pair.ci.low, pair.ci.high) == pytest.approx((wilson.low, wilson.high))
    p_values = [got[k].p_value for k in got]
    reject, holm, _, _ = multipletests(p_values, alpha=0.05, method="holm")
    assert [got[k].p_holm for k in got] == pytest.approx(list(holm))
    assert [got[k].significant for k in got] == [bool(r) for r in reject]
    assert got[("new", "old")].significant and not got[("new", "base")].significant


def test_ab_exact_interval_is_clopper_pearson_and_all_none_has_no_test():
    rows = [("x", "y", "a")] * 3 + [("x", "y", "b")] + [("x", "z", "none")] * 2
    got = {(p.system_a, p.system_b): p for p in stats.ab_summary(ab_frame(rows), interval="exact")}
    exact = sps.binomtest(3, 4).proportion_ci(0.95, method="exact")
    assert (got[("x", "y")].ci.low, got[("x", "y")].ci.high) == pytest.approx(
        (exact.low, exact.high)
    )
    ties = got[("x", "z")]
    assert ties.p_value is None and ties.ci is None and ties.preference_a is None
    assert got[("x", "y")].p_holm == pytest.approx(got[("x", "y")].p_value)  # one test: no change


# --- MUSHRA ----------------------------------------------------------------------------------

N_ITEMS = 20


def mushra_votes() -> pd.DataFrame:
    """Raters designed around the BS.1534 thresholds (20 items each):
    1 clean; 2 hidden reference < 90 on 3 items (15 %: passes); 3 on 4 items (20 %: out);
    4 7 kHz anchor > 90 on 3 items (passes); 5 on 4 items (out); 6 reference and anchor at
    exactly 90 everywhere (passes: the rules are strict inequalities)."""
    low_reference = {2: 3, 3: 4}
    high_anchor = {4: 3, 5: 4}
    rows = []
    for rater in range(1, 7):
        for item in range(N_ITEMS):
            reference = 70.0 if item < low_reference.get(rater, 0) else 100.0
            anchor = 95.0 if item < high_anchor.get(rater, 0) else 60.0
            if rater == 6:
                reference, anchor = 90.0, 90.0
            scores = {
                HIDDEN_REFERENCE: reference,
                ANCHOR_70: anchor,
                ANCHOR_35: 20.0 + item % 3,
                "vits": 75.0 + rater + item % 4,
            }
            for system, vote in scores.items():
                rows.append((rater, item, f"u{item}", system, vote, "test", np.nan))
    return frame(rows)


def test_mushra_screening_excludes_exactly_the_raters_past_15_percent():
    reasons = stats.mushra_screening(mushra_votes())
    assert set(reasons) == {3, 5}
    assert reasons[3] == [
        "rated the hidden reference below 90 on 4 of 20 items (20%; at most 15% allowed)"
    ]
    assert "7 kHz anchor above 90 on 4 of 20 items" in reasons[5][0]


def test_mushra_summary_after_screening_matches_scipy_t_intervals():
    votes = mushra_votes()
    summary = {s.system: s for s in stats.mushra_summary(votes, {3, 5}, confidence=0.95)}
    kept = votes[~votes["rater"].isin([3, 5])]
    for system, stat in summary.items():
        values = kept.loc[kept["system"] == system, "vote"].to_numpy()
        assert stat.n_votes == 4 * N_ITEMS and stat.n_raters == 4
        assert stat.mos == pytest.approx(values.mean())
        assert stat.sd == pytest.approx(values.std(ddof=1))
        low, high = sps.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=sps.sem(values))
        assert (stat.ci_t.low, stat.ci_t.high) == pytest.approx((low, high))
    assert set(summary) == {HIDDEN_REFERENCE, ANCHOR_70, ANCHOR_35, "vits"}


def test_screen_runs_mushra_post_screening_only_for_mushra_when_switched_on():
    votes = mushra_votes()
    on = stats.screen(votes, qc=QualityControl(), design="mushra")
    mushra = next(c for c in on.rules if c.rule == "mushra")
    assert on.excluded == (3, 5)
    assert (mushra.enabled, mushra.checked, mushra.excluded) == (True, 6, 2)
    assert all(f.rule == "mushra" for fs in on.failures.values() for f in fs)
    for qc, design in (
        (QualityControl(mushra_post_screening=False), "mushra"),
        (QualityControl(), "acr"),
    ):
        off = stats.screen(votes, qc=qc, design=design)
        mushra = next(c for c in off.rules if c.rule == "mushra")
        assert off.excluded == () and (mushra.enabled, mushra.checked, mushra.excluded) == (
            False,
            0,
            0,
        )


# --- P.808 screening -------------------------------------------------------------------------

QUALITY = [1, 2, 3, 4, 5, 3]  # the true quality of the six test clips


def p808_votes() -> pd.DataFrame:
    """Eleven raters on six test clips, one trapping clip (expected 2) and one gold clip
    (expected 5). 1–5 rate well; 6 fails the trap (answers 4); 7 misses the gold by 2;
    8 misses it by exactly the tolerance (passes); 9 straight-lines 4 (variance 0, and a
    constant vector the correlation rule cannot judge); 10 rates against the scale; 11 rated
    one clip only (judged by no test-vote rule)."""
    wobble = [0, 1, 0, -1, 0, 1]
    rows = []
    for rater in range(1, 11):
        for item, quality in enumerate(QUALITY):
            vote = quality + wobble[(item + rater) % 6] * (item not in (0, 4))
            if rater == 9:
                vote = 4
            if rater == 10:
                vote = 6 - quality
            rows.append((rater, item, f"u{item}", "sys", float(vote), "test", np.nan))
        trap = 4.0 if rater == 6 else 2.0
        gold = {7: 3.0, 8: 4.0}.get(rater, 5.0)
        rows.append((rater, 100, "u0", "sys", trap, "trap", 2.0))
        rows.append((rater, 200, "u1", "sys", gold, "gold", 5.0))
    rows.append((11, 0, "u0", "sys", 1.0, "test", np.nan))
    return frame(rows)


ALL_OFF = dict(trapping=False, gold=False, min_variance=None, min_correlation=None)


def counts(screening: stats.Screening) -> dict[str, tuple[bool, int, int]]:
    return {c.rule: (c.enabled, c.checked, c.excluded) for c in screening.rules}


def test_every_p808_rule_together_excludes_exactly_the_designed_raters():
    screening = stats.screen(p808_votes(), qc=QualityControl(min_correlation=0.3))
    assert screening.n_raters == 11
    assert screening.excluded == (6, 7, 9, 10)
    assert {r: [f.rule for f in fs] for r, fs in screening.failures.items()} == {
        6: ["trapping"],
        7: ["gold"],
        9: ["variance"],
        10: ["correlation"],
    }
    assert counts(screening) == {
        "trapping": (True, 10, 1),
        "gold": (True, 10, 1),
        "variance": (True, 10, 1),
        "correlation": (True, 9, 1),
        "mushra": (False, 0, 0),
    }
    assert screening.reasons(6) == ["answered the trapping clip with 4, expected 2"]
    assert screening.reasons(7) == ["rated the gold clip 3, expected 5 ± 1"]
    assert screening.reasons(9)[0].startswith("ratings vary too little: variance 0 over 6")


@pytest.mark.parametrize(
    ("switch", "excluded"),
    [
        ({"trapping": True}, (6,)),
        ({"gold": True}, (7,)),
        ({"gold": True, "gold_tolerance": 2.0}, ()),
        ({"min_variance": 0.1}, (9,)),
        ({"min_correlation": 0.3}, (10,)),
    ],
)
def test_each_p808_rule_alone_excludes_only_its_raters(switch, excluded):
    qc = QualityControl(**{**ALL_OFF, **switch})
    screening = stats.screen(p808_votes(), qc=qc)
    assert screening.excluded == excluded
    enabled = {rule for rule, (on, _, _) in counts(screening).items() if on}
    assert len(enabled) == 1


def test_switched_off_rules_judge_nobody_and_count_zero():
    screening = stats.screen(p808_votes(), qc=QualityControl(**ALL_OFF))
    assert screening.excluded == () and screening.failures == {}
    assert set(counts(screening).values()) == {(False, 0, 0)}


def test_correlation_uses_the_other_raters_mean_as_scipy_computes_it():
    votes = p808_votes()
    tests = votes[votes["role"] == "test"]
    rater_1 = tests[tests["rater"] == 1].sort_values("item")
    others = tests[tests["rater"] != 1].groupby("item")["vote"].mean()
    r = sps.pearsonr(rater_1["vote"], others.loc[rater_1["item"]]).statistic
    threshold = r + 0.01  # just above rater 1's r: only rater 1 (and the contrarian) fail
    screening = stats.screen(votes, qc=QualityControl(**{**ALL_OFF, "min_correlation": threshold}))
    assert 1 in screening.excluded and 10 in screening.excluded
    assert f"r = {r:.2f} over 6 clips" in screening.reasons(1)[0]
    just_below = stats.screen(votes, qc=QualityControl(**{**ALL_OFF, "min_correlation": r - 1e-9}))
    assert 1 not in just_below.excluded


# --- rater views -----------------------------------------------------------------------------


def test_rater_distributions_show_who_uses_which_scores():
    distributions = {d.rater: d for d in stats.rater_distributions(p808_votes())}
    assert distributions[9].counts == {"4": 6} and distributions[9].mean == 4.0
    assert distributions[10].counts == {"1": 1, "2": 1, "3": 2, "4": 1, "5": 1}
    assert distributions[11].n_votes == 1
    assert all(sum(d.counts.values()) == d.n_votes == 6 for r, d in distributions.items() if r < 11)


def test_inter_rater_reliability_is_the_mean_pearson_r_against_the_clip_mos():
    votes = p808_votes()
    tests = votes[votes["role"] == "test"]
    clip_mos = tests.groupby("item")["vote"].mean()  # every clip has ≥ 3 votes here
    expected = {}
    for rater, group in tests.groupby("rater"):
        group = group.sort_values("item")
        x, y = group["vote"].to_numpy(), clip_mos.loc[group["item"]].to_numpy()
        expected[rater] = (
            sps.pearsonr(x, y).statistic if len(x) >= 2 and x.std() > 0 and y.std() > 0 else None
        )
    got = stats.inter_rater_reliability(votes)
    by_rater = {entry.rater: entry for entry in got.raters}
    assert by_rater[9].r is None and by_rater[11].r is None  # constant; a single clip
    for rater, r in expected.items():
        assert by_rater[rater].r == pytest.approx(r)
    assert got.irr == pytest.approx(np.mean([r for r in expected.values() if r is not None]))


def test_a_study_without_votes_gives_empty_results():
    empty = frame([])
    ab = pd.DataFrame(columns=["rater", "item", "utterance", "system_a", "system_b", "preferred"])
    assert stats.system_summary(empty) == [] and stats.pairwise(empty) == []
    assert stats.ab_summary(ab) == [] and stats.mushra_screening(empty) == {}
    assert stats.screen(empty, qc=QualityControl()).excluded == ()
    assert stats.inter_rater_reliability(empty).irr is None
