"""The SituatedQA demo: questions from the shipped dev subset, and simulated people who answer
every stage the way the official annotation did, with some noise.

``manage.py demo_seed`` calls ``demo_seed`` (the questions, waiting in stage 1) and then lets
simulated people answer (``apps.core.demo.demo_answers_simulate``): it advances each
completed item at once, as the worker would, so the same people go on to collect the
answers of the questions found dependent and to validate each other's responses
(``answer_simulate`` answers each stage).
"""

from __future__ import annotations

import io
import random
from typing import Any

from django.db import transaction

from apps.core.models import Item, Project
from apps.core.registry import InvalidValue
from ml.situatedqa import formats
from ml.situatedqa.evaluate import normalize_answer

from . import answers, importing
from .contexts import same_place
from .selectors import official_label

DEMO_INSTRUCTIONS = """\
You will see questions people asked a search engine. Some have an answer that **changed over
time** ("who won the last world cup?") or that **depends on where you ask** ("what is the
legal drinking age?"). There are three kinds of screens:

1. **Is the answer context-dependent?** Choose Yes, No, Maybe (you understand the question but
   cannot tell, or it is a matter of opinion) or Malformed.
2. **Collect the answers.** Search the web (Wikipedia is a good start). For time: the current
   answer and the date it started to apply, and the answer before it with its date; every
   date needs a 4-digit year. For place: check the answer given for one place, then add two
   other places whose answers differ.
3. **Validate** another person's answers: correct or not, and the right answer if you know it.
"""

# How the demo's simulated people err: the share of stage-1 answers that are not the
# official label, of stage-2 start dates a year off and answers out of date, of validations
# that get it wrong.
NOISE_LABEL = 0.15
NOISE_YEAR = 0.1
NOISE_ANSWER = 0.15  # a collector gives the answer that held before (or another place's)
NOISE_VALIDATE = 0.1
# The shipped subset's questions in the demo: raw_data questions of each variant (with their
# official timelines and locations), and geographic id_data questions labelled "no".
DEMO_TEMP, DEMO_GEO, DEMO_GEO_NO = 20, 8, 4


class _Upload(io.BytesIO):
    def __init__(self, data: bytes, name: str):
        super().__init__(data)
        self.name = name
        self.size = len(data)


def _import(project: Project, lines, name: str) -> None:
    report = importing.situatedqa_import(
        project=project, upload=_Upload("".join(lines).encode("ascii"), name)
    )
    if not report.ok:
        raise RuntimeError(f"The demo's {name} did not import: {report.errors[:3]}")


def demo_files() -> list[tuple[list[str], str]]:
    """The demo's uploads: lines of the shipped official files, as they are."""
    temp = list(importing.demo_lines("raw", "temp"))
    geo = list(importing.demo_lines("raw", "geo"))
    geo_ids = {formats.parse_jsonl(line.encode())[0][1]["id"] for line in geo}
    geo_no = [
        line
        for line in importing.demo_lines("id", "geo")
        if '"is_dependent": "no"' in line
        and formats.parse_jsonl(line.encode())[0][1]["id"] not in geo_ids
    ]
    return [
        (temp[:DEMO_TEMP], "raw_data/temp.dev.jsonl"),
        (geo[:DEMO_GEO], "raw_data/geo.dev.jsonl"),
        (geo_no[:DEMO_GEO_NO], "id_data/geo.dev.jsonl"),
    ]


def demo_seed(*, project: Project) -> None:
    """The demo project: both variants' questions from the shipped subset, in stage 1."""
    project.instructions = DEMO_INSTRUCTIONS
    project.save(update_fields=["instructions"])
    with transaction.atomic():
        for lines, name in demo_files():
            _import(project, lines, name)


# ----------------------------------------------------------------------- simulated people


def _root(item: Item) -> Item:
    while item.parent_id is not None:
        item = item.parent  # type: ignore[assignment]
    return item


def _official(item: Item) -> dict:
    return (_root(item).payload or {}).get("official") or {}


def _identify(item: Item, rng: random.Random) -> dict:
    truth = official_label(item.payload or {})
    if truth is None:
        label = rng.choices(["yes", "no", "maybe", "malformed"], [0.4, 0.45, 0.1, 0.05])[0]
    elif rng.random() >= NOISE_LABEL:
        label = "yes" if truth else "no"
    else:
        label = rng.choices(["no" if truth else "yes", "maybe", "malformed"], [0.5, 0.4, 0.1])[0]
    return {"dependent": label}


def _date_text(start: Any, full: Any, rng: random.Random, *, noisy: bool) -> str | None:
    text = formats.format_date(start) if isinstance(start, dict) else None
    if text is None and isinstance(full, str) and formats.YEAR_RE.search(full):
        text = full
    if text is None:
        return None
    if noisy and rng.random() < NOISE_YEAR:
        year = formats.YEAR_RE.search(text)
        assert year is not None
        shifted = str(int(year.group(0)) + rng.choice((-1, 1)))
        text = text[: year.start()] + shifted + text[year.end() :]
    return text


