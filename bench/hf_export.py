"""Hugging Face dataset export on PostgreSQL: time and peak memory, at two sizes.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/chorus_bench_hf .venv/bin/python \
        bench/hf_export.py [--answers 300000] [--small 30000] [--json out.json]

For each size, a fresh project of ``answers / 3`` items × 3 answers (300 participants, 4 % of
them blocked) is written with bulk SQL, then a child process runs the export task
(``apps.core.tasks.hf_export``, in process) and reports: seconds, CPU seconds, rows/s, the folder and
zip size, and its peak RSS (``VmHWM``) above the RSS it had just before the export (Django,
pandas, pyarrow and datasets already imported). The export pages rows, so the page part of
memory is flat; what grows with the project is the answers frame that Dawid–Skene and the
agreement need (three small columns per counted answer). The small size first shows how much.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import (  # noqa: E402
    assignments_seed,
    participants_seed,
    postgres_measure_main,
)

PARTICIPANTS = 300


def project_seed(answers: int) -> int:
    """A project with ``answers`` answers (3 per item) written in bulk; returns its id."""
    from django.db import connection, transaction

    from apps.core.models import Item, Project
    from apps.core.services import project_create
    from tests.factories import UserFactory

    Project.objects.filter(slug__startswith="hf-bench-").delete()
    user = UserFactory(username=f"hf-bench-{time.time_ns()}")
    project = project_create(
        owner=user,
        slug=f"hf-bench-{answers}-{int(time.time())}",
        title="HF export bench",
        task_type="bench-choice",
        status=Project.Status.LIVE,
    )
    items = answers // 3
    Item.objects.bulk_create(
        (
            Item(project=project, external_id=f"item-{n:07d}", payload={"text": f"Post {n}"})
            for n in range(items)
        ),
        batch_size=5000,
    )
    with transaction.atomic(), connection.cursor() as cur:
        participants_seed(cur, project.pk, PARTICIPANTS, blocked_every=25)
        assignments_seed(cur, project.pk, PARTICIPANTS, per_item=3, stride=7)
        cur.execute(
            """INSERT INTO core_annotation (assignment_id, project_id, item_id, participant_id,
                   value, duration_ms, client_token, created_at)
               SELECT a.id, %s, a.item_id, a.participant_id,
                      CASE WHEN (a.item_id + a.participant_id) %% 4 = 0
                           THEN '{"choice": "b"}'::jsonb ELSE '{"choice": "a"}'::jsonb END,
                      1000 + a.id %% 5000, md5(a.id::text), now()
               FROM core_assignment a JOIN core_item i ON i.id = a.item_id
               WHERE i.project_id = %s""",
            [project.pk, project.pk],
        )
        cur.execute("UPDATE core_item SET answer_count = 3 WHERE project_id = %s", [project.pk])
    return project.pk


def memory_kb(field: str) -> int:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process. Not ``ru_maxrss``: Linux keeps
    that across exec, so a child would report its parent's peak (the seeding)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def export_measure(project_id: int) -> dict:
    """In this (child) process: run the export task once and measure it."""
    import datasets  # noqa: F401 - imported before the baseline, as a worker has it
    import pandas  # noqa: F401

    from apps.core import hfdataset
    from apps.core.jobs import job_create
    from apps.core.models import Annotation, Job, Project
    from apps.core.tasks import hf_export

    project = Project.objects.get(pk=project_id)
    job = job_create(kind=hfdataset.JOB_KIND, project=project)
    before = memory_kb("VmRSS")
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    hf_export(job.pk)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    peak = memory_kb("VmHWM")
    job.refresh_from_db()
    if job.status != Job.Status.SUCCEEDED:
        raise SystemExit(f"export failed: {job.message}")
    folder = hfdataset.export_folder(job)
    answers = Annotation.objects.filter(project=project).count()
    return {
        "answers": answers,
        "items": job.result["counts"]["items"],
        "seconds": round(seconds, 1),
        "answers_per_s": round(answers / seconds),
        "folder_mb": round(sum(p.stat().st_size for p in folder.rglob("*")) / 2**20, 1),
        "zip_mb": round(hfdataset.export_zip(job).stat().st_size / 2**20, 1),
        "rss_before_mb": round(before / 1024, 1),
        "peak_rss_mb": round(peak / 1024, 1),
        "peak_above_before_mb": round((peak - before) / 1024, 1),
        "cpu_s": round(after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--answers", type=int, default=300_000)
    parser.add_argument("--small", type=int, default=30_000, help="0: skip the small run")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)  # a project id
    args = parser.parse_args()
    env = postgres_measure_main(args.child, export_measure, prefix="chorus-hf-bench-")
    if env is None:
        return
    from django.db import connection

    runs = []
    for size in [s for s in (args.small, args.answers) if s]:
        project_id = project_seed(size)
        connection.close()
        child = subprocess.run(
            [sys.executable, __file__, "--child", str(project_id)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(json.dumps(runs[-1]), flush=True)
    report = {"runs": runs, "load_average": os.getloadavg(), "cpus": os.cpu_count()}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
