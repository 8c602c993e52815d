"""MOS listener load benchmark: N listeners rate clips through nginx, then the text task.

    .venv/bin/python bench/mos_listeners.py                     # PostgreSQL, 50 listeners × 6 clips
    .venv/bin/python bench/mos_listeners.py --clips 3 --no-text

A MOS project (ACR, the shipped demo stimuli from ``apps.mos.services.demo_zip``, the headphone
check switched off) is served by gunicorn with nginx in front in ``x-accel`` mode, as
platform/README.md sets it up. Each listener is a thread with its own cookies (the annotator
bench's ``Annotator``, whose entry and submit steps it reuses): it enters through a Prolific
link, consents, reads the instructions, then for each clip: GET the annotate page, fetch the
clip with two ``Range`` requests (the first 64 KiB, then the rest) as an ``<audio>`` element
does, POST ``event=started``, wait the clip's real duration (read from the FLAC header: the
server refuses a rating sooner), POST ``event=ended`` and POST the rating. Afterwards the
database is checked (overlap, each utterance at most once per listener, every vote heard to the
end) and nginx's and gunicorn's access logs say who sent the media bytes. The text task's
bench (bench/annotators.py) then runs with as many annotators at the same pace on the same
machine, and the p95s are printed side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _server  # noqa: E402
import annotators  # noqa: E402

# The first range asked for. The demo's FLAC clips are 40–60 KB, so 16 KiB (which holds the
# STREAMINFO header) leaves a second range request for the rest of every clip.
HEAD_BYTES = 16 * 1024
AUDIO_RE = re.compile(r'<audio[^>]*\ssrc="([^"]+)"[^>]*\sdata-played-url="([^"]+)"')
MAX_FAILURES = 5
CONTENT_RANGE_RE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
MEDIA_PATH_RE = re.compile(r"^/p/[^/]+/media/\d+/[^/]+/$")
GUNICORN_ACCESS_FORMAT = '%(U)s %(s)s %(B)s "%({x-accel-redirect}o)s" %(M)s'
# The kinds of request in gunicorn's log whose time inside the worker is reported.
REQUEST_KINDS = (
    ("play event", re.compile(r"/played/$")),
    ("media", MEDIA_PATH_RE),
    ("next-item", re.compile(r"/annotate/$")),
    ("submit", re.compile(r"/submit/\d+/$")),
)


def flac_duration(head: bytes) -> float:
    """Seconds of audio in a FLAC file, from its STREAMINFO block (what a browser reads first).

    The listener waits this long, as a person hearing the clip to the end would.
    """
    if head[:4] != b"fLaC" or head[4] & 0x7F != 0:
        raise ValueError("not a FLAC file with STREAMINFO first")
    packed = int.from_bytes(head[18:26], "big")
    rate, samples = packed >> 44, packed & ((1 << 36) - 1)
    if rate == 0:
        raise ValueError("FLAC sample rate 0")
    return samples / rate


@dataclass
class ListenStats(annotators.Stats):
    """An annotator's figures plus the media and play-event ones."""

    media_ttfb_ms: list[float] = field(default_factory=list)
    media_ms: list[float] = field(default_factory=list)
    play_ms: list[float] = field(default_factory=list)
    media_requests: int = 0
    media_bytes: int = 0
    clips_fetched: int = 0
    listened_s: float = 0.0
    rated: int = 0


