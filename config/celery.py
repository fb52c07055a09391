import logging.config
import os

from celery import Celery
from celery.signals import (
    setup_logging,
    task_failure,
    task_retry,
    task_success,
    worker_init,
    worker_process_shutdown,
    worker_ready,
)
from django_structlog.celery.steps import DjangoStructLogInitStep

from core.metrics import (
    celery_task_counted,
    multiprocess_dir_emptied,
    process_gone,
    worker_metrics_started,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("giftshop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# A worker's lines carry the task and the request id of the request that queued it.
app.steps["worker"].add(DjangoStructLogInitStep)


@setup_logging.connect
def logging_from_settings(**kwargs):
    # Workers and beat log as the web does (settings.LOGGING), not in Celery's format.
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


# Metrics (core/metrics.py): tasks counted by outcome in whichever process runs
# them; with METRICS_WORKER_PORT set, the worker answers its own /metrics.
@task_success.connect
def task_success_counted(sender=None, **kwargs):
    celery_task_counted(sender.name, "success")


@task_failure.connect
def task_failure_counted(sender=None, **kwargs):
    celery_task_counted(sender.name, "failure")


@task_retry.connect
def task_retry_counted(sender=None, **kwargs):
    celery_task_counted(sender.name, "retry")


@worker_init.connect
def worker_metrics_dir_emptied(**kwargs):
    # In the worker's main process, before its children start counting.
    multiprocess_dir_emptied()


@worker_ready.connect
def worker_metrics_served(**kwargs):
    from django.conf import settings

    if settings.METRICS_WORKER_PORT:
        worker_metrics_started(
            settings.METRICS_WORKER_ADDRESS, settings.METRICS_WORKER_PORT
        )


@worker_process_shutdown.connect
def worker_child_gone(pid=None, **kwargs):
    process_gone(pid or os.getpid())
