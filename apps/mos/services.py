"""The MOS study's writes: stimuli import, the study's items per design, the demo.

**Import.** A zip holds ``manifest.csv`` (``system, utterance_id, text, file``; optional
``gold_score``) next to the audio. Every file is checked before anything is stored: its
content is the format its name says (the core sniffer), libsndfile decodes it, and it is
neither silent, clipped, too short, too long, below the sample-rate floor, nor at another rate
than the rest. The report names every failing file and line, and then nothing is imported.
Otherwise each clip is loudness-normalised (BS.1770, as VITS normalised every clip), stored
as FLAC under an opaque name, and the study's items are built for the project's design.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import random
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from django.core.files.base import ContentFile
from django.db import transaction

from apps.core.importing import ImportFailed, iter_rows
from apps.core.media import SNIFF_BYTES, MediaRefused, media_storage, media_type
from apps.core.models import Item, ItemMedia, Project
from apps.core.registry import ImportReport
from apps.core.ziputil import ZipRefused, zip_members

from . import audio
from .schemas import (
    ACR_SCALE,
    ANCHOR_35,
    ANCHOR_70,
    ANCHOR_CUTOFFS_HZ,
    HIDDEN_REFERENCE,
    Config,
    config_of,
)

MANIFEST_COLUMNS = ("system", "utterance_id", "text", "file")
# One trapping or gold clip for about every seven clips: P.808 puts 1 trap + 1 gold into each
# session of 10 rated clips.
CONTROL_RATE = 0.15
TRAP_SCORES = (2, 1, 4, 5, 3)  # the answers the spoken prompts ask for, cycled
LABELS = dict(ACR_SCALE)


@dataclass
class Clip:
    """One manifest row whose file decoded and passed every check."""

    line: int
    system: str
    utterance_id: str
    text: str
    name: str  # the file's path in the zip (for messages, kept for researchers)
    samples: np.ndarray
    sample_rate: int
    info: audio.ClipInfo
    gold_score: int | None = None


def stimuli_import(*, project: Project, upload: IO[bytes]) -> ImportReport:
    """Import a stimuli zip into ``project``: all clips, or (on any problem) nothing."""
    report = ImportReport()
    config = config_of(project)
    try:
        archive = zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, OSError):
        report.error(
            0,
            f"{getattr(upload, 'name', 'upload')}: not a valid zip file. Upload a zip holding "
            "manifest.csv and the audio files it names.",
        )
        return report
    with archive:
        try:
            manifest, files = zip_members(archive)
        except ZipRefused as exc:
            report.error(0, str(exc))
            return report
        clips = _clips_read(archive, manifest, files, config, report)
    if report.ok:
        _design_check(clips, config, report)
    if not report.ok:
        report.errors.sort(key=lambda error: error[0])
        report.notes.append("Nothing was imported: fix the files named above and upload again.")
        return report
    first_import = not project.items.exists()
    saved: list[str] = []
    try:
        with transaction.atomic():
            report.created = _items_build(project, clips, config, saved, report)
            if first_import:
                _votes_per_clip_default(project, report)
    except Exception:
        for name in saved:
            media_storage.delete(name)
        raise
    return report


def _clips_read(archive, manifest, files, config: Config, report: ImportReport) -> list[Clip]:
    """Decode and check every row's file; each problem becomes an error naming the file."""
    clips: list[Clip] = []
    seen: dict[tuple[str, str], int] = {}
    with archive.open(manifest) as data:
        data.name = manifest.filename
        try:
            rows = list(iter_rows(data, manifest.filename))
        except ImportFailed as exc:
            report.error(0, str(exc))
            return clips
    if not manifest.filename.lower().endswith(".csv"):
        report.error(0, f"{manifest.filename}: the manifest must be a CSV file (manifest.csv).")
        return clips
    if rows and (missing := [c for c in MANIFEST_COLUMNS if c not in rows[0].data]):
        report.error(
            1,
            f"{manifest.filename} has no column {', '.join(missing)}; its columns must be "
            f"{', '.join(MANIFEST_COLUMNS)} (and optionally gold_score).",
        )
        return clips
    for row in rows:
        if problem := row.data.get("__error__"):
            report.error(row.line, problem)
            continue
        clip = _clip_read(archive, files, row, config, report, seen)
        if clip is not None:
            clips.append(clip)
    if not rows:
        report.error(0, f"{manifest.filename} lists no clips.")
    by_name = {clip.name: clip.info for clip in clips}
    for problem in audio.rate_mismatches(by_name) if config.stimuli.same_sample_rate else []:
        line = next(c.line for c in clips if problem.startswith(c.name))
        report.error(line, problem)
    return clips


