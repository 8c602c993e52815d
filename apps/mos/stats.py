"""Listening-test statistics: MOS with three intervals, paired comparisons, CMOS, A/B, MUSHRA,
and P.808 / BS.1534 screening (PROTOCOLS.md §2).

Nothing here touches the database: the selectors build a vote frame and pass it in, and every
result is a frozen dataclass of plain numbers and strings (``to_dict()`` gives JSON).

The vote frame (one row per vote): ``rater`` (int), ``item`` (int), ``utterance`` (str),
``system`` (str), ``vote`` (float), ``role`` (``test`` | ``trap`` | ``gold``; a frame without
the column is all ``test``) and ``expected`` (float, the expected score of a trap or gold clip,
NaN otherwise). A/B votes come in their own frame: ``rater``, ``item``, ``utterance``,
``system_a``, ``system_b``, ``preferred`` (``a`` | ``b`` | ``none``).

Every distribution comes from scipy (``norm``, ``t``, ``wilcoxon``, ``binomtest``,
``pearsonr``) and the multiple-comparison correction from statsmodels (Holm).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from apps.mos.schemas import ANCHOR_70, HIDDEN_REFERENCE, QualityControl

INTERVAL_LABELS = {
    "normal": "Normal (P.808 toolkit): z·s/√n, votes treated as independent",
    "t": "Student t: t(n−1)·s/√n, votes treated as independent",
    "cluster": "Two-way cluster-robust (Cameron–Gelbach–Miller) over raters and utterances, t(G−1)",
    "wilson": "Wilson score interval of the share",
    "exact": "Clopper–Pearson exact interval of the share",
}

# BS.1534 post-screening thresholds.
MUSHRA_REFERENCE_MIN = 90.0
MUSHRA_ANCHOR_MAX = 90.0
MUSHRA_MAX_SHARE = 0.15
# Items with fewer votes than this are no consensus to correlate with (P.808 toolkit: n ≥ 3).
MIN_VOTES_PER_CLIP = 3

RULES = ("trapping", "gold", "variance", "correlation", "mushra")


class _Result:
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class Interval(_Result):
    """A confidence interval; ``half_width`` is (high − low) / 2, exact for symmetric ones."""

    method: str  # a key of INTERVAL_LABELS
    confidence: float
    low: float
    high: float
    half_width: float


@dataclass(frozen=True)
class SystemStats(_Result):
    """One system (condition): ``mos`` is the mean vote (the CMOS for ccr votes)."""

    system: str
    n_votes: int
    n_raters: int
    n_utterances: int
    mos: float
    sd: float | None
    ci_normal: Interval | None
    ci_t: Interval | None
    ci_cluster: Interval | None


@dataclass(frozen=True)
class Comparison(_Result):
    """Two systems on the utterances both were rated on; ``difference`` = mean_a − mean_b."""

    system_a: str
    system_b: str
    n_utterances: int
    mean_a: float | None
    mean_b: float | None
    difference: float | None
    statistic: float | None
    p_value: float | None
    p_holm: float | None
    significant: bool


@dataclass(frozen=True)
class Preference(_Result):
    """A/B votes of one system pair. ``share_*`` are over all votes; ``preference_a`` is
    a's share of the decisive (non-"none") votes, the quantity the binomial test is about."""

    system_a: str
    system_b: str
    n_votes: int
    n_a: int
    n_b: int
    n_none: int
    share_a: float
    share_b: float
    share_none: float
    preference_a: float | None
    ci: Interval | None
    p_value: float | None
    p_holm: float | None
    significant: bool


@dataclass(frozen=True)
class RuleFailure(_Result):
    rule: str  # one of RULES
    reason: str


@dataclass(frozen=True)
class RuleCount(_Result):
    """How a screening rule fared: raters it could judge and raters it excluded."""

    rule: str
    enabled: bool
    checked: int
    excluded: int


@dataclass(frozen=True)
class Screening(_Result):
    """``failures``: {rater: the rules they failed}, only raters who failed one;
    ``excluded``: those raters, sorted; ``rules``: one count per rule of RULES."""

    n_raters: int
    failures: dict[int, tuple[RuleFailure, ...]]
    excluded: tuple[int, ...]
    rules: tuple[RuleCount, ...]

    def reasons(self, rater: int) -> list[str]:
        return [failure.reason for failure in self.failures.get(rater, ())]


