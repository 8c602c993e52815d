"""Annotator load benchmark: N simulated annotators against a real gunicorn server.

    .venv/bin/python bench/annotators.py                                   # PostgreSQL, 50 annotators
    .venv/bin/python bench/annotators.py --sqlite --annotators 20          # embedded SQLite

Each annotator is a thread with its own browser (``_http.Browser``: its own cookies and
keep-alive connection; lighter than httpx, so the generator takes less of the cores it shares
with the server). It enters
``/p/<slug>/?PROLIFIC_PID=…``, consents, passes the instructions, then loops: GET the annotate
page (the next item), read the form's action and ``client_token`` with a regex, POST the answer
with ``HX-Request: true`` as htmx does. A share of the answers is posted twice with the same
token at the same moment (a double click racing itself). Client-side latency is recorded per
call; afterwards the database is checked against the engine's invariants and against what the
clients believe was accepted. The exit status is 1 when an invariant is violated or a target
(``--check-targets``) is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _http  # noqa: E402
import _server  # noqa: E402

DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/chorus_bench"
DEFAULT_SQLITE_VAR = "/tmp/chorus-bench-sqlite"

# The answer form is the one posting to crowd:submit (the skip form posts to crowd:skip).
FORM_RE = re.compile(r'action="([^"]*/submit/\d+/)"')
TOKEN_RE = re.compile(r'name="client_token" value="([0-9a-f]+)"')
CSRF_RE = re.compile(r'"X-CSRFToken": "([^"]+)"')


@dataclass
class Stats:
    """What one annotator saw; merged after the run (no locks on the hot path)."""

    next_ms: list[float] = field(default_factory=list)
    submit_ms: list[float] = field(default_factory=list)
    accepted: set[str] = field(default_factory=set)  # tokens the client saw accepted
    accepted_in_window: int = 0
    doubled: set[str] = field(default_factory=set)
    errors: Counter = field(default_factory=Counter)
    refused: Counter = field(default_factory=Counter)  # polite refusals (not errors)
    card_bytes: list[int] = field(default_factory=list)  # htmx cards as transferred
    finished: bool = False


TRANSPORT_ERRORS = _http.TransportError  # the connection failed


def classify_failure(response) -> str:
    text = response.text
    if "database is locked" in text:
        return "database is locked"
    return f"HTTP {response.status_code}"


class OutOfWork(Exception):
    """The annotator has nothing left: the done page, or the study is full."""


class Annotator(threading.Thread):
    def __init__(self, n: int, *, base_url: str, slug: str, run: Run):
        super().__init__(name=f"annotator-{n}", daemon=True)
        self.n = n
        self.slug = slug
        self.run_ = run
        self.stats = Stats()
        self.rng = random.Random(n)
        self.client = self.client_open(base_url)
        self.csrf = ""
        self.card: str | None = None  # the next item's card, when a submit already returned it

    def client_open(self, base_url: str):
        return _http.Browser(base_url, timeout=60.0)

    def client_twin(self):
        """A second connection with this annotator's cookies (for a double click)."""
        return self.client.twin()

    # --- setup: entry → consent → instructions (not measured) --------------------------
    def enter(self) -> None:
        c = self.client
        r = c.get(
            f"/p/{self.slug}/",
            params={
                "PROLIFIC_PID": f"bench-{self.run_.tag}-{self.n}",
                "STUDY_ID": "bench",
                "SESSION_ID": str(self.n),
            },
            follow_redirects=True,
        )
        r.raise_for_status()
        self.csrf = CSRF_RE.search(r.text).group(1)
        r = c.post(
            f"/p/{self.slug}/consent/",
            data={"agree": "yes"},
            headers={"X-CSRFToken": self.csrf},
            follow_redirects=True,
        )
        r.raise_for_status()
        r = c.post(f"/p/{self.slug}/instructions/", data={}, headers={"X-CSRFToken": self.csrf})
        if r.status_code != 302 or not r.headers["location"].endswith("/annotate/"):
            raise RuntimeError(f"instructions answered {r.status_code}")

    # --- the measured loop ----------------------------------------------------------------
    def run(self) -> None:
        run, stats = self.run_, self.stats
        try:
            self.enter()
        except Exception as exc:  # noqa: BLE001 — counted and reported, not raised
            stats.errors[f"setup: {type(exc).__name__}: {exc}"[:120]] += 1
            run.ready.wait()
            return
        run.ready.wait()
        while not run.stop.is_set():
            try:
                if not self.one_answer():
                    stats.finished = True
                    return
            except TRANSPORT_ERRORS as exc:
                stats.errors[f"transport: {type(exc).__name__}"] += 1
            if run.think_s:
                time.sleep(self.rng.expovariate(1.0 / run.think_s))

    def one_answer(self) -> bool:
        """Get the next item and answer it; False when the annotator has nothing left."""
        try:
            form = self.next_form()
        except OutOfWork:
            return False
        if form is not None:
            _page, action, token = form
            self.post_answer(action, token, {"choice": self.rng.choice("ab")})
        return True

    def next_form(self) -> tuple[str, str, str] | None:
        """(page, form action, client token) of the next item; None after an error (counted).

        Raises ``OutOfWork`` when nothing is left. In the "reload" flow every answer starts
        with a GET of the annotate page (timed as next-item). In the "htmx" flow, as in the
        browser, the submit's response is the next item's card, so the page is only fetched
        when that card is missing. Other load generators (bench/mos_listeners.py) reuse this
        and ``post_answer`` around their own steps.
        """
        stats = self.stats
        page = self.card
        self.card = None
        if page is None:
            t0 = time.perf_counter()
            r = self.client.get(f"/p/{self.slug}/annotate/")
            stats.next_ms.append((time.perf_counter() - t0) * 1000)
            if r.status_code == 302 and r.headers.get("location", "").endswith("/done/"):
                raise OutOfWork
            if r.status_code != 200:
                stats.errors["next-item: " + classify_failure(r)] += 1
                return None
            page = r.text
        form, token = FORM_RE.search(page), TOKEN_RE.search(page)
        if form is None or token is None:
            if "This study is full" in page:
                raise OutOfWork
            stats.errors["next-item: no answer form in page"] += 1
            return None
        return page, form.group(1), token.group(1)

    def post_answer(self, action: str, token: str, answer: dict[str, str]) -> None:
        """POST ``answer`` as htmx does (timed as submit), sometimes twice at once, and judge it."""
        run, stats, c = self.run_, self.stats, self.client
        data = {"client_token": token, **answer}
        headers = {"HX-Request": "true", "X-CSRFToken": self.csrf}

        twin = None
        if self.rng.random() < run.double_rate:
            # The same form posted again at the same instant from a second connection.
            twin = DoubleSubmit(self.client_twin(), action, data, headers)
            twin.start()
            stats.doubled.add(token)
        t0 = time.perf_counter()
        try:
            r = c.post(action, data=data, headers=headers)
        except TRANSPORT_ERRORS as exc:
            # The connection dropped before the answer came back; as a person would, click the
            # same form again: same token, so the platform stores the answer at most once.
            stats.refused[f"resent after a dropped connection ({type(exc).__name__})"] += 1
            r = c.post(action, data=data, headers=headers)
        stats.submit_ms.append((time.perf_counter() - t0) * 1000)
        if r.status_code == 200:
            stats.card_bytes.append(r.num_bytes_downloaded)
        self.judge_submit(r, token)
        if run.flow == "htmx" and r.status_code == 200:
            self.card = r.text
        if twin is not None:
            twin.join()
            if twin.response is None:
                stats.errors[f"double submit: {twin.error}"] += 1
            else:
                self.judge_submit(twin.response, token)

    def judge_submit(self, r, token: str) -> None:
        stats = self.stats
        if r.status_code == 204 and "HX-Redirect" in r.headers:  # accepted, nothing left
            accepted = True
        elif r.status_code == 302 and r.headers.get("location", "").endswith("/done/"):
            # The twin of a double submit that lost the race to the participant's last answer:
            # they are finished, so the platform sends them to the done page. Not an error.
            stats.refused["participant already finished"] += 1
            return
        elif r.status_code == 200:
            text = r.text
            if 'class="errors"' in text:
                stats.errors["submit: validation error"] += 1
                return
            notice = re.search(r'class="notice" role="status">([^<]*)<', text)
            if notice:
                stats.refused[notice.group(1)[:60]] += 1
                return
            accepted = True
        else:
            stats.errors["submit: " + classify_failure(r)] += 1
            return
        if accepted and token not in stats.accepted:
            stats.accepted.add(token)
            if time.perf_counter() <= self.run_.window_end:
                stats.accepted_in_window += 1


