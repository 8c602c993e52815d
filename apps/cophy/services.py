"""The CoPhy study's writes: a zip of example folders becomes scenes and items; the demo.

**Import.** A zip of example folders in the official layout (``blocktowerCF/3/<id>/ab/
states.npy`` …, PROTOCOLS.md §3.3; the official release's folders or Chorus's generated ones)
is read and validated by ``ml.cophy.layout.read_examples``: array shapes, finite values,
quaternion norms, presence, colour lines against the objects present, confounder shapes.
Every problem is reported by example id; one bad example and nothing is stored. A
``gold.txt`` at the zip's top lists example ids to show as gold scenes (one a line).
Otherwise each example becomes a :class:`~apps.cophy.models.Scene`, and one item per
condition of the project's settings, with the poses the browser draws as item media
(``schemas.py`` has the layout). Scenes, items and media go in together, or (on any
failure) not at all: files already written are deleted again.
"""

from __future__ import annotations

import io
import random
import tempfile
import zipfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
from django.core.files.base import ContentFile
from django.db import transaction

from apps.core.media import media_storage
from apps.core.models import Item, ItemMedia, Project
from apps.core.registry import ImportReport
from apps.core.ziputil import MAX_ENTRIES, MAX_RATIO, max_unpacked_bytes
from ml.cophy.layout import (
    BALLS_ARENA,
    FPS,
    POSITION,
    QUATERNION,
    Example,
    LayoutError,
    describe_intervention,
    intervention,
    read_examples,
    write_example,
)

from . import gold, scoring
from .models import Scene, npy_bytes
from .schemas import (
    CONDITION_LABELS,
    NOTHING,
    PLANE_MARGIN,
    PLANE_MIN_HALF,
    QUESTION_OF_SCENARIO,
    SHAPE_NOUNS,
    Config,
    config_of,
)

GOLD_FILE = "gold.txt"
# About one gold scene in every ten a participant sees, once a study has gold scenes.
GOLD_RATE = 0.1


def _zip_problem(archive: zipfile.ZipFile) -> str | None:
    """The archive as a whole: entry count, unpacked size and compression ratio (zip bombs).
    Paths outside the archive are refused by ``read_examples`` itself."""
    infos = archive.infolist()
    if len(infos) > MAX_ENTRIES:
        return f"The zip has {len(infos)} entries; at most {MAX_ENTRIES} are allowed."
    total = 0
    for info in infos:
        total += info.file_size
        if total > max_unpacked_bytes():
            return f"The zip unpacks to more than {max_unpacked_bytes() // 2**20} MB."
        if info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
            return f"{info.filename}: compressed more than {MAX_RATIO}:1; refusing a zip bomb."
        if info.flag_bits & 0x1:
            return f"{info.filename}: encrypted entries are not supported."
    return None


def _gold_ids(archive: zipfile.ZipFile, report: ImportReport) -> set[str]:
    names = [n for n in archive.namelist() if n.rstrip("/").split("/")[-1] == GOLD_FILE]
    names = [n for n in names if n.count("/") <= 1]  # the top, or one wrapping folder
    if not names:
        return set()
    try:
        text = archive.read(names[0]).decode("utf-8-sig")
    except UnicodeDecodeError:
        report.error(0, f"{names[0]}: not UTF-8 text.")
        return set()
    return {line.strip().strip("/") for line in text.splitlines() if line.strip()}