def _clip_read(archive, files, row, config: Config, report, seen) -> Clip | None:
    data = {k: str(v or "").strip() for k, v in row.data.items()}
    empty = [c for c in MANIFEST_COLUMNS if c != "text" and not data.get(c)]
    if empty:
        report.error(row.line, f"{', '.join(empty)} is empty.")
        return None
    key = (data["system"], data["utterance_id"])
    if key in seen:
        report.error(
            row.line,
            f"system {key[0]!r} has utterance {key[1]!r} twice (also on line {seen[key]}).",
        )
        return None
    seen[key] = row.line
    name = data["file"]
    info = files.get(name.lstrip("./"))
    if info is None:
        report.error(row.line, f"{name}: not in the zip.")
        return None
    content = archive.read(info)
    try:
        media_type(name, content[:SNIFF_BYTES])
        samples, rate = audio.clip_read(content, name)
    except (MediaRefused, audio.AudioRefused) as exc:
        report.error(row.line, str(exc))
        return None
    measured = audio.clip_measure(samples, rate)
    for problem in audio.clip_problems(measured, config.stimuli):
        report.error(row.line, f"{name}: {problem}")
    gold = None
    if data.get("gold_score"):
        try:
            gold = int(data["gold_score"])
            if gold not in LABELS:
                raise ValueError
        except ValueError:
            report.error(
                row.line, f"gold_score must be a whole number 1–5, not {data['gold_score']!r}."
            )
    return Clip(
        line=row.line,
        system=data["system"],
        utterance_id=data["utterance_id"],
        text=data.get("text", ""),
        name=name,
        samples=samples,
        sample_rate=rate,
        info=measured,
        gold_score=gold,
    )


def _design_check(clips: list[Clip], config: Config, report: ImportReport) -> None:
    """What the design needs of the set: a reference clip per utterance, two systems, …"""
    tests = [c for c in clips if c.gold_score is None]
    systems = sorted({c.system for c in tests})
    if config.design in ("ccr", "mushra"):
        if config.reference_system not in systems:
            report.error(
                0,
                f"The {config.design.upper()} design compares with the reference system "
                f"{config.reference_system!r}, which the manifest does not name (systems: "
                f"{', '.join(systems)}). Set the reference system in the settings.",
            )
            return
        with_reference = {c.utterance_id for c in tests if c.system == config.reference_system}
        for clip in tests:
            if clip.utterance_id not in with_reference:
                report.error(
                    clip.line,
                    f"{clip.name}: utterance {clip.utterance_id!r} has no clip of the reference "
                    f"system {config.reference_system!r} to compare with.",
                )
    if config.design == "ab" and len(systems) < 2:
        report.error(0, "An A/B test needs clips of at least two systems.")


def _items_build(project: Project, clips: list[Clip], config: Config, saved, report) -> int:
    store = _Store(project, config, saved)
    tests = [c for c in clips if c.gold_score is None]
    rng = random.Random(f"mos:{project.pk}")  # the same study draws the same traps and order
    build = {"acr": _acr_items, "ccr": _ccr_items, "ab": _ab_items, "mushra": _mushra_items}
    created = build[config.design](store, tests, rng)
    if config.latin_square and config.design in ("acr", "ccr"):
        _latin_square(project, store.items)
    created += _gold_items(store, [c for c in clips if c.gold_score is not None])
    if config.design == "acr" and config.qc.trapping:
        created += _trap_items(store, tests, rng)
    if store.controls and project.gold_rate <= 0:
        project.gold_rate = CONTROL_RATE
        project.save(update_fields=["gold_rate"])
        report.notes.append(
            f"Gold rate set to {CONTROL_RATE:.0%}: about one trapping or gold clip in every "
            f"{round(1 / CONTROL_RATE)} clips a listener hears."
        )
    report.notes.append(
        f"{len(tests)} clips of {len({c.system for c in tests})} systems and "
        f"{len({c.utterance_id for c in tests})} utterances"
        + (
            f", loudness-normalised to {config.stimuli.target_lufs:g} LUFS"
            if config.stimuli.normalise
            else ""
        )
        + "."
    )
    return created


P808_VOTES_PER_CLIP = 10  # the P.808 toolkit's expected_votes_per_file


