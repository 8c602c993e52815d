"""A project as a Hugging Face dataset: Parquet shards in three configs, a card, a zip.

Layout (what ``datasets.load_dataset(folder, "<config>")`` and ``load_dataset("parquet",
data_files=...)`` read)::

    README.md                      the card; its YAML names the configs and their features
    items/train-00000.parquet      one row per item (payload as JSON, media as relative paths)
    annotations/train-00000.parquet  one row per answer, participants pseudonymised
    aggregated/train-00000.parquet   one row per item: label, confidence, method
    media/<item pk>/<key><ext>     the ItemMedia files

Shards hold ``shard_rows`` rows and are written batch by batch, so memory stays flat. The Job
keeps a cursor (``params["cursor"]``: the finished shards and the last row id of each config),
so a run that was killed continues after its last finished shard instead of starting over.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import posixpath
import shutil
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.utils import timezone

from . import registry
from .jobs import job_fail, job_finish, job_log, job_progress, job_start
from .models import Annotation, Item, ItemMedia, Job, Participant, Project

JOB_KIND = "hf_export"
SHARD_ROWS = 10_000
MAX_ATTEMPTS = 3
MAX_CLASSES = 1000  # more distinct labels than this: a free-text label, not a ClassLabel
CONFIGS = ("items", "annotations", "aggregated")


class Cancelled(Exception):
    pass


def exports_dir() -> Path:
    return Path(settings.VAR_DIR) / "exports"


def export_folder(job: Job) -> Path:
    return exports_dir() / f"hf-{job.pk}"


def export_zip(job: Job) -> Path:
    return exports_dir() / f"hf-{job.pk}.zip"


def _salt(project: Project) -> bytes:
    # Per project (so pseudonyms cannot be joined across projects) and never stored or
    # exported: derived from the secret key and the project's id.
    return hmac.new(
        settings.SECRET_KEY.encode(), f"chorus-pseudonym:{project.pk}".encode(), hashlib.sha256
    ).digest()


def pseudonym(salt: bytes, source: str, external_id: str) -> str:
    """A stable, irreversible name for a participant: HMAC-SHA256 of ``source:external_id``."""
    digest = hmac.new(salt, f"{source}:{external_id}".encode(), hashlib.sha256).hexdigest()
    return f"p-{digest[:20]}"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _label_text(label: Any) -> str | None:
    if label is None:
        return None
    return label if isinstance(label, str) else _dumps(registry.json_ready(label))


def class_names(project: Project) -> list[str] | None:
    """The label set of a nominal task type, from the distinct answers; None when not nominal
    or there are too many distinct labels to be classes."""
    task_type = registry.get(project.task_type)
    if getattr(task_type, "level_of_measurement", "nominal") != "nominal":
        return None
    names: set[str] = set()
    values = Annotation.objects.filter(project=project).values_list("value", flat=True)
    for value in values.distinct().iterator(chunk_size=2000):
        label = _label_text(task_type.label_of(value))
        if label is not None:
            names.add(label)
        if len(names) > MAX_CLASSES:
            return None
    return sorted(names) or None


# --- features -------------------------------------------------------------------------------


def _value(dtype: str) -> dict:
    return {"dtype": dtype, "_type": "Value"}


def _label_feature(names: list[str] | None) -> dict:
    return {"names": names, "_type": "ClassLabel"} if names else _value("string")


def features_of(config: str, names: list[str] | None) -> dict[str, dict]:
    if config == "items":
        return {
            "item_id": _value("string"),
            "kind": _value("string"),
            "payload": _value("string"),
            "gold_value": _value("string"),
            "media": _value("string"),
        }
    if config == "annotations":
        return {
            "annotation_id": _value("int64"),
            "item_id": _value("string"),
            "participant": _value("string"),
            "value": _value("string"),
            "label": _label_feature(names),
            "duration_ms": _value("int64"),
            "blocked": _value("bool"),
            "created_at": _value("string"),
        }
    return {
        "item_id": _value("string"),
        "label": _label_feature(names),
        "confidence": _value("float64"),
        "answers": _value("int64"),
        "method": _value("string"),
    }


_ARROW = {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_()}


def arrow_schema(features: dict[str, dict]) -> pa.Schema:
    fields = [
        pa.field(name, pa.int64() if f["_type"] == "ClassLabel" else _ARROW[f["dtype"]])
        for name, f in features.items()
    ]
    # ``datasets`` restores the typed features (ClassLabel) from this metadata.
    meta = {b"huggingface": json.dumps({"info": {"features": features}}).encode()}
    return pa.schema(fields, metadata=meta)


# --- rows, one page at a time ---------------------------------------------------------------


def _item_pages(project: Project, after: int, size: int, folder: Path) -> Iterator[list[dict]]:
    while True:
        page = list(
            Item.objects.filter(project=project, pk__gt=after)
            .order_by("pk")
            .values_list("pk", "external_id", "kind", "payload", "gold_value")[:size]
        )
        if not page:
            return
        media: dict[int, dict[str, str]] = {}
        for m in ItemMedia.objects.filter(item_id__in=[row[0] for row in page]).order_by("pk"):
            ext = posixpath.splitext(m.file.name)[1]
            relative = f"media/{m.item_id}/{m.key}{ext}"
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            with m.file.open("rb") as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)
            media.setdefault(m.item_id, {})[m.key] = relative
        rows = [
            {
                "_pk": pk,
                "item_id": external_id,
                "kind": kind,
                "payload": _dumps(payload or {}),
                "gold_value": None if gold is None else _dumps(gold),
                "media": _dumps(media.get(pk, {})),
            }
            for pk, external_id, kind, payload, gold in page
        ]
        after = page[-1][0]
        yield rows


def _annotation_pages(
    project: Project, after: int, size: int, salt: bytes, names: list[str] | None
) -> Iterator[list[dict]]:
    label_of = registry.get(project.task_type).label_of
    index = {name: i for i, name in enumerate(names or [])}
    while True:
        page = list(
            Annotation.objects.filter(project=project, pk__gt=after)
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
            )[:size]
        )
        if not page:
            return
        rows = []
        for pk, item_id, source, external_id, status, value, duration, created in page:
            label = _label_text(label_of(value))
            rows.append(
                {
                    "_pk": pk,
                    "annotation_id": pk,
                    "item_id": item_id,
                    "participant": pseudonym(salt, source, external_id),
                    "value": _dumps(value),
                    "label": (index.get(label) if label is not None else None) if names else label,
                    "duration_ms": duration,
                    "blocked": status == Participant.Status.BLOCKED,
                    "created_at": created.isoformat(),
                }
            )
        after = page[-1][0]
        yield rows


def _aggregated_pages(
    project: Project, after: int, size: int, method: str, names: list[str] | None
) -> Iterator[list[dict]]:
    from .quality import aggregate, answers_frame

    result = aggregate(answers_frame(project), method)
    ids = dict(Item.objects.filter(project=project).values_list("pk", "external_id"))
    index = {name: i for i, name in enumerate(names or [])}
    keys = [pk for pk in sorted(result) if pk > after]
    for start in range(0, len(keys), size):
        rows = []
        for pk in keys[start : start + size]:
            agg = result[pk]
            label = _label_text(agg.label)
            rows.append(
                {
                    "_pk": pk,
                    "item_id": ids.get(pk, str(pk)),
                    "label": (index.get(label) if label is not None else None) if names else label,
                    "confidence": round(agg.confidence, 6),
                    "answers": agg.n,
                    "method": method,
                }
            )
        yield rows


# --- the run --------------------------------------------------------------------------------


def _write_shard(path: Path, schema: pa.Schema, rows: list[dict], batch: int = 2000) -> None:
    """Write one shard in record batches, through a temporary name (a kill leaves no half
    shard under the real name)."""
    partial = path.with_suffix(".parquet.partial")
    with pq.ParquetWriter(partial, schema) as writer:
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            writer.write_batch(
                pa.record_batch(
                    [pa.array([r[f.name] for r in chunk], type=f.type) for f in schema], schema
                )
            )
    partial.replace(path)


def _save_cursor(job: Job, cursor: dict) -> None:
    job.params = {**job.params, "cursor": cursor}
    Job.objects.filter(pk=job.pk).update(params=job.params)


def aggregation_method(project: Project) -> registry.AggregationMethod | None:
    methods = registry.get(project.task_type).aggregation_methods
    return methods[0] if methods else None


def hf_export_run(
    *, job_id: int, shard_rows: int = SHARD_ROWS, on_shard: Callable[[str], None] | None = None
) -> None:
    """Write (or continue) the export of the job's project; safe to deliver twice.

    ``on_shard(name)`` is called after each finished shard (tests interrupt a run there).
    """
    job = Job.objects.select_related("project").filter(pk=job_id).first()
    if job is None or job.status in (Job.Status.SUCCEEDED, Job.Status.CANCELLED):
        return
    if job.attempts >= MAX_ATTEMPTS:
        job_fail(job, f"Gave up after {job.attempts} attempts: the worker was lost each time.")
        return
    job_start(job)
    project = job.project
    folder = export_folder(job)
    folder.mkdir(parents=True, exist_ok=True)
    cursor = job.params.get("cursor") or {"shards": [], "after": {}}
    if cursor["shards"]:
        job_log(job, f"Resuming after {len(cursor['shards'])} finished shards.")
    try:
        names = job.params.get("class_names")
        if "class_names" not in job.params:
            # Fixed at the first run: a resumed run must type its shards like the first.
            names = class_names(project)
            job.params = {**job.params, "class_names": names}
            Job.objects.filter(pk=job.pk).update(params=job.params)
        method = aggregation_method(project)
        salt = _salt(project)
        total_rows = (
            Item.objects.filter(project=project).count()
            + Annotation.objects.filter(project=project).count()
        ) or 1
        done_rows = [int(cursor.get("rows", 0))]

        def pages(config: str, after: int) -> Iterator[list[dict]]:
            if config == "items":
                return _item_pages(project, after, shard_rows, folder)
            if config == "annotations":
                return _annotation_pages(project, after, shard_rows, salt, names)
            if method is None:
                return iter(())
            return _aggregated_pages(project, after, shard_rows, method.key, names)

        for config in CONFIGS:
            schema = arrow_schema(features_of(config, names))
            (folder / config).mkdir(exist_ok=True)
            number = sum(1 for s in cursor["shards"] if s.startswith(f"{config}/"))
            for rows in pages(config, int(cursor["after"].get(config, 0))):
                name = f"{config}/train-{number:05d}.parquet"
                _write_shard(folder / name, schema, rows)
                number += 1
                done_rows[0] += len(rows) if config != "aggregated" else 0
                cursor = {
                    "shards": [*cursor["shards"], name],
                    "after": {**cursor["after"], config: rows[-1]["_pk"]},
                    "rows": done_rows[0],
                }
                _save_cursor(job, cursor)
                if not job_progress(job, 0.9 * done_rows[0] / total_rows, f"Wrote {name}"):
                    raise Cancelled
                if on_shard is not None:
                    on_shard(name)
            if number == 0:
                # An empty config still needs a (schema-only) shard to be loadable.
                _write_shard(folder / f"{config}/train-00000.parquet", schema, [])
        counts = {
            config: sum(
                pq.ParquetFile(p).metadata.num_rows
                for p in sorted((folder / config).glob("*.parquet"))
            )
            for config in CONFIGS
        }
        (folder / "README.md").write_text(
            dataset_card(project, names=names, method=method, counts=counts), encoding="utf-8"
        )
        if not job_progress(job, 0.95, "Packing the zip"):
            raise Cancelled
        archive = export_zip(job)
        partial = archive.with_suffix(".zip.partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(folder.rglob("*")):
                if path.is_file() and not path.name.endswith(".partial"):
                    zf.write(path, f"{project.slug}/{path.relative_to(folder).as_posix()}")
        partial.replace(archive)
        job_finish(
            job,
            result={"counts": counts, "shards": len(cursor["shards"]), "zip": archive.name},
            message=f"{counts['annotations']} answers, {counts['items']} items",
        )
    except Cancelled:
        shutil.rmtree(folder, ignore_errors=True)
    except Exception as exc:
        job_fail(job, f"The export stopped: {exc}. Start it again to continue.")
        raise


# --- the card -------------------------------------------------------------------------------


def _yaml_features(features: dict[str, dict]) -> list[str]:
    lines = []
    for name, f in features.items():
        lines.append(f"    - name: {name}")
        if f["_type"] == "ClassLabel":
            lines.append("      dtype:")
            lines.append("        class_label:")
            lines.append("          names:")
            lines.extend(f"            '{i}': {json.dumps(n)}" for i, n in enumerate(f["names"]))
        else:
            lines.append(f"      dtype: {f['dtype']}")
    return lines


def dataset_card(
    project: Project, *, names: list[str] | None, method, counts: dict[str, int]
) -> str:
    from .quality import answers_frame, krippendorff_alpha

    task_type = registry.get(project.task_type)
    level = getattr(task_type, "level_of_measurement", "nominal")
    alpha = krippendorff_alpha(answers_frame(project), level)
    head = ["---", "configs:"]
    for config in CONFIGS:
        head += [
            f"- config_name: {config}",
            "  data_files:",
            "  - split: train",
            f"    path: {config}/train-*.parquet",
        ]
    head.append("dataset_info:")
    for config in CONFIGS:
        head += [f"- config_name: {config}", "  features:"]
        # No ``splits`` block: ``datasets`` wants its in-memory num_bytes there, which only it
        # can compute; the counts are in the card's text.
        head += _yaml_features(features_of(config, names))
    head.append("---")
    alpha_text = "not enough overlap" if alpha is None else f"{alpha:.3f}"
    body = [
        f"# {project.title}",
        "",
        f"Exported from Chorus on {timezone.now():%Y-%m-%d %H:%M} UTC.",
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
        f"Krippendorff's alpha ({level}), blocked participants excluded: {alpha_text}.",
        "",
        "## Aggregation",
        "",
        (
            f"`aggregated` holds one {method.title} (`{method.key}`) label per item with its "
            "confidence; answers of blocked participants are left out."
            if method
            else "This task type has no aggregation method."
        ),
        "",
        "## Participants",
        "",
        "Participants appear only as pseudonyms (`participant`): an HMAC of their recruitment "
        "source and id with a secret per-project key. Prolific and MTurk ids are not included. "
        "`blocked` marks answers of participants the researchers blocked.",
        "",
        "## Columns",
        "",
        "`value`, `payload` and `gold_value` are JSON text; `media` maps each media key to a "
        "file path inside this folder.",
        "",
    ]
    return "\n".join(head + body)


def hf_export_start(*, project: Project, user) -> Job:
    """Queue an export of ``project`` (sent once the caller's transaction commits)."""
    from django.db import transaction

    from .jobs import job_create, job_enqueue
    from .tasks import hf_export

    with transaction.atomic():
        job = job_create(kind=JOB_KIND, project=project, user=user)
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
