from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from .production import sandbox_refusals


@register(Tags.security, deploy=True)
def production_trusts_no_sandbox(app_configs, **kwargs):
    """What production mode refuses to start with (core/production.py)."""
    return [Error(refusal, id="core.E001") for refusal in sandbox_refusals()]


@register(Tags.security, deploy=True)
def client_address_behind_the_proxy(app_configs, **kwargs):
    """Production runs behind a TLS proxy (SECURE_PROXY_SSL_HEADER): without
    TRUSTED_PROXY_COUNT every client has the proxy's address (core/network.py)."""
    if settings.DEBUG or settings.TRUSTED_PROXY_COUNT:
        return []
    return [
        Warning(
            "TRUSTED_PROXY_COUNT is 0: behind the TLS proxy every client has the "
            "proxy's address, so failed logins from anyone lock everyone out and "
            "the logs show one address.",
            hint="Set TRUSTED_PROXY_COUNT to the proxies that append to "
            "X-Forwarded-For (1 for one TLS proxy).",
            id="core.W001",
        )
    ]
