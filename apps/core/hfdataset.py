"""A project as a Hugging Face dataset: three configs, each in Arrow and Parquet, a card, a zip.

Layout of the folder (and of the zip, under ``<slug>/``)::

    README.md                     the card; its YAML names the configs and their features
    dataset_dict.json             {"splits": ["items", "annotations", "aggregated"]}
    items/train-00000.parquet     the shards ``load_dataset(folder, "items")`` and
    items/data-00000.arrow        ``load_dataset("parquet", ...)`` read, and their Arrow twins
    items/state.json              that ``datasets.load_from_disk(folder)`` maps (one
    items/dataset_info.json       DatasetDict whose keys are the three configs)
    annotations/…  aggregated/…   the same for the other two configs
    media/<item pk>/<key><ext>    the ItemMedia files the Audio/Image columns point at

Both readers get the same rows: every page of rows is written once as a record batch to a
Parquet writer and to an Arrow stream writer, so memory holds one page, never a config.
Media columns hold paths relative to the folder (``datasets`` opens them from the working
directory; the card says so).

**Fixed at the first run** (``job.params["plan"]``): the highest item and answer id (the export
is the project as it was when it started, so a resumed export equals an uninterrupted one),
the class names, the media columns and the features. **The cursor** (``params["cursor"]``)
records each finished shard; a killed worker's successor continues after the last one.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import posixpath
import shutil
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from . import registry
from .jobs import JobDone, job_log, job_progress
from .models import Annotation, Item, ItemMedia, Job, Participant, Project

JOB_KIND = "hf_export"
SHARD_ROWS = 10_000
BATCH_ROWS = 2_000
MAX_CLASSES = 1000  # more distinct labels than this: a free-text label, not a ClassLabel
CONFIGS = ("items", "annotations", "aggregated")
# The formats ``datasets`` decodes as Audio (soundfile/torchcodec) and Image (Pillow).
AUDIO_TYPES = frozenset({"audio/wav", "audio/flac", "audio/ogg", "audio/mpeg"})
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
ITEM_COLUMNS = ("item_id", "kind", "payload", "gold_value", "media")
DAWID_SKENE_CITATION = """@article{dawid1979maximum,
  title = {Maximum Likelihood Estimation of Observer Error-Rates Using the {EM} Algorithm},
  author = {Dawid, A. P. and Skene, A. M.},
  journal = {Journal of the Royal Statistical Society. Series C (Applied Statistics)},
  volume = {28}, number = {1}, pages = {20--28}, year = {1979}
}"""


def exports_dir() -> Path:
    return Path(settings.VAR_DIR) / "exports"


def export_folder(job: Job) -> Path:
    return exports_dir() / f"hf-{job.pk}"


def export_zip(job: Job) -> Path:
    return exports_dir() / f"hf-{job.pk}.zip"


# --- pseudonyms -----------------------------------------------------------------------------


def project_salt(project: Project) -> bytes:
    """The project's stored pseudonym key (``Project.pseudonym_salt``, never exported)."""
    return bytes.fromhex(project.pseudonym_salt)


def pseudonym(salt: bytes, source: str, external_id: str) -> str:
    """A stable, irreversible name for a participant: HMAC-SHA256 of ``source:external_id``."""
    digest = hmac.new(salt, f"{source}:{external_id}".encode(), hashlib.sha256).hexdigest()
    return f"p-{digest[:20]}"


# --- the plan: what the first run fixes -----------------------------------------------------


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _label_text(label: Any) -> str | None:
    if label is None:
        return None
    return label if isinstance(label, str) else _dumps(registry.json_ready(label))


def class_names(project: Project, until: int | None = None) -> list[str] | None:
    """The label set of a nominal task type, from the distinct answers (up to id ``until``);
    None when not nominal or there are too many distinct labels to be classes."""
    task_type = registry.get(project.task_type)
    if getattr(task_type, "level_of_measurement", "nominal") != "nominal":
        return None
    answers = Annotation.objects.filter(project=project)
    if until is not None:
        answers = answers.filter(pk__lte=until)
    names: set[str] = set()
    for value in answers.values_list("value", flat=True).distinct().iterator(chunk_size=2000):
        label = _label_text(task_type.label_of(value))
        if label is not None:
            names.add(label)
        if len(names) > MAX_CLASSES:
            return None
    return sorted(names) or None