class Listener(annotators.Annotator):
    """One listener: the annotator's entry and submit, with each clip fetched and heard first."""

    def __init__(
        self,
        n: int,
        *,
        base_url: str,
        slug: str,
        run: annotators.Run,
        clips: int,
        head_bytes: int = HEAD_BYTES,
        stagger_s: float = 0.0,
    ):
        super().__init__(n, base_url=base_url, slug=slug, run=run)
        self.stats = ListenStats()
        self.clips_left = clips
        self.head_bytes = head_bytes
        self.stagger_s = stagger_s
        self.failures = 0  # clips in a row that could not be fetched or reported

    def one_answer(self) -> bool:
        if self.clips_left <= 0:
            return False
        if self.stagger_s:
            # People do not all press start in the same millisecond; without this the
            # listeners move in lockstep (clips of similar length) and the server sees waves.
            time.sleep(self.rng.uniform(0, self.stagger_s))
            self.stagger_s = 0.0
        try:
            form = self.next_form()
        except annotators.OutOfWork:
            return False
        if form is None:
            return True
        page, action, token = form
        players = AUDIO_RE.findall(page)
        if not players:
            self.stats.errors["next-item: no audio player in page"] += 1
            return True
        for src, played_url in players:
            if not self.listen(src, played_url):
                # The error is counted; the next round fetches the page again, up to a point.
                self.failures += 1
                if self.failures >= MAX_FAILURES:
                    self.stats.errors["listener gave up after repeated errors"] += 1
                    return False
                return True
        self.failures = 0
        self.post_answer(action, token, {"score": str(self.rng.randint(1, 5))})
        self.stats.rated += 1
        self.clips_left -= 1
        return True

    def listen(self, src: str, played_url: str) -> bool:
        """Fetch the clip in two ranges, report its start, hear it to the end, report the end."""
        stats = self.stats
        head = self.fetch(src, 0, self.head_bytes - 1)
        if head is None:
            return False
        body, size = head
        try:
            duration = flac_duration(body)
        except ValueError as exc:
            stats.errors[f"media: {exc}"] += 1
            return False
        if not self.played(played_url, "started"):
            return False
        started = time.perf_counter()
        if size > len(body):
            rest = self.fetch(src, len(body), None)
            if rest is None:
                return False
            body += rest[0]
        if len(body) != size:
            stats.errors["media: bytes received differ from Content-Range's size"] += 1
            return False
        stats.clips_fetched += 1
        time.sleep(max(0.0, duration - (time.perf_counter() - started)))
        stats.listened_s += duration
        return self.played(played_url, "ended")

    def fetch(self, url: str, first: int, last: int | None) -> tuple[bytes, int] | None:
        """One range of a clip: (bytes, the file's size), timing the first byte and the whole."""
        stats = self.stats
        wanted = f"bytes={first}-{'' if last is None else last}"
        t0 = time.perf_counter()
        chunks: list[bytes] = []
        with self.client.stream("GET", url, headers={"Range": wanted}) as r:
            for chunk in r.iter_raw():
                if not chunks:
                    stats.media_ttfb_ms.append((time.perf_counter() - t0) * 1000)
                chunks.append(chunk)
        stats.media_ms.append((time.perf_counter() - t0) * 1000)
        stats.media_requests += 1
        body = b"".join(chunks)
        stats.media_bytes += len(body)
        if r.status_code != 206:
            stats.errors[f"media: HTTP {r.status_code} to {wanted}"] += 1
            return None
        if "x-accel-redirect" in r.headers:
            stats.errors["media: X-Accel-Redirect reached the client"] += 1
        if "no-store" not in r.headers.get("cache-control", ""):
            stats.errors["media: no Cache-Control no-store"] += 1
        span = CONTENT_RANGE_RE.match(r.headers.get("content-range", ""))
        if (
            span is None
            or int(span.group(1)) != first
            or len(body) != (int(span.group(2)) - int(span.group(1)) + 1)
        ):
            stats.errors["media: Content-Range does not match the bytes"] += 1
            return None
        return body, int(span.group(3))

    def played(self, url: str, event: str) -> bool:
        t0 = time.perf_counter()
        r = self.client.post(url, data={"event": event}, headers={"X-CSRFToken": self.csrf})
        self.stats.play_ms.append((time.perf_counter() - t0) * 1000)
        if r.status_code != 204:
            self.stats.errors[f"played {event}: " + annotators.classify_failure(r)] += 1
            return False
        return True


# --- database side -------------------------------------------------------------------------


