"""History pages that read as the screens do (django-simple-history): columns and
changes under the fields' labels, values as the admin shows them (a dash, not
None; a choice's label, not its code), and a reason on every entry."""

import datetime
from decimal import Decimal

from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.db import models
from django.utils.text import capfirst
from djmoney.money import Money
from simple_history.admin import SimpleHistoryAdmin
from simple_history.template_utils import HistoricalRecordContextHelper

from . import display

# The reason of a hand edit in the admin; services, imports and tasks give theirs.
HAND_EDIT_REASON = "Admin"


def field_value(model: type[models.Model], name: str, value) -> str:
    """`value` of `model`'s field `name` as a screen shows it."""
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:  # an admin method or a property
        field = None
    if value is None or value == "":
        return display.NONE
    if field is not None and field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime.datetime):
        return display.when(value)
    if isinstance(value, Money):
        return display.money(value)
    if isinstance(value, int | Decimal):
        return display.number(value)
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or display.NONE
    return str(value)


def field_label(model: type[models.Model], name: str, admin=None) -> str:
    method = getattr(admin, name, None)
    if method is not None and hasattr(method, "short_description"):
        return str(method.short_description)
    try:
        return capfirst(model._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:
        return capfirst(name.replace("_", " "))


class ReadableHistoryContextHelper(HistoricalRecordContextHelper):
    def prepare_delta_change_value(self, change, value):
        value = super().prepare_delta_change_value(change, value)
        return field_value(self.model, change.field, value)


class HistoryAdmin(SimpleHistoryAdmin):
    """A SimpleHistoryAdmin whose past versions are read, never written back.

    simple-history's "revert" form saves whatever is posted to a past version's
    page for anyone who may *view* the history, support included, and past the
    admin's services (a payout method's four eyes, a refund rule in force). A
    change here goes through the change form and its rules, or not at all.
    """

    def revert_disabled(self, request, obj=None):
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied("Past versions are read only.")
        return super().history_form_view(
            request, object_id, version_id, extra_context=extra_context
        )


class ReadableHistoryAdmin(HistoryAdmin):
    """A SimpleHistoryAdmin whose history page has labelled columns, readable
    values and a change reason on every entry; a hand edit's reason is "Admin"."""

    object_history_list_template = "admin/core/history_list.html"

    def get_historical_record_context_helper(self, request, historical_record):
        return ReadableHistoryContextHelper(self.model, historical_record)

    def render_history_view(self, request, template, context, **kwargs):
        if "history_list_display" not in context:  # a past version's own page
            return super().render_history_view(request, template, context, **kwargs)
        columns = list(context["history_list_display"])
        labels = [field_label(self.model, name, self) for name in columns]
        context["history_columns"] = labels
        for record in context["page_obj"]:
            record.history_cells = [
                (label, field_value(self.model, name, getattr(record, name, None)))
                for label, name in zip(labels, columns, strict=True)
            ]
        return super().render_history_view(request, template, context, **kwargs)

    def save_model(self, request, obj, form, change):
        if not getattr(obj, "_change_reason", None):
            obj._change_reason = HAND_EDIT_REASON
        super().save_model(request, obj, form, change)

    def delete_model(self, request, obj):
        obj._history_user = request.user
        obj._change_reason = HAND_EDIT_REASON
        super().delete_model(request, obj)