def _temp_collect(item: Item, rng: random.Random, *, noisy: bool = True) -> dict:
    raw = _official(item).get("raw") or {}
    timelines = [t for t in raw.get("timelines") or [] if t.get("cur_answers")]
    value: dict[str, Any] = {
        "list_answer": False,
        "cur_missing": True,
        "cur_answer": None,
        "cur_answer_start": None,
        "prev_missing": True,
        "prev_answer": None,
        "prev_answer_start": None,
        "article_title": "",
    }
    if timelines:
        t = rng.choice(timelines)
        start = _date_text(t.get("cur_start"), t.get("cur_start_full"), rng, noisy=noisy)
        if start:
            value.update(
                cur_missing=False,
                cur_answer=t["cur_answers"][0],
                cur_answer_start=start,
                list_answer=len(t["cur_answers"]) > 1,
            )
        prev = _date_text(t.get("prev_start"), t.get("prev_start_full"), rng, noisy=False)
        if start and t.get("prev_answers") and prev:
            value.update(
                prev_missing=False, prev_answer=t["prev_answers"][0], prev_answer_start=prev
            )
            if noisy and rng.random() < NOISE_ANSWER:  # did not notice the latest change
                value.update(cur_answer=value["prev_answer"], prev_missing=True, prev_answer=None)
                value["prev_answer_start"] = None
    elif (raw.get("nq_answers") or (item.payload or {}).get("nq_answers")) and rng.random() < 0.5:
        nq = raw.get("nq_answers") or item.payload["nq_answers"]
        value.update(
            cur_missing=False, cur_answer=nq[0], cur_answer_start=str(rng.randint(2000, 2020))
        )
    return _valid_or(
        value, item, {"prev_missing": True, "prev_answer": None, "prev_answer_start": None}
    )


def _valid_or(value: dict, item: Item, fallback: dict) -> dict:
    """``value`` if it passes the checks, else with ``fallback`` applied (then all missing)."""
    for candidate in (value, {**value, **fallback}):
        try:
            return answers.clean_collect(item, candidate)
        except InvalidValue:
            continue
    if answers.variant_of(item) == "temp":
        return answers.clean_collect(
            item, {**value, "cur_missing": True, "prev_missing": True, "list_answer": False}
        )
    return answers.clean_collect(
        item,
        {"orig_is_correct": value.get("orig_is_correct"), "no_other": True, "pairs": []},
    )


def _geo_collect(item: Item, rng: random.Random) -> dict:
    raw = _official(item).get("raw") or {}
    given = answers.given_of(item)
    valid = (raw.get("nq_context_answer_pair") or {}).get("is_valid", True)
    value: dict[str, Any] = {
        "orig_is_correct": None,
        "orig_article": "",
        "no_other": False,
        "pairs": [],
    }
    if given is not None:
        right = bool(valid) if rng.random() >= NOISE_LABEL else not valid
        value["orig_is_correct"] = "yes" if right else "no"
    taken = {normalize_answer(a) for a in (given or {}).get("answers") or []}
    candidates = [
        p
        for p in raw.get("context_answer_pairs") or []
        if p.get("answers") and not (given and same_place(p["location"], given["location"]))
    ]
    rng.shuffle(candidates)
    swap = len(candidates) >= 2 and rng.random() < NOISE_ANSWER  # two places' answers mixed up
    if swap:
        first, second = candidates[0], candidates[1]
        candidates[0] = {**first, "answers": second["answers"]}
        candidates[1] = {**second, "answers": first["answers"]}
    for pair in candidates:
        answer = pair["answers"][0]
        if normalize_answer(answer) in taken or len(value["pairs"]) == 2:
            continue
        taken.add(normalize_answer(answer))
        value["pairs"].append({"location": pair["location"], "answer": answer, "article": ""})
    value["no_other"] = len(value["pairs"]) < 2
    return _valid_or(value, item, {"pairs": value["pairs"][:1], "no_other": True})


def _right(item: Item, collected: dict) -> bool | None:
    """Whether a collected response agrees with the official annotation (None: unknown)."""
    raw = _official(item).get("raw")
    if not isinstance(raw, dict):
        return None
    if answers.variant_of(item) == "temp":
        official = {
            normalize_answer(a)
            for t in raw.get("timelines") or []
            for a in t.get("cur_answers") or []
        }
        if collected.get("cur_missing"):
            return not official
        return normalize_answer(collected.get("cur_answer") or "") in official
    known = {
        (normalize_answer(p["location"]), normalize_answer(a))
        for p in raw.get("context_answer_pairs") or []
        for a in p.get("answers") or []
    }
    pairs = collected.get("pairs") or []
    return all(
        (normalize_answer(p["location"]), normalize_answer(p["answer"])) in known for p in pairs
    )


def _validate(item: Item, rng: random.Random) -> dict:
    right = _right(item, (item.payload or {}).get("collected") or {})
    if right is None:
        right = rng.random() < 0.8
    says_right = right if rng.random() >= NOISE_VALIDATE else not right
    if says_right:
        return {"correct": "yes", "correction": None}
    correction = None
    if rng.random() < 0.5:
        if answers.variant_of(item) == "temp":
            correction = _temp_collect(item, rng, noisy=False)
        else:
            correction = _geo_collect(item, rng)
    return answers.clean_validate(item, {"correct": "no", "correction": correction})


def answer_simulate(*, item: Item, rng: random.Random) -> dict:
    """A simulated person's answer to ``item``, guided by the official annotation."""
    stage = answers.stage_of(item)
    if stage == "identify":
        return _identify(item, rng)
    if stage == "collect":
        if answers.variant_of(item) == "temp":
            return _temp_collect(item, rng)
        return _geo_collect(item, rng)
    return _validate(item, rng)