def media_columns(project: Project, until: int | None = None) -> dict[str, list[str]]:
    """{media key: [column, "audio" | "image"]} for the keys whose every file ``datasets``
    can decode as one kind; other media (video, arrays) stay in the ``media`` path map.

    The column is the key, except ``main`` (the key of a single path), which is named by its
    kind (``audio``, ``image``); a name already taken gets a ``media_`` prefix.
    """
    media = ItemMedia.objects.filter(item__project=project)
    if until is not None:
        media = media.filter(item__pk__lte=until)
    types: dict[str, set[str]] = {}
    for key, content_type in media.values_list("key", "content_type").distinct():
        types.setdefault(key, set()).add(content_type)
    taken = set(ITEM_COLUMNS)
    columns: dict[str, list[str]] = {}
    for key in sorted(types):
        kind = (
            "audio" if types[key] <= AUDIO_TYPES else "image" if types[key] <= IMAGE_TYPES else None
        )
        if kind is None:
            continue
        name = kind if key == "main" else key
        if name in taken:
            name = f"media_{key}" if f"media_{key}" not in taken else f"media_{key}_{kind}"
        taken.add(name)
        columns[key] = [name, kind]
    return columns


def _features(config: str, names: list[str] | None, media: dict[str, list[str]]) -> dict:
    """The ``datasets`` features of a config as ``Features.to_dict()`` (JSON, for the plan)."""
    from datasets import Audio, ClassLabel, Features, Image, List, Value

    label = ClassLabel(names=names) if names else Value("string")
    if config == "items":
        spec = {name: Value("string") for name in ITEM_COLUMNS}
        spec.update({col: Audio() if kind == "audio" else Image() for col, kind in media.values()})
    elif config == "annotations":
        spec = {
            "annotation_id": Value("int64"),
            "item_id": Value("string"),
            "participant": Value("string"),
            "value": Value("string"),
            "label": label,
            "duration_ms": Value("int64"),
            "blocked": Value("bool"),
            "created_at": Value("string"),
        }
    else:
        spec = {"item_id": Value("string"), "label": label, "posterior": Value("float64")}
        if names:
            spec["probabilities"] = List(Value("float64"))
            spec["votes"] = List(Value("int64"))
        spec.update(vote_share=Value("float64"), answers=Value("int64"), method=Value("string"))
    return Features(spec).to_dict()


def _plan_make(project: Project, shard_rows: int) -> dict:
    items = Item.objects.filter(project=project).aggregate(top=Max("pk"))["top"] or 0
    answers = Annotation.objects.filter(project=project).aggregate(top=Max("pk"))["top"] or 0
    names = class_names(project, answers)
    media = media_columns(project, items)
    # As JSON text: a jsonb column keeps no key order, and the order is the columns' order.
    features: dict[str, str | None] = {
        config: json.dumps(_features(config, names, media)) for config in CONFIGS
    }
    if registry.get(project.task_type).aggregated_records(project) is not None:
        features["aggregated"] = None  # read from the task type's first rows
    return {
        "until": {"items": items, "annotations": answers},
        "class_names": names,
        "media": media,
        "features": features,
        "shard_rows": shard_rows,
        "total_rows": 2 * Item.objects.filter(project=project, pk__lte=items).count()
        + Annotation.objects.filter(project=project, pk__lte=answers).count(),
    }


def plan_features(plan: dict, config: str) -> dict | None:
    """A config's features as ``Features.to_dict()``; None until a task type's rows fix them."""
    text = plan["features"][config]
    return None if text is None else json.loads(text)


def _params_save(job: Job, **changes: Any) -> None:
    job.params = {**job.params, **changes}
    Job.objects.filter(pk=job.pk).update(params=job.params)


# --- rows, one page at a time ---------------------------------------------------------------
# Each generator yields (rows, position): ``position`` is what the cursor keeps to continue
# after this page (the last row's id, or for ``aggregated`` the rows written so far).


