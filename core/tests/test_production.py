"""Production mode trusts no sandbox: what core.production refuses, and why.

The refusal at start-up is tested in real processes in tests/test_settings.py; these
cover every case of the rule it applies, in-process.
"""

import pytest

from core.checks import production_trusts_no_sandbox
from core.production import sandbox_refusals
from wallets.stores import SandboxStore

SANDBOX_STORE = "wallets.stores.SandboxStore"
SANDBOX_PROVIDER = "payouts.providers.SandboxPayoutProvider"
LIVE_STORE = "tests.test_settings.LiveStore"
LIVE_PROVIDER = "tests.test_settings.LiveProvider"
STORE_SECRET = "s" * 32
PROVIDER_SECRET = "p" * 32


class RenamedSandboxStore(SandboxStore):
    """The sandbox under another name is still the sandbox."""


@pytest.fixture
def live(settings):
    settings.PAYMENT_STORES = {
        store: LIVE_STORE for store in ("apple", "google", "web")
    }
    settings.PAYOUT_PROVIDER = LIVE_PROVIDER
    settings.ALLOW_SANDBOX = False
    settings.PAYMENT_STORE_SANDBOX_SECRET = ""
    settings.PAYOUT_PROVIDER_SANDBOX_SECRET = ""
    return settings


def test_real_adapters_need_no_sandbox_secret(live):
    assert sandbox_refusals() == []


@pytest.mark.parametrize(
    ("variable", "path"),
    [
        ("PAYMENT_STORE_APPLE", SANDBOX_STORE),
        ("PAYMENT_STORE_GOOGLE", SANDBOX_STORE),
        ("PAYMENT_STORE_WEB", f"{__name__}.RenamedSandboxStore"),
        ("PAYOUT_PROVIDER", SANDBOX_PROVIDER),
    ],
)
def test_any_one_sandbox_adapter_is_refused_and_named(live, variable, path):
    if variable == "PAYOUT_PROVIDER":
        live.PAYOUT_PROVIDER = path
    else:
        store = variable.removeprefix("PAYMENT_STORE_").lower()
        live.PAYMENT_STORES = {**live.PAYMENT_STORES, store: path}

    (refusal,) = sandbox_refusals()

    assert refusal.startswith(f"{variable} is a sandbox adapter ({path})")
    assert "DJANGO_ALLOW_SANDBOX=1" in refusal


def test_an_adapter_that_cannot_be_imported_is_refused(live):
    live.PAYOUT_PROVIDER = "payouts.providers.NoSuchProvider"

    assert sandbox_refusals() == [
        "PAYOUT_PROVIDER names no class that can be imported: "
        "'payouts.providers.NoSuchProvider'."
    ]


@pytest.fixture
def staging(live):
    live.PAYMENT_STORES = {**live.PAYMENT_STORES, "apple": SANDBOX_STORE}
    live.PAYOUT_PROVIDER = SANDBOX_PROVIDER
    live.ALLOW_SANDBOX = True
    live.PAYMENT_STORE_SANDBOX_SECRET = STORE_SECRET
    live.PAYOUT_PROVIDER_SANDBOX_SECRET = PROVIDER_SECRET
    return live


def test_the_staging_switch_with_every_secret_allows_the_sandbox(staging):
    assert sandbox_refusals() == []


@pytest.mark.parametrize(
    ("secrets", "named"),
    [
        ({"PAYMENT_STORE_SANDBOX_SECRET": ""}, "PAYMENT_STORE_SANDBOX_SECRET"),
        (
            {"PAYMENT_STORE_SANDBOX_SECRET": "sandbox-notification-secret"},
            "PAYMENT_STORE_SANDBOX_SECRET",
        ),
        ({"PAYOUT_PROVIDER_SANDBOX_SECRET": ""}, "PAYOUT_PROVIDER_SANDBOX_SECRET"),
        (
            {"PAYOUT_PROVIDER_SANDBOX_SECRET": "sandbox-payout-secret"},
            "PAYOUT_PROVIDER_SANDBOX_SECRET",
        ),
        (
            {"PAYOUT_PROVIDER_SANDBOX_SECRET": "x" * 31},
            "PAYOUT_PROVIDER_SANDBOX_SECRET",
        ),
    ],
    ids=[
        "no store secret",
        "store default",
        "no payout secret",
        "payout default",
        "short",
    ],
)
def test_the_staging_switch_refuses_a_missing_or_default_secret(
    staging, secrets, named
):
    for name, value in secrets.items():
        setattr(staging, name, value)

    (refusal,) = sandbox_refusals()

    assert refusal.startswith(f"{named} must be set to a random secret")


def test_one_secret_for_both_sandboxes_is_refused(staging):
    staging.PAYOUT_PROVIDER_SANDBOX_SECRET = STORE_SECRET

    assert sandbox_refusals() == [
        "PAYOUT_PROVIDER_SANDBOX_SECRET must differ from PAYMENT_STORE_SANDBOX_SECRET."
    ]


def test_only_the_secrets_of_sandboxes_in_use_are_needed(staging):
    staging.PAYOUT_PROVIDER = LIVE_PROVIDER
    staging.PAYOUT_PROVIDER_SANDBOX_SECRET = ""

    assert sandbox_refusals() == []


def test_the_deploy_check_reports_every_refusal_as_an_error(live):
    live.PAYOUT_PROVIDER = SANDBOX_PROVIDER
    live.PAYMENT_STORES = {**live.PAYMENT_STORES, "web": SANDBOX_STORE}

    errors = production_trusts_no_sandbox(None)

    assert [(error.level, error.id) for error in errors] == [(40, "core.E001")] * 2
    assert [error.msg.split(" ")[0] for error in errors] == [
        "PAYMENT_STORE_WEB",
        "PAYOUT_PROVIDER",
    ]
