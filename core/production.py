"""Production trusts no sandbox (DESIGN rule 11).

The sandbox store and payout provider sign receipts, refund notifications and
payout callbacks with a secret: with the development default, published in this
source, anyone can mint coins or mark payouts paid. In production mode
(`DJANGO_DEBUG=0`) a sandbox adapter is refused unless the operator says this is a
staging deployment (`DJANGO_ALLOW_SANDBOX=1`) and gives every secret the sandboxes
sign with. `CoreConfig.ready` refuses to start on the first refusal; the deploy
check (`check --deploy`) reports them all.
"""

from django.conf import settings
from django.utils.module_loading import import_string

ALLOW_SANDBOX = "DJANGO_ALLOW_SANDBOX"
STORE_SECRET = "PAYMENT_STORE_SANDBOX_SECRET"
PROVIDER_SECRET = "PAYOUT_PROVIDER_SANDBOX_SECRET"
# The development defaults of the secrets above: published, so never a key.
DEVELOPMENT_SECRETS = frozenset(
    {"sandbox-notification-secret", "sandbox-payout-secret"}
)
SECRET_MIN_LENGTH = 32


def adapter_settings() -> dict[str, tuple[str, str]]:
    """Each adapter's variable -> (its class path, the secret its sandbox uses)."""
    adapters = {
        f"PAYMENT_STORE_{store.upper()}": (path, STORE_SECRET)
        for store, path in settings.PAYMENT_STORES.items()
    }
    adapters["PAYOUT_PROVIDER"] = (settings.PAYOUT_PROVIDER, PROVIDER_SECRET)
    return adapters


def sandbox_refusals() -> list[str]:
    """Why these settings may not run in production mode, one line each."""
    refusals, secrets_needed = [], []
    for variable, (path, secret) in adapter_settings().items():
        try:
            adapter = import_string(path)
        except ImportError:
            refusals.append(
                f"{variable} names no class that can be imported: {path!r}."
            )
            continue
        if not getattr(adapter, "sandbox", False):
            continue
        if not settings.ALLOW_SANDBOX:
            refusals.append(
                f"{variable} is a sandbox adapter ({path}), which production mode "
                f"(DJANGO_DEBUG=0) refuses: name a real adapter, or set "
                f"{ALLOW_SANDBOX}=1 for a staging deployment and give its secrets."
            )
        elif secret not in secrets_needed:
            secrets_needed.append(secret)
    for secret in secrets_needed:
        value = getattr(settings, secret)
        if len(value) < SECRET_MIN_LENGTH or value in DEVELOPMENT_SECRETS:
            refusals.append(
                f"{secret} must be set to a random secret of at least "
                f"{SECRET_MIN_LENGTH} characters (not the development default) when "
                f"DJANGO_DEBUG=0 uses a sandbox adapter ({ALLOW_SANDBOX}=1)."
            )
    if len(secrets_needed) == 2 and getattr(settings, STORE_SECRET) == getattr(
        settings, PROVIDER_SECRET
    ):
        refusals.append(f"{PROVIDER_SECRET} must differ from {STORE_SECRET}.")
    return refusals
