"""Writes of the humor task: importing posts, computing scores and labels, seeding the demo."""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np
from django.db import transaction
from django.utils import timezone
from sklearn.model_selection import train_test_split

from apps.core.importing import (
    ImportFailed,
    file_format,
    first_undecodable_line,
    items_import,
    iter_rows,
    refuse_utf16,
)
from apps.core.models import Item, Project
from apps.core.registry import ImportReport

from .importing import RULES, PostReader
from .schemas import Config, config_of
from .scores import (
    ReferenceAccumulator,
    counted_reactions,
    humor_score,
    non_humor_score,
    reaction_total,
    s_version,
)

DEMO_DIR = Path(__file__).resolve().parent / "demo"

CHUNK = 2000

DEMO_INSTRUCTIONS = """\
You will read short public Facebook posts from the first year of the COVID-19 pandemic.

For each post, answer one question: **Is this post meant to be funny?**

* **Yes** (key <kbd>1</kbd>) — the author intends a joke, pun, irony or a humorous observation,
  even if you do not find it funny yourself.
* **No** (key <kbd>2</kbd>) — news, information, opinion, appeals, condolences, anything not
  written to amuse.
* **Not English / can't tell** (key <kbd>S</kbd>) — skip posts you cannot judge.

Links in posts are shown as text and cannot be opened. A few posts have a known answer and
check that answers are given with care.
"""


def posts_import(
    *, project: Project, upload: IO[bytes], progress: Callable[[int], None] | None = None
) -> ImportReport:
    """Import a CrowdTangle CSV or plain JSONL of posts, then rescore the whole corpus.

    All or nothing: a bad row (named by its line) or an unreadable file stores nothing. The
    report's ``removed_by_rule`` counts the posts each cleaning rule dropped.
    """
    report = ImportReport()
    name = getattr(upload, "name", "") or ""
    try:
        fmt = file_format(name)
        refuse_utf16(upload)
        reader = PostReader(
            config=config_of(project),
            fmt=fmt,
            existing_ids=project.items.values_list("external_id", flat=True).iterator(),
            existing_texts=project.items.values_list("payload__text", flat=True).iterator(),
        )
        with transaction.atomic():
            items_import(
                project=project,
                rows=iter_rows(upload, name),
                to_spec=reader.spec,
                report=report,
                progress=progress,
            )
            report.removed_by_rule = {rule: reader.removed.get(rule, 0) for rule in RULES}
            if report.ok and report.created:
                meta = scores_compute(project=project)
                report.notes.append(
                    f"Scored {meta['posts']} posts against {meta['s_version']} "
                    f"({meta['ns_version']}): {meta['humorous']} humorous, "
                    f"{meta['non_humorous']} non-humorous; {meta['study']['sampled']} sampled "
                    "for the human study."
                )
                if cap := k_capped_note(meta):
                    report.notes.append(cap)
            if reader.duplicate_lines:
                lines = reader.duplicate_lines
                shown = ", ".join(str(n) for n in lines[:20]) + (", …" if len(lines) > 20 else "")
                report.notes.append(
                    f"Not stored as duplicates of an earlier post (same id or text): "
                    f"line{'s' if len(lines) > 1 else ''} {shown}."
                )
            if reader.links_replaced:
                report.notes.append(
                    f"{reader.links_replaced} posts had links replaced by "
                    f"{reader.config.cleaning.link_token!r}."
                )
    except ImportFailed as exc:
        report.created = 0
        message = str(exc)
        if "not UTF-8" in message and (line := first_undecodable_line(upload)):
            message = re.sub(r"^Line \d+", f"Line {line}", message)
        report.failed(message)
    return report


