"""The MOS results page: a VITS-style table with three labelled intervals side by side, the
MOS plot ordered by score, pairwise tests, the screening counts and each listener's ratings.

Every number comes from ``stats.py`` on the screened votes of ``selectors.screened_votes``.
"""

from __future__ import annotations

from apps.core.models import Project
from apps.core.registry import Metric, Results, Table
from apps.core.results import BarFigure, BarSeries

from . import selectors, stats
from .schemas import ACR_SCALE

INTERVALS = ("ci_normal", "ci_t", "ci_cluster")
INTERVAL_NAMES = {
    "ci_normal": "± normal (P.808)",
    "ci_t": "± t",
    "ci_cluster": "± clustered",
}
SCORE_RANGE = {"acr": (1.0, 5.0), "ccr": (-3.0, 3.0), "mushra": (0.0, 100.0)}


def _pm(interval: stats.Interval | None) -> str:
    return "—" if interval is None else f"±{interval.half_width:.2f}"


def _p(value: float | None) -> str:
    if value is None:
        return "—"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def mos_results(*, project: Project) -> Results:
    study = selectors.screened_votes(project)
    design = study.config.design
    if design == "ab":
        return _ab_results(study)
    return _score_results(study)


def _study_metrics(study: selectors.Study, used) -> list[Metric]:
    votes = study.votes
    raters = int(votes["rater"].nunique()) if not votes.empty else 0
    group = "Listeners and votes"
    metrics = [
        Metric(key="listeners", label="Listeners", value=raters, group=group),
        Metric(
            key="excluded",
            label="Listeners excluded",
            value=len(study.reasons),
            group=group,
            note="by screening or blocked; their votes are kept, marked",
        ),
        Metric(key="votes_used", label="Votes used", value=len(used), group=group),
        Metric(
            key="systems",
            label="Systems",
            value=int(used["system"].nunique()) if not used.empty else 0,
            group=group,
        ),
    ]
    if study.config.design in ("acr", "ccr"):
        reliability = stats.inter_rater_reliability(used)
        metrics.append(
            Metric(
                key="irr",
                label="Inter-rater reliability (P.808)",
                value=reliability.irr,
                group=group,
                note="mean Pearson r of each listener with the clip MOS"
                if reliability.irr is not None
                else "needs clips with 3 or more votes",
            )
        )
    return metrics


def _system_table(study: selectors.Study, rows: list[stats.SystemStats]) -> Table:
    measure = "CMOS" if study.config.design == "ccr" else "MOS"
    if study.config.design == "mushra":
        measure = "Mean score"
    confidence = f"{study.config.statistics.confidence:.0%}"
    return Table(
        title=f"{measure} per system ({confidence} intervals)",
        columns=[
            "Model",
            f"{measure} (CI, clustered)",
            "Votes",
            "Listeners",
            "Utterances",
            "SD",
            *INTERVAL_NAMES.values(),
        ],
        rows=[
            [
                row.system,
                f"{row.mos:.2f} ({_pm(row.ci_cluster)})",
                row.n_votes,
                row.n_raters,
                row.n_utterances,
                None if row.sd is None else round(row.sd, 3),
                *(_pm(getattr(row, name)) for name in INTERVALS),
            ]
            for row in rows
        ],
        note="Laid out as VITS Table 1. Three intervals side by side: the P.808 toolkit's "
        "normal interval (1.96·s/√n) and the t interval both treat every vote as independent; "
        "the clustered one is two-way cluster-robust over listeners and utterances (Cameron, "
        "Gelbach & Miller), so a listener who rates everything high or an easy sentence "
        "widens it. It is the one to report.",
    )


def _system_figure(study: selectors.Study, rows: list[stats.SystemStats]) -> BarFigure:
    design = study.config.design
    measure = {"ccr": "CMOS vs reference", "mushra": "Mean MUSHRA score"}.get(design, "MOS")
    ordered = sorted(rows, key=lambda r: r.mos)
    return BarFigure(
        key="mos_by_system",
        title=f"{measure} per system, with clustered {study.config.statistics.confidence:.0%} "
        "intervals",
        categories=[r.system for r in ordered],
        series=[
            BarSeries(
                name=measure,
                values=[r.mos for r in ordered],
                lower=[r.ci_cluster.low if r.ci_cluster else None for r in ordered],
                upper=[r.ci_cluster.high if r.ci_cluster else None for r in ordered],
            )
        ],
        y_label=measure,
        x_label="System (ordered by score)",
        y_range=SCORE_RANGE.get(design),
    )