def _votes_per_clip_default(project: Project, report: ImportReport) -> None:
    """A study's first stimuli get the P.808 toolkit's 10 votes per clip, unless the
    researcher already chose a number other than the platform's default."""
    if project.overlap != Project._meta.get_field("overlap").default:
        return
    project.overlap = P808_VOTES_PER_CLIP
    project.save(update_fields=["overlap"])
    report.notes.append(
        f"Votes per clip set to {P808_VOTES_PER_CLIP}, as the P.808 toolkit; change it on the "
        "Launch tab."
    )


class _Store:
    """Creates items and their media; normalises each source clip once."""

    def __init__(self, project: Project, config: Config, saved: list[str]):
        self.project = project
        self.config = config
        self.saved = saved
        self.items: list[Item] = []
        self.controls = 0
        self._prepared: dict[int, tuple[np.ndarray, int]] = {}

    def prepared(self, clip: Clip) -> tuple[np.ndarray, int]:
        """The clip as listeners hear it: loudness-normalised unless switched off."""
        if id(clip) not in self._prepared:
            samples = clip.samples
            if self.config.stimuli.normalise:
                samples = audio.loudness_normalise(
                    samples, clip.sample_rate, self.config.stimuli.target_lufs
                )
            self._prepared[id(clip)] = (samples, clip.sample_rate)
        return self._prepared[id(clip)]

    def item(self, *, external_id: str, payload: dict, media: dict[str, Any], **fields) -> Item:
        """One item with its media: {key: (samples, rate, clip or source name)}."""
        item = Item.objects.create(
            project=self.project, external_id=external_id, payload=payload, **fields
        )
        clips_info = {}
        for key, (samples, rate, source) in media.items():
            content = audio.clip_encode(samples, rate, "flac")
            row = ItemMedia(
                item=item,
                key=key,
                content_type="audio/flac",
                size=len(content),
                duration_s=len(samples) / rate,
            )
            row.file.save(f"{key}.flac", ContentFile(content), save=False)
            self.saved.append(row.file.name)
            row.save()
            info = audio.clip_measure(samples, rate)
            clips_info[key] = {
                "duration_s": round(info.duration_s, 3),
                "sample_rate": rate,
                "channels": info.channels,
                "lufs": None if info.lufs is None else round(info.lufs, 2),
                "source": source,
            }
        item.payload = {**payload, "clips": clips_info}
        item.save(update_fields=["payload"])
        if item.kind != Item.Kind.REGULAR:
            self.controls += 1
        else:
            self.items.append(item)
        return item


def _base(clip: Clip, role: str = "test") -> dict:
    return {"utterance_id": clip.utterance_id, "text": clip.text, "role": role}


def _group(utterance_id: str) -> str:
    return f"utt:{utterance_id}"


def _acr_items(store: _Store, clips: list[Clip], rng) -> int:
    for clip in clips:
        samples, rate = store.prepared(clip)
        store.item(
            external_id=f"{clip.system}/{clip.utterance_id}",
            payload={**_base(clip), "system": clip.system},
            media={"audio": (samples, rate, clip.name)},
            group=_group(clip.utterance_id),
        )
    return len(clips)


def _references(store: _Store, clips: list[Clip]) -> dict[str, Clip]:
    return {c.utterance_id: c for c in clips if c.system == store.config.reference_system}


def _ccr_items(store: _Store, clips: list[Clip], rng) -> int:
    references = _references(store, clips)
    created = 0
    for clip in clips:
        if clip.system == store.config.reference_system:
            continue
        reference = references[clip.utterance_id]
        store.item(
            external_id=f"{clip.system}/{clip.utterance_id}",
            payload={**_base(clip), "system": clip.system},
            media={
                "audio": (*store.prepared(clip), clip.name),
                "reference": (*store.prepared(reference), reference.name),
            },
            group=_group(clip.utterance_id),
        )
        created += 1
    return created


def _ab_items(store: _Store, clips: list[Clip], rng) -> int:
    by_utterance: dict[str, dict[str, Clip]] = defaultdict(dict)
    for clip in clips:
        by_utterance[clip.utterance_id][clip.system] = clip
    created = 0
    for utterance_id, systems in sorted(by_utterance.items()):
        for a, b in itertools.combinations(sorted(systems), 2):
            first, second = systems[a], systems[b]
            store.item(
                external_id=f"{a}~{b}/{utterance_id}",
                payload={**_base(first), "system_a": a, "system_b": b},
                media={
                    "a": (*store.prepared(first), first.name),
                    "b": (*store.prepared(second), second.name),
                },
                group=_group(utterance_id),
            )
            created += 1
    return created


