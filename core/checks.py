from django.core.checks import Error, Tags, register

from .production import sandbox_refusals


@register(Tags.security, deploy=True)
def production_trusts_no_sandbox(app_configs, **kwargs):
    """What production mode refuses to start with (core/production.py)."""
    return [Error(refusal, id="core.E001") for refusal in sandbox_refusals()]