def k_used(k: int, posts_with_reactions: int) -> int:
    """K as applied: at most half the posts with reactions, so both labels get K posts.

    CHoRaL's K (20,000 of 785K posts) on a few hundred posts would call every post with a
    Haha humorous and leave the non-humorous label what remains; capped, the two stay even.
    """
    return max(0, min(k, posts_with_reactions // 2))


def k_capped_note(meta: dict) -> str:
    """The sentence saying K was capped (``meta`` from ``scores_compute``), or ""."""
    k, used = meta.get("k"), meta.get("k_used")
    if used is None or used == k:
        return ""
    return (
        f"K = {k:,} is more than this corpus allows: {used:,} posts per reaction label were "
        f"used, half the {meta.get('posts_with_reactions', 0):,} posts with reactions."
    )


def _select_labels(
    ext: list[str], hs: list[float], ns: list[float | None], t: list[int], k: int, config: Config
) -> dict[int, str]:
    """Index → "humorous" | "non_humorous": top-K by HS, then K negatives by the rule."""
    n = len(ext)
    humorous = heapq.nsmallest(
        k, (i for i in range(n) if hs[i] > 0), key=lambda i: (-hs[i], ext[i])
    )
    labels = {i: "humorous" for i in humorous}
    rest = (i for i in range(n) if i not in labels)
    if config.negative_rule == "top_NS":
        negatives = heapq.nsmallest(
            k,
            (i for i in rest if ns[i] is not None),
            key=lambda i: (-(ns[i] or 0.0), ext[i]),
        )
    else:  # bottom_HS: the least humorous posts that anyone reacted to
        negatives = heapq.nsmallest(k, (i for i in rest if t[i] > 0), key=lambda i: (hs[i], ext[i]))
    labels.update((i, "non_humorous") for i in negatives)
    return labels


def _split(labels: dict[int, str], ext: list[str], config: Config) -> dict[int, str]:
    """A seeded train/test split of the labelled posts, stratified by label when possible."""
    index = sorted(labels, key=lambda i: ext[i])
    if len(index) < 2:
        return {i: "train" for i in index}
    y = [labels[i] for i in index]
    try:
        train, test = train_test_split(
            index, test_size=config.test_share, random_state=config.seed, stratify=y
        )
    except ValueError:  # a class too small to stratify
        train, test = train_test_split(index, test_size=config.test_share, random_state=config.seed)
    return {**{i: "train" for i in train}, **{i: "test" for i in test}}


def _study_sample(hs: list[float], ext: list[str], config: Config) -> tuple[dict[int, int], dict]:
    """Index → HS stratum for the posts of the human study, drawn evenly across strata.

    Strata are equal-width HS bins over [0, max HS], so the rare high-HS posts are covered;
    a stratum with too few posts gives its share to the others.
    """
    study = config.study
    n = len(hs)
    if n == 0 or study.size == 0:
        return {}, {"size": study.size, "strata": study.strata, "edges": [], "per_stratum": []}
    top = max(hs) or 1.0
    edges = np.linspace(0.0, top, study.strata + 1)
    bins = np.clip(np.digitize(hs, edges[1:-1], right=False), 0, study.strata - 1)
    rng = np.random.default_rng(config.seed)
    order = sorted(range(n), key=lambda i: ext[i])
    pools: list[list[int]] = [[] for _ in range(study.strata)]
    for i in order:
        pools[int(bins[i])].append(i)
    for pool in pools:
        rng.shuffle(pool)
    chosen: dict[int, int] = {}
    taken = [0] * study.strata
    while len(chosen) < study.size and any(taken[b] < len(pools[b]) for b in range(study.strata)):
        for b in range(study.strata):
            if len(chosen) >= study.size:
                break
            if taken[b] < len(pools[b]):
                chosen[pools[b][taken[b]]] = b
                taken[b] += 1
    meta = {
        "size": study.size,
        "strata": study.strata,
        "edges": [float(e) for e in edges],
        "per_stratum": taken,
    }
    return chosen, meta


def scores_compute(*, project: Project, resample: bool = True) -> dict:
    """(Re)compute t, h, HS, S, NS, reaction labels, split and the human-study sample.

    S is built over the project's regular posts with the project's settings; everything is
    written to the posts' payloads and the choices to ``project.derived["score_meta"]``.
    ``resample=False`` keeps item priorities (e.g. set since by active learning).
    """
    config = config_of(project)
    reactions = tuple(config.reactions)
    counted = counted_reactions(reactions, likes_in_total=config.likes_in_total)
    regular = Item.objects.filter(project=project, kind=Item.Kind.REGULAR)

    accumulator = ReferenceAccumulator(reactions=reactions, counted=counted)
    for counts in regular.values_list("payload__reactions", flat=True).iterator(chunk_size=CHUNK):
        accumulator.add(counts or {})
    standard = accumulator.result(config.s_average)
    version = (
        s_version(standard, average=config.s_average, counted=counted, posts=accumulator.posts)
        if standard
        else None
    )

    def score(counts: dict) -> tuple[int, int, float, float | None]:
        t = reaction_total(counts, counted)
        h = int(counts.get("haha", 0))
        ns = (
            non_humor_score(counts, t=t, standard=standard, version=config.ns_version)
            if standard
            else None
        )
        return t, h, humor_score(h, t), ns

    pks: list[int] = []
    ext: list[str] = []
    ts: list[int] = []
    hs: list[float] = []
    ns: list[float | None] = []
    rows = regular.order_by("pk").values_list("pk", "external_id", "payload__reactions")
    for pk, external_id, counts in rows.iterator(chunk_size=CHUNK):
        t, _, h_score, n_score = score(counts or {})
        pks.append(pk)
        ext.append(external_id)
        ts.append(t)
        hs.append(h_score)
        ns.append(n_score)
    k = k_used(config.k, sum(1 for total in ts if total > 0))
    labels = _select_labels(ext, hs, ns, ts, k, config)
    splits = _split(labels, ext, config)
    sample, study_meta = _study_sample(hs, ext, config)
    position = {pk: i for i, pk in enumerate(pks)}
    del ext, ts, hs, ns

    last = 0
    while True:
        # Keyset pages, not an open cursor: SQLite cannot write a table it is streaming.
        batch = list(
            Item.objects.filter(project=project, pk__gt=last)
            .order_by("pk")
            .only("pk", "payload", "priority", "kind")[:CHUNK]
        )
        if not batch:
            break
        last = batch[-1].pk
        for item in batch:
            payload = dict(item.payload)
            t, h, h_score, n_score = score(payload.get("reactions") or {})
            i = position.get(item.pk)
            payload.update(
                {
                    "t": t,
                    "h": h,
                    "hs": h_score,
                    "ns": n_score,
                    "ns_version": config.ns_version,
                    "s_version": version,
                    "reaction_label": labels.get(i) if i is not None else None,
                    "split": splits.get(i) if i is not None else None,
                    "study_stratum": sample.get(i) if i is not None else None,
                }
            )
            item.payload = payload
            if resample and i is not None:
                item.priority = config.study.priority if i in sample else 0.0
        # Small CASE batches: bulk_update builds one CASE arm per row, costly in large batches.
        Item.objects.bulk_update(
            batch, ["payload", "priority"] if resample else ["payload"], batch_size=200
        )

    meta = {
        "s_version": version,
        "S": standard,
        "s_average": config.s_average,
        "reactions": list(reactions),
        "counted_in_t": list(counted),
        "likes_in_total": config.likes_in_total,
        "ns_version": config.ns_version,
        "k": config.k,
        "k_used": k,
        "negative_rule": config.negative_rule,
        "seed": config.seed,
        "test_share": config.test_share,
        "posts": len(pks),
        "posts_with_reactions": accumulator.posts,
        "humorous": sum(1 for v in labels.values() if v == "humorous"),
        "non_humorous": sum(1 for v in labels.values() if v == "non_humorous"),
        "train": sum(1 for v in splits.values() if v == "train"),
        "test": sum(1 for v in splits.values() if v == "test"),
        "study": {**study_meta, "sampled": len(sample), "resampled": resample},
        "computed_at": timezone.now().isoformat(),
    }
    project.derived = {**project.derived, "score_meta": meta}
    project.save(update_fields=["derived"])
    return meta


def demo_seed(*, project: Project) -> None:
    """Load the shipped demo posts (apps/humor/demo/, made by make_demo_posts.py) and gold."""
    config = {
        **project.config,
        "k": 60,
        "seed": 13,
        "study": {"size": 90, "strata": 5, "priority": 1.0},
    }
    project.config = Config.model_validate(config).model_dump(mode="json")
    project.overlap = 3
    project.gold_rate = 0.1
    project.items_per_participant = 15
    project.instructions = DEMO_INSTRUCTIONS
    project.save(
        update_fields=["config", "overlap", "gold_rate", "items_per_participant", "instructions"]
    )
    for name in ("posts.csv", "gold_posts.jsonl"):
        with open(DEMO_DIR / name, "rb") as upload:
            report = posts_import(project=project, upload=upload)
        if not report.ok:
            raise RuntimeError(f"demo data {name} did not import: {report.errors[:3]}")


def answer_simulate(*, item: Item, rng) -> dict:
    """A simulated annotator's answer: mostly right on gold, guided by the reaction label.

    For the demo only. Posts the reactions call humorous get "yes" 80 % of the time, the
    others 20 %, unlabelled posts in proportion to their HS, so agreement is realistic.
    """
    gold = item.gold_value if isinstance(item.gold_value, dict) else None
    if gold and gold.get("funny") in ("yes", "no"):
        right = gold["funny"]
        return {"funny": right if rng.random() < 0.9 else ("no" if right == "yes" else "yes")}
    payload = item.payload or {}
    label = payload.get("reaction_label")
    if label == "humorous":
        p_yes = 0.8
    elif label == "non_humorous":
        p_yes = 0.2
    else:
        p_yes = 0.2 + 0.6 * min(1.0, 2 * float(payload.get("hs") or 0.0))
    return {"funny": "yes" if rng.random() < p_yes else "no"}