def _mushra_items(store: _Store, clips: list[Clip], rng) -> int:
    """One screen per utterance: the open reference and every condition under shuffled keys."""
    references = _references(store, clips)
    by_utterance: dict[str, list[Clip]] = defaultdict(list)
    for clip in clips:
        if clip.system != store.config.reference_system:
            by_utterance[clip.utterance_id].append(clip)
    for utterance_id, systems in sorted(by_utterance.items()):
        reference = references[utterance_id]
        ref_samples, rate = store.prepared(reference)
        conditions: list[tuple[str, np.ndarray, int, str]] = [
            (HIDDEN_REFERENCE, ref_samples, rate, reference.name)
        ]
        for anchor in (ANCHOR_35, ANCHOR_70):
            filtered = audio.lowpass(ref_samples, rate, ANCHOR_CUTOFFS_HZ[anchor])
            conditions.append((anchor, filtered, rate, f"{reference.name} ({anchor})"))
        for clip in sorted(systems, key=lambda c: c.system):
            conditions.append((clip.system, *store.prepared(clip), clip.name))
        rng.shuffle(conditions)
        media: dict[str, Any] = {"reference": (ref_samples, rate, reference.name)}
        names = {}
        for n, (system, samples, clip_rate, source) in enumerate(conditions, start=1):
            media[f"c{n}"] = (samples, clip_rate, source)
            names[f"c{n}"] = system
        store.item(
            external_id=f"mushra/{utterance_id}",
            payload={**_base(reference), "conditions": names},
            media=media,
            group=_group(utterance_id),
        )
    return len(by_utterance)


def _latin_square(project: Project, items: list[Item]) -> None:
    """Balanced lists: list l holds system ``(u + l) mod S`` of utterance u, so every listener
    of a list hears each utterance once and each system equally often."""
    systems = sorted({item.payload["system"] for item in items})
    utterances = sorted({item.payload["utterance_id"] for item in items})
    s_index = {s: n for n, s in enumerate(systems)}
    u_index = {u: n for n, u in enumerate(utterances)}
    for item in items:
        lists = (s_index[item.payload["system"]] - u_index[item.payload["utterance_id"]]) % len(
            systems
        )
        item.list_mask = Item.mask_of([lists])
    Item.objects.bulk_update(items, ["list_mask"])
    project.list_count = len(systems)
    project.save(update_fields=["list_count"])


def _gold_items(store: _Store, clips: list[Clip]) -> int:
    for clip in clips:
        store.item(
            external_id=f"gold/{clip.system}/{clip.utterance_id}",
            payload={**_base(clip, "gold"), "system": clip.system},
            media={"audio": (*store.prepared(clip), clip.name)},
            kind=Item.Kind.GOLD,
            gold_value={"score": clip.gold_score},
        )
    return len(clips)


def _trap_items(store: _Store, clips: list[Clip], rng) -> int:
    """P.808 trapping clips: a real clip's first seconds, then "please select the answer …"."""
    count = max(len(TRAP_SCORES), store.config.qc.traps_per_participant)
    sources = rng.sample(clips, min(count, len(clips)))
    for n, clip in enumerate(sources):
        score = TRAP_SCORES[n % len(TRAP_SCORES)]
        prompt, prompt_rate = audio.prompt_for(score)
        samples, rate = store.prepared(clip)
        trap = audio.trap_assemble(samples, rate, prompt, prompt_rate)
        store.item(
            external_id=f"trap/{n + 1}",
            payload={
                **_base(clip, "trap"),
                "system": clip.system,
                "prompt": f"Please select the answer {LABELS[score]}",
            },
            media={"audio": (trap, rate, f"{clip.name} + prompt {LABELS[score]}")},
            kind=Item.Kind.ATTENTION,
            gold_value={"score": score},
        )
    return len(sources)


DEMO_DIR = Path(__file__).resolve().parent / "demo"
DEMO_INSTRUCTIONS = """\
You will hear short recordings of synthetic speech, one at a time. Please wear headphones in a
quiet room and keep the volume where you set it at the start.

For each recording, listen to the **whole** sample, then rate **how natural it sounds**, from
*Bad* (1) to *Excellent* (5). There are no right answers; rate what you hear. Some samples ask
you to choose a particular answer: please do what they say.
"""
# The demo systems' intended quality, written by the generation script
# (scripts/mos/make_demo_audio.py): the simulated listeners' mean vote for each system, so the
# demo's ranking is the one the degradations were made to give.
DEMO_QUALITY: dict[str, float] = json.loads((DEMO_DIR / "systems.json").read_text())["intended_mos"]