@dataclass(frozen=True)
class RaterDistribution(_Result):
    """``counts``: {score as written (``"4"``, ``"87.5"``): votes}, in ascending score order."""

    rater: int
    n_votes: int
    mean: float
    counts: dict[str, int]


@dataclass(frozen=True)
class RaterReliability(_Result):
    rater: int
    r: float | None
    n_clips: int


@dataclass(frozen=True)
class Reliability(_Result):
    """P.808 inter-rater reliability: ``irr`` is the mean of the raters' defined r."""

    irr: float | None
    raters: tuple[RaterReliability, ...]


# --- selection -------------------------------------------------------------------------------


def rated_votes(votes: pd.DataFrame, excluded_raters: Collection[int] = ()) -> pd.DataFrame:
    """The votes that enter MOS: role ``test`` (traps and gold only screen raters), minus the
    excluded raters."""
    selected = votes if "role" not in votes else votes[votes["role"] == "test"]
    if excluded_raters:
        selected = selected[~selected["rater"].isin(list(excluded_raters))]
    return selected


def _score(value: float) -> str:
    return f"{value:g}"


# --- intervals -------------------------------------------------------------------------------


def _alpha(confidence: float) -> float:
    return 1.0 - confidence


def _symmetric(method: str, confidence: float, centre: float, half: float) -> Interval:
    return Interval(method, confidence, centre - half, centre + half, half)


def normal_interval(values: np.ndarray, *, confidence: float) -> Interval | None:
    """P.808 toolkit interval: mean ± z·s/√n with z = Φ⁻¹(1 − α/2) (1.96 at 95 %), s the sample
    SD (ddof 1). Kept because the toolkit and most TTS papers report it; it treats every vote
    as independent. None for n ≤ 1 (no SD)."""
    n = len(values)
    if n <= 1:
        return None
    z = stats.norm.ppf(1 - _alpha(confidence) / 2)
    return _symmetric(
        "normal", confidence, float(values.mean()), float(z * values.std(ddof=1) / np.sqrt(n))
    )


def t_interval(values: np.ndarray, *, confidence: float) -> Interval | None:
    """mean ± t(1 − α/2, n − 1)·s/√n: the small-sample version of the normal interval
    (customary for MUSHRA); still assumes independent votes. None for n ≤ 1."""
    n = len(values)
    if n <= 1:
        return None
    t = stats.t.ppf(1 - _alpha(confidence) / 2, n - 1)
    return _symmetric(
        "t", confidence, float(values.mean()), float(t * values.std(ddof=1) / np.sqrt(n))
    )


def cluster_interval(votes: pd.DataFrame, *, confidence: float) -> Interval | None:
    """The mean vote with a two-way cluster-robust interval over raters and utterances.

    Why: one rater's votes share that rater's leniency and one utterance's votes share its
    difficulty, so votes are not independent and z·s/√n is too narrow. The variance of the
    mean is Cameron, Gelbach & Miller's (2011) two-way cluster-robust estimate,
    V = V_rater + V_utterance − V_vote (each a sandwich over that grouping), from statsmodels
    (OLS on an intercept, ``cov_type="cluster"`` with both groupings); the interval is
    mean ± t(G − 1)·√V with G the smaller number of clusters, as with few clusters.

    Why not the alternatives: a linear mixed model with crossed random effects has no native
    form in statsmodels' MixedLM and would need re-specifying per design; the two-way
    (pigeonhole) bootstrap counts the vote-level noise about three times, so it is up to √3
    too wide when votes are independent (Owen 2007). This estimate is about the naive one
    when votes are independent and grows with the rater and utterance effects; where the
    two-way variance comes out negative (small studies) the larger one-way one is used. None
    for n ≤ 1
    or fewer than two raters or utterances (no between-cluster spread to estimate).
    """
    import statsmodels.api as sm

    if len(votes) <= 1:
        return None
    raters, _ = pd.factorize(votes["rater"])
    utterances, _ = pd.factorize(votes["utterance"])
    clusters = min(raters.max() + 1, utterances.max() + 1)
    if clusters < 2:
        return None
    values = votes["vote"].to_numpy(dtype=float)
    model = sm.OLS(values, np.ones(len(values)))

    def robust_se(groups) -> float:
        with np.errstate(invalid="ignore"):
            return float(model.fit(cov_type="cluster", cov_kwds={"groups": groups}).bse[0])

    se = robust_se(np.column_stack([raters, utterances]))
    if not np.isfinite(se) or se <= 0:
        # V_rater + V_utterance − V_vote can come out negative in a small study; then the
        # larger one-way estimate is the honest one (Cameron, Gelbach & Miller 2011, §2.3).
        se = max(robust_se(raters), robust_se(utterances))
    if not np.isfinite(se):
        return None
    half = float(stats.t.ppf(1 - _alpha(confidence) / 2, clusters - 1)) * se
    return _symmetric("cluster", confidence, float(values.mean()), half)


