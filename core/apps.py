from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django_structlog.celery import signals as task_signals


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self):
        from . import checks  # noqa: F401  (registers the deploy checks)
        from .logs import task_context_with_user
        from .metrics import queue_lengths_collector, scrape_collector_add
        from .production import sandbox_refusals

        # Celery's queue lengths, read from a real broker when /metrics is scraped.
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            scrape_collector_add(queue_lengths_collector)

        # The user of the request that queues a task goes with the task's request id.
        task_signals.modify_context_before_task_publish.connect(task_context_with_user)

        # Every process (web, worker, beat, command) sets Django up: none of them
        # starts in production mode with a sandbox it may not trust.
        if settings.PRODUCTION_MODE:
            refusals = sandbox_refusals()
            if refusals:
                raise ImproperlyConfigured(refusals[0])
