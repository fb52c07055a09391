"""gunicorn's settings for the production shape: `gunicorn -c config/gunicorn.py
config.wsgi` (command-line options such as --bind and --workers still apply).

Metrics: with PROMETHEUS_MULTIPROC_DIR set, every worker writes its figures
there and /metrics adds them up (core/metrics.py); the directory starts empty and
a worker that exits takes its live gauges with it.
"""

from core.metrics import multiprocess_dir_emptied, process_gone

# Requests in flight when the master gets SIGTERM get this long to finish.
graceful_timeout = 30


def on_starting(server):
    multiprocess_dir_emptied()


def child_exit(server, worker):
    process_gone(worker.pid)