# --- MOS, CMOS, MUSHRA -----------------------------------------------------------------------


def _system_stats(system: str, votes: pd.DataFrame, *, confidence: float) -> SystemStats:
    values = votes["vote"].to_numpy(dtype=float)
    return SystemStats(
        system=str(system),
        n_votes=len(values),
        n_raters=int(votes["rater"].nunique()),
        n_utterances=int(votes["utterance"].nunique()),
        mos=float(values.mean()),
        sd=float(values.std(ddof=1)) if len(values) > 1 else None,
        ci_normal=normal_interval(values, confidence=confidence),
        ci_t=t_interval(values, confidence=confidence),
        ci_cluster=cluster_interval(votes, confidence=confidence),
    )


def system_summary(
    votes: pd.DataFrame,
    *,
    confidence: float = 0.95,
    excluded_raters: Collection[int] = (),
) -> list[SystemStats]:
    """Per system over the test votes: counts, MOS = mean vote, SD (ddof 1) and the three
    intervals side by side (normal, t, two-way cluster-robust), sorted by MOS, best first."""
    selected = rated_votes(votes, excluded_raters)
    summaries = [
        _system_stats(system, group, confidence=confidence)
        for system, group in selected.groupby("system", sort=True)
    ]
    return sorted(summaries, key=lambda s: (-s.mos, s.system))


def ccr_score(shown: int, order: Literal["rp", "pr"]) -> int:
    """Sign correction of a CCR vote. The listener answers "the second compared with the
    first"; with ``rp`` (reference first) that already is system vs reference, with ``pr`` it
    is reference vs system, so it flips. After this a positive vote always means the system
    sounded better than the reference."""
    return shown if order == "rp" else -shown


def cmos_summary(
    votes: pd.DataFrame,
    *,
    reference_system: str | None = None,
    confidence: float = 0.95,
    excluded_raters: Collection[int] = (),
) -> list[SystemStats]:
    """CMOS per system = mean of the sign-corrected CCR votes (``ccr_score``), with the same
    three intervals as ``system_summary`` (its ``mos`` field is the CMOS). Votes of the
    reference system itself, if any, are left out: it is the zero point, not a contender."""
    if reference_system is not None:
        votes = votes[votes["system"] != reference_system]
    return system_summary(votes, confidence=confidence, excluded_raters=excluded_raters)


def mushra_summary(
    votes: pd.DataFrame,
    excluded_raters: Collection[int] = (),
    *,
    confidence: float = 0.95,
) -> list[SystemStats]:
    """Per MUSHRA condition (systems, hidden reference, anchors) after post-screening: mean,
    SD and the intervals of ``system_summary``; BS.1534 reports customarily quote ``ci_t``."""
    return system_summary(votes, confidence=confidence, excluded_raters=excluded_raters)


# --- paired comparisons ----------------------------------------------------------------------


