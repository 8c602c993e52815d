"""The text half of explanation inspection: posts with word attributions, human rationales.

A rationale item shows a post with its words (``ml.explain_text.words``) and the attribution
of a humor classifier (Integrated Gradients, ``ml.explain_text.attributions``); the
participant highlights the words that make it funny (their rationale) and rates how well
the shown attribution explains it, 1–5. The results compare rationales with attributions the
ERASER way (token F1 and IOU F1 of the top-k words, AUPRC) and people with each other.

Item payload of a rationale item: ``text``, ``words`` ([{index, text, start, end}]),
``attribution`` ({method, scores (one per word), output, ...}: the one shown), optionally
``attributions`` ({method: {scores, ...}}: other methods, compared in the results only) and
``label`` (the class explained, 1 = humorous). Answer: ``words`` (indices highlighted, at
least one) and ``score``. The demo also stores its classifier (``textmodel.py``) for the
faithfulness metrics (``text_results.py``).
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Sequence

from django.db import transaction

from apps.core.importing import ImportFailed, iter_rows
from apps.core.models import Item, Project
from apps.core.registry import ImportReport
from ml.explain_text import split_words

# Posts of the demo; a toy humor model learns that "haha" and "lol" mark a joke.
DEMO_POSTS = [
    "my cat stole the seat at the council meeting haha",
    "the city approved the road budget today",
    "lol the fridge has a plant growing inside",
    "meeting moved to thursday because of the road works",
    "haha my plant outlived the budget meeting",
    "the council stole my seat lol",
    "road closed near the city fridge factory",
    "haha the cat approved the budget",
]
DEMO_INSTRUCTIONS = """\
Each screen shows a short post. First **highlight the words that make it funny** (click or
drag over them; on the keyboard, Tab to a word and press Space). Then look at the model's own
highlighting below it and **rate how well it explains** the post, from 1 (not at all) to 5.
"""
_CUES = ("haha", "lol")


def rationale_item_create(
    *, project: Project, external_id: str, text: str, scores: Sequence[float], **attribution
) -> Item:
    """One rationale item: ``scores`` holds one attribution per word of ``split_words(text)``."""
    words = split_words(text)
    if len(scores) != len(words):
        raise ValueError(
            f"{external_id}: {len(scores)} scores for {len(words)} words; give one per word."
        )
    payload = {
        "text": text,
        "words": [w.to_dict() for w in words],
        "attribution": {"scores": [float(s) for s in scores], **attribution},
        "label": 1,
    }
    return Item.objects.create(project=project, external_id=external_id, payload=payload)


TOY_TITLE = "the demo's toy humor classifier (a post is funny when it says haha or lol)"
TOY_MAX_LENGTH = 64  # the toy BERT's position embeddings


@functools.lru_cache(maxsize=1)
def _toy_model():
    """The toy humor model (``ml.explain_text.toy``) over the bundled MiniLM tokenizer.

    Training is deterministic, so one process trains it once (a few seconds on a CPU) for
    every text demo it seeds."""
    from transformers import AutoTokenizer

    from ml.common.encoder import default_encoder_path
    from ml.explain_text.toy import toy_model

    tokenizer = AutoTokenizer.from_pretrained(default_encoder_path(), local_files_only=True)
    return toy_model(tokenizer, _CUES), tokenizer


def demo_seed(*, project: Project) -> None:
    """The text demo: each post with the Integrated Gradients attribution of the humorous
    logit (shown to participants) and the attention rollout (compared in the results), and
    the classifier itself stored with the project for the faithfulness metrics."""
    from .textmodel import one_torch_thread

    with one_torch_thread():
        model, tokenizer = _toy_model()
        _items_with_attributions(project, model, tokenizer)


def _items_with_attributions(project: Project, model, tokenizer) -> None:
    from ml.explain_text.attributions import attention_rollout, integrated_gradients

    from .textmodel import text_model_store

    with transaction.atomic():
        for n, text in enumerate(DEMO_POSTS, start=1):
            attribution = integrated_gradients(
                model, tokenizer, text, target=1, n_steps=32, output="logit"
            )
            rolled = attention_rollout(model, tokenizer, text)
            item = rationale_item_create(
                project=project,
                external_id=f"post-{n}",
                text=text,
                scores=attribution.scores,
                method=attribution.method,
                output=attribution.output,
                delta=attribution.delta,
            )
            item.payload["attributions"] = {
                rolled.method: {"scores": rolled.scores, "row": "cls", "output": rolled.output}
            }
            item.save(update_fields=["payload"])
        text_model_store(
            project=project,
            model=model,
            tokenizer=tokenizer,
            title=TOY_TITLE,
            max_length=TOY_MAX_LENGTH,
        )


def answer_simulate(*, item: Item, rng: random.Random) -> dict:
    """A simulated reader: highlights the cue words (and now and then another word) and rates
    the attribution by whether its top word is one of the words they picked."""
    words = item.payload["words"]
    picked = {w["index"] for w in words if w["text"].lower() in _CUES}
    if not picked or rng.random() < 0.3:
        picked.add(rng.randrange(len(words)))
    scores = item.payload["attribution"]["scores"]
    top = max(range(len(scores)), key=scores.__getitem__)
    base = 4.5 if top in picked else 2.0
    score = int(min(5, max(1, round(base + rng.gauss(0, 0.6)))))
    return {"words": sorted(picked), "score": score}


def posts_import(*, project: Project, upload) -> ImportReport:
    """Posts with their word attributions (JSON lines, a JSON array or CSV): every row, or none.

    A row: ``id``, ``text`` and ``scores`` (one number per word of the text as
    ``ml.explain_text.split_words`` cuts it; a JSON list, or comma-separated in CSV);
    ``method`` names the attribution (default Integrated Gradients)."""
    report = ImportReport()
    try:
        rows = list(iter_rows(upload, getattr(upload, "name", "upload.jsonl")))
    except ImportFailed as exc:
        report.failed(str(exc))
        return report
    specs = []
    seen: set[str] = set()
    for row in rows:
        spec = _post_spec(row, seen, report)
        if spec is not None:
            specs.append(spec)
    if not rows:
        report.error(0, "The file lists no posts.")
    if not report.ok:
        report.notes.append("Nothing was imported: fix the lines named above and upload again.")
        return report
    taken = set(
        Item.objects.filter(project=project, external_id__in=[s[0] for s in specs]).values_list(
            "external_id", flat=True
        )
    )
    if taken:
        report.error(0, f"The project already has an item {sorted(taken)[0]!r}.")
        return report
    with transaction.atomic():
        for external_id, text, scores, method in specs:
            rationale_item_create(
                project=project, external_id=external_id, text=text, scores=scores, method=method
            )
    report.created = len(specs)
    return report


def _post_spec(row, seen: set[str], report: ImportReport):
    data = row.data
    if problem := data.get("__error__"):
        report.error(row.line, problem)
        return None
    external_id = str(data.get("id") or data.get("external_id") or "").strip()
    text = str(data.get("text") or "")
    if not external_id or not text.strip():
        report.error(row.line, "id and text are required.")
        return None
    if external_id in seen:
        report.error(row.line, f"id {external_id!r} appears twice.")
        return None
    seen.add(external_id)
    raw = data.get("scores")
    if isinstance(raw, str):
        raw = [v for v in raw.split(",") if v.strip()]
    try:
        scores = [float(v) for v in raw or []]
    except (TypeError, ValueError):
        report.error(row.line, "scores must be numbers, one per word.")
        return None
    words = split_words(text)
    if len(scores) != len(words) or any(math.isnan(s) for s in scores):
        report.error(
            row.line,
            f"{len(scores)} scores for the {len(words)} words of the text "
            f"({', '.join(w.text for w in words[:8])}{'…' if len(words) > 8 else ''}); "
            "give one number per word.",
        )
        return None
    return external_id, text, scores, str(data.get("method") or "integrated_gradients")


SAMPLE_POSTS = [
    {"id": "post-1", "text": "my cat stole the seat haha", "scores": [0, 0.1, 0.2, 0, 0.1, 0.9]},
    {"id": "post-2", "text": "the council approved the budget", "scores": [0, 0.2, 0.1, 0, 0.3]},
]
