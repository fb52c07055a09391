import logging.config
import os

from celery import Celery
from celery.signals import setup_logging
from django_structlog.celery.steps import DjangoStructLogInitStep

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