def _holm(p_values: list[float | None], alpha: float) -> tuple[list[float | None], list[bool]]:
    """Holm step-down adjustment over the defined p values (statsmodels); undefined stay None
    and are never significant. Holm because it controls the family-wise error rate without
    Bonferroni's loss of power, and needs no independence between the comparisons."""
    defined = [i for i, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = [None] * len(p_values)
    significant = [False] * len(p_values)
    if defined:
        reject, corrected, _, _ = multipletests(
            [p_values[i] for i in defined], alpha=alpha, method="holm"
        )
        for i, rejected, p in zip(defined, reject, corrected, strict=True):
            adjusted[i], significant[i] = float(p), bool(rejected)
    return adjusted, significant


def _wilcoxon(differences: np.ndarray) -> tuple[float | None, float | None]:
    """Wilcoxon signed-rank (scipy defaults: zero differences dropped, exact for small n). Not
    defined for fewer than two shared utterances or when every difference is zero."""
    if len(differences) < 2 or not np.any(differences != 0):
        return None, None
    result = stats.wilcoxon(differences)
    return float(result.statistic), float(result.pvalue)


def pairwise(
    votes: pd.DataFrame,
    *,
    confidence: float = 0.95,
    excluded_raters: Collection[int] = (),
) -> list[Comparison]:
    """Every pair of systems, paired by utterance: each system's mean vote per utterance, on
    the utterances both were rated on; difference = mean of (a − b); Wilcoxon signed-rank p on
    those per-utterance differences; Holm over all pairs; significant when Holm rejects at
    α = 1 − confidence.

    Paired by utterance because a sentence's difficulty is shared by both systems, and the
    signed-rank test because per-utterance means of a 5-point scale are not normal. Systems are
    taken in MOS order, so ``system_a`` is the better one of each pair."""
    selected = rated_votes(votes, excluded_raters)
    per_utterance = selected.pivot_table(
        index="utterance", columns="system", values="vote", aggfunc="mean"
    )
    order = _mos_order(selected)
    rows = []
    for a, b in itertools.combinations(order, 2):
        shared = per_utterance[[a, b]].dropna()
        differences = (shared[a] - shared[b]).to_numpy()
        statistic, p = _wilcoxon(differences)
        rows.append((a, b, shared, differences, statistic, p))
    adjusted, significant = _holm([row[5] for row in rows], _alpha(confidence))
    return [
        Comparison(
            system_a=a,
            system_b=b,
            n_utterances=len(shared),
            mean_a=float(shared[a].mean()) if len(shared) else None,
            mean_b=float(shared[b].mean()) if len(shared) else None,
            difference=float(differences.mean()) if len(shared) else None,
            statistic=statistic,
            p_value=p,
            p_holm=p_holm,
            significant=flag,
        )
        for (a, b, shared, differences, statistic, p), p_holm, flag in zip(
            rows, adjusted, significant, strict=True
        )
    ]


def _mos_order(selected: pd.DataFrame) -> list[str]:
    """System names by MOS, best first (ties by name), as ``system_summary`` sorts them."""
    means = selected.groupby("system")["vote"].mean()
    return [str(s) for s, _ in sorted(means.items(), key=lambda kv: (-kv[1], str(kv[0])))]


# --- A/B preference --------------------------------------------------------------------------


def _oriented(ab_votes: pd.DataFrame) -> pd.DataFrame:
    """One orientation per system pair, the one met first in the frame: a (b, a) row becomes
    (a, b) with ``preferred`` swapped, so both sides' items count towards one pair."""
    frame = ab_votes[["system_a", "system_b", "preferred"]].copy()
    seen: dict[frozenset[str], tuple[str, str]] = {}
    for a, b in zip(frame["system_a"], frame["system_b"], strict=True):
        seen.setdefault(frozenset((a, b)), (a, b))
    flipped = np.array(
        [
            seen[frozenset((a, b))] != (a, b)
            for a, b in zip(frame["system_a"], frame["system_b"], strict=True)
        ],
        dtype=bool,
    )
    frame.loc[flipped, ["system_a", "system_b"]] = frame.loc[
        flipped, ["system_b", "system_a"]
    ].to_numpy()
    frame.loc[flipped, "preferred"] = frame.loc[flipped, "preferred"].map(
        {"a": "b", "b": "a", "none": "none"}
    )
    return frame


def ab_summary(
    ab_votes: pd.DataFrame,
    *,
    confidence: float = 0.95,
    interval: Literal["wilson", "exact"] = "wilson",
) -> list[Preference]:
    """Per system pair: counts and shares of a / b / none; a's share of the decisive votes
    with its interval (binomtest().proportion_ci: Wilson, or Clopper–Pearson ``exact``); a
    two-sided exact binomial test of n_a against n_a + n_b at p = ½, "none" left out because
    it favours neither side (the usual sign-test treatment of ties); Holm over the pairs."""
    frame = _oriented(ab_votes)
    pairs = []
    for (a, b), group in frame.groupby(["system_a", "system_b"], sort=True):
        counts = group["preferred"].value_counts()
        n_a, n_b, n_none = (int(counts.get(k, 0)) for k in ("a", "b", "none"))
        pairs.append((str(a), str(b), n_a, n_b, n_none))
    tests = [_binomial(n_a, n_b, confidence, interval) for _, _, n_a, n_b, _ in pairs]
    adjusted, significant = _holm([p for _, p in tests], _alpha(confidence))
    results = []
    for (a, b, n_a, n_b, n_none), (ci, p), p_holm, flag in zip(
        pairs, tests, adjusted, significant, strict=True
    ):
        n = n_a + n_b + n_none
        results.append(
            Preference(
                system_a=a,
                system_b=b,
                n_votes=n,
                n_a=n_a,
                n_b=n_b,
                n_none=n_none,
                share_a=n_a / n,
                share_b=n_b / n,
                share_none=n_none / n,
                preference_a=n_a / (n_a + n_b) if n_a + n_b else None,
                ci=ci,
                p_value=p,
                p_holm=p_holm,
                significant=flag,
            )
        )
    return results


def _binomial(
    n_a: int, n_b: int, confidence: float, method: str
) -> tuple[Interval | None, float | None]:
    if n_a + n_b == 0:
        return None, None
    result = stats.binomtest(n_a, n_a + n_b, 0.5, alternative="two-sided")
    ci = result.proportion_ci(confidence_level=confidence, method=method)
    low, high = float(ci.low), float(ci.high)
    return Interval(method, confidence, low, high, (high - low) / 2), float(result.pvalue)


# --- MUSHRA post-screening -------------------------------------------------------------------


def _mushra_checks(
    votes: pd.DataFrame, reference_min: float, anchor_max: float, max_share: float
) -> tuple[set[int], dict[int, list[str]]]:
    """(raters judged, {rater: reasons}) of BS.1534 post-screening over the test votes."""
    selected = rated_votes(votes)
    checks = (
        (HIDDEN_REFERENCE, "the hidden reference below", reference_min, np.less),
        (ANCHOR_70, "the 7 kHz anchor above", anchor_max, np.greater),
    )
    judged: set[int] = set()
    reasons: dict[int, list[str]] = {}
    for condition, wording, threshold, fails in checks:
        rows = selected[selected["system"] == condition]
        per_item = rows.groupby(["rater", "item"])["vote"].mean().reset_index()
        per_item["failed"] = fails(per_item["vote"], threshold)
        for rater, group in per_item.groupby("rater"):
            judged.add(int(rater))
            n_failed, n_items = int(group["failed"].sum()), len(group)
            # "more than 15 %": exactly 15 % passes; the epsilon absorbs float rounding.
            if n_failed / n_items > max_share + 1e-12:
                reasons.setdefault(int(rater), []).append(
                    f"rated {wording} {_score(threshold)} on {n_failed} of {n_items} items "
                    f"({n_failed / n_items:.0%}; at most {max_share:.0%} allowed)"
                )
    return judged, reasons


def mushra_screening(
    votes: pd.DataFrame,
    *,
    reference_min: float = MUSHRA_REFERENCE_MIN,
    anchor_max: float = MUSHRA_ANCHOR_MAX,
    max_share: float = MUSHRA_MAX_SHARE,
) -> dict[int, list[str]]:
    """BS.1534 post-screening: {rater: reasons} for every assessor who rated the hidden
    reference < 90 on more than 15 % of the items they rated, or the 7 kHz mid anchor > 90 on
    more than 15 % (a listener who cannot find the reference, or who cannot hear a 7 kHz
    low-pass, is not discriminating). Raters who pass are absent."""
    return _mushra_checks(votes, reference_min, anchor_max, max_share)[1]


# --- P.808 screening -------------------------------------------------------------------------

# A rule's verdict: (raters it could judge, {rater: why they failed}).
Verdict = tuple[set[int], dict[int, str]]


def _by_rater(rows: pd.DataFrame, describe: Callable[[pd.DataFrame], str]) -> Verdict:
    """Judge every rater who has rows; ``describe`` returns "" for a pass, else the reason."""
    failures = {}
    for rater, group in rows.groupby("rater"):
        reason = describe(group)
        if reason:
            failures[int(rater)] = reason
    return {int(r) for r in rows["rater"].unique()}, failures


def _trapping(votes: pd.DataFrame) -> Verdict:
    """A rater fails on any trapping clip answered with another score than the one the
    spoken prompt asked for: the prompt is unmissable to anyone listening."""

    def describe(group: pd.DataFrame) -> str:
        wrong = group[group["vote"] != group["expected"]]
        return "; ".join(
            f"answered the trapping clip with {_score(v)}, expected {_score(e)}"
            for v, e in zip(wrong["vote"], wrong["expected"], strict=True)
        )

    return _by_rater(votes[votes["role"] == "trap"], describe)


def _gold(votes: pd.DataFrame, *, tolerance: float) -> Verdict:
    """A rater fails on any gold clip rated further than ``tolerance`` from its known score
    (P.808 toolkit: ±1), since a clean or a broken clip has an obvious answer."""

    def describe(group: pd.DataFrame) -> str:
        off = group[(group["vote"] - group["expected"]).abs() > tolerance]
        return "; ".join(
            f"rated the gold clip {_score(v)}, expected {_score(e)} ± {_score(tolerance)}"
            for v, e in zip(off["vote"], off["expected"], strict=True)
        )

    return _by_rater(votes[votes["role"] == "gold"], describe)


def _variance(votes: pd.DataFrame, *, min_variance: float) -> Verdict:
    """A rater fails when the sample variance (ddof 1) of their test votes is below
    ``min_variance`` (P.808: 0.1): straight-lining, one score for every clip. Raters with
    fewer than two test votes have no variance and are not judged."""
    rows = rated_votes(votes)
    rows = rows[rows.groupby("rater")["vote"].transform("size") >= 2]

    def describe(group: pd.DataFrame) -> str:
        variance = float(group["vote"].var(ddof=1))
        if variance >= min_variance:
            return ""
        return (
            f"ratings vary too little: variance {variance:.3g} over {len(group)} ratings, "
            f"at least {_score(min_variance)} required"
        )

    return _by_rater(rows, describe)


def _consensus(votes: pd.DataFrame) -> pd.DataFrame:
    """Per (rater, item) the rater's mean vote (``own``) and the mean of the OTHER raters'
    votes on that item (``others``), for items with at least MIN_VOTES_PER_CLIP test votes."""
    rows = rated_votes(votes)
    cells = rows.groupby(["rater", "item"])["vote"].agg(["sum", "size"]).reset_index()
    items = rows.groupby("item")["vote"].agg(["sum", "size"])
    cells = cells.merge(items, left_on="item", right_index=True, suffixes=("", "_item"))
    cells = cells[cells["size_item"] >= MIN_VOTES_PER_CLIP].copy()
    cells["own"] = cells["sum"] / cells["size"]
    cells["others"] = (cells["sum_item"] - cells["sum"]) / (cells["size_item"] - cells["size"])
    return cells


def _pearson(x: np.ndarray, y: np.ndarray, min_points: int) -> float | None:
    """scipy's Pearson r; None when there are too few points or either side is constant
    (r is undefined there, not zero)."""
    if len(x) < min_points or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(stats.pearsonr(x, y).statistic)


def _correlation(votes: pd.DataFrame, *, min_correlation: float) -> Verdict:
    """A rater fails when Pearson r between their test votes and the other raters' mean on the
    same items (items with ≥ 3 votes) is below ``min_correlation``: someone rating at random or
    against the scale. Leaving the rater out of the consensus keeps their own votes from
    propping up r. The consensus uses every rater, screened or not, so the verdict does not
    depend on the order the rules run in. Fewer than 3 usable items, or a constant side: not
    judged."""
    judged: set[int] = set()
    failures: dict[int, str] = {}
    for rater, group in _consensus(votes).groupby("rater"):
        r = _pearson(group["own"].to_numpy(), group["others"].to_numpy(), 3)
        if r is None:
            continue
        judged.add(int(rater))
        if r < min_correlation:
            failures[int(rater)] = (
                f"agrees too little with the other raters: r = {r:.2f} over {len(group)} "
                f"clips, at least {_score(min_correlation)} required"
            )
    return judged, failures


def _mushra(votes: pd.DataFrame) -> Verdict:
    judged, reasons = _mushra_checks(
        votes, MUSHRA_REFERENCE_MIN, MUSHRA_ANCHOR_MAX, MUSHRA_MAX_SHARE
    )
    return judged, {rater: "; ".join(texts) for rater, texts in reasons.items()}


def _rule_checks(
    qc: QualityControl, design: str
) -> dict[str, Callable[[pd.DataFrame], Verdict] | None]:
    """Each rule of RULES bound to its thresholds, or None where ``qc`` switches it off."""
    return {
        "trapping": _trapping if qc.trapping else None,
        "gold": partial(_gold, tolerance=qc.gold_tolerance) if qc.gold else None,
        "variance": (
            partial(_variance, min_variance=qc.min_variance)
            if qc.min_variance is not None
            else None
        ),
        "correlation": (
            partial(_correlation, min_correlation=qc.min_correlation)
            if qc.min_correlation is not None
            else None
        ),
        "mushra": _mushra if qc.mushra_post_screening and design == "mushra" else None,
    }


def screen(votes: pd.DataFrame, *, qc: QualityControl, design: str = "acr") -> Screening:
    """P.808-style screening of the raters: each rule of RULES that ``qc`` switches on judges
    the raters it can and names the ones it fails with a readable reason; a rater who fails
    any rule is excluded (their votes stay in the database, marked). A switched-off rule
    judges nobody and reports zero counts. BS.1534 post-screening joins for ``mushra``."""
    if "role" not in votes:
        votes = votes.assign(role="test")
    if "expected" not in votes:
        votes = votes.assign(expected=np.nan)
    failures: dict[int, list[RuleFailure]] = {}
    counts = []
    for rule, check in _rule_checks(qc, design).items():
        judged, failed = check(votes) if check else (set(), {})
        counts.append(RuleCount(rule, check is not None, len(judged), len(failed)))
        for rater, reason in failed.items():
            failures.setdefault(rater, []).append(RuleFailure(rule, reason))
    return Screening(
        n_raters=int(votes["rater"].nunique()),
        failures={rater: tuple(f) for rater, f in sorted(failures.items())},
        excluded=tuple(sorted(failures)),
        rules=tuple(counts),
    )


# --- rater views -----------------------------------------------------------------------------


def rater_distributions(votes: pd.DataFrame) -> list[RaterDistribution]:
    """Per rater, how often they gave each score over their test votes, and their mean: a
    rater who only uses 4 and 5, or only 3, shows at a glance (P.808's variance rule catches
    only the second). Every rater is listed, excluded or not, sorted by rater id."""
    rows = rated_votes(votes)
    result = []
    for rater, group in rows.groupby("rater", sort=True):
        counts = group["vote"].value_counts().sort_index()
        result.append(
            RaterDistribution(
                rater=int(rater),
                n_votes=len(group),
                mean=float(group["vote"].mean()),
                counts={_score(float(score)): int(n) for score, n in counts.items()},
            )
        )
    return result


def inter_rater_reliability(votes: pd.DataFrame) -> Reliability:
    """The P.808 toolkit's IRR: per rater, Pearson r between their vote per clip and the clip
    MOS (all test votes of the clip, the rater's own included, as the toolkit does), over
    clips with n ≥ 3; study IRR = mean r. A rater with fewer than two such clips or a constant
    side has r = None and is left out of the mean (the toolkit writes −2 there and averages
    it in, which drags the IRR down for no reason)."""
    rows = rated_votes(votes)
    clips = rows.groupby("item")["vote"].agg(["mean", "size"])
    clips = clips[clips["size"] >= MIN_VOTES_PER_CLIP]
    own = rows.groupby(["rater", "item"])["vote"].mean().reset_index()
    own = own.join(clips, on="item", how="inner")
    raters = []
    for rater in sorted(int(r) for r in rows["rater"].unique()):
        group = own[own["rater"] == rater]
        r = _pearson(group["vote"].to_numpy(), group["mean"].to_numpy(), 2)
        raters.append(RaterReliability(rater, r, len(group)))
    defined = [entry.r for entry in raters if entry.r is not None]
    return Reliability(float(np.mean(defined)) if defined else None, tuple(raters))
