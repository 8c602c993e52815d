"""Questions labelled temporal / geographic / neither: the official id_data and the project's own.

**Official labels.** ``id_data/temp.*`` says whether a question's answer depends on *when*
it is asked, ``id_data/geo.*`` whether it depends on *where*; each file's annotators judged
one context only. A question becomes

- ``temporal`` when the temporal file says "yes" (and the geographic one does not),
- ``geographic`` when the geographic file says "yes" (and the temporal one does not),
- ``neither`` when every file that holds it says "no",
- and is **left out** when both files say "yes": it has two right labels and the classifier
  gives one. (The release has no such question; the count is reported.)

Questions are the same when their text is (case and runs of spaces ignored, see
:func:`text_key`); ids are not compared, since the two files reuse an NQ id for the
location-masked variant of a question ("… in the us" → "… we …"). In train/dev only one text
is in both files (a "no" in each). A temporal "no" was never asked about place, so some
``neither`` questions may in fact depend on place: the label is "not dependent on the context
it was judged for", the best the release says.

**Project labels** (the records a trainer passes) are ``{"text", "label"}`` with a label of
:data:`LABELS` (or null: an unlabelled item, skipped); each labelled record is one training example (two records of one text act as two
votes). An official train question with the same text as a project record is dropped, so
the project's label wins, and a dev question with such a text is not scored, so the dev
figures never grade a question the model was taught.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml.config import TrainingError

from .formats import Variant, read_official

TEMPORAL = "temporal"
GEOGRAPHIC = "geographic"
NEITHER = "neither"
LABELS: tuple[str, ...] = (TEMPORAL, GEOGRAPHIC, NEITHER)  # the class index order
LABEL_TITLES = {
    TEMPORAL: "Depends on time",
    GEOGRAPHIC: "Depends on place",
    NEITHER: "Neither",
}
OFFICIAL = "official"
PROJECT = "project"

DATA_DIR = Path(__file__).resolve().parent / "data" / "id_data"
_VARIANT_LABEL: dict[Variant, str] = {"temp": TEMPORAL, "geo": GEOGRAPHIC}
MAX_LISTED = 20  # bad records spelled out in one TrainingError


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    source: str = PROJECT  # OFFICIAL or PROJECT

    @property
    def target(self) -> int:
        return LABELS.index(self.label)


@dataclass
class TrainingSet:
    train: list[Example]
    dev: list[Example]
    counts: dict[str, int] = field(default_factory=dict)

    def label_counts(self) -> dict[str, int]:
        return {label: sum(e.label == label for e in self.train) for label in LABELS}


def text_key(text: str) -> str:
    """What makes two questions the same question: the text, case and spacing ignored."""
    return " ".join(text.casefold().split())


def official_path(variant: Variant, split: str, data_dir: Path = DATA_DIR) -> Path:
    """``{variant}.{split}.jsonl.gz`` in ``data_dir``, or the plain ``.jsonl`` if that is there."""
    gz = Path(data_dir) / f"{variant}.{split}.jsonl.gz"
    plain = gz.with_suffix("")
    if not gz.exists() and plain.exists():
        return plain
    if not gz.exists():
        raise TrainingError(f"The official SituatedQA file {gz} is missing.")
    return gz


def official_examples(split: str, data_dir: Path = DATA_DIR) -> tuple[list[Example], int]:
    """The three-class examples of an official id_data split and how many were left out.

    The rule is the module docstring's; examples keep first-seen order (temporal file first).
    Parsed once per process and file version (path, size, modification time).
    """
    paths = tuple(official_path(v, split, data_dir) for v in ("temp", "geo"))
    stamps = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths)
    examples, both = _official_examples(stamps)
    return list(examples), both


@functools.lru_cache(maxsize=8)
def _official_examples(stamps: tuple[tuple[str, int, int], ...]) -> tuple[tuple[Example, ...], int]:
    judged: dict[str, dict[str, Any]] = {}
    variants: tuple[Variant, ...] = ("temp", "geo")
    for variant, (path, _, _) in zip(variants, stamps, strict=True):
        rows = read_official(Path(path), layout="id", variant=variant)
        for row in rows:
            entry = judged.setdefault(text_key(row["question"]), {"text": row["question"]})
            # A repeated line with another verdict (none in the release): "yes" wins.
            entry[variant] = bool(entry.get(variant)) or row["is_dependent"] == "yes"
    examples, both = [], 0
    for entry in judged.values():
        dependent = [_VARIANT_LABEL[v] for v in ("temp", "geo") if entry.get(v)]
        if len(dependent) == 2:
            both += 1
            continue
        examples.append(Example(entry["text"], dependent[0] if dependent else NEITHER, OFFICIAL))
    return tuple(examples), both


def _where(index: int, record: Any) -> str:
    where = f"record {index}"
    if isinstance(record, Mapping):
        for name in ("item_id", "key"):
            if record.get(name) is not None:
                return f"{where} ({name.replace('_', ' ')} {record[name]})"
    return where


def _raise_problems(problems: list[str], what: str) -> None:
    if not problems:
        return
    listed = problems[:MAX_LISTED]
    if len(problems) > MAX_LISTED:
        listed.append(f"… and {len(problems) - MAX_LISTED} more")
    count = len(problems)
    raise TrainingError(f"{count} bad {what}{'s' * (count != 1)}:\n  " + "\n  ".join(listed))


def _text_problem(record: Mapping[str, Any]) -> str | None:
    text = record.get("text")
    if text is None:
        return 'missing "text"'
    if not isinstance(text, str) or not text.strip():
        return '"text" must be a non-empty string'
    return None


def project_examples(records: Iterable[Mapping[str, Any]]) -> tuple[list[Example], int]:
    """The trainer's labelled records as examples, and how many records had no label.

    A record whose ``label`` is null or absent is an item nobody has labelled yet (the
    trainer passes every item, to predict them all): it is skipped. Every bad record (no
    text, a label outside :data:`LABELS`) is named in one ``TrainingError``.
    """
    examples: list[Example] = []
    problems: list[str] = []
    unlabelled = 0
    for index, record in enumerate(records, start=1):
        where = _where(index, record)
        if not isinstance(record, Mapping):
            problems.append(f"{where}: must be an object with text and label")
            continue
        found = [p for p in (_text_problem(record),) if p]
        label = record.get("label")
        if label is not None and label not in LABELS:
            found.append(f'"label" must be one of {", ".join(LABELS)} or null, not {label!r}')
        problems.extend(f"{where}: {p}" for p in found)
        if found:
            continue
        if label is None:
            unlabelled += 1
        else:
            examples.append(Example(record["text"], str(label), PROJECT))
    _raise_problems(problems, "training record")
    return examples, unlabelled


def prediction_texts(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The ``text`` of each record to classify; bad ones named in one ``TrainingError``."""
    problems: list[str] = []
    for index, record in enumerate(records, start=1):
        problem = (
            _text_problem(record) if isinstance(record, Mapping) else "must be an object with text"
        )
        if problem:
            problems.append(f"{_where(index, record)}: {problem}")
    _raise_problems(problems, "prediction record")
    return [record["text"] for record in records]


