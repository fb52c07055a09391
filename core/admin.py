"""Building blocks the apps' admins share: import these, never another app's admin."""

import datetime
import json
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG, PAGE_VAR
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Count, Max
from django.http import FileResponse, HttpResponseNotAllowed, StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.text import slugify

from . import display, exports, services
from .errors import ServiceError
from .models import ListExport


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


class ListExportMixin:
    """Buttons "Export CSV" and "Export XLSX" on a changelist: every row the list
    shows with its filters, search and date hierarchy (all pages), as
    `export_columns` read them. Only for who holds `export_permission`; each export
    is put on record (`ListExport`) before the file is sent. CSV streams in chunks;
    an XLSX is written to a temporary file and takes at most `export_xlsx_max_rows`
    rows."""

    export_columns: tuple[exports.Column, ...] = ()
    export_permission = ""
    export_xlsx_max_rows = 100_000

    def export_queryset(self, request, queryset):
        """Hook: what the export's columns need besides the list's rows (joins,
        annotations), in a fixed number of queries."""
        return queryset

    def has_export_permission(self, request) -> bool:
        return self.has_view_permission(request) and request.user.has_perm(
            self.export_permission
        )

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "export/",
                self.admin_site.admin_view(self.list_export_view),
                name="{}_{}_export".format(*info),
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        if self.has_export_permission(request):
            info = self.opts.app_label, self.opts.model_name
            url = reverse("admin:{}_{}_export".format(*info))
            query = _list_query(request)
            extra_context = {
                **(extra_context or {}),
                "list_export": {
                    "url": f"{url}?{query}" if query else url,
                    "formats": ListExport.Format.choices,
                },
            }
        return super().changelist_view(request, extra_context)

    def list_export_view(self, request):
        """POST only (it writes a record): the list's rows as a file."""
        if not self.has_export_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        info = self.opts.app_label, self.opts.model_name
        query = _list_query(request)
        back = reverse("admin:{}_{}_changelist".format(*info))
        back = f"{back}?{query}" if query else back
        file_format = request.POST.get("format")
        if file_format not in ListExport.Format.values:
            self.message_user(
                request, "Nothing was exported: choose CSV or XLSX.", messages.ERROR
            )
            return redirect(back)
        try:
            queryset = self.list_export_queryset(request)
        except IncorrectLookupParameters:
            self.message_user(
                request,
                "Nothing was exported: the list's filters were refused.",
                messages.ERROR,
            )
            return redirect(back)
        # Rows added while the file is written are left out: it has what was counted.
        figures = queryset.order_by().aggregate(rows=Count("pk"), last=Max("pk"))
        rows = figures["rows"]
        cap = self.export_xlsx_max_rows
        if file_format == ListExport.Format.XLSX and rows > cap:
            self.message_user(
                request,
                f"Nothing was exported: this list has {display.number(rows)} rows and "
                f"an XLSX file takes at most {display.number(cap)}. Narrow the "
                "filters, or export CSV, which has no limit.",
                messages.ERROR,
            )
            return redirect(back)
        services.list_export_record(
            actor=request.user,
            list_label=self.opts.label,
            query=query,
            rows=rows,
            file_format=file_format,
        )
        stream = (
            exports.rows_in_chunks(
                self.export_queryset(request, queryset.filter(pk__lte=figures["last"]))
            )
            if rows
            else iter(())
        )
        moment = timezone.now().astimezone(datetime.UTC)
        plural = str(self.opts.verbose_name_plural)
        name = f"{slugify(plural)}-{moment:%Y-%m-%d-%H%M}"
        if file_format == ListExport.Format.XLSX:
            return FileResponse(
                exports.xlsx_file(self.export_columns, stream, title=plural),
                as_attachment=True,
                filename=f"{name}.xlsx",
                content_type=exports.XLSX_TYPE,
            )
        response = StreamingHttpResponse(
            exports.csv_lines(self.export_columns, stream),
            content_type=exports.CSV_TYPE,
        )
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response

    def list_export_queryset(self, request):
        """The changelist's own queryset for this request (filters, search, date
        hierarchy), built as `get_changelist_instance` builds it but without its
        page: no count and no page of rows. May raise `IncorrectLookupParameters`."""
        list_display = self.get_list_display(request)

        class ExportChangeList(self.get_changelist(request)):
            def get_results(self, request):
                pass

        return ExportChangeList(
            request,
            self.model,
            list_display,
            self.get_list_display_links(request, list_display),
            self.get_list_filter(request),
            self.date_hierarchy,
            self.get_search_fields(request),
            self.get_list_select_related(request),
            self.list_per_page,
            self.list_max_show_all,
            (),
            self,
            self.get_sortable_by(request),
            self.search_help_text,
        ).queryset


def _list_query(request) -> str:
    """The list's filters, search and date hierarchy from the address: no page."""
    return urlencode(
        [
            (name, value)
            for name, values in request.GET.lists()
            if name not in (PAGE_VAR, ERROR_FLAG)
            for value in values
        ]
    )


@admin.register(ListExport)
class ListExportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Who took which list away as a file: finance reads it, nobody changes it."""

    list_display = ("when", "actor", "list_label", "query_shown", "rows", "format")
    list_filter = ("list_label", "format")
    list_select_related = ("actor",)
    search_fields = ("=actor__username",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    fields = ("created_at", "actor", "list_label", "query", "rows", "format")
    readonly_fields = fields

    @admin.display(description="Export, when", ordering="created_at")
    def when(self, export):
        return numbered_when(export, export.created_at)

    @admin.display(description="Filters")
    def query_shown(self, export):
        return truncated(export.query or "(as the list opens)", "24em")