def _media_copy(media: ItemMedia, folder: Path) -> str:
    ext = posixpath.splitext(media.file.name)[1].lower()
    relative = f"media/{media.item_id}/{media.key}{ext}"
    target = folder / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    with media.file.open("rb") as source, open(target, "wb") as out:
        shutil.copyfileobj(source, out)
    return relative


def _item_pages(
    project: Project, plan: dict, after: int, folder: Path
) -> Iterator[tuple[list[dict], int]]:
    columns = plan["media"]
    while True:
        page = list(
            Item.objects.filter(project=project, pk__gt=after, pk__lte=plan["until"]["items"])
            .order_by("pk")
            .values_list("pk", "external_id", "kind", "payload", "gold_value")[: plan["shard_rows"]]
        )
        if not page:
            return
        paths: dict[int, dict[str, str]] = {}
        for m in ItemMedia.objects.filter(item_id__in=[row[0] for row in page]).order_by("pk"):
            paths.setdefault(m.item_id, {})[m.key] = _media_copy(m, folder)
        rows = []
        for pk, external_id, kind, payload, gold in page:
            mine = paths.get(pk, {})
            row = {
                "item_id": external_id,
                "kind": kind,
                "payload": _dumps(payload or {}),
                "gold_value": None if gold is None else _dumps(gold),
                "media": _dumps(mine),
            }
            for key, (column, _kind) in columns.items():
                row[column] = {"bytes": None, "path": mine[key]} if key in mine else None
            rows.append(row)
        after = page[-1][0]
        yield rows, after


def _annotation_pages(
    project: Project, plan: dict, after: int, salt: bytes
) -> Iterator[tuple[list[dict], int]]:
    label_of = registry.get(project.task_type).label_of
    names = plan["class_names"]
    index = {name: i for i, name in enumerate(names or [])}
    while True:
        page = list(
            Annotation.objects.filter(
                project=project, pk__gt=after, pk__lte=plan["until"]["annotations"]
            )
            .order_by("pk")
            .values_list(
                "pk",
                "item__external_id",
                "participant__source",
                "participant__external_id",
                "participant__status",
                "value",
                "duration_ms",
                "created_at",
            )[: plan["shard_rows"]]
        )
        if not page:
            return
        rows = []
        for pk, item_id, source, external_id, status, value, duration, created in page:
            label = _label_text(label_of(value))
            rows.append(
                {
                    "annotation_id": pk,
                    "item_id": item_id,
                    "participant": pseudonym(salt, source, external_id),
                    "value": _dumps(value),
                    "label": index.get(label) if names and label is not None else label,
                    "duration_ms": duration,
                    "blocked": status == Participant.Status.BLOCKED,
                    "created_at": created.isoformat(),
                }
            )
        after = page[-1][0]
        yield rows, after


def counted_labels(project: Project, until: int) -> list[tuple[int, int, str]]:
    """(item id, participant id, label text) of the answers agreement and aggregation count:
    regular items, participants not blocked, a label, answer id up to ``until``."""
    label_of = registry.get(project.task_type).label_of
    answers = (
        Annotation.objects.filter(project=project, pk__lte=until, item__kind=Item.Kind.REGULAR)
        .exclude(participant__status=Participant.Status.BLOCKED)
        .order_by("pk")
        .values_list("item_id", "participant_id", "value")
    )
    rows = []
    for item_id, participant_id, value in answers.iterator(chunk_size=5000):
        label = _label_text(label_of(value))
        if label is not None:
            rows.append((item_id, participant_id, label))
    return rows


