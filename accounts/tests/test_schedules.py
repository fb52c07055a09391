"""Only operators (superusers) change Celery beat's schedules; staff read them."""

import pytest
from django.contrib.auth.models import Group
from django_celery_beat.models import PeriodicTask

from accounts.roles import CATALOG_EDITORS, FINANCE, SUPPORT
from wallets.tests.factories import user_create

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/django_celery_beat/periodictask/"


def staff(group: str):
    user = user_create(is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.mark.parametrize("group", [SUPPORT, CATALOG_EDITORS, FINANCE])
@pytest.mark.parametrize(
    "action", ["disable_tasks", "enable_tasks", "toggle_tasks", "run_tasks"]
)
def test_staff_cannot_switch_or_run_periodic_tasks(client, group, action):
    task = PeriodicTask.objects.get(name="Send approved payouts")
    task.enabled = action != "disable_tasks"
    task.save()
    before = PeriodicTask.objects.values("id", "enabled", "last_run_at").get(id=task.id)
    client.force_login(staff(group))

    page = client.get(CHANGELIST)
    response = client.post(
        CHANGELIST, {"action": action, "_selected_action": [task.id]}
    )

    assert page.status_code == 200
    assert action not in page.content.decode()
    assert response.status_code in (200, 302, 403)
    after = PeriodicTask.objects.values("id", "enabled", "last_run_at").get(id=task.id)
    assert after == before
    change = client.post(
        f"{CHANGELIST}{task.id}/change/", {"name": task.name, "enabled": ""}
    )
    assert change.status_code == 403
    assert PeriodicTask.objects.get(id=task.id).enabled == before["enabled"]


def test_an_operator_disables_a_periodic_task(client):
    task = PeriodicTask.objects.get(name="Send approved payouts")
    client.force_login(user_create(is_staff=True, is_superuser=True))

    response = client.post(
        CHANGELIST, {"action": "disable_tasks", "_selected_action": [task.id]}
    )

    assert response.status_code == 302
    assert not PeriodicTask.objects.get(id=task.id).enabled
