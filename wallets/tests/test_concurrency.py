"""Money paths under real concurrency: threads against PostgreSQL."""

import random
import threading
from collections import Counter, defaultdict

import pytest
from django.conf import settings
from django.db import connection, connections
from rest_framework.test import APIClient

from wallets import services
from wallets.models import LedgerAccount, Purchase
from wallets.reconciliation import ledger_reconcile
from wallets.selectors import wallet_balances
from wallets.stores import sandbox_receipt

from .factories import on_sale, user_create

pytestmark = [
    # Serialized rollback puts the migrations' data (roles, schedules) back afterwards.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="concurrency needs PostgreSQL (set DATABASE_URL)",
    ),
]


def run_in_threads(count: int, work) -> list:
    """Run work(i) in `count` threads released at once; returns their results."""
    results = [None] * count
    errors = []
    start = threading.Barrier(count)

    def runner(i):
        try:
            start.wait()
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - reported below with the thread number
            errors.append((i, exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results


def purchase_post(buyer, *, sku, txn, key, region="US"):
    client = APIClient()
    client.force_authenticate(buyer)
    return client.post(
        "/api/v1/purchases/",
        {
            "bundle": sku,
            "region": region,
            "channel": "app",
            "store": "apple",
            "receipt": sandbox_receipt(buyer.id, sku, txn, store="apple"),
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_fifty_concurrent_requests_with_one_receipt_credit_once():
    buyer = user_create()
    on_sale(coins=100, sku="coins_100")

    def post(i):
        response = purchase_post(
            buyer, sku="coins_100", txn="same-receipt", key=f"attempt-{i}"
        )
        assert "purchase" in response.json(), (response.status_code, response.json())
        return response.status_code, response.json()["purchase"]["id"]

    answers = run_in_threads(50, post)

    assert Counter(code for code, _ in answers) == {201: 1, 200: 49}
    assert len({purchase_id for _, purchase_id in answers}) == 1
    assert Purchase.objects.count() == 1
    assert wallet_balances(user=buyer).paid_coins == 100
    assert ledger_reconcile().is_clean


def test_one_receipt_raced_by_many_users_credits_one_of_them():
    bundle, region = on_sale(coins=100)
    users = [user_create() for _ in range(20)]

    def attempt(i):
        try:
            services.purchase_record(
                user=users[i],
                bundle=bundle,
                region=region,
                channel="app",
                store="apple",
                # Each one signed for its user: the database guard is what is raced.
                receipt=sandbox_receipt(
                    users[i].id, bundle.sku, "contested", store="apple"
                ),
                idempotency_key="k",
            )
        except services.PurchaseRefused as refusal:
            return refusal.status_code
        return 201

    assert Counter(run_in_threads(20, attempt)) == {201: 1, 409: 19}
    assert LedgerAccount.objects.filter(kind="paid_coins", balance=100).count() == 1
    assert ledger_reconcile().is_clean


def test_random_purchases_and_refunds_from_threads_match_a_sequential_replay():
    bundle, region = on_sale(coins=100)
    users = [user_create() for _ in range(20)]
    threads, operations = 8, 1000
    refunds_done = defaultdict(int)
    purchases_made = Counter()
    lock = threading.Lock()

    def work(worker):
        rng = random.Random(worker)
        for n in range(operations // threads):
            user = rng.choice(users)
            mine = list(Purchase.objects.filter(user=user).values_list("id", flat=True))
            if mine and rng.random() < 0.3:
                target = Purchase.objects.get(id=rng.choice(mine))
                result = services.purchase_refund(
                    purchase=target, actor=None, reason="random", source="finance"
                )
                if result.refunded:
                    with lock:
                        refunds_done[target.id] += 1
            else:
                result = services.purchase_record(
                    user=user,
                    bundle=bundle,
                    region=region,
                    channel="app",
                    store="apple",
                    receipt=sandbox_receipt(
                        user.id, bundle.sku, f"{worker}-{n}", store="apple"
                    ),
                    idempotency_key=f"{worker}-{n}",
                )
                with lock:
                    purchases_made[user.id] += result.created

    run_in_threads(threads, work)

    assert ledger_reconcile().is_clean
    assert all(count == 1 for count in refunds_done.values())
    refunded = set(
        Purchase.objects.filter(status="refunded").values_list("id", flat=True)
    )
    assert refunded == set(refunds_done)
    # The sequential replay: each purchase credits 100 coins, each refund takes its
    # 100 back, whatever order the threads ran them in.
    for user in users:
        refunds = Purchase.objects.filter(user=user, id__in=refunded).count()
        assert Purchase.objects.filter(user=user).count() == purchases_made[user.id]
        expected = 100 * (purchases_made[user.id] - refunds)
        assert wallet_balances(user=user).paid_coins == expected
    assert connection.vendor == "postgresql"


def test_first_purchases_racing_in_two_regions_make_one_home_region():
    """Ten first purchases of one user at once, half naming GB, half US: the first
    to take the user's lock sets the home region, the others in the other region
    are refused."""
    from wallets.models import HomeRegion

    from .factories import price_create, region_create

    bundle, _ = on_sale(coins=500, amount="4.99", sku="coins_500")
    price_create(bundle, region_create("GB", currency="GBP"), "4.99")
    buyer = user_create()

    def post(i):
        response = purchase_post(
            buyer,
            sku="coins_500",
            txn=f"race-{i}",
            key=f"race-{i}",
            region=("US", "GB")[i % 2],
        )
        return response.status_code, response.json()

    answers = run_in_threads(10, post)

    home = HomeRegion.objects.get(user=buyer)
    bought = [body for code, body in answers if code == 201]
    refused = [body for code, body in answers if code != 201]
    assert {body["purchase"]["region"] for body in bought} == {home.region.code}
    assert len(bought) == len(refused) == 5
    assert all(list(body) == ["region"] for body in refused), refused
    assert set(Purchase.objects.values_list("region__code", flat=True)) == {
        home.region.code
    }
    assert ledger_reconcile().is_clean