def _nominal_rows(project: Project, plan: dict) -> Iterator[dict]:
    """One row per item with counted answers: Dawid–Skene's label and posterior (crowd-kit),
    the posterior of every class and the votes, in ``class_names`` order."""
    import pandas as pd
    from crowdkit.aggregation import DawidSkene

    if not registry.get(project.task_type).aggregation_methods:
        return
    frame = pd.DataFrame(
        counted_labels(project, plan["until"]["annotations"]), columns=["task", "worker", "label"]
    )
    if frame.empty:
        return
    names = plan["class_names"]
    order = names or sorted(frame["label"].unique())
    proba = DawidSkene(n_iter=100).fit_predict_proba(frame)
    tasks = sorted(proba.index)
    # Plain arrays in ``tasks`` × ``order``: a pandas lookup per item is slow at 100k items.
    posteriors = proba.reindex(index=tasks, columns=order, fill_value=0.0).to_numpy(float)
    votes = (
        frame.groupby(["task", "label"])
        .size()
        .unstack(fill_value=0)
        .reindex(index=tasks, columns=order, fill_value=0)
        .to_numpy(int)
    )
    del frame, proba
    ids = dict(Item.objects.filter(pk__in=tasks).values_list("pk", "external_id"))
    for task, row, counts in zip(tasks, posteriors.tolist(), votes.tolist(), strict=True):
        top = row.index(max(row))  # a tie goes to the label that sorts first
        answers = sum(counts)
        record = {
            "item_id": ids[task],
            "label": top if names else order[top],
            "posterior": row[top],
            "vote_share": counts[top] / answers,
            "answers": answers,
            "method": "dawid_skene",
        }
        if names:
            record.update(probabilities=row, votes=counts)
        yield record


def _aggregated_pages(
    project: Project, plan: dict, written: int
) -> Iterator[tuple[list[dict], int]]:
    supplied = registry.get(project.task_type).aggregated_records(project)
    rows: Iterable[dict] = _nominal_rows(project, plan) if supplied is None else supplied
    rest = itertools.islice(iter(rows), written, None)
    while page := list(itertools.islice(rest, plan["shard_rows"])):
        written += len(page)
        yield page, written


# --- writing --------------------------------------------------------------------------------


def _schema(features: dict) -> pa.Schema:
    """The Arrow schema with ``datasets``' metadata, which restores ClassLabel/Audio/Image."""
    from datasets import Features

    return Features.from_dict(features).arrow_schema


def _features_from_rows(rows: list[dict]) -> dict:
    """Features read from a task type's rows; a column with only nulls so far is text."""
    from datasets import Features, Value

    inferred = Features.from_arrow_schema(pa.Table.from_pylist(rows).schema)
    for name, feature in inferred.items():
        if isinstance(feature, Value) and feature.dtype == "null":
            inferred[name] = Value("string")
    return inferred.to_dict()


def _write_shard(folder: Path, config: str, number: int, schema: pa.Schema, rows: list[dict]):
    """One shard as ``train-NNNNN.parquet`` and ``data-NNNNN.arrow`` (an Arrow stream, what
    ``load_from_disk`` maps), written batch by batch through temporary names, so a kill
    leaves no half shard under a real name."""
    parquet = folder / config / f"train-{number:05d}.parquet"
    arrow = folder / config / f"data-{number:05d}.arrow"
    parquet_tmp, arrow_tmp = (p.with_name(p.name + ".partial") for p in (parquet, arrow))
    with (
        pq.ParquetWriter(parquet_tmp, schema) as parquet_out,
        pa.OSFile(str(arrow_tmp), "wb") as sink,
        pa.ipc.new_stream(sink, schema) as arrow_out,
    ):
        for start in range(0, len(rows), BATCH_ROWS):
            try:
                batch = pa.RecordBatch.from_pylist(rows[start : start + BATCH_ROWS], schema)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise ValueError(f"{config}: a row does not fit the columns ({exc})") from exc
            parquet_out.write_batch(batch)
            arrow_out.write_batch(batch)
    parquet_tmp.replace(parquet)
    arrow_tmp.replace(arrow)


def _config_close(folder: Path, config: str, shards: int, features: dict, project: Project):
    """``state.json`` and ``dataset_info.json``: what makes the config's folder a Dataset."""
    from datasets import DatasetInfo, Features

    files = [{"filename": f"data-{n:05d}.arrow"} for n in range(shards)]
    fingerprint = hashlib.sha256(f"{project.pk}:{folder.name}:{config}".encode()).hexdigest()
    state: dict[str, Any] = {
        "_data_files": files,
        "_fingerprint": fingerprint[:16],
        "_format_columns": None,
        "_format_kwargs": {},
        "_format_type": None,
        "_output_all_columns": False,
        "_split": config,
    }
    (folder / config / "state.json").write_text(json.dumps(state, indent=2), encoding="utf-8")
    info = DatasetInfo(
        description=f"{project.title}: {config}",
        features=Features.from_dict(features),
        citation=registry.get(project.task_type).citation,
    )
    info.write_to_directory(str(folder / config))


