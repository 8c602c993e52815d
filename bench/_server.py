"""Start the real platform for a benchmark: database, gunicorn, Celery worker.

Shared by the scripts in bench/. Every server runs as a child process in its own session so
that stopping it stops its workers too, and every one of them gets the same environment as the
benchmark script (so they all talk to the same database and var dir).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "bench"
VENV_BIN = Path(sys.executable).parent
GUNICORN_CONFIG = BENCH_DIR / "gunicorn_bench.py"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# base URL → pid of the gunicorn master serving it, for cpu_seconds() while it runs.
SERVERS: dict[str, int] = {}


def _proc_cpu(pid: int) -> tuple[int, float]:
    """(parent pid, user + system CPU seconds) of one process, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and its live children (a gunicorn master and workers).

    On a shared machine wall-clock figures move with everyone else's load; CPU time spent per
    answer does not, so the benchmarks report it beside the latencies.
    """
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid, cpu = _proc_cpu(int(entry))
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        if int(entry) == pid or ppid == pid:
            total += cpu
    return total


def postgres_backend_cpu(database_url: str) -> float:
    """CPU seconds used so far by the PostgreSQL backends connected to this database.

    Only meaningful when PostgreSQL runs on this machine (it reads /proc).
    """
    import dj_database_url
    import psycopg

    cfg = dj_database_url.parse(database_url)
    params = {
        "host": cfg.get("HOST") or None,
        "port": cfg.get("PORT") or None,
        "user": cfg.get("USER") or None,
        "password": cfg.get("PASSWORD") or None,
        "dbname": cfg["NAME"],
    }
    with psycopg.connect(**{k: v for k, v in params.items() if v}) as conn:
        pids = [
            row[0]
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
        ]
    total = 0.0
    for backend in pids:
        try:
            total += _proc_cpu(backend)[1]
        except (FileNotFoundError, PermissionError):
            continue
    return total


def bench_env(*, database_url: str | None, var_dir: Path | str, **extra: str) -> dict[str, str]:
    """The environment of the bench script and of every server it starts.

    DEBUG is off: with DEBUG on Django records every SQL statement, which is not what
    production runs and slows each request measurably.
    """
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    env["CHORUS_VAR_DIR"] = str(var_dir)
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    env["DEBUG"] = "0"
    env["LOG_LEVEL"] = env.get("BENCH_LOG_LEVEL", "ERROR")
    env.update(extra)
    return env


def django_setup(env: dict[str, str], *, code: Path | None = None) -> None:
    """Configure Django in this process with ``env`` and register the bench task type.

    ``code``: import the platform from that checkout instead of this one (an A/B comparison
    of two versions with the same bench script).
    """
    os.environ.clear()
    os.environ.update(env)
    # Celery's Django fix-up puts the working directory first on sys.path when config.celery
    # is imported: run from the served checkout, or it would import this one's apps.
    os.chdir(code or REPO)
    for path in (str(REPO), str(BENCH_DIR), str(code or REPO)):
        if path in sys.path:
            sys.path.remove(path)
        sys.path.insert(0, path)
    import django

    django.setup()
    import benchtype

    benchtype.register()


def postgres_database_ensure(database_url: str) -> None:
    """Create the PostgreSQL database named in ``database_url`` if it does not exist yet."""
    import dj_database_url
    import psycopg
    from psycopg import sql

    cfg = dj_database_url.parse(database_url)
    conninfo = {
        "host": cfg.get("HOST") or None,
        "port": cfg.get("PORT") or None,
        "user": cfg.get("USER") or None,
        "password": cfg.get("PASSWORD") or None,
        "dbname": "postgres",
    }
    with psycopg.connect(**{k: v for k, v in conninfo.items() if v}, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [cfg["NAME"]]
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(cfg["NAME"])))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, *, timeout: float = 30.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        try:
            httpx.get(url, timeout=2.0)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")


def _stop(process: subprocess.Popen, *, grace: float = 10.0) -> None:
    """TERM the process group we started (the master and its workers), then KILL it."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


