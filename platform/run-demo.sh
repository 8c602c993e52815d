#!/usr/bin/env bash
# Starts the embedded demo: web server (gunicorn) + one Celery worker (with beat), on the
# defaults (SQLite and the file-system broker under var/). Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${1:-8000}"
# Only this machine can reach the demo unless CHORUS_DEMO_HOST says otherwise (e.g. 0.0.0.0).
HOST="${CHORUS_DEMO_HOST:-127.0.0.1}"
BIN=.venv/bin
mkdir -p var/log
# Two workers, as in production: the default queue (imports, results, exports) with beat, and
# the gpu queue one job at a time, so two trainings never share the cores. On CPU, torch's
# threads wait passively: spinning threads fight the web server and the other worker for the
# same cores, and training ran 5-10x slower (bench/README.md, "Training in the demo").
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
$BIN/celery -A config worker -Q default -B --concurrency 2 -n default@%h -l warning \
  --schedule var/celerybeat-schedule >var/log/worker.log 2>&1 &
WORKER="$!"
$BIN/celery -A config worker -Q gpu --concurrency 1 --prefetch-multiplier 1 -n gpu@%h -l warning \
  >var/log/gpu-worker.log 2>&1 &
WORKER="$WORKER $!"
$BIN/gunicorn config.wsgi -b "${HOST}:${PORT}" -w 3 --threads 4 --access-logfile var/log/access.log \
  >var/log/web.log 2>&1 &
WEB=$!
trap 'kill $WORKER $WEB 2>/dev/null; wait' INT TERM EXIT
for _ in $(seq 1 50); do
  $BIN/python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:${PORT}/accounts/login/', timeout=1)" 2>/dev/null && break
  sleep 0.2
done
PASSWORD=$(cat var/demo_admin_password)
cat <<MSG

  Chorus is running.

  Researcher dashboard:  http://127.0.0.1:${PORT}/        (login: admin / ${PASSWORD})
  Crowdworker links:
$($BIN/python manage.py demo_links --base "http://127.0.0.1:${PORT}")
  Logs: var/log/web.log, var/log/worker.log, var/log/gpu-worker.log.  Ctrl-C stops everything.

MSG
wait $WEB
