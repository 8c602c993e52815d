"""Results and Quality at a million answers, on PostgreSQL: the worker's compute and the pages.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/chorus_bench_scale .venv/bin/python \
        bench/results_scale.py [--answers 1000000] [--participants 1000] [--keep] [--json out.json]

A humor project of ``answers / 3`` posts × 3 answers (``--participants`` people, 2 % of them
blocked, a reaction label on every post, people who agree with it 80 % of the time and a few
who answer at random) is written with bulk SQL. With ``--keep`` a project of that size left by
an earlier run is used again (seeding 1M answers takes about a minute).

Then, in a child process (as the Celery worker runs it), the worker's task is run once and
measured: the Results and the Quality figures (Krippendorff's α, majority vote and Dawid–Skene,
per-annotator agreement, the fast/constant flags), seconds, CPU seconds, peak RSS, and the
queries that read ``core_annotation`` (each answer read once per figure set, streamed with a
server-side cursor, never per item). Last, gunicorn serves the dashboard and a logged-in client
opens the Results and Quality pages five times each (warm: the stored figures are current):
the time to the last byte, p50 and max.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import (  # noqa: E402
    assignments_seed,
    gunicorn_running,
    participants_seed,
    postgres_measure_main,
    uptime,
)

SLUG = "scale-bench-humor"
PASSWORD = "scale-bench-password"


def project_seed(answers: int, participants: int, *, keep: bool) -> int:
    """The bench's humor project with ``answers`` answers written in bulk; returns its id."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from apps.core.models import Annotation, Project
    from apps.core.services import project_create

    user, _ = get_user_model().objects.get_or_create(username="scale-bench")
    user.set_password(PASSWORD)
    user.save()
    existing = Project.objects.filter(slug=SLUG).first()
    if existing is not None and keep:
        if Annotation.objects.filter(project=existing).count() == answers:
            return existing.pk
    if existing is not None:
        with connection.cursor() as cur:  # the ORM's cascade would load a million rows
            for table in ("core_annotation", "core_assignment"):
                cur.execute(
                    f"DELETE FROM {table} WHERE id IN (SELECT x.id FROM {table} x "
                    "JOIN core_item i ON i.id = x.item_id WHERE i.project_id = %s)",
                    [existing.pk],
                )
        existing.delete()
    project = project_create(
        owner=user, slug=SLUG, title="Results at scale", task_type="humor", status="live"
    )
    items = answers // 3
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            """INSERT INTO core_item (project_id, external_id, payload, kind, gold_value,
                   priority, answer_count, created_at, stage, model_priority, "group",
                   list_mask, child_key)
               SELECT %s, 'post-' || lpad(n::text, 7, '0'),
                      jsonb_build_object(
                          'text', 'Post number ' || n,
                          'hs', (n %% 997) / 997.0,
                          'ns', (n %% 991) / 991.0,
                          'reaction_label',
                          CASE WHEN n %% 3 = 0 THEN 'humorous' WHEN n %% 3 = 1
                               THEN 'non_humorous' ELSE NULL END),
                      'regular', NULL, 0, 3, now(), '', 0, '', 0, ''
               FROM generate_series(0, %s - 1) AS n""",
            [project.pk, items],
        )
        participants_seed(cur, project.pk, participants, blocked_every=50)
        assignments_seed(cur, project.pk, participants, per_item=3, stride=7)
        # Careful people agree with the reaction label 80 % of the time; every 40th answers at
        # random (a pseudo-random hash of the pair, so a rerun seeds the same answers).
        cur.execute(
            """INSERT INTO core_annotation (assignment_id, project_id, item_id, participant_id,
                   value, duration_ms, client_token, created_at)
               SELECT a.id, %s, a.item_id, a.participant_id,
                      jsonb_build_object('funny',
                          CASE WHEN (CASE WHEN p.rn %% 40 = 0 THEN h %% 2 = 0
                                          WHEN h %% 10 < 8 THEN i.payload->>'reaction_label'
                                               = 'humorous'
                                          ELSE coalesce(i.payload->>'reaction_label', '')
                                               <> 'humorous' END)
                               THEN 'yes' ELSE 'no' END),
                      1500 + h %% 6000, md5(a.id::text), now() - (a.id %% 86400) * interval '1 s'
               FROM core_assignment a
               JOIN core_item i ON i.id = a.item_id
               JOIN (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM core_participant
                     WHERE project_id = %s) AS p ON p.id = a.participant_id
               CROSS JOIN LATERAL (SELECT abs(hashint8(a.id)) AS h) AS x
               WHERE i.project_id = %s""",
            [project.pk, project.pk, project.pk],
        )
    with connection.cursor() as cur:
        cur.execute("ANALYZE core_item; ANALYZE core_assignment; ANALYZE core_annotation")
    return project.pk


