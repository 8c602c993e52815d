"""gunicorn config for the benchmarks: ``gunicorn config.wsgi -c bench/gunicorn_bench.py``.

Its only job beyond gunicorn's defaults is to register the bench task type in every worker
once Django is set up, so the served app knows ``bench-choice`` without any change to app code.
"""

import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def post_worker_init(worker) -> None:
    # Runs in each worker after config.wsgi loaded (django.setup() has run).
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    import benchtype

    benchtype.register()