def _pairwise_table(study: selectors.Study) -> Table:
    comparisons = stats.pairwise(
        study.votes,
        confidence=study.config.statistics.confidence,
        excluded_raters=sorted(study.excluded),
    )
    return Table(
        title="Pairwise comparisons (Wilcoxon signed-rank on shared utterances, Holm-corrected)",
        columns=["Better", "Worse", "Utterances", "Difference", "p", "p (Holm)", "Significant"],
        rows=[
            [
                c.system_a,
                c.system_b,
                c.n_utterances,
                None if c.difference is None else round(c.difference, 3),
                _p(c.p_value),
                _p(c.p_holm),
                "yes" if c.significant else "no",
            ]
            for c in comparisons
        ],
        note="Each system's mean per utterance, paired on the utterances both were rated on.",
    )


def _screening_table(study: selectors.Study) -> Table:
    return Table(
        title="Screening (P.808 quality control)",
        columns=["Rule", "On", "Listeners checked", "Listeners excluded"],
        rows=[
            [selectors.RULE_LABELS[c.rule], "yes" if c.enabled else "no", c.checked, c.excluded]
            for c in study.screening.rules
            if c.rule != "mushra" or study.config.design == "mushra"
        ],
        note="A listener who fails any rule is left out of every statistic above; the "
        "Votes export marks their votes and says why.",
    )


def _rater_table(study: selectors.Study) -> Table:
    distributions = stats.rater_distributions(study.votes)
    design = study.config.design
    scores = [str(s) for s, _ in sorted(ACR_SCALE)] if design == "acr" else []
    if design == "ccr":
        scores = [str(s) for s in range(-3, 4)]
    columns = ["Listener", "Votes", "Mean", *scores, "Excluded because"]
    rows = []
    for d in distributions:
        counts = [d.counts.get(score, 0) for score in scores]
        rows.append(
            [
                f"Listener {d.rater}",
                d.n_votes,
                round(d.mean, 2),
                *counts,
                "; ".join(study.reasons.get(d.rater, [])) or "—",
            ]
        )
    return Table(
        title="Each listener's ratings",
        columns=columns,
        rows=rows,
        note="How often each listener gave each score: someone who uses only 4 and 5 shows here.",
    )


def _score_results(study: selectors.Study) -> Results:
    used = study.used_test_votes()
    rows = study.system_stats()
    results = Results(metrics=_study_metrics(study, used))
    if not rows:
        results.notes.append(
            "No votes to report yet: the tables fill in as listeners rate clips"
            + (" (every listener so far was excluded)." if study.reasons else ".")
        )
        results.tables.append(_screening_table(study))
        if not study.votes.empty:
            results.tables.append(_rater_table(study))
        return results
    results.tables.append(_system_table(study, rows))
    results.figures.append(_system_figure(study, rows))
    if study.config.design != "mushra":
        results.tables.append(_pairwise_table(study))
    results.tables.append(_screening_table(study))
    results.tables.append(_rater_table(study))
    return results


def _ab_results(study: selectors.Study) -> Results:
    frame = selectors.ab_frame(study.project)
    frame = frame[~frame["rater"].isin(list(study.excluded))]
    preferences = stats.ab_summary(frame, confidence=study.config.statistics.confidence)
    metrics = [
        Metric(
            key="listeners",
            label="Listeners",
            value=int(frame["rater"].nunique()) if not frame.empty else 0,
            group="Listeners and votes",
        ),
        Metric(key="votes_used", label="Choices", value=len(frame), group="Listeners and votes"),
    ]
    table = Table(
        title="A/B preference per system pair (binomial test, Holm-corrected)",
        columns=[
            "System A",
            "System B",
            "Choices",
            "Prefer A",
            "Prefer B",
            "No preference",
            "A's share of decisive choices (CI)",
            "p",
            "p (Holm)",
            "Significant",
        ],
        rows=[
            [
                p.system_a,
                p.system_b,
                p.n_votes,
                f"{p.share_a:.0%}",
                f"{p.share_b:.0%}",
                f"{p.share_none:.0%}",
                "—"
                if p.preference_a is None or p.ci is None
                else f"{p.preference_a:.0%} ({p.ci.low:.0%}–{p.ci.high:.0%})",
                _p(p.p_value),
                _p(p.p_holm),
                "yes" if p.significant else "no",
            ]
            for p in preferences
        ],
        note="The binomial test compares A with B over the choices that preferred one of them.",
    )
    figure = BarFigure(
        key="ab_shares",
        title="Share of choices per pair",
        categories=[f"{p.system_a} vs {p.system_b}" for p in preferences],
        series=[
            BarSeries(name="Prefer A", values=[p.share_a for p in preferences]),
            BarSeries(name="No preference", values=[p.share_none for p in preferences]),
            BarSeries(name="Prefer B", values=[p.share_b for p in preferences]),
        ],
        y_label="Share of choices",
        y_range=(0.0, 1.0),
    )
    results = Results(metrics=metrics, tables=[table, _screening_table(study)])
    if preferences:
        results.figures.append(figure)
    return results