@contextmanager
def gunicorn_running(
    *,
    env: dict[str, str],
    workers: int = 4,
    threads: int = 1,
    port: int | None = None,
    log_path: Path | None = None,
    extra_args: list[str] | None = None,
    config: Path = GUNICORN_CONFIG,
    code: Path | None = None,
) -> Iterator[str]:
    """Serve config.wsgi with gunicorn (bench task type registered); yields the base URL.

    ``code``: serve that checkout instead of this one (gunicorn imports from its folder).
    """
    port = port or free_port()
    args = [
        str(VENV_BIN / "gunicorn"),
        "config.wsgi",
        "-c",
        str(config),
        "-b",
        f"127.0.0.1:{port}",
        "-w",
        str(workers),
        "--threads",
        str(threads),
        "--backlog",
        "2048",
        "--timeout",
        "120",
        *(extra_args or []),
    ]
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL
    process = subprocess.Popen(
        args, cwd=code or REPO, env=env, stdout=log, stderr=log, start_new_session=True
    )
    base_url = f"http://127.0.0.1:{port}"
    SERVERS[base_url] = process.pid
    try:
        wait_http(f"{base_url}/accounts/login/", process=process)
        yield base_url
    finally:
        SERVERS.pop(base_url, None)
        _stop(process)
        if log_path:
            log.close()


