"""The annotate cycle in one process: CPU per answer, queries per request, each statement's plan.

    .venv/bin/python bench/hotpath.py                            # PostgreSQL, 1000 answers
    .venv/bin/python bench/hotpath.py --code /work/wt-baseline   # served by another checkout (A/B)
    .venv/bin/python bench/hotpath.py --explain                  # EXPLAIN (ANALYZE, BUFFERS) per statement
    .venv/bin/python bench/hotpath.py --profile                  # where the CPU goes (py-spy), by part

One answer is what a browser does in the htmx flow: ``POST …/submit/<id>/`` with
``HX-Request``, whose response is the next item's card (so it stores the answer *and* reserves
the next item). The requests go through Django's full handler and middleware (the test client,
no HTTP server), round-robin over ``--participants`` annotators of a bench project, so the
figures are the platform's own work without gunicorn, the network or queueing — steadier than
``annotators.py`` on a shared machine, and what a change to the hot path should move.

Printed: Python CPU per answer (this process), PostgreSQL CPU per answer (this connection's
backend, read from /proc, so only when the server runs on this machine), wall time; the SQL
statements of one page load and one answer, as Django counts them (``CaptureQueriesContext``)
and as the server receives them (Django's connection health check, ``SELECT 1`` outside
Django's cursor wrappers, included); the bytes of each response. ``--explain`` runs
``EXPLAIN (ANALYZE, BUFFERS)`` of each statement of one answer just before it runs for real
(inside a savepoint rolled back, so the state is the same). ``--profile`` runs the measurement
again under ``py-spy record --gil`` (``pip install py-spy``; not a dependency) and prints the
share of CPU samples in each part of the request.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/chorus_bench"

FORM_RE = re.compile(r'action="([^"]*/submit/\d+/)"')
TOKEN_RE = re.compile(r'name="client_token" value="([0-9a-f]+)"')

# Parts of a request for --profile: (label, a substring of a py-spy frame). A sample counts in
# every part whose frame is on its stack, so the parts overlap (the ORM lines cut across the
# rest); "other" is what none of them holds.
PARTS = [
    ("whole answer (POST submit → next card)", "Annotators.answer ("),
    ("  middleware outside the view", "!view"),
    ("  session load", "SessionStore.load"),
    ("  the participant's assignment (gate)", "_gate_assignment ("),
    ("  engine: store the answer", "annotation_submit (apps/core/engine.py"),
    ("  engine: reserve the next item", "next_item (apps/core/engine.py"),
    ("  card context (progress, task type)", "_card_context ("),
    ("    progress counts", "participant_progress ("),
    ("    task type item_context", "item_context ("),
    ("  template rendering", "_render_card ("),
    ("ORM: building querysets", "_filter_or_exclude ("),
    ("ORM: compiling SQL", "as_sql (django/db/models/sql/compiler.py"),
    ("ORM: model save()", "save_base (django/db/models/base.py"),
    ("ORM: rows to model instances", "from_db (django/db/models/base.py"),
    ("driver: psycopg execute/fetch", "psycopg/cursor.py"),
    ("transactions, savepoints", "django/db/transaction.py"),
]


def _proc_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class SentStatements:
    """Counts every statement psycopg sends, Django's health check included."""

    def __init__(self) -> None:
        self.count = 0
        self.sql: list[str] = []
        self.on = False

    def install(self) -> None:
        import psycopg

        counter = self
        original = psycopg.Cursor.execute  # ClientCursor, Django's, inherits it

        def execute(self, query, params=None, *args, **kwargs):
            if counter.on:
                counter.count += 1
                counter.sql.append(" ".join(str(query).split())[:90])
            return original(self, query, params, *args, **kwargs)

        psycopg.Cursor.execute = execute


