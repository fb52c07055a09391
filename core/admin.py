"""Building blocks the apps' admins share: import these, never another app's admin."""

import json
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.paginator import Paginator
from django.db import connections
from django.template.response import TemplateResponse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join

from . import display
from .errors import ServiceError


class ReadOnlyAdminMixin:
    """For records nobody edits by hand (ledgers, histories): view, never write."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def truncated(value, width: str = "12em") -> str:
    """A cell at most `width` wide on one line, cut with an ellipsis, the whole
    value in its title (on hover): a long name never widens a list. The change
    page shows it whole."""
    text = display.NONE if value is None else str(value)
    return format_html(
        '<span class="truncated" title="{}" style="display: inline-block; '
        "max-width: {}; overflow: hidden; text-overflow: ellipsis; "
        'white-space: nowrap; vertical-align: top">{}</span>',
        text,
        width,
        text,
    )


def column(
    attribute: str,
    show: Callable | None = None,
    *,
    description: str,
    ordering: str | None = None,
    width: str | None = None,
):
    """A read-only column or field: the row's `attribute` (a dotted path) as `show`
    writes it (`core.display.coins`, `.money`, ...), cut to `width` when given.
    `ordering` names the field it sorts by, if any."""
    read = operator.attrgetter(attribute)

    @admin.display(description=description, ordering=ordering)
    def shown(model_admin, obj):
        value = read(obj)
        value = value if show is None else show(value)
        return value if width is None else truncated(value, width)

    return shown


def numbered_when(obj, moment) -> str:
    """A list's first cell: the row's id over its moment ("#42", "2026-12-07
    14:05"), one narrow column for both."""
    return format_html("#{}<br>{}", obj.pk, display.when(moment))


def nowrap(value) -> str:
    """A figure kept on one line: "1,000 coins" never breaks after "1,000"."""
    return format_html('<span style="white-space: nowrap">{}</span>', value)


def html_table(headers, rows, *, empty: str) -> str:
    """A small table for a read-only field, every cell escaped; `empty` without rows."""
    rows = list(rows)
    if not rows:
        return empty
    return format_html(
        "<table><tr>{}</tr>{}</table>",
        format_html_join("", "<th>{}</th>", ((header,) for header in headers)),
        format_html_join(
            "",
            "<tr>{}</tr>",
            (
                (format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),)
                for row in rows
            ),
        ),
    )


class OpensOnFilter(admin.SimpleListFilter):
    """A list filter the page opens on (`default`), a queue: what waits. Its own
    "All" choice (`all`) shows everything; Django's empty one is not offered."""

    default: str

    def value(self):
        return super().value() or self.default

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string(
                    {self.parameter_name: lookup}
                ),
                "display": title,
            }


class EstimatedCountPaginator(Paginator):
    """Counts exactly up to EXACT_UP_TO rows; past that, PostgreSQL's planner
    estimate. A COUNT(*) over millions of rows on every page is what makes a
    changelist slow; both queries here stop early, and a page always runs both, so
    its query count does not depend on the table's size."""

    EXACT_UP_TO = 10_000

    @cached_property
    def count(self):
        queryset = self.object_list
        if connections[queryset.db].vendor != "postgresql":
            return super().count
        explained = queryset.order_by().explain(format="json")
        if not explained:  # Django knew it empty (none(), an empty IN): ran nothing
            return 0
        plan = json.loads(explained)
        capped = queryset.order_by()[: self.EXACT_UP_TO + 1].count()
        if capped <= self.EXACT_UP_TO:
            return capped
        return max(capped, int(plan[0]["Plan"]["Plan Rows"]))


@dataclass(frozen=True)
class ConfirmPage:
    """What an action's confirmation page says: its title and last breadcrumb, what
    will happen, one line per selected row, the button (`{count}` is the number of
    rows) and whether it offers Cancel."""

    title: str
    crumb: str
    intro: str
    line: Callable[[Any], str]
    submit: str
    cancel: bool = True


class ConfirmFormMixin:
    """Admin actions that first ask for a form (a reason, a level) on a page listing
    the selected rows, and run once the form comes back valid."""

    def confirm_form(self, request, queryset, *, action, form_class, page, run):
        """Back to the list (None) once `run(cleaned_data)` ran; else the page, with
        the form's errors when it came back invalid."""
        form = form_class(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            run(form.cleaned_data)
            return None
        return self.confirm_page(request, queryset, form, page, action=action)

    def confirm_page(self, request, rows, form, page, *, action=None):
        """The page; with `action` it posts back to the list as that action on
        `rows`, without one to its own address."""
        rows = list(rows)
        return TemplateResponse(
            request,
            "admin/core/confirm_action.html",
            {
                **self.admin_site.each_context(request),
                "title": page.title,
                "opts": self.model._meta,
                "page": page,
                "rows": rows,
                "lines": [page.line(row) for row in rows],
                "submit": page.submit.format(count=len(rows)),
                "form": form,
                "action": action,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            },
        )


class DecideEachMixin(ConfirmFormMixin):
    """Admin actions that run a service on each selected row: a refusal is reported
    beside its row and the others go on; `_with_reason` first asks for one reason."""

    each_noun = "row"

    def each_name(self, obj) -> str:
        return str(obj)

    def _each(self, request, queryset, verb, call):
        done = 0
        for obj in queryset:
            try:
                call(obj)
            except ServiceError as refusal:
                self.message_user(
                    request, f"{self.each_name(obj)}: {refusal.message}", messages.ERROR
                )
            else:
                done += 1
        if done:
            self.message_user(
                request, f"{verb} {done} {self.each_noun}(s).", messages.SUCCESS
            )

    def _with_reason(self, request, queryset, *, action, form_class, page, verb, call):
        return self.confirm_form(
            request,
            queryset,
            action=action,
            form_class=form_class,
            page=page,
            run=lambda data: self._each(
                request, queryset, verb, lambda obj: call(obj, data["reason"])
            ),
        )