@contextmanager
def celery_running(
    *,
    env: dict[str, str],
    queues: str = "default",
    concurrency: int = 1,
    log_path: Path | None = None,
) -> Iterator[subprocess.Popen]:
    """Run a real Celery worker for ``queues``; yields the process once it reports ready."""
    args = [
        str(VENV_BIN / "celery"),
        "-A",
        "config",
        "worker",
        "-Q",
        queues,
        "--concurrency",
        str(concurrency),
        "--prefetch-multiplier",
        "1",
        "-n",
        f"bench-{os.getpid()}@%h",
        "-l",
        "info",
        "--without-gossip",
        "--without-mingle",
    ]
    log_path = log_path or Path(env["CHORUS_VAR_DIR"]) / f"bench-celery-{os.getpid()}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            args, cwd=REPO, env=env, stdout=log, stderr=log, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 60
            while b"ready." not in log_path.read_bytes():
                if process.poll() is not None:
                    raise RuntimeError(f"celery exited with {process.returncode}; see {log_path}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"celery did not become ready; see {log_path}")
                time.sleep(0.3)
            yield process
        finally:
            _stop(process, grace=30)


NGINX_CONF = """\
daemon off;
{user}
worker_processes {workers};
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    default_type application/octet-stream;
    # One line per request: what the browser asked, where nginx took it (the internal media
    # location after an X-Accel-Redirect), the status, body bytes nginx sent, the body bytes
    # the upstream (Python) sent, and the upstream's X-Accel-Redirect header.
    log_format bench '$request_uri $uri $status $body_bytes_sent '
                     '$upstream_response_length "$upstream_http_x_accel_redirect" '
                     '$request_time';
    access_log {work}/access.log bench;
    client_body_temp_path {work}/client_body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    # As platform/README.md's minimal nginx: a new upstream connection per request. (With
    # ``keepalive`` here nginx reuses connections gunicorn closes after its 2 s keep-alive, and
    # a POST sent on one just as it closes comes back 502: the first run of
    # bench/mos_listeners.py met one.)
    upstream chorus {{ server {upstream}; }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 100m;
        location {prefix} {{
            internal;
            alias {media_root}/;
            add_header Cache-Control "private, no-store, max-age=0" always;
            add_header X-Content-Type-Options nosniff always;
            add_header Content-Security-Policy "default-src 'none'; sandbox" always;
        }}
        location / {{
            proxy_pass http://chorus;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 120s;
        }}
    }}
}}
"""


def nginx_binary() -> str | None:
    """nginx on PATH or in /usr/sbin (Debian puts it there, outside a normal user's PATH)."""
    import shutil

    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


@contextmanager
def nginx_running(
    *,
    upstream: str,
    media_root: Path,
    work_dir: Path,
    accel_prefix: str = "/_protected_media/",
    workers: int = 1,
) -> Iterator[str]:
    """nginx in front of ``upstream`` (a gunicorn base URL) as platform/README.md sets it up for
    ``CHORUS_MEDIA_SERVE=x-accel``: an ``internal`` location aliasing ``media_root``, the rest
    proxied. Yields nginx's base URL; its access log is ``work_dir/access.log``."""
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed (apt-get install -y nginx)")
    work_dir.mkdir(parents=True, exist_ok=True)
    media_root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = work_dir / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            user=_nginx_user(media_root),
            workers=workers,
            work=work_dir,
            upstream=upstream.removeprefix("http://"),
            port=port,
            prefix="/" + accel_prefix.strip("/") + "/",
            media_root=str(media_root).rstrip("/"),
        )
    )
    with open(work_dir / "nginx.out", "ab") as log:
        process = subprocess.Popen(
            [binary, "-p", str(work_dir), "-c", str(conf), "-e", str(work_dir / "error.log")],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        base_url = f"http://127.0.0.1:{port}"
        SERVERS[base_url] = process.pid
        try:
            wait_http(f"{base_url}/accounts/login/", process=process)
            yield base_url
        finally:
            SERVERS.pop(base_url, None)
            _stop(process)


def _nginx_user(media_root: Path) -> str:
    """Started as root, nginx's workers become ``nobody``, who cannot read a private media
    folder (pytest's temporary folders are 0700): run them as the folder's owner instead."""
    if os.geteuid() != 0:
        return ""
    import pwd

    owner = pwd.getpwuid(media_root.stat().st_uid).pw_name
    return f"user {owner};"


def participants_seed(cursor, project_id: int, participants: int, *, blocked_every: int) -> None:
    """Bulk SQL: ``participants`` Prolific participants ``worker-<n>``; every
    ``blocked_every``-th of them blocked."""
    cursor.execute(
        """INSERT INTO core_participant (project_id, public_id, source, external_id, study_id,
               session_id, status, blocked_reason, created_at, simulated)
           SELECT %s, gen_random_uuid(), 'prolific', 'worker-' || n, '', '',
                  CASE WHEN n %% %s = 0 THEN 'blocked' ELSE 'active' END,
                  CASE WHEN n %% %s = 0 THEN 'blocked by the bench' ELSE '' END,
                  now(), false
           FROM generate_series(0, %s - 1) AS n""",
        [project_id, blocked_every, blocked_every, participants],
    )


def assignments_seed(cursor, project_id: int, participants: int, *, per_item: int, stride: int):
    """Bulk SQL: ``per_item`` submitted assignments on every item of the project, spread over
    its participants (the item's row number + k · ``stride``, modulo the participants)."""
    cursor.execute(
        """INSERT INTO core_assignment (item_id, participant_id, status, reserved_at,
               expires_at, finished_at)
           SELECT i.id, p.id, 'submitted', now(), now(), now()
           FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM core_item
                 WHERE project_id = %s) AS i
           CROSS JOIN generate_series(0, %s - 1) AS k
           JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS rn FROM core_participant
                 WHERE project_id = %s) AS p ON p.rn = (i.rn + k * %s) %% %s""",
        [project_id, per_item, project_id, stride, participants],
    )


def postgres_measure_main(child: int | None, measure, *, prefix: str) -> dict[str, str] | None:
    """The start of a bench that measures a project in a child process, on PostgreSQL.

    In the child (``child``: the project id) print ``measure(child)`` as JSON and return None;
    in the parent create and migrate the database of ``DATABASE_URL`` and return the env.
    """
    import json
    import tempfile

    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        sys.exit("Set DATABASE_URL=postgres://… (the benchmark measures PostgreSQL).")
    if child:
        django_setup(dict(os.environ))
        print(json.dumps(measure(child)))
        return None
    postgres_database_ensure(database_url)
    env = bench_env(database_url=database_url, var_dir=Path(tempfile.mkdtemp(prefix=prefix)))
    django_setup(env)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return env


def uptime() -> str:
    """The machine's load as ``uptime`` prints it (the benchmarks print it before and after)."""
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
