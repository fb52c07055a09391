"""Past versions (django-simple-history) are read, never written back: its revert
form saved whatever anyone who may view the history posted, support included, and
went round the admins' services."""

import datetime

import pytest
from django.contrib import admin
from django.utils import timezone
from simple_history.admin import SimpleHistoryAdmin

from accounts.roles import FINANCE, SUPPORT
from core.history import HistoryAdmin
from gifting.models import CreatorLevel
from wallets.models import RefundRule
from wallets.tests.factories import region_create, staff_create

pytestmark = pytest.mark.django_db


def test_every_admin_with_a_history_is_a_read_only_one():
    with_history = [
        model_admin
        for model_admin in admin.site._registry.values()
        if isinstance(model_admin, SimpleHistoryAdmin)
    ]
    assert len(with_history) >= 9
    assert [
        type(model_admin).__name__
        for model_admin in with_history
        if not isinstance(model_admin, HistoryAdmin)
    ] == []


def _version_url(obj) -> str:
    record = obj.history.order_by("-history_id").first()
    meta = obj._meta
    page = f"/admin/{meta.app_label}/{meta.model_name}/{obj.pk}/history/"
    return f"{page}{record.history_id}/"


def test_support_cannot_rewrite_a_refund_rule_through_its_past_version(client):
    rule = RefundRule.objects.create(
        region=region_create("DE"),
        window_days=14,
        self_service_days=0,
        effective_at=timezone.now() + datetime.timedelta(days=2),
    )
    client.force_login(staff_create(SUPPORT, username="sup"))
    url = _version_url(rule)

    shown = client.get(url)
    posted = client.post(url, {"window_days": 365, "self_service_days": 365})

    assert shown.status_code == 200
    assert b"Revert" not in shown.content
    assert posted.status_code == 403
    rule.refresh_from_db()
    assert (rule.window_days, rule.self_service_days) == (14, 0)


def test_finance_cannot_write_a_level_share_back_past_the_change_form(client):
    level = CreatorLevel.objects.order_by("number").first()
    share = level.share_percent
    level.save()  # a version to open
    client.force_login(staff_create(FINANCE, username="fin"))

    posted = client.post(_version_url(level), {"share_percent": "99.00"})

    assert posted.status_code == 403
    level.refresh_from_db()
    assert level.share_percent == share