def mos_project_seed(*, slug: str, overlap: int):
    """A live ACR project of the shipped demo stimuli, headphone check off."""
    from django.contrib.auth import get_user_model

    from apps.core.models import Project
    from apps.core.services import project_create
    from apps.mos import services

    owner, _ = get_user_model().objects.get_or_create(username="bench-owner")
    project = project_create(
        owner=owner,
        slug=slug,
        title=f"Bench {slug}",
        task_type="mos",
        config={"design": "acr", "qc": {"qualification": False}},
        overlap=overlap,
        status=Project.Status.LIVE,
        instructions=services.DEMO_INSTRUCTIONS,
    )
    report = services.stimuli_import(project=project, upload=services.demo_zip())
    if not report.ok:
        raise RuntimeError(f"the demo stimuli did not import: {report.errors[:3]}")
    project.refresh_from_db()
    return project


def listening_checks(project) -> dict[str, int]:
    """Violations of the listening test's own rules; every value should be 0."""
    from django.db.models import Count, F, Q
    from django.db.models.functions import Coalesce

    from apps.core.models import Annotation, Assignment, Item
    from apps.core.plays import plays_missing
    from apps.core.registry import get

    per_group = (
        Assignment.objects.filter(item__project=project)
        .exclude(item__group="")
        .values("participant", "item__group")
        .annotate(n=Count("item", distinct=True))
        .filter(n__gt=1)
    )
    answered_group = (
        Annotation.objects.filter(project=project)
        .exclude(item__group="")
        .values("participant", "item__group")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    over_wanted = (
        Item.objects.filter(project=project, kind=Item.Kind.REGULAR)
        .annotate(wanted=Coalesce("wanted_answers", project.overlap))
        .annotate(stored=Count("annotations"))
        .filter(Q(stored__gt=F("wanted")))
    )
    task_type = get(project.task_type)
    unheard = 0
    for annotation in Annotation.objects.filter(project=project).select_related(
        "assignment", "item__project"
    ):
        keys = task_type.must_play(annotation.item)
        if plays_missing(assignment=annotation.assignment, keys=keys, now=annotation.created_at):
            unheard += 1
    return {
        "clips over their wanted votes": over_wanted.count(),
        "(listener, utterance) assigned more than one clip": per_group.count(),
        "(listener, utterance) rated more than once": answered_group.count(),
        "votes without a full play on record": unheard,
    }


def votes_summary(project) -> dict[str, int]:
    from django.db.models import Count, Max

    from apps.core.models import Item

    regular = Item.objects.filter(project=project, kind=Item.Kind.REGULAR).annotate(
        votes=Count("annotations")
    )
    return {
        "clips": regular.count(),
        "clips at their wanted votes": regular.filter(votes__gte=project.overlap).count(),
        "most votes on one clip": regular.aggregate(m=Max("votes"))["m"] or 0,
        "votes on control clips (gold, traps)": project.annotations.exclude(
            item__kind=Item.Kind.REGULAR
        ).count(),
    }


# --- who sent the media bytes ----------------------------------------------------------------


def nginx_media_bytes(log: Path, accel_prefix: str) -> dict[str, int]:
    """Media responses in nginx's access log: bytes nginx sent from disk vs bodies from Python."""
    figures = Counter()
    for line in log.read_text().splitlines():
        request_uri, uri, status, sent, upstream, accel, _ = line.split(" ", 6)
        if not MEDIA_PATH_RE.match(request_uri.split("?", 1)[0]):
            continue
        figures["media responses"] += 1
        figures[f"media HTTP {status}"] += 1
        upstream_bytes = sum(int(n) for n in re.findall(r"\d+", upstream))
        figures["media body bytes from Python (upstream)"] += upstream_bytes
        if uri.startswith(accel_prefix):
            figures["served by nginx from the internal location"] += 1
            figures["media bytes nginx sent from disk"] += int(sent)
        else:
            figures["media bytes nginx passed on from Python"] += int(sent)
        if accel.strip('"') not in ("", "-"):
            figures["upstream answers carrying X-Accel-Redirect"] += 1
    return dict(figures)


def gunicorn_media_bytes(log: Path) -> dict[str, int]:
    """Media responses in gunicorn's own access log: how many, bodies sent, X-Accel-Redirects."""
    figures = Counter()
    for line in log.read_text().splitlines():
        parts = line.split(" ")
        if len(parts) < 5 or not MEDIA_PATH_RE.match(parts[0]):
            continue
        figures["media responses"] += 1
        figures["media body bytes sent by Python"] += int(parts[2]) if parts[2].isdigit() else 0
        if parts[3].strip('"') not in ("", "-"):
            figures["with X-Accel-Redirect"] += 1
    return dict(figures)


def gunicorn_request_ms(log: Path) -> dict[str, dict[str, float]]:
    """Milliseconds each kind of request spent inside a gunicorn worker (its access log's
    request time), to tell the platform's own time from queueing in front of it."""
    times: dict[str, list[float]] = {kind: [] for kind, _ in REQUEST_KINDS}
    for line in log.read_text().splitlines():
        parts = line.split(" ")
        if len(parts) < 5 or not parts[-1].isdigit():
            continue
        kind = next((k for k, pattern in REQUEST_KINDS if pattern.search(parts[0])), None)
        if kind is not None:
            times[kind].append(float(parts[-1]))
    return {kind: annotators.percentiles(values) for kind, values in times.items()}


# --- the runs --------------------------------------------------------------------------------


@dataclass
class Window:
    seconds: float
    server_cpu: float
    db_cpu: float
    proxy_cpu: float
    client_cpu: float


def listeners_drive(
    threads: list[Listener],
    run: annotators.Run,
    *,
    database_url,
    base_url,
    proxy_url,
    max_seconds: float,
) -> Window:
    """Start everyone, open the clock once all have entered, wait until all are done."""
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120
    while any(not t.csrf and t.is_alive() for t in threads) and time.monotonic() < deadline:
        time.sleep(0.05)
    server_pid = _server.SERVERS[base_url]
    proxy_pid = _server.SERVERS.get(proxy_url) if proxy_url else None
    server0 = _server.cpu_seconds(server_pid)
    proxy0 = _server.cpu_seconds(proxy_pid) if proxy_pid else 0.0
    db0 = _server.postgres_backend_cpu(database_url) if database_url else 0.0
    cpu0, t0 = time.process_time(), time.perf_counter()
    run.window_end = t0 + max_seconds
    run.ready.set()
    while time.perf_counter() < run.window_end and any(t.is_alive() for t in threads):
        time.sleep(0.05)
    seconds = time.perf_counter() - t0
    run.stop.set()
    for t in threads:
        t.join(timeout=120)
        t.client.close()
    return Window(
        seconds=seconds,
        server_cpu=_server.cpu_seconds(server_pid) - server0,
        db_cpu=(_server.postgres_backend_cpu(database_url) - db0) if database_url else 0.0,
        proxy_cpu=(_server.cpu_seconds(proxy_pid) - proxy0) if proxy_pid else 0.0,
        client_cpu=time.process_time() - cpu0,
    )


def stats_merge(threads: list[Listener]) -> ListenStats:
    total = ListenStats()
    for t in threads:
        s = t.stats
        for name in ("next_ms", "submit_ms", "media_ttfb_ms", "media_ms", "play_ms"):
            getattr(total, name).extend(getattr(s, name))
        total.accepted |= s.accepted
        total.doubled |= s.doubled
        total.errors.update(s.errors)
        total.refused.update(s.refused)
        for name in ("media_requests", "media_bytes", "clips_fetched", "listened_s", "rated"):
            setattr(total, name, getattr(total, name) + getattr(s, name))
    return total


def text_run(args, *, database_url: str | None, seconds: float, think_ms: float) -> dict:
    """bench/annotators.py with as many annotators at the listeners' pace; its JSON figures."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        path = Path(out.name)
    command = [
        sys.executable,
        str(_server.BENCH_DIR / "annotators.py"),
        "--annotators",
        str(args.listeners),
        "--seconds",
        f"{seconds:.1f}",
        "--think-ms",
        f"{think_ms:.0f}",
        "--flow",
        args.flow,
        "--double-rate",
        str(args.double_rate),
        "--workers",
        str(args.workers),
        "--threads",
        str(args.threads),
        "--json",
        str(path),
    ]
    command += ["--database-url", database_url] if database_url else ["--sqlite"]
    command += ["--var-dir", str(Path(args.var_dir or DEFAULT_VAR) / "text")]
    result = subprocess.run(command, capture_output=True, text=True, cwd=_server.REPO)
    print("\n--- text task (bench/annotators.py) ---\n" + result.stdout.rstrip(), flush=True)
    if not path.exists() or not path.read_text():
        raise RuntimeError(f"the text bench failed: {result.stderr[-2000:]}")
    figures = json.loads(path.read_text())
    path.unlink()
    figures["exit_status"] = result.returncode
    return figures


# --- reporting -------------------------------------------------------------------------------

DEFAULT_POSTGRES = annotators.DEFAULT_POSTGRES
DEFAULT_VAR = "/tmp/chorus-bench-mos"


def latency_rows(stats: ListenStats) -> dict[str, dict[str, float]]:
    p = annotators.percentiles
    return {
        "next-item": p(stats.next_ms),
        "submit": p(stats.submit_ms),
        "media TTFB": p(stats.media_ttfb_ms),
        "media whole": p(stats.media_ms),
        "play event": p(stats.play_ms),
    }


def report_print(figures: dict) -> None:
    print(f"\n  {'call':<13}{'n':>7}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}")
    for name, p in figures["latency"].items():
        print(f"  {name:<13}{p['n']:>7}{p['p50']:>10.1f}{p['p95']:>10.1f}{p['p99']:>10.1f}")
    print(
        "  inside gunicorn (its access log), p50 / p95 ms: "
        + ", ".join(
            f"{k} {p['p50']:.0f} / {p['p95']:.0f}" for k, p in figures["inside gunicorn"].items()
        )
    )
    w, c = figures["window"], figures["client"]
    print(
        f"\n  {c['rated']} clips rated by {figures['listeners']} listeners in {w['seconds']:.1f}s "
        f"({c['accepted'] / w['seconds']:.1f} answers/s; {c['listened_s']:.0f} s of audio "
        f"heard); {c['media_requests']} range requests, {c['media_bytes']:,} media bytes received"
    )
    answered = max(c["accepted"], 1)
    print(
        "  CPU per answer: gunicorn {:.1f} ms + PostgreSQL {:.1f} ms + nginx {:.1f} ms "
        "(+ load generator {:.1f} ms)".format(
            *(1000 * w[k] / answered for k in ("server_cpu", "db_cpu", "proxy_cpu", "client_cpu"))
        )
    )
    for source in ("nginx log", "gunicorn log"):
        if figures.get(source):
            print(f"  {source}: " + ", ".join(f"{k} {v:,}" for k, v in figures[source].items()))
    errors = figures["errors"]
    print("  errors: " + (", ".join(f"{k} ×{v}" for k, v in errors.items()) or "none"))
    if figures["refused"]:
        print(
            "  polite refusals: " + ", ".join(f"{k!r} ×{v}" for k, v in figures["refused"].items())
        )
    print("  votes: " + ", ".join(f"{k} {v}" for k, v in figures["votes"].items()))
    print("\n  checks (all must be 0):")
    for name, count in figures["violations"].items():
        print(f"    {'OK ' if count == 0 else 'BAD'} {name}: {count}")


def comparison_print(figures: dict, text: dict) -> dict[str, float]:
    print(f"\n  {'p95 ms':<12}{'MOS':>10}{'text':>10}{'ratio':>8}   (target ≤ 2×)")
    ratios = {}
    for call, key in (("next-item", "next_item"), ("submit", "submit")):
        mos, other = figures["latency"][call]["p95"], text[key]["p95"]
        ratios[call] = mos / other if other else float("inf")
        verdict = "met" if ratios[call] <= 2 else "MISSED"
        print(f"  {call:<12}{mos:>10.1f}{other:>10.1f}{ratios[call]:>7.2f}×   {verdict}")
    return ratios


def args_parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listeners", type=int, default=50)
    parser.add_argument("--clips", type=int, default=6, help="clips each listener rates")
    parser.add_argument(
        "--overlap",
        type=int,
        default=5,
        help="votes wanted per clip (the demo has 80 clips: 5 × 80 = 400 ≥ 50 × 6, so many "
        "clips fill up during the run and the limit is exercised)",
    )
    parser.add_argument(
        "--head-bytes", type=int, default=HEAD_BYTES, help="size of the first range request"
    )
    parser.add_argument(
        "--stagger-s",
        type=float,
        default=3.0,
        help="each listener starts after a uniform random wait up to this (0: all at once)",
    )
    parser.add_argument("--media", choices=["x-accel", "python"], default="x-accel")
    parser.add_argument(
        "--no-proxy",
        action="store_true",
        help="talk to gunicorn directly (only with --media python: x-accel needs nginx)",
    )
    parser.add_argument("--flow", choices=["reload", "htmx"], default="reload")
    parser.add_argument("--double-rate", type=float, default=0.05)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--max-seconds", type=float, default=600.0)
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--var-dir", default=None, help=f"CHORUS_VAR_DIR (default {DEFAULT_VAR})")
    parser.add_argument("--no-text", action="store_true", help="skip the text task's run")
    parser.add_argument(
        "--text-think-ms",
        type=float,
        default=None,
        help="the text annotators' mean think time (default: the listeners' mean seconds per "
        "clip, so both run at the same pace)",
    )
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    if args.media == "x-accel" and args.no_proxy:
        parser.error("--media x-accel needs nginx in front; use --media python with --no-proxy")
    return args


def listeners_bench(args, *, env, database_url, var_dir: Path, tag: str, project) -> dict:
    """Run the listeners against gunicorn (behind nginx unless --no-proxy); their figures."""
    from django.conf import settings

    run = annotators.Run(tag=tag, think_s=0.0, double_rate=args.double_rate, flow=args.flow)
    access_log = var_dir / f"bench-gunicorn-access-{tag}.log"
    proxy_dir = var_dir / f"nginx-{tag}"
    with _server.gunicorn_running(
        env=env,
        workers=args.workers,
        threads=args.threads,
        log_path=var_dir / f"bench-gunicorn-{tag}.log",
        extra_args=[
            "--access-logfile",
            str(access_log),
            "--access-logformat",
            GUNICORN_ACCESS_FORMAT,
        ],
    ) as base_url:
        with _proxy(args, base_url, settings, proxy_dir) as url:
            threads = [
                Listener(
                    n,
                    base_url=url,
                    slug=project.slug,
                    run=run,
                    clips=args.clips,
                    head_bytes=args.head_bytes,
                    stagger_s=args.stagger_s,
                )
                for n in range(args.listeners)
            ]
            window = listeners_drive(
                threads,
                run,
                database_url=database_url,
                base_url=base_url,
                proxy_url=None if args.no_proxy else url,
                max_seconds=args.max_seconds,
            )
    stats = stats_merge(threads)
    figures = {
        "listeners": args.listeners,
        "clips_each": args.clips,
        "media": args.media,
        "proxy": not args.no_proxy,
        "latency": latency_rows(stats),
        "window": window.__dict__,
        "client": {
            "accepted": len(stats.accepted),
            "rated": stats.rated,
            "media_requests": stats.media_requests,
            "media_bytes": stats.media_bytes,
            "clips_fetched": stats.clips_fetched,
            "listened_s": stats.listened_s,
            "out_of_work": sum(t.stats.finished for t in threads),
        },
        "errors": dict(stats.errors.most_common()),
        "refused": dict(stats.refused),
        "gunicorn log": gunicorn_media_bytes(access_log),
        "inside gunicorn": gunicorn_request_ms(access_log),
    }
    if not args.no_proxy:
        prefix = "/" + settings.CHORUS_MEDIA_ACCEL_PREFIX.strip("/") + "/"
        figures["nginx log"] = nginx_media_bytes(proxy_dir / "access.log", prefix)
    project.refresh_from_db()
    violations = annotators.invariants_check(
        project, accepted=stats.accepted, doubled=stats.doubled
    )
    violations.update(listening_checks(project))
    figures["violations"] = violations
    figures["votes"] = votes_summary(project)
    return figures


def _proxy(args, base_url: str, settings, work_dir: Path):
    if args.no_proxy:
        from contextlib import nullcontext

        return nullcontext(base_url)
    return _server.nginx_running(
        upstream=base_url,
        media_root=Path(settings.MEDIA_ROOT),
        work_dir=work_dir,
        accel_prefix=settings.CHORUS_MEDIA_ACCEL_PREFIX,
    )


def bytes_from_python(figures: dict) -> int:
    """Media body bytes Python sent, by gunicorn's log and by nginx's (the larger)."""
    return max(
        figures["gunicorn log"].get("media body bytes sent by Python", 0),
        (figures.get("nginx log") or {}).get("media body bytes from Python (upstream)", 0),
    )


def main(argv: list[str] | None = None) -> int:
    args = args_parse(argv)
    # A TERM (a test's timeout, a CI cancel) unwinds the context managers, so gunicorn and
    # nginx are stopped instead of left running without their parent.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    database_url = (
        None
        if args.sqlite
        else (args.database_url or os.environ.get("DATABASE_URL") or DEFAULT_POSTGRES)
    )
    var_dir = Path(args.var_dir or DEFAULT_VAR)
    var_dir.mkdir(parents=True, exist_ok=True)
    env = _server.bench_env(
        database_url=database_url, var_dir=var_dir, CHORUS_MEDIA_SERVE=args.media
    )
    if database_url:
        _server.postgres_database_ensure(database_url)
    _server.django_setup(env)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    load_before = _server.uptime()
    print(f"load before: {load_before}", flush=True)
    tag = uuid.uuid4().hex[:8]
    project = mos_project_seed(slug=f"bench-mos-{tag}", overlap=args.overlap)
    connection.close()
    print(
        f"{'PostgreSQL' if database_url else 'SQLite'}: {args.listeners} listeners × "
        f"{args.clips} clips, ACR demo stimuli, overlap {args.overlap}, media {args.media}"
        f"{'' if args.no_proxy else ' behind nginx'}, gunicorn -w {args.workers} --threads "
        f"{args.threads}, {args.flow} flow, double submits {args.double_rate:.0%}",
        flush=True,
    )
    figures = listeners_bench(
        args, env=env, database_url=database_url, var_dir=var_dir, tag=tag, project=project
    )
    figures["load_before"] = load_before
    report_print(figures)
    python_bytes = bytes_from_python(figures)
    failed = any(figures["violations"].values()) or bool(figures["errors"])
    if args.media == "x-accel":
        print(f"\n  media body bytes sent by Python: {python_bytes:,} (must be 0)")
        failed = failed or python_bytes > 0
    if not args.no_text:
        seconds_per_clip = figures["window"]["seconds"] / max(args.clips, 1)
        think_ms = args.text_think_ms
        if think_ms is None:
            think_ms = 1000 * seconds_per_clip
        figures["text"] = text_run(
            args,
            database_url=database_url,
            seconds=figures["window"]["seconds"],
            think_ms=think_ms,
        )
        figures["text"]["think_ms"] = think_ms
        figures["p95_ratio"] = comparison_print(figures, figures["text"])
    figures["load_after"] = _server.uptime()
    print(f"\nload before: {load_before}\nload after:  {figures['load_after']}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str))
    if args.keep:
        print(f"  kept project {project.slug!r}")
    else:
        project.delete()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
