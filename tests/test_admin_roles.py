"""Every admin URL, per role, against the README's *Admin roles* table.

README.md's table under "Admin roles" (the one headed `| screen |`) states what each
role may do on each admin screen. This test opens, as anonymous and as each role,
every registered model's changelist, add page, one row's change page and delete
page, and every custom admin view, and reports every difference at once.

A new admin screen needs a row in that table (the test names the missing ones) and,
if no row of its model exists after `one_of_each`, a maker in `MAKERS`.
"""

import datetime
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from djmoney.money import Money

from accounts.demo import demo_users_create
from accounts.roles import CATALOG_EDITORS, FINANCE, SUPPORT
from wallets.tests.factories import user_create

pytestmark = pytest.mark.django_db

README = Path(settings.BASE_DIR) / "README.md"
# README column -> who signs in for it.
COLUMNS = ("Support", "Catalog editors", "Finance", "superusers")
ACTIONS = ("view", "add", "change", "delete")
NOTHING = "—"
# Not screens of their own: an import's POST step, a history entry's old form
# (opened from the history, which the view permission gives).
NOT_SCREENS = re.compile(r"(_process_import|_simple_history)$")
# Screens that exist only for a row in some state (a failed job's error report).
NEEDS_STATE = {"catalog/importjob/<id>/report/"}