def scenes_import(*, project: Project, upload: IO[bytes]) -> ImportReport:
    """Import a zip of CoPhy example folders into ``project``: every example, or nothing."""
    report = ImportReport()
    name = getattr(upload, "name", "upload")
    if not str(name).lower().endswith(".zip"):
        report.error(
            0,
            f"{name}: CoPhy imports a zip of example folders (blocktowerCF/3/<id>/ab/states.npy "
            "…), not a table.",
        )
        return report
    try:
        archive = zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, OSError):
        report.error(0, f"{name}: not a valid zip file.")
        return report
    with archive:
        problem = _zip_problem(archive)
        if problem:
            report.error(0, problem)
            return report
        gold_ids = _gold_ids(archive, report)
        try:
            result = read_examples(archive)
        except LayoutError as exc:
            report.error(0, str(exc))
            return report
    for example_id, problems in result.problems.items():
        for message in problems:
            report.error(0, f"Example {example_id}: {message}")
    ids = {e.example_id for e in result.examples} | set(result.problems)
    for missing in sorted(gold_ids - ids):
        report.error(0, f"{GOLD_FILE} names {missing!r}, which is not an example in the zip.")
    existing = set(
        Scene.objects.filter(
            project=project, example_id__in=[e.example_id for e in result.examples]
        ).values_list("example_id", flat=True)
    )
    for example_id in sorted(existing):
        report.error(0, f"Example {example_id}: the project already has this scene.")
    if not report.ok:
        report.notes.append("Nothing was imported: fix the examples named above and upload again.")
        return report
    report.created = scenes_store(
        project=project, examples=result.examples, gold_ids=gold_ids, report=report
    )
    return report


def scenes_store(
    *,
    project: Project,
    examples: Sequence[Example],
    gold_ids: set[str] = frozenset(),  # type: ignore[assignment]
    report: ImportReport | None = None,
) -> int:
    """Scenes, their items and media for ``examples`` (already validated); all or nothing.
    Returns the number of items created."""
    config = config_of(project)
    saved: list[str] = []
    created = 0
    try:
        with transaction.atomic():
            for example in examples:
                is_gold = example.example_id in gold_ids
                scene = Scene.of_example(project, example, gold=is_gold)
                scene.save()
                created += _items_for(project, config, example, is_gold, saved)
            if gold_ids and project.gold_rate <= 0:
                project.gold_rate = GOLD_RATE
                project.save(update_fields=["gold_rate"])
                if report is not None:
                    report.notes.append(
                        f"Gold rate set to {GOLD_RATE:.0%}: about one gold scene in every "
                        f"{round(1 / GOLD_RATE)} a participant sees."
                    )
    except Exception:
        for name in saved:
            media_storage.delete(name)
        raise
    if report is not None:
        counts = Counter(e.scenario for e in examples)
        parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        conditions = ", ".join(CONDITION_LABELS[c].lower() for c in config.conditions)
        report.notes.append(
            f"{len(examples)} scenes ({parts}; {len(gold_ids)} gold), one item per condition "
            f"({conditions})."
        )
    return created


def _poses(states: np.ndarray) -> np.ndarray:
    """(T, K, 7) float32: position and quaternion, what the browser draws."""
    return np.concatenate([states[:, :, POSITION], states[:, :, QUATERNION]], axis=-1).astype(
        np.float32
    )


def _noun(scenario: str, shape: str) -> str:
    """What a participant calls the object: a block, a ball; in a collision, a sphere."""
    if scenario == "collision" and shape == "sphere":
        return "sphere"
    return SHAPE_NOUNS.get(shape, "object")


def _objects(example: Example) -> list[dict[str, Any]]:
    """Every object present in A (the removed block too), towers bottom → top."""
    shapes = scoring.shapes_of(example, "ab")
    order = example.tower_order("ab") if example.scenario == "blocktower" else sorted(shapes)
    order = [k for k in order if k in shapes] + [k for k in sorted(shapes) if k not in order]
    in_c = example.presence_cd > 0
    return [
        {
            "slot": k,
            "color": example.slot_color(k),
            "shape": shapes[k],
            "label": f"{example.slot_color(k)} {_noun(example.scenario, shapes[k])}",
            "in_c": bool(in_c[k]),
        }
        for k in order
    ]


def _plane(example: Example) -> dict[str, list[float]]:
    """The square ground plane shown: around everything A → B and C show, with a margin
    (never sized from D, which would hint at the answer)."""
    seen = np.concatenate([example.ab[:, :, :2], example.cd[:1, :, :2]], axis=0)
    present = (example.presence_ab > 0) | (example.presence_cd > 0)
    reach = float(np.abs(seen[:, present]).max()) if present.any() else 0.0
    if example.scenario == "balls":  # inside the walls, where a ball can be
        half = max(BALLS_ARENA, float(np.ceil(reach * 10) / 10))
    else:
        half = max(PLANE_MIN_HALF[example.scenario], float(np.ceil(reach + PLANE_MARGIN)))
    return {"x": [-half, half], "y": [-half, half]}


