"""Each stage's form fields, and the checks an answer passes before it is stored.

The checks are the official forms' rules (PROTOCOLS.md §4.1), made on the server whatever the
browser did (``static/situatedqa/situatedqa.js`` makes the same ones as the participant
types): a date needs a 4-digit year, a missing answer is said so explicitly, a geographic
response adds two new pairs whose answers differ from each other and from the given one —
or says no other location has a different answer. Every message names the field it is about.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic

from apps.core.registry import InvalidValue
from ml.situatedqa.evaluate import normalize_answer

from .contexts import has_year, parse_date, same_place
from .schemas import (
    ANSWER_MESSAGES,
    DATE_MESSAGE,
    GeoCollectFields,
    IdentifyAnswer,
    TempCollectFields,
    ValidateFields,
)

TEMP_TEXT = ("cur_answer", "cur_answer_start", "prev_answer", "prev_answer_start", "article_title")
TEMP_FLAGS = ("list_answer", "cur_missing", "prev_missing")
GEO_PAIR_FIELDS = ("new_location_{n}", "new_answer_{n}", "new_article_{n}")
# One wording for the server and the browser (the form's data attributes carry them to
# situatedqa.js); {date}, {n}, {location}, {answer}, {place} are filled in where used.
MESSAGES = {
    "cur_answer": "Write the current answer, or tick “Missing”.",
    "prev_answer": "Write the previous answer, or tick “Missing”.",
    "cur_answer_start": f"Give the date the current answer started to apply: it {DATE_MESSAGE}.",
    "prev_answer_start": f"Give the date the previous answer started to apply: it {DATE_MESSAGE}.",
    "cur_year": f"The current answer's start date “{{date}}” {DATE_MESSAGE}.",
    "prev_year": f"The previous answer's start date “{{date}}” {DATE_MESSAGE}.",
    "same_answer": "The previous answer is the current one: give the answer that held before "
    "it, or tick “Missing”.",
    "pair_incomplete": "Give both a location and its answer for new pair {n}.",
    "two_pairs": "Add two new locations, each with its answer, or tick “No other location has "
    "a different answer”.",
    "given_location": "{location} is the given location; add a different one.",
    "given_answer": "“{answer}” is the answer already given for {place}; give a location where "
    "the answer differs.",
    "same_locations": "The two new locations must differ.",
    "same_answers": "The two new answers must differ from each other.",
}


def stage_of(item) -> str:
    return item.stage or "identify"


def variant_of(item) -> str:
    return (item.payload or {}).get("variant", "temp")


def given_of(item) -> dict | None:
    given = (item.payload or {}).get("given")
    return given if isinstance(given, dict) and given.get("location") else None


# --------------------------------------------------------------------------- form → value


def _flag(data: Mapping[str, Any], name: str) -> Any:
    """A checkbox: absent (or empty) is False; anything else goes to the schema, which
    accepts on/true/1 and refuses a forged value."""
    value = data.get(name)
    return False if value in (None, "") else value


def _text(data: Mapping[str, Any], name: str) -> Any:
    value = data.get(name)
    return None if value is None or (isinstance(value, str) and not value.strip()) else value


def temp_from_form(data: Mapping[str, Any]) -> dict:
    value: dict[str, Any] = {name: _flag(data, name) for name in TEMP_FLAGS}
    value.update({name: _text(data, name) for name in TEMP_TEXT})
    value["article_title"] = value["article_title"] or ""
    return value


def geo_from_form(data: Mapping[str, Any]) -> dict:
    pairs = []
    for n in (1, 2):
        location, answer, article = (_text(data, f.format(n=n)) for f in GEO_PAIR_FIELDS)
        if location is not None or answer is not None or article is not None:
            pairs.append({"location": location, "answer": answer, "article": article or ""})
    return {
        "orig_is_correct": _text(data, "orig_is_correct"),
        "orig_article": _text(data, "orig_article") or "",
        "no_other": _flag(data, "no_other"),
        "pairs": pairs,
    }


def value_from_form(item, data: Mapping[str, Any]) -> dict:
    stage = stage_of(item)
    if stage == "identify":
        return {"dependent": data.get("dependent")}
    collect = temp_from_form if variant_of(item) == "temp" else geo_from_form
    if stage == "collect":
        return collect(data)
    give = _flag(data, "give_correction")
    return {
        "correct": data.get("correct"),
        "correction": collect(data) if give and data.get("correct") == "no" else None,
    }


def _temp_form(value: Mapping[str, Any]) -> dict[str, str]:
    fields = {name: "on" for name in TEMP_FLAGS if value.get(name)}
    fields.update({name: str(value[name]) for name in TEMP_TEXT if value.get(name)})
    return fields


def _geo_form(value: Mapping[str, Any]) -> dict[str, str]:
    fields = {}
    if value.get("orig_is_correct"):
        fields["orig_is_correct"] = str(value["orig_is_correct"])
    if value.get("orig_article"):
        fields["orig_article"] = str(value["orig_article"])
    if value.get("no_other"):
        fields["no_other"] = "on"
    for n, pair in enumerate(value.get("pairs") or [], start=1):
        fields[f"new_location_{n}"] = pair["location"]
        fields[f"new_answer_{n}"] = pair["answer"]
        if pair.get("article"):
            fields[f"new_article_{n}"] = pair["article"]
    return fields


def form_data_for(item, value: Mapping[str, Any]) -> dict[str, str]:
    """What a browser posts for ``value`` (the inverse of ``value_from_form``)."""
    stage = stage_of(item)
    if stage == "identify":
        return {"dependent": str(value["dependent"])}
    to_form = _temp_form if variant_of(item) == "temp" else _geo_form
    if stage == "collect":
        return to_form(value)
    fields = {"correct": str(value["correct"])}
    if value.get("correction"):
        fields["give_correction"] = "on"
        fields.update(to_form(value["correction"]))
    return fields


# --------------------------------------------------------------------------------- checks


def _schema(model: type[pydantic.BaseModel], value: Any) -> dict:
    try:
        return model.model_validate(value).model_dump(mode="json")
    except pydantic.ValidationError as exc:
        raise InvalidValue.from_pydantic(exc, ANSWER_MESSAGES) from None


def clean_identify(value: Any) -> dict:
    return _schema(IdentifyAnswer, value)


def clean_temp(value: Any) -> dict:
    clean = _schema(TempCollectFields, value)
    problems: dict[str, list[str]] = {}
    for side in ("cur", "prev"):
        answer, start = f"{side}_answer", f"{side}_answer_start"
        if clean[f"{side}_missing"]:
            clean[answer] = clean[start] = None
            continue
        if not clean[answer]:
            problems[answer] = [MESSAGES[answer]]
        if not clean[start]:
            problems[start] = [MESSAGES[start]]
        elif not has_year(clean[start]):
            problems[start] = [MESSAGES[f"{side}_year"].format(date=clean[start])]
    if not problems and clean["cur_answer"] and clean["prev_answer"]:
        if normalize_answer(clean["cur_answer"]) == normalize_answer(clean["prev_answer"]):
            problems["prev_answer"] = [MESSAGES["same_answer"]]
        cur, prev = parse_date(clean["cur_answer_start"]), parse_date(clean["prev_answer_start"])
        if cur and prev and prev.year > cur.year:
            problems["prev_answer_start"] = [
                f"The previous answer must start before the current one "
                f"({clean['prev_answer_start']} is after {clean['cur_answer_start']})."
            ]
    if problems:
        raise InvalidValue(problems)
    return clean


def clean_geo(value: Any, given: Mapping[str, Any] | None) -> dict:
    raw = dict(value) if isinstance(value, Mapping) else value
    pair_problems: dict[str, list[str]] = {}
    if isinstance(raw, dict) and isinstance(raw.get("pairs"), list):
        for n, pair in enumerate(raw["pairs"], start=1):
            if isinstance(pair, dict) and not (pair.get("location") and pair.get("answer")):
                field = "new_answer" if pair.get("location") else "new_location"
                pair_problems[f"{field}_{n}"] = [MESSAGES["pair_incomplete"].format(n=n)]
    if pair_problems:
        raise InvalidValue(pair_problems)
    clean = _schema(GeoCollectFields, raw)
    problems: dict[str, list[str]] = {}
    place = (given or {}).get("location", "")
    if given is None and clean["orig_is_correct"] is not None:
        problems["orig_is_correct"] = ["This question came without a given answer to verify."]
    if given is not None and clean["orig_is_correct"] is None:
        problems["orig_is_correct"] = [
            f"Say whether the given answer is right for {place}: Yes or No."
        ]
    pairs = clean["pairs"]
    if len(pairs) < 2 and not clean["no_other"]:
        field = f"new_location_{len(pairs) + 1}"
        problems[field] = [MESSAGES["two_pairs"]]
    given_answers = {normalize_answer(a) for a in (given or {}).get("answers") or []}
    for n, pair in enumerate(pairs, start=1):
        if given and same_place(pair["location"], place):
            problems[f"new_location_{n}"] = [
                MESSAGES["given_location"].format(location=pair["location"])
            ]
        elif normalize_answer(pair["answer"]) in given_answers:
            problems[f"new_answer_{n}"] = [
                MESSAGES["given_answer"].format(answer=pair["answer"], place=place)
            ]
    if len(pairs) == 2:
        first, second = pairs
        if same_place(first["location"], second["location"]):
            problems.setdefault("new_location_2", [MESSAGES["same_locations"]])
        if normalize_answer(first["answer"]) == normalize_answer(second["answer"]):
            problems.setdefault("new_answer_2", [MESSAGES["same_answers"]])
    if problems:
        raise InvalidValue(problems)
    return clean


def clean_collect(item, value: Any) -> dict:
    if variant_of(item) == "temp":
        return clean_temp(value)
    return clean_geo(value, given_of(item))


def clean_validate(item, value: Any) -> dict:
    clean = _schema(ValidateFields, value)
    if clean["correction"] is not None:
        if clean["correct"] == "yes":
            raise InvalidValue(
                {"correction": ["A correct response needs no correction; choose No to give one."]}
            )
        clean["correction"] = clean_collect(item, clean["correction"])
    return clean


def clean(item, value: Any) -> dict:
    stage = stage_of(item)
    if stage == "identify":
        return clean_identify(value)
    if stage == "collect":
        return clean_collect(item, value)
    if stage == "validate":
        return clean_validate(item, value)
    raise InvalidValue({"": [f"This item's stage {stage!r} takes no answers."]})


def label_of(value: Any) -> Any:
    """The nominal label of an answer of any stage (agreement, the annotations export)."""
    if not isinstance(value, dict):
        return None
    if "dependent" in value:
        return value["dependent"]
    if "correct" in value:
        return value["correct"]
    if "cur_missing" in value:
        return "missing" if value["cur_missing"] else normalize_answer(value["cur_answer"] or "")
    if "pairs" in value:
        return value.get("orig_is_correct") or ("no other" if not value["pairs"] else "new pairs")
    return None