def readme_table() -> dict[str, dict[str, frozenset[str]]]:
    """{screen: {column: {actions}}} from the README's admin screen table."""
    text = README.read_text()
    section = text.split("## Admin roles", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    header = next(r for r in rows if r.startswith("| screen |"))
    columns = [c.strip() for c in header.strip("|").split("|")][1:]
    assert tuple(columns) == COLUMNS, f"README admin table columns: {columns}"
    table = {}
    for row in rows[rows.index(header) + 2 :]:
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        screen = cells[0].strip("`")
        table[screen] = {
            column: frozenset()
            if cell == NOTHING
            else frozenset(word.strip() for word in cell.split(","))
            for column, cell in zip(COLUMNS, cells[1:], strict=True)
        }
    return table


def person(column: str):
    if column == "superusers":
        return user_create(is_staff=True, is_superuser=True)
    user = user_create(is_staff=True)
    group = {"Support": SUPPORT, "Catalog editors": CATALOG_EDITORS, "Finance": FINANCE}
    user.groups.add(Group.objects.get(name=group[column]))
    return user


def _payout_things():
    from gifting import services as gifting_services
    from gifting.tests.factories import funded_sender, rich_creator, rose
    from payouts import services
    from payouts.models import SandboxPayoutRecord
    from wallets.models import DIAMOND_SCALE

    creator = rich_creator(diamonds=30_000)
    services.payout_request(
        creator=creator, diamond_units=20_000 * DIAMOND_SCALE, idempotency_key="a"
    )
    services.payout_method_change_request(
        creator=creator,
        actor=creator.user,
        payout_method="paypal",
        paypal_email="new@example.com",
    )
    gifting_services.gift_send(
        sender=funded_sender(),
        creator=creator,
        gift=rose(slug="walk-rose"),
        quantity=1,
        placement="live",
        stream_id="s1",
        region=None,
        idempotency_key="walk",
    )
    SandboxPayoutRecord.objects.create(
        reference="PO-WALK", outcome="paid", amount=Decimal("1"), currency="USD"
    )


def _wallet_things():
    from wallets import services
    from wallets.models import LedgerAccount, SpendingLimitOverride
    from wallets.reconciliation import ledger_reconcile
    from wallets.tests.test_refund_requests import bought
    from wallets.tests.test_unrecovered_refunds import partly_refunded, spent_purchase

    spent_purchase(txn="walk-1")
    partly_refunded("walk-1")
    buyer = user_create()
    services.refund_request_create(
        purchase=bought(buyer), user=buyer, reason="walk", idempotency_key="walk"
    )
    ledger_reconcile()
    user = user_create()
    region = SpendingLimitOverride._meta.get_field("region").related_model
    SpendingLimitOverride.objects.create(
        user=user,
        region=region.objects.get(code="US"),
        daily_limit=Money("10", "USD"),
        reason="walk",
    )
    services.balance_adjustment_request(
        user=user,
        account_kind=LedgerAccount.Kind.BONUS_COINS,
        amount=5,
        reason="walk",
        actor=user_create(is_superuser=True),
        idempotency_key="walk",
    )


def _catalog_things():
    from catalog import services
    from catalog.models import Gift, GiftPriceChange, ImportJob

    GiftPriceChange.objects.create(
        gift=Gift.objects.first(),
        coin_price=7,
        effective_at=timezone.now() + datetime.timedelta(days=1),
    )
    ImportJob.objects.create(
        kind=ImportJob.Kind.GIFTS, file="walk.csv", created_by=user_create()
    )
    services.repricing_proposal_create(bundles=None, actor=None)


def _other_things():
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog
    from django_celery_beat.models import ClockedSchedule, SolarSchedule
    from djmoney.contrib.exchange.models import ExchangeBackend, Rate

    who = {"username": "x", "ip_address": "127.0.0.1", "user_agent": "t"}
    AccessAttempt.objects.create(failures_since_start=1, **who)
    AccessLog.objects.create(**who)
    AccessFailureLog.objects.create(**who)
    ClockedSchedule.objects.create(clocked_time=timezone.now())
    SolarSchedule.objects.create(event="sunrise", latitude=1, longitude=1)
    backend, _ = ExchangeBackend.objects.get_or_create(
        name="walk", defaults={"base_currency": "USD"}
    )
    Rate.objects.get_or_create(currency="EUR", backend=backend, defaults={"value": 1})
    from core.models import ListExport

    ListExport.objects.create(
        actor=user_create(), list_label="wallets.Transfer", rows=0, format="csv"
    )


def _hold_things():
    from django.test import override_settings

    from gifting.tests.factories import creator_create
    from payouts.tests.test_holds import buyer_with, gift, rule, store_refund

    now = timezone.now()
    rule(7, at=now)
    with override_settings(EARNINGS_HOLD_DAYS=7):
        sender, _ = buyer_with(at=now - datetime.timedelta(days=1), txn="walk-hold")
        # All of it: the seeded promotions' bonus coins go first.
        gift(sender, creator_create(), 100, at=now, key="walk-hold")
        store_refund("walk-hold")


def _onboarding_things():
    from accounts.services import service_token_create
    from gifting.services.applications import (
        FactsReport,
        account_facts_report,
        creator_application_submit,
        eligibility_rule_set,
    )

    service_token_create(name="walk-platform", scope="account_facts")
    eligibility_rule_set(
        region=None,
        min_age=18,
        min_followers=1000,
        review_all=True,
        facts_max_age_days=30,
        reason="walk",
        actor=user_create(is_superuser=True),
    )
    applicant = user_create()
    account_facts_report(
        reports=[FactsReport(applicant.pk, 5000, None, False, timezone.now())]
    )
    creator_application_submit(user=applicant, display_name="Walk")


def _report_things():
    from reports.models import Incident

    Incident.objects.create(
        kind=Incident.Kind.RECONCILIATION, key="ledger", summary="walk"
    )


def _sponsor_things():
    from catalog.models import Gift
    from gifting.tests.test_sponsored import campaign_create

    campaign_create(Gift.objects.first(), budget=100)


def _subscription_things():
    from gifting.tests.factories import funded_sender
    from subscriptions import services as subscription_services
    from subscriptions.tests.factories import tier_create

    tier = tier_create()
    subscription = subscription_services.subscription_subscribe(
        subscriber=funded_sender(1000),
        tier=tier,
        coin_price=tier.coin_price,
        idempotency_key="walk",
    ).subscription
    subscription_services.charge_refund_request(
        charge=subscription.charges.get(),
        actor=user_create(is_superuser=True),
        reason="walk",
    )
    _charge_taken_back_by_a_store_refund()


def _charge_taken_back_by_a_store_refund():
    from django.test import override_settings

    from payouts.tests.test_holds import buyer_with, store_refund
    from subscriptions import services as subscription_services
    from subscriptions.tests.factories import tier_create

    tier = tier_create()
    with override_settings(EARNINGS_HOLD_DAYS=7):
        viewer, _ = buyer_with(
            200, at=timezone.now() - datetime.timedelta(days=1), txn="walk-charge"
        )
        subscription_services.subscription_subscribe(
            subscriber=viewer,
            tier=tier,
            coin_price=tier.coin_price,
            idempotency_key="walk-held",
        )
        store_refund("walk-charge")


MAKERS = (
    _payout_things,
    _subscription_things,
    _hold_things,
    _sponsor_things,
    _onboarding_things,
    _wallet_things,
    _catalog_things,
    _report_things,
    _other_things,
)


@pytest.fixture
def one_of_each(db):
    call_command("seed_catalog", verbosity=0)
    call_command("seed_wallets", verbosity=0)
    demo_users_create()
    for make in MAKERS:
        make()


def screens():
    """(screen, model admin, model) per registered model, and custom views' paths."""
    models, custom = [], []
    for model, model_admin in admin.site._registry.items():
        label = f"{model._meta.app_label}/{model._meta.model_name}"
        models.append((label, model))
        prefix = f"{model._meta.app_label}_{model._meta.model_name}_"
        standard = {prefix + s for s in ("changelist", "add", "history", "delete")}
        standard.add(prefix + "change")
        for pattern in model_admin.get_urls():
            name = getattr(pattern, "name", None)
            if not name or name in standard or not name.startswith(prefix):
                continue
            if NOT_SCREENS.search(name):
                continue
            route = re.sub(r"<[^>]+>", "<id>", str(pattern.pattern))
            if f"{label}/{route}" not in NEEDS_STATE:
                custom.append((f"{label}/{route}", model))
    return models, custom


def observed_model(client, model) -> frozenset[str]:
    info = f"{model._meta.app_label}_{model._meta.model_name}"
    row = model._default_manager.order_by("pk").first()
    seen = set()
    if client.get(reverse(f"admin:{info}_changelist")).status_code == 200:
        seen.add("view")
    if client.get(reverse(f"admin:{info}_add")).status_code == 200:
        seen.add("add")
    if row is not None:
        page = client.get(reverse(f"admin:{info}_change", args=[row.pk]))
        if page.status_code == 200 and page.context.get("has_change_permission"):
            seen.add("change")
        delete = client.get(reverse(f"admin:{info}_delete", args=[row.pk]))
        if delete.status_code == 200:
            seen.add("delete")
    return frozenset(seen)


def _said(actions) -> str:
    return ", ".join(a for a in ACTIONS if a in actions) or NOTHING


def custom_url(screen: str, model) -> str:
    row = model._default_manager.order_by("pk").first()
    return "/admin/" + screen.replace("<id>", str(row.pk if row else 0))


def test_every_admin_screen_matches_the_readme_for_every_role(client, one_of_each):
    table = readme_table()
    models, custom = screens()
    problems = []
    listed = {label for label, _ in models} | {screen for screen, _ in custom}
    for screen in sorted(listed - set(table)):
        problems.append(f"{screen}: not in the README's admin screen table")
    for screen in sorted(set(table) - listed):
        problems.append(f"{screen}: in the README but not an admin screen")
    for label, model in models:
        if not model._default_manager.exists():
            problems.append(f"{label}: no row to open; add a maker to MAKERS")

    for column in COLUMNS:
        client.force_login(person(column))
        for label, model in models:
            if label not in table:
                continue
            seen = observed_model(client, model)
            stated = table[label][column]
            if seen != stated:
                problems.append(
                    f"{label} as {column}: README says {_said(stated)}, "
                    f"the admin allows {_said(seen)}"
                )
        for screen, model in custom:
            if screen not in table:
                continue
            status = client.get(custom_url(screen, model)).status_code
            opens = status == 200
            stated = "open" in table[screen][column]
            if opens != stated:
                problems.append(
                    f"{screen} as {column}: README says "
                    f"{'open' if stated else NOTHING}, the admin answers {status}"
                )
        client.logout()

    assert not problems, "\n" + "\n".join(problems)


def test_anonymous_reaches_no_admin_screen(client, one_of_each):
    models, custom = screens()
    urls = [custom_url(screen, model) for screen, model in custom]
    for _, model in models:
        info = f"{model._meta.app_label}_{model._meta.model_name}"
        urls += [
            reverse(f"admin:{info}_changelist"),
            reverse(f"admin:{info}_add"),
        ]
    answered = {url: client.get(url) for url in urls}
    wrong = {
        url: response.status_code
        for url, response in answered.items()
        if response.status_code != 302 or "/admin/login/" not in response["Location"]
    }
    assert not wrong