def payload_of(example: Example, condition: str, config: Config) -> dict[str, Any]:
    question = QUESTION_OF_SCENARIO[example.scenario]
    change = intervention(example)
    objects = _objects(example)
    removed = next((o["slot"] for o in objects if not o["in_c"]), None)
    payload: dict[str, Any] = {
        "example_id": example.example_id,
        "scenario": example.scenario,
        "n_objects": example.n_objects,
        "condition": condition,
        "question": question,
        "objects": objects,
        "removed": removed,
        "intervention": {
            **(change.to_dict() if change else {"object": None, "kind": "none", "delta": None}),
            "description": describe_intervention(example),
        },
        "plane": _plane(example),
        "T": example.T,
        "K": example.K,
        "hidden": {
            "confounders": np.round(example.confounders.astype(np.float64), 1).tolist(),
            "gravity": list(example.gravity) if example.gravity is not None else None,
        },
    }
    if question == "click":
        target = scoring.target_of(example)
        payload["target"] = target
        if config.ask_first_contact:
            others = [o["color"] for o in objects if o["in_c"] and o["slot"] != target]
            payload["contact_choices"] = [*others, NOTHING]
    return payload


def _media_save(item: Item, key: str, array: np.ndarray, saved: list[str], duration=None):
    content = npy_bytes(array)
    row = ItemMedia(
        item=item,
        key=key,
        content_type="application/octet-stream",
        size=len(content),
        duration_s=duration,
    )
    row.file.save(f"{key}.npy", ContentFile(content), save=False)
    saved.append(row.file.name)
    row.save()


def _items_for(project: Project, config: Config, example: Example, is_gold: bool, saved) -> int:
    poses_ab = _poses(example.ab)
    start = np.stack([poses_ab[0], _poses(example.cd)[0]])
    answer = scoring.gold_value(example) if is_gold else None
    for condition in config.conditions:
        item = Item.objects.create(
            project=project,
            external_id=f"{example.example_id}|{condition}",
            payload=payload_of(example, condition, config),
            kind=Item.Kind.GOLD if is_gold else Item.Kind.REGULAR,
            gold_value=answer,
            group=f"scene:{example.example_id}",
        )
        if condition == "observed":
            _media_save(item, "ab", poses_ab, saved, duration=(example.T - 1) / FPS)
        _media_save(item, "start", start, saved)
    return len(config.conditions)


def scenes_zip_bytes(examples: Sequence[Example], gold_ids: Sequence[str] = ()) -> bytes:
    """``examples`` as example folders in the official layout, zipped (``gold.txt`` when any
    are gold): what the importer reads and the scenes export writes."""
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="chorus-cophy-") as tmp:
        root = Path(tmp)
        for example in examples:
            write_example(root, example)
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            if gold_ids:
                archive.writestr(GOLD_FILE, "".join(f"{i}\n" for i in gold_ids))
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(root).as_posix())
    return buffer.getvalue()


# --- the demo and the sample ----------------------------------------------------------------

DEMO_DIR = Path(__file__).resolve().parent / "demo" / "scenes"
DEMO_INSTRUCTIONS = """\
Each screen shows a short computer simulation of simple objects: a tower of blocks, balls
rolling on a table, or a ball rolling towards a cylinder. The objects' weights and how
slippery they are differ from scene to scene and cannot be seen, only guessed from how the
objects behave.

1. **Watch** what happened (A → B). You can pause and replay it.
2. Look at **the change**: the same scene at its start, with one thing changed (a block moved
   or taken away, a ball moved). The changed object is highlighted.
3. **Predict** what happens after the change: which blocks will move and whether the tower
   falls, or where the marked object ends up (click the spot on the ground).

Some screens show only the change, without the first video: predict as well as you can.
A few screens are easy checks. There are no trick questions.
"""


