"""Rebuild this folder's subset of the official SituatedQA dev split (lines copied byte for byte).

    python apps/situatedqa/demo/make_subset.py /work/shared/data/situatedqa

For each variant: the first RAW_QUESTIONS questions of ``raw_data``, every ``qa_data`` row of
those questions (a prefix of the file, since qa_data flattens raw_data in order), and the
``id_data`` lines of those questions plus the first ID_HEAD lines (so questions judged not
dependent, and dependent ones without contexts, are there too); and the first
NQ_OPEN_HEAD lines of ``temp_splits/pre_2019.dev.jsonl`` as an NQ-open style file. Lines
keep their file order, so every file here is a line subset of the official one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RAW_QUESTIONS = {
    "temp": 90,
    "geo": 30,
}  # up to the first mojibake (temp) and non-ASCII (geo) answers
ID_HEAD = 60
NQ_OPEN_HEAD = 20
HERE = Path(__file__).resolve().parent


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _keep(path: Path, keep: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(keep))


def build(data: Path) -> None:
    for variant, count in RAW_QUESTIONS.items():
        raw = _lines(data / f"raw_data/{variant}.dev.jsonl")[:count]
        ids = {json.loads(line)["id"] for line in raw}
        qa = [
            x for x in _lines(data / f"qa_data/{variant}.dev.jsonl") if json.loads(x)["id"] in ids
        ]
        id_lines = _lines(data / f"id_data/{variant}.dev.jsonl")
        id_keep = [x for n, x in enumerate(id_lines) if n < ID_HEAD or json.loads(x)["id"] in ids]
        _keep(HERE / f"raw_data/{variant}.dev.jsonl", raw)
        _keep(HERE / f"qa_data/{variant}.dev.jsonl", qa)
        _keep(HERE / f"id_data/{variant}.dev.jsonl", id_keep)
    nq = _lines(data / "temp_splits/pre_2019.dev.jsonl")[:NQ_OPEN_HEAD]
    _keep(HERE / "temp_splits/pre_2019.dev.jsonl", nq)


if __name__ == "__main__":
    build(Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/situatedqa"))
