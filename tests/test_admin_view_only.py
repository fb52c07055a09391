"""Who may only view a record reads values on its page, not input boxes.

Django shows a view-only user every field of a model's page as text; a page that
adds inputs of its own (a grid, a custom form) must do the same. This walks every
model's page as each role, and as a superuser for the screens nobody edits.
"""

from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.urls import reverse

from catalog.models import Gift

# The roles walk's data: a row of every model, and a person per role.
from .test_admin_roles import COLUMNS, one_of_each, person  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("one_of_each")]


class VisibleInputs(HTMLParser):
    """The form controls a person sees to enter data: not hidden ones, not those
    of a search (the menu's filter, a search box), not those of a decision the
    role may take on the record (approving a payout on its page is not editing
    it): a form, or a `div` inside the change form, of class `decision`."""

    def __init__(self):
        super().__init__()
        self.found = []
        self.in_search = False
        # Open divs inside a decision div, itself counted: 0 outside one.
        self.decision_divs = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "form":
            self.in_search = attrs.get("role") == "search" or "decision" in classes
        if tag == "div" and (self.decision_divs or "decision" in classes):
            self.decision_divs += 1
        if tag not in ("input", "select", "textarea") or self.in_search:
            return
        if self.decision_divs:
            return
        if attrs.get("type") == "hidden" or attrs.get("id") == "nav-filter":
            return
        self.found.append(f"<{tag} name={attrs.get('name')!r}>")

    def handle_endtag(self, tag):
        if tag == "form":
            self.in_search = False
        if tag == "div" and self.decision_divs:
            self.decision_divs -= 1


def visible_inputs(html: str) -> list[str]:
    parser = VisibleInputs()
    parser.feed(html)
    return parser.found


def test_view_only_pages_show_values_not_inputs(client):
    problems, opened = [], 0
    for column in COLUMNS:
        client.force_login(person(column))
        for model in admin.site._registry:
            info = f"{model._meta.app_label}_{model._meta.model_name}"
            row = model._default_manager.order_by("pk").first()
            if row is None:
                continue
            page = client.get(reverse(f"admin:{info}_change", args=[row.pk]))
            if page.status_code != 200 or page.context.get("has_change_permission"):
                continue
            opened += 1
            if inputs := visible_inputs(page.content.decode()):
                problems.append(f"{info} as {column}: {', '.join(inputs[:4])}")
        client.logout()

    assert opened > 60  # the walk reached the view-only pages
    assert not problems, "\n" + "\n".join(problems)


def test_the_walk_sees_an_input_where_there_is_one(client):
    client.force_login(person("superusers"))
    gift = Gift.objects.order_by("pk").first()
    page = client.get(reverse("admin:catalog_gift_change", args=[gift.pk]))

    assert page.context["has_change_permission"]
    assert "<input name='name_en'>" in visible_inputs(page.content.decode())
