from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self):
        from . import checks  # noqa: F401  (registers the deploy checks)
        from .production import sandbox_refusals

        # Every process (web, worker, beat, command) sets Django up: none of them
        # starts in production mode with a sandbox it may not trust.
        if settings.PRODUCTION_MODE:
            refusals = sandbox_refusals()
            if refusals:
                raise ImproperlyConfigured(refusals[0])
