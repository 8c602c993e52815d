"""Import and export speed against a real gunicorn server on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/chorus_bench_io .venv/bin/python \
        bench/import_export.py [--items 200000] [--workers 2]

1. imports ``--items`` items through the API (one JSONL body, all-or-nothing) → items/s;
2. writes 3 answers per item straight into the database with bulk SQL (600k for 200k items);
3. restarts the server (fresh workers), notes each worker's idle RSS, streams the annotations
   export as JSONL and as CSV → rows/s, and the workers' peak RSS (``VmHWM`` in
   ``/proc/<pid>/status``) above idle. A smaller export first shows whether memory grows
   with the export's size.

Targets on the 2-core dev box: import ≥ 10,000 items/s, export ≥ 50,000 rows/s, export peak
< 100 MB above idle.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import (  # noqa: E402
    assignments_seed,
    bench_env,
    django_setup,
    gunicorn_running,
    postgres_database_ensure,
)

ANSWERS_PER_ITEM = 3


def worker_pids(master: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                pids.append(int(entry))
    return pids


def memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def gunicorn_master(port: str) -> int:
    """The gunicorn master listening on ``port`` (our child; found by its command line)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(b"gunicorn" in part for part in cmd[:2]) and f"127.0.0.1:{port}".encode() in cmd:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parent = int(stat.rsplit(")", 1)[1].split()[1])
                if parent == os.getpid():
                    return int(entry)
    raise RuntimeError("gunicorn master not found")


def seed(env, items: int) -> tuple[str, str]:
    """A fresh project and a researcher's token; returns (slug, token)."""
    django_setup(env)
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from apps.core.models import Project
    from apps.core.services import project_create
    from tests.factories import UserFactory

    call_command("migrate", verbosity=0)
    slug = f"io-bench-{int(time.time())}"
    Project.objects.filter(slug__startswith="io-bench-").delete()
    user = UserFactory(username="io-bench")
    project_create(
        owner=user,
        slug=slug,
        title="Import/export bench",
        task_type="bench-choice",
        status=Project.Status.LIVE,
    )
    token, _ = Token.objects.get_or_create(user=user)
    return slug, token.key


def answers_insert(slug: str, participants: int = 300) -> int:
    """ANSWERS_PER_ITEM answers per item, written with three INSERT … SELECT statements."""
    from django.db import connection, transaction

    from apps.core.models import Project

    project = Project.objects.get(slug=slug)
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            """INSERT INTO core_participant (project_id, public_id, source, external_id, study_id,
                   session_id, status, blocked_reason, created_at, simulated)
               SELECT %s, gen_random_uuid(), 'link', 'bench-' || n, '', '', 'active', '', now(), false
               FROM generate_series(0, %s - 1) AS n""",
            [project.pk, participants],
        )
        assignments_seed(cur, project.pk, participants, per_item=ANSWERS_PER_ITEM, stride=1)
        cur.execute(
            """INSERT INTO core_annotation (assignment_id, project_id, item_id, participant_id,
                   value, duration_ms, client_token, created_at)
               SELECT a.id, %s, a.item_id, a.participant_id,
                      CASE WHEN a.id %% 4 = 0 THEN '{"choice": "b"}'::jsonb
                           ELSE '{"choice": "a"}'::jsonb END,
                      1000 + a.id %% 5000, md5(a.id::text), now()
               FROM core_assignment a JOIN core_item i ON i.id = a.item_id
               WHERE i.project_id = %s""",
            [project.pk, project.pk],
        )
        cur.execute(
            "UPDATE core_item SET answer_count = %s WHERE project_id = %s",
            [ANSWERS_PER_ITEM, project.pk],
        )
        cur.execute("SELECT count(*) FROM core_annotation WHERE project_id = %s", [project.pk])
        count = cur.fetchone()[0]
    connection.close()
    return count


def export(base: str, slug: str, token: str, fmt: str, pids: list[int]) -> dict:
    headers = {"Authorization": f"Token {token}"}
    idle = {pid: memory_kb(pid, "VmRSS") for pid in pids}
    lines = 0
    size = 0
    start = time.perf_counter()
    with httpx.stream(
        "GET", f"{base}/api/projects/{slug}/export/annotations.{fmt}", headers=headers, timeout=600
    ) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes(1 << 16):
            lines += chunk.count(b"\n")
            size += len(chunk)
    seconds = time.perf_counter() - start
    rows = lines - (1 if fmt == "csv" else 0)
    peak = {pid: memory_kb(pid, "VmHWM") for pid in pids}
    above = max(peak[pid] - idle[pid] for pid in pids) / 1024
    return {
        "format": fmt,
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
        "mb": round(size / 2**20, 1),
        "idle_rss_mb": round(max(idle.values()) / 1024, 1),
        "peak_above_idle_mb": round(above, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        sys.exit("Set DATABASE_URL=postgres://… (the benchmark measures PostgreSQL).")
    postgres_database_ensure(database_url)
    var_dir = Path(tempfile.mkdtemp(prefix="chorus-io-bench-"))
    env = bench_env(
        database_url=database_url, var_dir=var_dir, CHORUS_MAX_UPLOAD_BYTES=str(1 << 30)
    )
    slug, token = seed(env, args.items)

    body = "".join(
        json.dumps(
            {"id": f"item-{n:07d}", "text": f"Post number {n}: is it funny?", "source": "bench"}
        )
        + "\n"
        for n in range(args.items)
    ).encode()
    results: dict = {
        "items": args.items,
        "workers": args.workers,
        "upload_mb": round(len(body) / 2**20, 1),
    }
    with gunicorn_running(env=env, workers=args.workers, extra_args=["--timeout", "600"]) as base:
        start = time.perf_counter()
        response = httpx.post(
            f"{base}/api/projects/{slug}/items/import/?type=jsonl",
            content=body,
            timeout=600,
            headers={"Authorization": f"Token {token}", "Content-Type": "application/x-ndjson"},
        )
        seconds = time.perf_counter() - start
        report = response.json()
        if response.status_code != 201:
            sys.exit(f"import failed: {response.status_code} {str(report)[:500]}")
        results["import"] = {
            "created": report["created"],
            "seconds": round(seconds, 2),
            "items_per_s": round(report["created"] / seconds),
        }
        print(json.dumps(results["import"]), flush=True)

    start = time.perf_counter()
    results["answers_written"] = answers_insert(slug)
    results["answers_insert_s"] = round(time.perf_counter() - start, 1)

    for fmt in ("jsonl", "csv"):
        with gunicorn_running(
            env=env, workers=args.workers, extra_args=["--timeout", "600"]
        ) as base:
            port = base.rsplit(":", 1)[1]
            pids = worker_pids(gunicorn_master(port))
            results[f"export_{fmt}"] = export(base, slug, token, fmt, pids)
            print(json.dumps(results[f"export_{fmt}"]), flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