def demo_examples() -> list[Example]:
    """The shipped generated scenes (``scripts/cophy/make_demo.py``), read as the importer
    reads them."""
    if not DEMO_DIR.is_dir():
        return []
    result = read_examples(DEMO_DIR)
    if result.problems:
        raise RuntimeError(f"The shipped CoPhy demo scenes do not read: {result.problems}")
    return result.examples


SAMPLE_SCENES = ("blocktower", "balls", "collision")


def sample_examples() -> list[Example]:
    """The Data tab's sample: one shipped scene of each scenario, and one gold scene."""
    picked: list[Example] = []
    shipped = demo_examples()
    for scenario in SAMPLE_SCENES:
        picked += [e for e in shipped if e.scenario == scenario][:1]
    if not picked:  # no shipped scenes in this checkout: the hand-made scenes still import
        picked = gold.demo_gold()[2:4]
    return [*picked, gold.demo_gold()[0]]


def sample_zip_bytes() -> bytes:
    examples = sample_examples()
    return scenes_zip_bytes(examples, [examples[-1].example_id])


def demo_zip() -> io.BytesIO:
    golds = gold.demo_gold()
    buffer = io.BytesIO(scenes_zip_bytes([*demo_examples(), *golds], [g.example_id for g in golds]))
    buffer.name = "demo-scenes.zip"
    return buffer


def demo_seed(*, project: Project) -> None:
    """The demo study: the shipped scenes and the gold scenes, in both conditions."""
    project.config = Config(conditions=["observed", "counterfactual_only"]).model_dump(mode="json")
    project.instructions = DEMO_INSTRUCTIONS
    # Each simulated person does a dozen scenes; every item wants 3 answers, so some are left
    # for a visitor who opens the participant link.
    project.overlap = 3
    project.items_per_participant = 12
    project.save(update_fields=["config", "instructions", "overlap", "items_per_participant"])
    report = scenes_import(project=project, upload=demo_zip())
    if not report.ok:
        raise RuntimeError(f"the demo scenes did not import: {report.errors[:3]}")


# --- simulated participants ----------------------------------------------------------------

# How often a simulated participant gets a yes/no right, per condition: better than chance,
# better with A → B to learn the hidden confounders from; gold scenes nearly always.
SIMULATED_ACCURACY = {"observed": 0.8, "counterfactual_only": 0.68}
SIMULATED_CLICK_SD = {"observed": 0.45, "counterfactual_only": 0.8}
GOLD_ACCURACY = 0.96


def answer_simulate(*, item: Item, rng: random.Random) -> dict[str, Any]:
    """A noisy, better-than-chance participant who knows the true outcome: each yes/no is
    right with the condition's accuracy; a click lands near the true final position."""
    payload = item.payload
    scene = Scene.objects.get(project_id=item.project_id, example_id=payload["example_id"])
    example = scene.example()
    truth = scoring.truth_of(example)
    is_gold = item.kind != Item.Kind.REGULAR
    accuracy = GOLD_ACCURACY if is_gold else SIMULATED_ACCURACY[payload["condition"]]
    if truth.question == "tower":
        moves = {
            example.slot_color(k): bool(truth.moves[k]) == (rng.random() < accuracy)
            for k in np.flatnonzero(truth.present)
        }
        return {"moves": moves, "falls": truth.falls == (rng.random() < accuracy)}
    assert truth.target is not None
    sd = 0.15 if is_gold else SIMULATED_CLICK_SD[payload["condition"]]
    x, y = truth.final_xy[truth.target]
    (x0, x1), (y0, y1) = payload["plane"]["x"], payload["plane"]["y"]
    answer: dict[str, Any] = {
        "x": round(min(x1, max(x0, x + rng.gauss(0, sd))), 3),
        "y": round(min(y1, max(y0, y + rng.gauss(0, sd))), 3),
    }
    if payload.get("contact_choices"):
        right = rng.random() < accuracy
        answer["first_contact"] = (
            truth.first_contact if right else rng.choice(payload["contact_choices"])
        )
    return answer
