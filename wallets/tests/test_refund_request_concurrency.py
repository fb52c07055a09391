"""Refund requests and their decisions racing each other: threads on PostgreSQL."""

from collections import Counter

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts.roles import FINANCE
from wallets import services
from wallets.models import Purchase, RefundRequest, Transfer
from wallets.reconciliation import ledger_reconcile
from wallets.selectors import wallet_balances

from .factories import staff_create, user_create
from .test_concurrency import run_in_threads
from .test_refund_requests import bought, rule

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="concurrency needs PostgreSQL (set DATABASE_URL)",
    ),
]


def test_two_requests_with_different_keys_at_once_refund_once():
    buyer = user_create()
    purchase = bought(buyer, bonus=10)

    def ask(i):
        client = APIClient()
        client.force_authenticate(buyer)
        response = client.post(
            f"/api/v1/purchases/{purchase.id}/refund-requests/",
            {"reason": "twice"},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"race-{i}",
        )
        return response.status_code, response.json().get("code")

    answers = Counter(run_in_threads(4, ask))

    assert answers[(201, None)] == 1
    assert answers[(409, "refund_already_requested")] == 3
    assert RefundRequest.objects.count() == 1
    refunds = Transfer.objects.filter(kind__in=["refund", "bonus_clawback"])
    assert sorted(refunds.values_list("amount", flat=True)) == [10, 100]
    assert wallet_balances(user=buyer).coins == 0
    assert ledger_reconcile().is_clean


def test_two_finance_users_approving_one_request_at_once_refund_once():
    rule("US", self_service=0)
    buyer = user_create()
    request = services.refund_request_create(
        purchase=bought(buyer), user=buyer, reason="", idempotency_key="q"
    ).request
    deciders = [staff_create(FINANCE) for _ in range(3)]

    def approve(i):
        try:
            services.refund_request_approve(request=request, actor=deciders[i])
        except services.RefundRefused as refusal:
            return refusal.code
        return "approved"

    outcomes = Counter(run_in_threads(3, approve))

    assert outcomes == {"approved": 1, "already_decided": 2}
    assert Purchase.objects.get().status == "refunded"
    assert wallet_balances(user=buyer).paid_coins == 0
    assert ledger_reconcile().is_clean
