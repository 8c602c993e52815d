"""The annotator benchmark runs end to end against a real gunicorn server (tiny, on SQLite)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("flow", ["reload", "htmx"])
def test_the_annotator_bench_drives_a_real_server_and_finds_no_invariant_violations(tmp_path, flow):
    out = tmp_path / "figures.json"
    # Few items for three annotators: they run out of work, so the done path is crossed too.
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "annotators.py"),
            "--sqlite",
            "--var-dir",
            str(tmp_path),
            "--annotators",
            "3",
            "--seconds",
            "120",  # an upper bound: the run ends as soon as everyone ran out of work
            "--items",
            "12",
            "--workers",
            "2",
            "--double-rate",
            "0.3",
            "--flow",
            flow,
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(out.read_text())
    print(result.stdout)  # the bench's own report, shown by pytest when an assertion fails
    assert figures["backend"] == "SQLite"
    assert figures["accepted"] == 12 * 3  # every slot answered once, double submits included
    assert figures["out_of_work"] == 3
    assert figures["errors"] == {}
    assert not any(figures["violations"].values()), figures["violations"]
    assert figures["submit"]["n"] >= figures["accepted"]
    # gunicorn's own timing of every submit, double submits' twins included, from its access log
    inside = figures["inside_gunicorn"]["submit"]
    assert inside["n"] >= figures["submit"]["n"] and 0 < inside["p50"] <= inside["p99"]
    # What a participant's browser transfers (media aside): fingerprinted, gzipped, kept a year.
    weight = figures["page_weight"]
    assert weight["total_transferred"] < 60 * 1024, weight
    assert {a["status"] for a in weight["assets"]} == {200}
    assert all(a["a_year"] and a["encoding"] == "gzip" for a in weight["assets"]), weight
    assert figures["card_bytes"]["max"] < 60 * 1024