def demo_rows() -> list[dict]:
    with open(DEMO_DIR / "manifest.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def manifest_text(rows: list[dict]) -> str:
    lines = io.StringIO()
    writer = csv.DictWriter(
        lines, fieldnames=[*MANIFEST_COLUMNS, "gold_score"], lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({"gold_score": "", **row})
    return lines.getvalue()


def stimuli_zip_bytes(rows: list[dict]) -> bytes:
    """A stimuli zip of shipped demo clips: ``manifest.csv`` of ``rows`` and their files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("manifest.csv", manifest_text(rows))
        for name in sorted({row["file"] for row in rows}):
            archive.write(DEMO_DIR / name, name)
    return buffer.getvalue()


SAMPLE_ROWS = [
    row
    for row in demo_rows()
    if row["system"] in ("reference", "mild_noise") and row["utterance_id"] in ("h01", "h02")
]


def demo_zip(*, gold: bool = True) -> io.BytesIO:
    """The shipped demo clips and manifest as a stimuli zip, with two gold rows added: a clean
    reference clip (expected Excellent) and the worst system's clip (expected Bad)."""
    rows = demo_rows()
    rows = [{**row, "gold_score": ""} for row in rows]
    if gold:
        worst = min(DEMO_QUALITY, key=DEMO_QUALITY.__getitem__)
        for system, expected in (("reference", 5), (worst, 1)):
            source = next(r for r in rows if r["system"] == system)
            rows.append({**source, "system": f"gold_{system}", "gold_score": str(expected)})
    buffer = io.BytesIO(stimuli_zip_bytes(rows))
    buffer.name = "demo-stimuli.zip"
    return buffer


def demo_seed(*, project: Project) -> None:
    """The demo study: ACR naturalness of 4 systems × the shipped sentences, P.808 controls."""
    project.config = Config.model_validate(project.config or {}).model_dump(mode="json")
    project.instructions = DEMO_INSTRUCTIONS
    project.save(update_fields=["config", "instructions"])
    report = stimuli_import(project=project, upload=demo_zip())
    if not report.ok:
        raise RuntimeError(f"the demo stimuli did not import: {report.errors[:3]}")


def _quality(system: str) -> float:
    return DEMO_QUALITY.get(system, 3.0)


def _vote(mean: float, rng, low: float, high: float, sd: float) -> float:
    return min(high, max(low, rng.gauss(mean, sd)))


def answer_simulate(*, item: Item, rng) -> dict:
    """A simulated listener's answer, for the demo: votes around each system's intended
    quality; trapping clips answered as asked 97 % of the time, gold clips within ±1 mostly."""
    design = config_of(item.project).design
    payload = item.payload or {}
    expected = (item.gold_value or {}).get("score")
    if design == "acr":
        if item.kind == Item.Kind.ATTENTION and expected is not None:
            return {"score": expected if rng.random() < 0.97 else rng.randint(1, 5)}
        if item.kind == Item.Kind.GOLD and expected is not None:
            return {"score": int(_vote(expected, rng, 1, 5, 0.5) + 0.5)}
        return {"score": int(_vote(_quality(payload.get("system", "")), rng, 1, 5, 0.8) + 0.5)}
    if design == "ccr":
        difference = _quality(payload.get("system", "")) - _quality("reference")
        score = int(round(_vote(difference, rng, -3, 3, 0.8)))
        order = rng.choice(["rp", "pr"])
        return {"shown": score if order == "rp" else -score, "order": order}
    if design == "ab":
        gap = _quality(payload.get("system_a", "")) - _quality(payload.get("system_b", ""))
        draw = rng.gauss(gap, 1.0)
        preferred = "none" if abs(draw) < 0.3 else ("a" if draw > 0 else "b")
        order = rng.choice(["ab", "ba"])
        first = "a" if order == "ab" else "b"
        choice = {"none": "none", first: "first"}.get(preferred, "second")
        return {"choice": choice, "order": order}
    mushra_mean = {HIDDEN_REFERENCE: 95.0, ANCHOR_35: 20.0, ANCHOR_70: 45.0}
    return {
        "scores": {
            system: round(
                _vote(mushra_mean.get(system, 20 * _quality(system) - 5), rng, 0, 100, 8.0)
            )
            for system in payload.get("conditions", {}).values()
        }
    }
