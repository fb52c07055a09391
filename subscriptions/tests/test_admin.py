"""The revenue per month and subscribers' request keys are finance's, not support's."""

import pytest
from django.urls import reverse

from accounts.roles import FINANCE, SUPPORT
from gifting.tests.factories import funded_sender
from subscriptions import services
from wallets.tests.factories import staff_create

from .factories import tier_create

pytestmark = pytest.mark.django_db
REVENUE = reverse("admin:subscriptions_subscriptioncharge_revenue")
CHARGES = reverse("admin:subscriptions_subscriptioncharge_changelist")


@pytest.fixture
def subscription():
    tier = tier_create(coin_price=100)
    return services.subscription_subscribe(
        subscriber=funded_sender(1000),
        tier=tier,
        coin_price=100,
        idempotency_key="secret-key-1",
    ).subscription


@pytest.mark.parametrize("role, sees", [(FINANCE, True), (SUPPORT, False)])
def test_only_finance_reads_revenue_and_request_keys(client, subscription, role, sees):
    client.force_login(staff_create(role))
    page = reverse("admin:subscriptions_subscription_change", args=[subscription.id])

    opened = client.get(page)
    revenue = client.get(REVENUE)
    charges = client.get(CHARGES)

    assert opened.status_code == 200 and charges.status_code == 200
    assert ("secret-key-1" in opened.content.decode()) is sees
    assert revenue.status_code == (200 if sees else 403)
    assert (REVENUE in charges.content.decode()) is sees