class DoubleSubmit(threading.Thread):
    """A second POST of the same form, on its own connection but the same cookies."""

    def __init__(self, client, action: str, data: dict, headers: dict):
        super().__init__(daemon=True)
        self.args = (client, action, data, headers)
        self.response = None
        self.error = ""

    def run(self) -> None:
        twin, action, data, headers = self.args
        try:
            self.response = twin.post(action, data=data, headers=headers)
        except TRANSPORT_ERRORS as exc:
            self.error = type(exc).__name__
        finally:
            twin.close()


@dataclass
class Run:
    tag: str
    think_s: float
    double_rate: float
    flow: str = "reload"
    ready: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    window_end: float = float("inf")


# --- database side -------------------------------------------------------------------------


def project_seed(*, slug: str, items: int, overlap: int):
    """A live bench project with ``items`` regular items, created straight in the database."""
    import benchtype
    from django.contrib.auth import get_user_model

    from apps.core.models import Item, Project
    from apps.core.services import project_create

    owner, _ = get_user_model().objects.get_or_create(username="bench-owner")
    project = project_create(
        owner=owner,
        slug=slug,
        title=f"Bench {slug}",
        task_type=benchtype.KEY,
        overlap=overlap,
        status=Project.Status.LIVE,
        instructions="Pick **A** or **B**.",
    )
    Item.objects.bulk_create(
        (
            Item(project=project, external_id=f"item-{i}", payload={"text": f"Bench item {i}"})
            for i in range(items)
        ),
        batch_size=2000,
    )
    return project