def seeded_subset(examples: list[Example], limit: int | None, seed: int) -> list[Example]:
    """At most ``limit`` examples drawn with ``seed``, in their original order (all if None)."""
    if limit is None or len(examples) <= limit:
        return examples
    keep = set(random.Random(seed).sample(range(len(examples)), limit))
    return [e for i, e in enumerate(examples) if i in keep]


def training_set(
    records: Iterable[Mapping[str, Any]],
    *,
    official: bool = True,
    max_official_rows: int | None = None,
    max_dev_rows: int | None = None,
    seed: int = 0,
    data_dir: Path = DATA_DIR,
) -> TrainingSet:
    """Project examples (+ the official train questions), and the dev questions to score."""
    project, unlabelled = project_examples(records)
    taught = {text_key(e.text) for e in project}
    counts = {"project_records": len(project), "project_unlabelled": unlabelled}
    train = list(project)
    if official:
        pool, both = official_examples("train", data_dir)
        chosen = seeded_subset(pool, max_official_rows, seed)
        kept = [e for e in chosen if text_key(e.text) not in taught]
        counts |= {
            "official_train_questions": len(pool),
            "official_train_both_dependent_left_out": both,
            "official_train_replaced_by_project": len(chosen) - len(kept),
            "official_train_used": len(kept),
        }
        train = kept + project
    # The subset is drawn before the taught questions leave it, so every run of one seed
    # scores the same dev questions, less those the project has since labelled.
    dev_pool, dev_both = official_examples("dev", data_dir)
    chosen_dev = seeded_subset(dev_pool, max_dev_rows, seed + 1)
    dev = [e for e in chosen_dev if text_key(e.text) not in taught]
    counts |= {
        "dev_questions": len(dev_pool),
        "dev_both_dependent_left_out": dev_both,
        "dev_taught_by_project": len(chosen_dev) - len(dev),
        "dev_scored": len(dev),
        "train_examples": len(train),
    }
    if not train:
        raise TrainingError(
            "Nothing to train on: no labelled questions were given and the official data is off."
        )
    present = sorted({e.label for e in train}, key=LABELS.index)
    if len(present) < 2:
        raise TrainingError(
            f"The training questions are all {present[0]!r}: the classifier needs at least two "
            "of temporal, geographic and neither."
        )
    result = TrainingSet(train, dev, counts)
    result.counts |= {f"train_{label}": n for label, n in result.label_counts().items()}
    return result