def explain_wrapper(rows: list[dict]):
    """An execute wrapper that EXPLAIN ANALYZEs each statement first, in a rolled-back savepoint."""
    from django.db import connection

    def wrapper(execute, sql, params, many, context):
        head = sql.lstrip().split(None, 1)[0].upper()
        if head in {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"} and not many:
            raw = context["cursor"].cursor
            in_tx = connection.in_atomic_block
            raw.execute("SAVEPOINT bench_explain" if in_tx else "BEGIN")
            raw.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
            (plan,) = raw.fetchone()[0]
            raw.execute("ROLLBACK TO SAVEPOINT bench_explain" if in_tx else "ROLLBACK")
            top = plan["Plan"]
            rows.append(
                {
                    "sql": " ".join(sql.split())[:88],
                    "rows": top.get("Actual Rows", 0),
                    "plan_ms": plan.get("Planning Time", 0.0),
                    "exec_ms": plan.get("Execution Time", 0.0),
                    "hit": top.get("Shared Hit Blocks", 0),
                    "read": top.get("Shared Read Blocks", 0),
                }
            )
        return execute(sql, params, many, context)

    return wrapper


class Annotators:
    """``n`` annotators of one bench project, each with its own test client (own session)."""

    def __init__(self, slug: str, n: int):
        from django.test import Client

        self.slug = slug
        self.cards: list[list] = []
        for k in range(n):
            c = Client()
            r = c.get(
                f"/p/{slug}/", {"PROLIFIC_PID": f"hot-{slug}-{k}", "STUDY_ID": "s"}, follow=True
            )
            assert r.status_code == 200, r.status_code
            c.post(f"/p/{slug}/consent/", {"agree": "yes"}, follow=True)
            c.post(f"/p/{slug}/instructions/", {})
            page = c.get(f"/p/{slug}/annotate/")
            assert page.status_code == 200 and FORM_RE.search(page.content.decode()), page
            self.cards.append([c, page.content.decode()])
        self.i = 0

    def answer(self):
        """One answer of the next annotator in turn; returns the response (the next card)."""
        from django.db import close_old_connections

        slot = self.cards[self.i % len(self.cards)]
        self.i += 1
        client, card = slot
        # As the WSGI handler does around every request (the test client leaves it out): this
        # is where Django's connection health check is armed.
        close_old_connections()
        action = FORM_RE.search(card).group(1)
        token = TOKEN_RE.search(card).group(1)
        # Form-encoded, as htmx posts a form (the test client's default is multipart).
        r = client.post(
            action,
            urlencode({"client_token": token, "choice": "ab"[self.i % 2]}),
            content_type="application/x-www-form-urlencoded",
            HTTP_HX_REQUEST="true",
        )
        if r.status_code != 200 or not FORM_RE.search(r.content.decode()):
            raise RuntimeError(f"submit answered {r.status_code}: {r.content[:300]!r}")
        slot[1] = r.content.decode()
        close_old_connections()
        return r


def measure(args) -> dict:
    sys.path.insert(0, str(BENCH_DIR))
    import _server

    code = Path(args.code).resolve() if args.code else _server.REPO
    database_url = args.database_url or os.environ.get("DATABASE_URL") or DEFAULT_POSTGRES
    var_dir = Path(args.var_dir or tempfile.mkdtemp(prefix="chorus-hotpath-"))
    # One server connection throughout, so that its backend's CPU is the answers' (a reconnect
    # every minute is the only difference from the default of 60 s).
    env = _server.bench_env(database_url=database_url, var_dir=var_dir, DB_CONN_MAX_AGE="3600")
    _server.postgres_database_ensure(database_url)
    _server.django_setup(env, code=code)

    import annotators
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    import apps

    served_by = str(Path(apps.__file__).resolve().parent.parent)
    call_command("migrate", verbosity=0, interactive=False)
    slug = f"hot-{uuid.uuid4().hex[:8]}"
    project = annotators.project_seed(slug=slug, items=args.items, overlap=args.overlap)
    sent = SentStatements()
    sent.install()
    try:
        people = Annotators(slug, args.participants)
        # The page a browser loads first (its queries and size), then warm up.
        client = people.cards[0][0]
        sent.on = True
        with CaptureQueriesContext(connection) as page_q:
            page = client.get(f"/p/{slug}/annotate/")
        sent.on = False
        # Read at once: the log is cleared when the next request starts.
        page_queries, page_sent = len(page_q), sent.count
        for _ in range(args.warmup):
            people.answer()
        sent.count, sent.sql = 0, []
        sent.on = True
        with CaptureQueriesContext(connection) as answer_q:
            card = people.answer()
        sent.on = False
        answer_queries = [q["sql"] for q in answer_q.captured_queries]
        answer_sent, answer_sql = sent.count, list(sent.sql)
        plans: list[dict] = []
        if args.explain:
            with connection.execute_wrapper(explain_wrapper(plans)):
                people.answer()

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        cpu0, wall0, db0 = time.process_time(), time.perf_counter(), _proc_cpu(backend)
        for _ in range(args.answers):
            people.answer()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        db = _proc_cpu(backend) - db0
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            if cursor.fetchone()[0] != backend:
                raise RuntimeError("the connection was replaced during the run: CPU unknown")
    finally:
        project.delete()
    n = args.answers
    return {
        "served_by": served_by,
        "answers": n,
        "python_ms": 1000 * cpu / n,
        "postgres_ms": 1000 * db / n,
        "wall_ms": 1000 * wall / n,
        "page": {"queries": page_queries, "sent": page_sent, "bytes": len(page.content)},
        "answer": {"queries": len(answer_queries), "sent": answer_sent, "bytes": len(card.content)},
        "answer_sql": answer_queries,
        "answer_sent_sql": answer_sql,
        "plans": plans,
        "load": os.getloadavg()[0],
    }


def report(figures: dict, *, verbose: bool) -> None:
    print(f"served by {figures['served_by']}; {figures['answers']} answers")
    print(
        f"  CPU per answer: Python {figures['python_ms']:.2f} ms + PostgreSQL "
        f"{figures['postgres_ms']:.2f} ms = {figures['python_ms'] + figures['postgres_ms']:.2f} ms"
        f"   (wall {figures['wall_ms']:.2f} ms; load average {figures['load']:.1f})"
    )
    for name in ("page", "answer"):
        f = figures[name]
        print(
            f"  {name:<7} {f['queries']:>3} queries (Django), {f['sent']:>3} statements sent, "
            f"{f['bytes']:>6} bytes"
        )
    if verbose:
        print("  statements of one answer (as sent):")
        for sql in figures["answer_sent_sql"]:
            print(f"    {sql}")
    if figures["plans"]:
        print(f"\n  {'plan ms':>8}{'exec ms':>9}{'rows':>6}{'hit':>6}{'read':>5}  statement")
        for p in figures["plans"]:
            print(
                f"  {p['plan_ms']:>8.3f}{p['exec_ms']:>9.3f}{p['rows']:>6}{p['hit']:>6}"
                f"{p['read']:>5}  {p['sql']}"
            )
        print(
            f"  {sum(p['plan_ms'] for p in figures['plans']):>8.3f}"
            f"{sum(p['exec_ms'] for p in figures['plans']):>9.3f}  total"
        )


def profile(argv: list[str]) -> int:
    """Run the measurement under py-spy (GIL samples: CPU, not waiting) and print the parts."""
    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():
        print("py-spy is not installed: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "samples.txt"
        child = [a for a in argv if a != "--profile"]
        subprocess.run(
            [str(spy), "record", "--gil", "-r", "250", "-f", "raw", "-o", str(raw), "--",
             sys.executable, __file__, *child],
            check=True,
        )  # fmt: skip
        parts, total = Counter(), 0
        for line in raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if "answer (" not in stack or "hotpath.py" not in stack:
                continue  # set-up, not the measured loop
            n = int(count)
            total += n
            for label, frame in PARTS:
                if frame == "!view":
                    hit = "_view_wrapper (" not in stack and "get_response (" in stack
                else:
                    hit = frame in stack
                parts[label] += n if hit else 0
    print(f"\n  share of CPU samples in the measured answers ({total} samples):")
    for label, _ in PARTS:
        print(f"  {100 * parts[label] / max(total, 1):6.1f} %  {label}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--participants", type=int, default=10)
    parser.add_argument("--items", type=int, default=6000)
    parser.add_argument("--overlap", type=int, default=3)
    parser.add_argument("--code", help="serve the platform from this checkout (A/B)")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--var-dir", default=None)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true", help="list the statements")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    if args.profile:
        return profile(argv)
    figures = measure(args)
    report(figures, verbose=args.verbose)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