def _zip(folder: Path, archive: Path, root: str) -> None:
    partial = archive.with_name(archive.name + ".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.endswith(".partial"):
                zf.write(path, f"{root}/{path.relative_to(folder).as_posix()}")
    partial.replace(archive)


# --- the run --------------------------------------------------------------------------------


class _Stopped(Exception):
    """The job was cancelled, or another execution took it over: stop writing."""


def _export_config(
    job: Job, config: str, plan: dict, cursor: dict, folder: Path, salt: bytes
) -> dict:
    """Write the config's remaining shards, then close it; returns the updated cursor."""
    project = job.project
    (folder / config).mkdir(exist_ok=True)
    position = cursor["after"].get(config, 0)
    if config == "items":
        pages = _item_pages(project, plan, position, folder)
    elif config == "annotations":
        pages = _annotation_pages(project, plan, position, salt)
    else:
        pages = _aggregated_pages(project, plan, position)
    number = cursor["shards"].get(config, 0)
    for rows, position in pages:
        if plan_features(plan, config) is None:
            inferred = json.dumps(_features_from_rows(rows))
            plan = {**plan, "features": {**plan["features"], config: inferred}}
            _params_save(job, plan=plan)
        features = plan_features(plan, config)
        assert features is not None  # inferred just above when the plan had none
        _write_shard(folder, config, number, _schema(features), rows)
        number += 1
        done = cursor["rows"] + len(rows)
        cursor = {
            **cursor,
            "shards": {**cursor["shards"], config: number},
            "after": {**cursor["after"], config: position},
            "rows": done,
        }
        _params_save(job, cursor=cursor)
        message = f"Wrote {config} shard {number}"
        if not job_progress(job, 0.9 * done / max(plan["total_rows"], 1), message):
            raise _Stopped
    features = plan_features(plan, config) or _features_from_rows([{"item_id": None}])
    if number == 0:  # an empty config still needs one (schema-only) shard to load
        _write_shard(folder, config, 0, _schema(features), [])
        number = 1
    _config_close(folder, config, number, features, project)
    cursor = {**cursor, "closed": [*cursor["closed"], config]}
    _params_save(job, cursor=cursor)
    return cursor


def hf_export_write(job: Job) -> JobDone | None:
    """Write (or continue) the export of the job's project; run under ``@job_task``.

    Safe to deliver again: a later attempt keeps the shards the cursor lists and writes the
    rest. Returns None when the job was cancelled (its folder is removed) or taken over.
    """
    project = job.project
    folder = export_folder(job)
    folder.mkdir(parents=True, exist_ok=True)
    plan = job.params.get("plan")
    if plan is None:
        plan = _plan_make(project, int(job.params.get("shard_rows", SHARD_ROWS)))
        _params_save(job, plan=plan)
    cursor = job.params.get("cursor") or {"shards": {}, "after": {}, "rows": 0, "closed": []}
    if job.attempts > 1:
        job_log(job, f"Attempt {job.attempts}: continuing after {cursor['rows']} rows.")
    salt = project_salt(project)
    try:
        for config in CONFIGS:
            if config not in cursor["closed"]:
                cursor = _export_config(job, config, plan, cursor, folder, salt)
                plan = job.params["plan"]
        if not job_progress(job, 0.95, "Writing the card and packing the zip"):
            raise _Stopped
    except _Stopped:
        job.refresh_from_db(fields=["status"])
        if job.status == Job.Status.CANCELLED:
            shutil.rmtree(folder, ignore_errors=True)
        return None
    counts = {
        config: sum(
            pq.ParquetFile(p).metadata.num_rows
            for p in sorted((folder / config).glob("train-*.parquet"))
        )
        for config in CONFIGS
    }
    (folder / "dataset_dict.json").write_text(json.dumps({"splits": list(CONFIGS)}))
    (folder / "README.md").write_text(dataset_card(project, plan, counts), encoding="utf-8")
    _zip(folder, export_zip(job), project.slug)
    return JobDone(
        result={"counts": counts, "shards": cursor["shards"], "zip": export_zip(job).name},
        message=f"{counts['annotations']} answers, {counts['items']} items",
    )


# --- the card -------------------------------------------------------------------------------


def agreement_alpha(rows: list[tuple[int, int, str]], level: str) -> float | None:
    """Krippendorff's alpha from per-item value counts (items × values, not the dense
    workers × items matrix, which would not fit for a large project); None without overlap."""
    import krippendorff
    import pandas as pd

    frame = pd.DataFrame(rows, columns=["task", "worker", "label"])
    if frame.empty or frame.groupby("task").size().max() < 2:
        return None
    values = sorted(frame["label"].unique())
    if len(values) < 2:
        return 1.0
    if level != "nominal":
        values = sorted(values, key=float)
    table = frame.groupby(["task", "label"]).size().unstack(fill_value=0)
    counts = table.reindex(columns=values, fill_value=0).to_numpy(dtype=float)
    domain = None if level == "nominal" else [float(v) for v in values]
    return float(
        krippendorff.alpha(
            value_counts=counts,
            value_domain=domain,
            level_of_measurement=level,  # type: ignore[arg-type]
        )
    )


def _yaml_head(plan: dict) -> str:
    import yaml
    from datasets import Features

    head = {
        "configs": [
            {
                "config_name": config,
                "data_files": [{"split": "train", "path": f"{config}/train-*.parquet"}],
            }
            for config in CONFIGS
        ],
        # No ``splits`` block: ``datasets`` wants its in-memory num_bytes there, which only it
        # can compute; the counts are in the card's text.
        "dataset_info": [
            {
                "config_name": config,
                "features": Features.from_dict(plan_features(plan, config))._to_yaml_list(),
            }
            for config in CONFIGS
            if plan["features"][config]
        ],
    }
    return "---\n" + yaml.safe_dump(head, sort_keys=False, allow_unicode=True) + "---\n"


def quality_lines(project: Project) -> list[str]:
    """The quality-control rules the project applied, as the card's bullet points."""
    lines = []
    if project.gold_rate > 0:
        lines.append(f"- Gold / attention-check items: {project.gold_rate:.0%} of served items.")
        if project.gold_block_below is not None:
            lines.append(
                f"- Gold rule: a participant whose gold accuracy fell below "
                f"{project.gold_block_below:.0%} after {project.gold_block_after} gold answers "
                "was blocked."
            )
    else:
        lines.append("- No gold items were served.")
    if project.fast_block_below_s is not None:
        lines.append(
            f"- Fast-answer rule: blocked when the median time per item was under "
            f"{project.fast_block_below_s:g} s after {project.fast_block_after} answers."
        )
    else:
        lines.append("- Fast-answer rule: off.")
    if project.constant_block_after:
        lines.append(
            f"- Constant-answer rule: blocked when the last {project.constant_block_after} "
            "answers all had the same label."
        )
    else:
        lines.append("- Constant-answer rule: off.")
    people = Participant.objects.filter(project=project)
    blocked = people.filter(status=Participant.Status.BLOCKED).count()
    lines.append(
        f"- {blocked} of {people.count()} participants were blocked (by a rule or a "
        "researcher); their answers are in `annotations` with `blocked = true` and count "
        "neither in agreement nor in aggregation."
    )
    return lines


def _aggregation_text(plan: dict, counts: dict[str, int]) -> str:
    if counts["aggregated"] == 0:
        return "No aggregated rows: this task type has no aggregation, or no counted answers."
    if "posterior" not in (plan_features(plan, "aggregated") or {}):
        return (
            "`aggregated` was computed by the task type itself; each row names its method in "
            "`method`."
        )
    return (
        "`aggregated` has one row per regular item with counted answers. `label` is the "
        "class with the highest Dawid–Skene posterior (Dawid & Skene 1979; crowd-kit's "
        "`DawidSkene`, 100 EM iterations, fitted on all counted answers at once), "
        "`posterior` its probability, `probabilities` the posterior of every class and "
        "`votes` the answers per class (both in class order), `vote_share` the share of the "
        "item's answers that chose `label`, `answers` how many answers counted. Gold items "
        "and blocked participants' answers are left out; a tie goes to the class that sorts "
        "first."
    )


def dataset_card(project: Project, plan: dict, counts: dict[str, int]) -> str:
    task_type = registry.get(project.task_type)
    level = getattr(task_type, "level_of_measurement", "nominal")
    alpha = agreement_alpha(counted_labels(project, plan["until"]["annotations"]), level)
    alpha_text = "not enough overlap" if alpha is None else f"{alpha:.3f}"
    media = ", ".join(f"`{col}` ({kind})" for col, kind in plan["media"].values())
    by_core = "posterior" in (plan_features(plan, "aggregated") or {})
    citations = [task_type.citation.strip(), DAWID_SKENE_CITATION if by_core else ""]
    citations = [c for c in citations if c]
    body = [
        f"# {project.title}",
        "",
        f"Exported from Chorus on {timezone.now():%Y-%m-%d %H:%M} UTC.",
        "",
        "## Loading",
        "",
        "```python",
        "import datasets",
        'ds = datasets.load_from_disk(".")  # a DatasetDict: items, annotations, aggregated',
        'annotations = datasets.load_dataset(".", "annotations", split="train")',
        "```",
        "",
        (
            f"Media columns: {media}. They hold paths relative to this folder "
            "(`media/<item>/<key>.<ext>`): decode them with this folder as the working "
            "directory."
            if media
            else "This project has no audio or image media."
        ),
        "",
        f"## Task: {task_type.title}",
        "",
        str(getattr(task_type, "description", "")),
        "",
        "## Instructions shown to participants",
        "",
        project.instructions or "(none)",
        "",
        "## Counts",
        "",
        f"- items: {counts['items']}",
        f"- answers: {counts['annotations']}",
        f"- aggregated items: {counts['aggregated']}",
        "",
        "## Agreement",
        "",
        f"Krippendorff's alpha ({level}), gold items and blocked participants excluded: "
        f"{alpha_text}.",
        "",
        "## Quality control",
        "",
        *quality_lines(project),
        "",
        "## Aggregation",
        "",
        _aggregation_text(plan, counts),
        "",
        "## Participants",
        "",
        "Participants appear only as pseudonyms (`participant`): an HMAC-SHA256 of their "
        "recruitment source and id under a random key stored with the project and never "
        "exported, so pseudonyms are stable within this project and cannot be joined across "
        "projects. Prolific and MTurk ids are not included.",
        "",
        "## Columns",
        "",
        "`value`, `payload` and `gold_value` are JSON text; `media` maps each media key to a "
        "file path inside this folder.",
        "",
        "## Citation",
        "",
        *(
            ["If you use this data, cite:", "", "```bibtex", "\n\n".join(citations), "```"]
            if citations
            else ["No paper to cite was given for this task type."]
        ),
        "",
    ]
    return _yaml_head(plan) + "\n".join(body)


# --- starting, listing, downloading ---------------------------------------------------------


def hf_export_start(*, project: Project, user, shard_rows: int = SHARD_ROWS) -> Job:
    """Queue an export of ``project`` (sent once the caller's transaction commits)."""
    from django.db import transaction

    from .jobs import job_create, job_enqueue
    from .tasks import hf_export

    with transaction.atomic():
        job = job_create(
            kind=JOB_KIND, project=project, user=user, params={"shard_rows": shard_rows}
        )
        job_enqueue(job, hf_export)
    return job


def hf_exports_for(project: Project):
    return Job.objects.filter(project=project, kind=JOB_KIND).order_by("-created_at")


def zip_response(job: Job):
    """The finished export's zip as a download; Http404 while it is not there."""
    from django.http import FileResponse, Http404

    archive = export_zip(job)
    if job.status != Job.Status.SUCCEEDED or not archive.exists():
        raise Http404("This export is not finished.")
    return FileResponse(
        open(archive, "rb"),  # noqa: SIM115 - FileResponse closes it
        as_attachment=True,
        filename=f"{job.project.slug}-hf-dataset-{job.pk}.zip",
        content_type="application/zip",
    )
