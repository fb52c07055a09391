"""Many clients at the same moment, for the PostgreSQL concurrency tests."""

import threading
from collections import Counter

from django.db import connections
from rest_framework.test import APIClient

from wallets.stores import sandbox_signature


def notification_delivered_at_once(body: bytes, count: int, store: str = "apple"):
    """POST one signed store notification from `count` threads released together;
    a Counter of the (status code, answer status) pairs."""
    start = threading.Barrier(count)
    answers, errors = [None] * count, []

    def deliver(i):
        try:
            start.wait()
            response = APIClient().post(
                f"/api/v1/stores/{store}/notifications/",
                data=body,
                content_type="application/json",
                HTTP_X_STORE_SIGNATURE=sandbox_signature(body, store=store),
            )
            answers[i] = (response.status_code, response.json()["status"])
        except Exception as exc:  # noqa: BLE001 - reported below with the thread
            errors.append((i, exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return Counter(answers)