def memory_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def compute_measure(project_id: int) -> dict:
    """In this (child) process: the worker's task once, timed, with its annotation queries."""
    import crowdkit.aggregation  # noqa: F401 - a worker has them imported
    import pandas  # noqa: F401
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.core.models import Project, ResultsSnapshot
    from apps.core.tasks import results_compute

    ResultsSnapshot.objects.filter(project_id=project_id).delete()
    project = Project.objects.get(pk=project_id)
    before = memory_kb("VmRSS")
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        results_compute(project.pk)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    snapshot = ResultsSnapshot.objects.get(project=project)
    reads = [q["sql"] for q in queries.captured_queries if "core_annotation" in q["sql"]]
    # A server-side cursor shows as DECLARE … CURSOR; FETCHes of it are not new queries.
    streamed = [q for q in reads if q.lstrip().upper().startswith("DECLARE")]
    return {
        "seconds": round(seconds, 2),
        "cpu_s": round(after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime, 2),
        "peak_above_before_mb": round((memory_kb("VmHWM") - before) / 1024),
        "queries": len(queries.captured_queries),
        "annotation_queries": len(reads),
        "annotation_streamed": len(streamed),
        "annotation_sql": [q[:160] for q in reads],
        "results_duration_ms": snapshot.duration_ms,
        "quality_duration_ms": (snapshot.data.get("quality") or {}).get("duration_ms"),
    }


def pages_measure(base_url: str, slug: str, *, repeat: int) -> dict:
    client = httpx.Client(base_url=base_url, timeout=120, follow_redirects=False)
    page = client.get("/accounts/login/")
    login = client.post(
        "/accounts/login/",
        data={
            "username": "scale-bench",
            "password": PASSWORD,
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
        headers={"Referer": f"{base_url}/accounts/login/"},
    )
    if login.status_code != 302:
        raise SystemExit(f"login: HTTP {login.status_code}")
    assert page.status_code == 200
    report = {}
    for name, path in (("results", "results"), ("quality", "quality")):
        times, size = [], 0
        for _ in range(repeat):
            start = time.perf_counter()
            r = client.get(f"/projects/{slug}/{path}/")
            times.append(1000 * (time.perf_counter() - start))
            if r.status_code != 200:
                raise SystemExit(f"{path}: HTTP {r.status_code}")
            if "Computing updated" in r.text:
                raise SystemExit(f"{path}: the stored figures were stale")
            size = len(r.content)
        report[name] = {
            "first_ms": round(times[0]),
            "p50_ms": round(statistics.median(times)),
            "max_ms": round(max(times)),
            "kb": round(size / 1024, 1),
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--answers", type=int, default=1_000_002)
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="reuse a project of that size")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)  # a project id
    args = parser.parse_args()
    env = postgres_measure_main(args.child, compute_measure, prefix="chorus-scale-bench-")
    if env is None:
        return
    from django.db import connection

    start = time.perf_counter()
    project_id = project_seed(args.answers, args.participants, keep=args.keep)
    seeded = round(time.perf_counter() - start, 1)
    print(f"seeded in {seeded} s", flush=True)
    connection.close()
    child = subprocess.run(
        [sys.executable, __file__, "--child", str(project_id)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    worker = json.loads(child.stdout.strip().splitlines()[-1])
    print(json.dumps({"worker": worker}, indent=2), flush=True)
    with gunicorn_running(env=env, workers=2) as base_url:
        pages = pages_measure(base_url, SLUG, repeat=args.repeat)
    report = {
        "answers": args.answers,
        "participants": args.participants,
        "seed_s": seeded,
        "worker": worker,
        "pages": pages,
        "load": uptime(),
        "cpus": os.cpu_count(),
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