def invariants_check(project, *, accepted: set[str], doubled: set[str]) -> dict[str, int]:
    """Count violations of the engine's invariants; every value should be 0."""
    from django.db.models import Count, F

    from apps.core.models import Annotation, Assignment, Item

    annotations = Annotation.objects.filter(project=project)
    stored_tokens = set(annotations.values_list("client_token", flat=True))
    per_item = (
        annotations.filter(item__kind=Item.Kind.REGULAR)
        .values("item")
        .annotate(n=Count("id"))
        .filter(n__gt=project.overlap)
    )
    twice = annotations.values("item", "participant").annotate(n=Count("id")).filter(n__gt=1)
    assignments_twice = (
        Assignment.objects.filter(item__project=project)
        .values("item", "participant")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    counter_drift = (
        Item.objects.filter(project=project)
        .annotate(stored=Count("annotations"))
        .exclude(answer_count=F("stored"))
    )
    doubled_rows = (
        annotations.filter(client_token__in=doubled)
        .values("client_token")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    return {
        "items over overlap": per_item.count(),
        "(item, participant) answered twice": twice.count(),
        "(item, participant) assigned twice": assignments_twice.count(),
        "accepted by server but not stored": len(accepted - stored_tokens),
        "stored but never seen accepted": len(stored_tokens - accepted),
        "double-submitted tokens stored twice": doubled_rows.count(),
        "doubled tokens missing": len((doubled & accepted) - stored_tokens),
        "answer_count differs from rows": counter_drift.count(),
    }


# --- page weight ---------------------------------------------------------------------------

ASSET_RE = re.compile(r'<(?:link[^>]*\shref|script[^>]*\ssrc)="(/static/[^"]+)"')
YEAR_S = 365 * 24 * 60 * 60


def page_weight(base_url: str, slug: str) -> dict:
    """What a newcomer's browser transfers for the annotate page, media aside: the page and
    every static file it links, each as sent on the wire (gzip when the server offers it),
    and whether each file may be cached for a year."""
    with httpx.Client(base_url=base_url, timeout=60.0, headers={"Accept-Encoding": "gzip"}) as c:
        r = c.get(f"/p/{slug}/", params={"PROLIFIC_PID": f"weight-{slug}"}, follow_redirects=True)
        csrf = CSRF_RE.search(r.text).group(1)
        c.post(f"/p/{slug}/consent/", data={"agree": "yes"}, headers={"X-CSRFToken": csrf})
        c.post(f"/p/{slug}/instructions/", data={}, headers={"X-CSRFToken": csrf})
        page = c.get(f"/p/{slug}/annotate/")
        assets = []
        for url in dict.fromkeys(ASSET_RE.findall(page.text)):
            a = c.get(url)
            control = a.headers.get("cache-control", "")
            age = re.search(r"max-age=(\d+)", control)
            assets.append(
                {
                    "url": url,
                    "status": a.status_code,
                    "bytes": len(a.content),
                    "transferred": a.num_bytes_downloaded,
                    "encoding": a.headers.get("content-encoding", ""),
                    "cache_control": control,
                    "a_year": bool(age) and int(age.group(1)) >= YEAR_S,
                }
            )
    return {
        "page_transferred": page.num_bytes_downloaded,
        "assets": assets,
        "total_transferred": page.num_bytes_downloaded + sum(a["transferred"] for a in assets),
    }


# --- reporting -------------------------------------------------------------------------------


# gunicorn's access log line for each request: method, path, status, microseconds inside it.
ACCESS_FORMAT = "%(m)s %(U)s %(s)s %(D)s"
SUBMIT_PATH_RE = re.compile(r"/p/[^/]+/submit/\d+/$")


def server_times(access_log: Path) -> dict[str, dict[str, float]]:
    """Percentiles of gunicorn's own request time for the annotate page and for submits."""
    times: dict[str, list[float]] = {"next-item": [], "submit": []}
    lines = access_log.read_text().splitlines() if access_log.exists() else []
    for line in lines:
        method, path, _status, micros = line.split()
        if method == "POST" and SUBMIT_PATH_RE.search(path):
            times["submit"].append(int(micros) / 1000)
        elif method == "GET" and path.endswith("/annotate/"):
            times["next-item"].append(int(micros) / 1000)
    return {name: percentiles(values) for name, values in times.items()}


def percentiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {"n": len(values), "p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"n": len(values), "p50": q[49], "p95": q[94], "p99": q[98]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--annotators",
        type=int,
        default=None,
        help="concurrent annotators (default 50 on PostgreSQL, 20 on SQLite)",
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="measured run time")
    parser.add_argument("--items", type=int, default=6000)
    parser.add_argument("--overlap", type=int, default=3)
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="mean think time between answers (exponential); 0 = as fast as possible",
    )
    parser.add_argument(
        "--double-rate",
        type=float,
        default=0.05,
        help="share of answers posted twice at once with the same token",
    )
    parser.add_argument(
        "--flow",
        choices=["reload", "htmx"],
        default="reload",
        help="reload: GET the annotate page before every answer; htmx: use the "
        "card each submit returns, as the browser does",
    )
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument(
        "--threads", type=int, default=4, help="threads per gunicorn worker (gthread when > 1)"
    )
    parser.add_argument(
        "--gunicorn-config",
        type=Path,
        default=_server.GUNICORN_CONFIG,
        help="gunicorn config file; it must register the bench task type "
        "(see bench/gunicorn_bench.py)",
    )
    parser.add_argument(
        "--code",
        type=Path,
        default=None,
        help="serve the platform from another checkout (e.g. a worktree of main), for an A/B "
        "comparison with the same load generator; give each its own database",
    )
    parser.add_argument(
        "--sqlite",
        action="store_true",
        help="use the embedded SQLite default instead of DATABASE_URL",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help=f"PostgreSQL URL (default $DATABASE_URL or {DEFAULT_POSTGRES})",
    )
    parser.add_argument(
        "--var-dir",
        default=None,
        help=f"CHORUS_VAR_DIR (default {DEFAULT_SQLITE_VAR} with --sqlite, "
        "/tmp/chorus-bench-pg otherwise)",
    )
    parser.add_argument(
        "--check-targets",
        action="store_true",
        help="exit 1 when the latency/throughput targets are missed",
    )
    parser.add_argument(
        "--page-weight",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="collect the static files first and measure what the annotate page transfers",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument(
        "--keep", action="store_true", help="keep the bench project in the database afterwards"
    )
    args = parser.parse_args(argv)

    if args.sqlite:
        database_url = None
        var_dir = Path(args.var_dir or DEFAULT_SQLITE_VAR)
        annotators = args.annotators or 20
    else:
        database_url = args.database_url or os.environ.get("DATABASE_URL") or DEFAULT_POSTGRES
        var_dir = Path(args.var_dir or "/tmp/chorus-bench-pg")
        annotators = args.annotators or 50
    var_dir.mkdir(parents=True, exist_ok=True)
    env = _server.bench_env(database_url=database_url, var_dir=var_dir)
    if database_url:
        _server.postgres_database_ensure(database_url)
    code = args.code.resolve() if args.code else None
    _server.django_setup(env, code=code)

    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    if args.page_weight:  # what the servers link and serve: fingerprinted names, gzip copies
        # Participants' pages link none of the admin's or the API docs' files (megabytes).
        skip = ["admin", "rest_framework", "drf_spectacular_sidecar"]
        call_command("collectstatic", verbosity=0, interactive=False, ignore_patterns=skip)
    tag = uuid.uuid4().hex[:8]
    slug = f"bench-{tag}"
    project = project_seed(slug=slug, items=args.items, overlap=args.overlap)
    connection.close()  # the server processes do the work now; don't hold a SQLite reader open

    backend = "PostgreSQL" if database_url else "SQLite"
    print(
        f"{backend}: {annotators} annotators × {args.seconds:.0f}s, {args.items} items, "
        f"overlap {args.overlap}, gunicorn -w {args.workers} --threads {args.threads}, "
        f"{args.flow} flow, think {args.think_ms:.0f} ms, double submits {args.double_rate:.0%}; "
        f"serving {code or _server.REPO}; {_server.uptime()}",
        flush=True,
    )

    run = Run(tag=tag, think_s=args.think_ms / 1000, double_rate=args.double_rate, flow=args.flow)
    log_path = var_dir / f"bench-gunicorn-{tag}.log"
    access_path = var_dir / f"bench-access-{tag}.log"
    with _server.gunicorn_running(
        env=env,
        workers=args.workers,
        threads=args.threads,
        log_path=log_path,
        config=args.gunicorn_config,
        code=code,
        # As the platform's own launchers run it (an access log), and it says how long each
        # request took inside gunicorn: the rest of what a client waits is queueing.
        extra_args=["--access-logfile", str(access_path), "--access-logformat", ACCESS_FORMAT],
    ) as base_url:
        weight = None
        if args.page_weight:
            weight = page_weight(base_url, slug)
            # Its reservation would hold a slot the annotators need (a small run ends when
            # every slot is answered): gone with it.
            project.participants.filter(external_id=f"weight-{slug}").delete()
            connection.close()
        threads = [Annotator(n, base_url=base_url, slug=slug, run=run) for n in range(annotators)]
        for t in threads:
            t.start()
        # Everyone enters before the clock starts; entry is not what is measured.
        deadline = time.monotonic() + 120
        while any(not t.csrf and t.is_alive() for t in threads) and time.monotonic() < deadline:
            time.sleep(0.05)
        server_pid = _server.SERVERS[base_url]
        server_cpu0 = _server.cpu_seconds(server_pid)
        db_cpu0 = _server.postgres_backend_cpu(database_url) if database_url else 0.0
        cpu0, t_start = time.process_time(), time.perf_counter()
        run.window_end = t_start + args.seconds
        run.ready.set()
        # The window closes after --seconds, or earlier when every annotator ran out of work.
        while time.perf_counter() < run.window_end and any(t.is_alive() for t in threads):
            time.sleep(0.05)
        window = min(time.perf_counter(), run.window_end) - t_start
        run.stop.set()
        for t in threads:
            t.join(timeout=120)
        elapsed = time.perf_counter() - t_start
        client_cpu = time.process_time() - cpu0
        server_cpu = _server.cpu_seconds(server_pid) - server_cpu0
        db_cpu = (_server.postgres_backend_cpu(database_url) - db_cpu0) if database_url else 0.0
        for t in threads:
            t.client.close()

    stats = Stats()
    for t in threads:
        s = t.stats
        stats.next_ms += s.next_ms
        stats.submit_ms += s.submit_ms
        stats.accepted |= s.accepted
        stats.accepted_in_window += s.accepted_in_window
        stats.doubled |= s.doubled
        stats.errors.update(s.errors)
        stats.refused.update(s.refused)
    finished = sum(t.stats.finished for t in threads)

    project.refresh_from_db()
    violations = invariants_check(project, accepted=stats.accepted, doubled=stats.doubled)
    next_p, submit_p = percentiles(stats.next_ms), percentiles(stats.submit_ms)
    answers_per_s = stats.accepted_in_window / window

    served = server_times(access_path)
    print(f"\n  {'call':<10}{'n':>8}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}")
    for name, p in (("next-item", next_p), ("submit", submit_p)):
        print(f"  {name:<10}{p['n']:>8}{p['p50']:>10.1f}{p['p95']:>10.1f}{p['p99']:>10.1f}")
    print("  inside gunicorn (its request time; twins of double submits included):")
    for name, p in served.items():
        if p["n"]:
            print(f"  {name:<10}{p['n']:>8}{p['p50']:>10.1f}{p['p95']:>10.1f}{p['p99']:>10.1f}")
    print(f"\n  answers/s (accepted, within the {window:.1f}s window): {answers_per_s:.1f}")
    print(
        f"  answers accepted in all: {len(stats.accepted)}  (double-submitted: "
        f"{len(stats.doubled)}; annotators out of work: {finished})"
    )
    print(
        f"  client CPU: {client_cpu:.1f}s over {elapsed:.1f}s "
        f"({100 * client_cpu / elapsed:.0f}% of one core); "
        f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB"
    )
    answered = max(len(stats.accepted), 1)
    per_answer = {
        "gunicorn": 1000 * server_cpu / answered,
        "postgres": 1000 * db_cpu / answered,
        "client": 1000 * client_cpu / answered,
    }
    platform_ms = per_answer["gunicorn"] + per_answer["postgres"]
    cores = os.cpu_count() or 1
    if database_url:
        print(
            f"  CPU per accepted answer: gunicorn {per_answer['gunicorn']:.1f} ms + PostgreSQL "
            f"{per_answer['postgres']:.1f} ms (+ load generator {per_answer['client']:.1f} ms)"
        )
    else:
        print(
            f"  CPU per accepted answer: gunicorn incl. SQLite {per_answer['gunicorn']:.1f} ms "
            f"(+ load generator {per_answer['client']:.1f} ms)"
        )
    print(
        f"  → capacity if the platform had this machine's {cores} cores to itself: "
        f"{1000 * cores / platform_ms:.0f} answers/s "
        f"({1000 * cores / (platform_ms + per_answer['client']):.0f} with the load generator)"
    )
    print(f"  load average now: {os.getloadavg()[0]:.1f} (other processes share the cores)")
    cards = sorted(b for t in threads for b in t.stats.card_bytes)
    if cards:
        print(f"  htmx card transferred: median {cards[len(cards) // 2]} B, largest {cards[-1]} B")
    if weight is not None:
        print(
            f"  annotate page transferred, media aside: {weight['total_transferred'] / 1024:.1f} KB"
            f" (page {weight['page_transferred']} B)"
        )
        for a in weight["assets"]:
            print(
                f"    {a['transferred']:>7} B{' ' + a['encoding'] if a['encoding'] else ''} "
                f"(of {a['bytes']} B)  {a['url']}  [{a['status']}; {a['cache_control'] or '-'}]"
            )
    print("  errors: " + (", ".join(f"{k} ×{v}" for k, v in stats.errors.most_common()) or "none"))
    if stats.refused:
        print("  polite refusals: " + ", ".join(f"{k!r} ×{v}" for k, v in stats.refused.items()))
    print("\n  invariants (all must be 0):")
    for name, count in violations.items():
        print(f"    {'OK ' if count == 0 else 'BAD'} {name}: {count}")

    failed = any(violations.values())
    if args.check_targets:
        if database_url:
            targets = {
                "next-item p95 < 25 ms": next_p["p95"] < 25,
                "submit p95 < 25 ms": submit_p["p95"] < 25,
                "≥ 150 answers/s": answers_per_s >= 150,
            }
        else:
            targets = {
                "≥ 50 answers/s": answers_per_s >= 50,
                "no 'database is locked' reached a user": not any(
                    "database is locked" in k for k in stats.errors
                ),
            }
        if weight is not None:
            targets["annotate page < 60 KB transferred"] = weight["total_transferred"] < 60 * 1024
            targets["htmx card < 60 KB transferred"] = not cards or cards[-1] < 60 * 1024
            targets["static files cached for a year"] = all(
                a["a_year"] and a["status"] == 200 for a in weight["assets"]
            )
        print("\n  targets:")
        for name, ok in targets.items():
            print(f"    {'met   ' if ok else 'MISSED'} {name}")
        failed = failed or not all(targets.values())

    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "backend": backend,
                    "code": str(code or _server.REPO),
                    "annotators": annotators,
                    "seconds": args.seconds,
                    "workers": args.workers,
                    "threads": args.threads,
                    "think_ms": args.think_ms,
                    "flow": args.flow,
                    "next_item": next_p,
                    "submit": submit_p,
                    "inside_gunicorn": served,
                    "answers_per_s": answers_per_s,
                    "accepted": len(stats.accepted),
                    "out_of_work": finished,
                    "errors": dict(stats.errors),
                    "refused": dict(stats.refused),
                    "violations": violations,
                    "client_cpu_s": client_cpu,
                    "server_cpu_s": server_cpu,
                    "postgres_cpu_s": db_cpu,
                    "cpu_ms_per_answer": per_answer,
                    "elapsed_s": elapsed,
                    "card_bytes": {"median": cards[len(cards) // 2], "max": cards[-1]}
                    if cards
                    else None,
                    "page_weight": weight,
                },
                indent=2,
            )
        )
    if args.keep:
        print(f"\n  kept project {slug!r}")
    else:
        project.delete()  # repeated runs should not grow the bench database
    print(f"  server log: {log_path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
