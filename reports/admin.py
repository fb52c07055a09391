import datetime
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, strip_tags
from djmoney.money import Money

from core import display
from core.admin import ReadOnlyAdminMixin, nowrap
from payouts.selectors import destination_masked
from wallets.models import amount_display
from wallets.reconciliation import RUN_PERMISSION, ledger_reconcile_request
from wallets.references import reference_link
from wallets.units import diamonds_display

from . import exports, selectors, services
from .charts import daily_chart
from .forms import BooksRangeForm, DashboardRangeForm
from .models import (
    Books,
    BooksExport,
    Export,
    Incident,
    MoneyDashboard,
    UserLookup,
)
from .selectors import DailySeries


@admin.register(MoneyDashboard)
class MoneyDashboardAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Coins sold, gifts, diamonds owed, payouts and reconciliation, at a glance;
    finance may run a reconciliation from here."""

    def get_urls(self):
        return [
            path(
                "run-reconciliation/",
                self.admin_site.admin_view(self.run_reconciliation_view),
                name="reports_moneydashboard_run_reconciliation",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = DashboardRangeForm(request.GET)
        days, currency = form.choice()
        figures = selectors.money_dashboard(days=days)
        sold = {series.label: series for series in figures["coins_sold"]}
        currency = form.currency_shown(list(sold))
        sales = sold.get(currency) or DailySeries(
            currency, figures["dates"], [Decimal(0)] * days
        )
        run = figures["reconciliation"]
        viewer = request.user
        may_read_runs = viewer.has_perm("wallets.view_reconciliationrun")
        return TemplateResponse(
            request,
            "admin/reports/money_dashboard.html",
            {
                **self.admin_site.each_context(request),
                "title": "Money dashboard",
                "opts": self.model._meta,
                "figures": figures,
                "form": form,
                "days": days,
                "currency": currency,
                "sales_totals": [
                    (
                        code,
                        Money(series.total, code),
                        "?" + urlencode({"days": days, "currency": code}),
                    )
                    for code, series in sold.items()
                ],
                "charts": [
                    daily_chart(
                        "sales",
                        f"Coins sold per day, in {currency}",
                        sales,
                        currency=currency,
                    ),
                    daily_chart(
                        "gifts", "Gifts sent per day, in coins", figures["gifts_sent"]
                    ),
                ],
                "runs_url": may_read_runs
                and reverse("admin:wallets_reconciliationrun_changelist"),
                "hold_url": viewer.has_perm("gifting.view_earningshold")
                and reverse("admin:gifting_earningshold_changelist"),
                "run_url": may_read_runs
                and run
                and reverse("admin:wallets_reconciliationrun_change", args=[run.pk]),
                "may_run_reconciliation": viewer.has_perm(RUN_PERMISSION),
            },
        )

    def run_reconciliation_view(self, request):
        """POST only: queue a reconciliation and say what became of it."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        asked_at = timezone.now()
        queued = ledger_reconcile_request(actor=request.user)
        run = selectors.reconciliation_latest(since=asked_at) if queued else None
        if not queued:
            self.message_user(
                request,
                "A reconciliation was asked for less than a minute ago, so none "
                "was queued; its result shows on the card when it finishes.",
                messages.WARNING,
            )
        elif run is None:
            self.message_user(
                request,
                "Reconciliation queued: a worker runs it now. Reload this page "
                "in a minute to read its result on the card.",
                messages.INFO,
            )
        else:
            checked = (
                f"{display.number(run.transfers_checked)} transfers and "
                f"{display.number(run.accounts_checked)} accounts checked"
            )
            url = reverse("admin:wallets_reconciliationrun_change", args=[run.pk])
            if run.is_clean:
                self.message_user(
                    request,
                    format_html(
                        'Reconciliation ran: the ledger is clean; {}. <a href="{}">'
                        "Open the run</a>.",
                        checked,
                        url,
                    ),
                    messages.SUCCESS,
                )
            else:
                self.message_user(
                    request,
                    format_html(
                        "Reconciliation ran and found {} problem(s); {}. "
                        '<a href="{}">Read them in the run</a>.',
                        len(run.problems),
                        checked,
                        url,
                    ),
                    messages.ERROR,
                )
        return redirect("admin:reports_moneydashboard_changelist")


@admin.register(Books)
class BooksAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The month-end books of any range of UTC days, with their tie-out; finance
    downloads them as CSV or XLSX, each download on record."""

    def get_urls(self):
        return [
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="reports_books_export",
            ),
            path(
                "exports/<int:export_id>/download/",
                self.admin_site.admin_view(self.download_view),
                name="reports_books_download",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = BooksRangeForm(request.GET, today=_today())
        books = None
        if form.is_valid():
            books = selectors.books_for(
                start=form.cleaned_data["start"], end=form.cleaned_data["end"]
            )
        may_export = request.user.has_perm("reports.export_books")
        exports_shown = list(selectors.exports_recent()) if may_export else []
        return TemplateResponse(
            request,
            "admin/reports/books.html",
            {
                **self.admin_site.each_context(request),
                "title": "Books",
                "opts": self.model._meta,
                "form": form,
                "books": books,
                "tie_outs": [_tie_out_shown(line) for line in books.tie_outs]
                if books
                else [],
                "may_export": may_export,
                "formats": BooksExport.Format.choices,
                "exports": exports_shown,
                # Reloads while one moves; not for ever after a worker died.
                "exports_pending": any(
                    job.is_moving(timezone.now()) for job in exports_shown
                ),
                "at_once_days": selectors.EXPORT_AT_ONCE_MAX_DAYS,
            },
        )

    def export_view(self, request):
        """POST only: the books of a short range are recorded and sent at once;
        longer ones, and every journal, are queued as a job shown on the page."""
        if not request.user.has_perm("reports.export_books"):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        form = BooksRangeForm(request.POST, today=_today())
        file_format = request.POST.get("format")
        what = request.POST.get("what", Export.What.BOOKS)
        if (
            not form.is_valid()
            or file_format not in BooksExport.Format.values
            or what not in Export.What.values
        ):
            self.message_user(
                request,
                "Nothing was exported: the range or the format was refused.",
                messages.ERROR,
            )
            query = urlencode(
                {name: request.POST.get(name, "") for name in ("start", "end")}
            )
            return redirect(reverse("admin:reports_books_changelist") + "?" + query)
        first_day, last_day = form.cleaned_data["start"], form.cleaned_data["end"]
        back = redirect(
            reverse("admin:reports_books_changelist")
            + "?"
            + urlencode({"start": first_day, "end": last_day})
            + "#exports"
        )
        if not selectors.export_runs_at_once(
            what=what, first_day=first_day, last_day=last_day
        ):
            export = services.export_request(
                actor=request.user,
                what=what,
                first_day=first_day,
                last_day=last_day,
                file_format=file_format,
            )
            export.refresh_from_db()
            self.message_user(
                request,
                f"{export}: "
                + (
                    "ready to download below."
                    if export.status == Export.Status.DONE
                    else "queued; its progress shows below, and the download "
                    "once it is ready."
                ),
                messages.SUCCESS
                if export.status == Export.Status.DONE
                else messages.INFO,
            )
            return back
        books = selectors.books_for(start=first_day, end=last_day)
        services.books_export_record(
            actor=request.user,
            first_day=first_day,
            last_day=last_day,
            file_format=file_format,
        )
        if file_format == BooksExport.Format.XLSX:
            content, content_type = exports.books_xlsx(books), exports.XLSX_TYPE
        else:
            content, content_type = exports.books_csv(books), exports.CSV_TYPE
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = (
            f'attachment; filename="books-{first_day}-to-{last_day}.{file_format}"'
        )
        return response

    def download_view(self, request, export_id):
        """POST only: an export's file, to finance only; each download is on
        record before the file is sent."""
        if not request.user.has_perm("reports.export_books"):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        export = Export.objects.filter(pk=export_id).first()
        if export is None:
            raise Http404("No such export.")
        if export.status == Export.Status.EXPIRED:
            self.message_user(
                request,
                f"The file of {export} was deleted "
                f"{display.when(export.expired_at)}, {settings.EXPORTS_KEEP_DAYS} days "
                "after it was made: ask for it again.",
                messages.WARNING,
            )
            return redirect(reverse("admin:reports_books_changelist") + "#exports")
        if export.status != Export.Status.DONE:
            self.message_user(
                request,
                f"{export} is {export.get_status_display().lower()}: "
                "there is no file to download yet.",
                messages.WARNING,
            )
            return redirect(reverse("admin:reports_books_changelist") + "#exports")
        if not export.file.storage.exists(export.file.name):
            self.message_user(
                request,
                f"The file of {export} is gone from the exports directory: "
                "ask for it again.",
                messages.ERROR,
            )
            return redirect(reverse("admin:reports_books_changelist") + "#exports")
        services.export_download_record(export=export, actor=request.user)
        return FileResponse(
            export.file.open("rb"), as_attachment=True, filename=export.filename
        )


def _tie_out_shown(line: selectors.TieOut) -> dict:
    """A tie-out line's figures as people read them, movements signed."""

    def shown(units: int, *, signed: bool = False) -> str:
        if line.unit == "diamond":
            return display.diamonds(units, signed=signed)
        return display.coins(units, signed=signed)

    return {
        "label": line.label,
        "unit": "diamonds" if line.unit == "diamond" else "coins",
        "opening": shown(line.opening),
        "movements": [
            (label, shown(amount, signed=True)) for label, amount in line.movements
        ],
        "closing": shown(line.closing),
        "ties": line.ties,
        "difference": shown(line.difference, signed=True),
    }


def _today():
    return timezone.now().astimezone(datetime.UTC).date()


@dataclass(frozen=True)
class Section:
    """One list on a user's page: its newest rows and a link to all of them."""

    key: str
    title: str
    headers: tuple[str, ...]
    rows: list[tuple]
    empty: str
    more: bool
    all_url: str | None
    all_label: str
    note: str = ""

    @property
    def labelled_rows(self) -> list[list[tuple[str, object, bool]]]:
        """Each row's cells beside their headers (a phone shows them as lines), and
        whether the cell holds a word too long to wrap (a SKU, a stream id, an
        e-mail): only such a cell may break anywhere, so figures stay whole."""
        return [
            [
                (label, cell, _has_long_word(cell))
                for label, cell in zip(self.headers, row, strict=True)
            ]
            for row in self.rows
        ]


LONG_WORD = 20


def _has_long_word(cell) -> bool:
    return any(len(word) > LONG_WORD for word in strip_tags(str(cell)).split())


def _when(moment) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}" if moment else "—"


def _link(url: str | None, text) -> str:
    return format_html('<a href="{}">{}</a>', url, text) if url else text


class UserPage:
    """The rows of one user's page, as the viewer may follow them: a link only
    where the viewer may open what it leads to."""

    def __init__(self, request, overview):
        self.viewer = request.user
        self.overview = overview
        self.user = overview.user

    def _admin_url(self, permission: str, name: str, *args, **filters) -> str | None:
        if not self.viewer.has_perm(permission):
            return None
        url = reverse(f"admin:{name}", args=args)
        return f"{url}?{urlencode(filters)}" if filters else url

    def _list_url(self, model: str, **filters) -> str | None:
        """A model's list filtered, e.g. `_list_url("wallets.purchase", ...)`."""
        app, name = model.split(".")
        return self._admin_url(
            f"{app}.view_{name}", f"{app}_{name}_changelist", **filters
        )

    def _row_link(self, model: str, pk: int, text: str) -> str:
        app, name = model.split(".")
        url = self._admin_url(f"{app}.view_{name}", f"{app}_{name}_change", pk)
        return _link(url, text)

    def _lookup(self, user_id: int, text: str) -> str:
        """Another user's page here, e.g. a gift's sender."""
        return _link(reverse("admin:reports_userlookup_change", args=[user_id]), text)

    def _section(
        self, key, title, recent, columns, *, empty, all_url, all_label, note=""
    ):
        """`columns`: {header: the cell of a row}."""
        return Section(
            note=note,
            key=key,
            title=title,
            headers=tuple(columns),
            rows=[tuple(cell(row) for cell in columns.values()) for row in recent.rows],
            empty=empty,
            more=recent.more,
            all_url=all_url,
            all_label=all_label,
        )

    def links(self) -> dict[str, str | None]:
        user, creator = self.user, self.overview.creator
        return {
            "account": self._admin_url(
                "accounts.view_user", "accounts_user_change", user.pk
            ),
            "creator": creator
            and self._admin_url(
                "gifting.view_creatorprofile",
                "gifting_creatorprofile_change",
                creator.pk,
            ),
            "home_region_set": self._admin_url(
                "wallets.change_homeregion",
                "wallets_homeregion_set",
                user=user.username,
            ),
            "adjustments": self._list_url(
                "wallets.balanceadjustment", user__id__exact=user.pk
            ),
            "override_add": self._admin_url(
                "wallets.add_spendinglimitoverride",
                "wallets_spendinglimitoverride_add",
                user=user.pk,
            ),
        }

    def payout_method(self) -> dict | None:
        creator = self.overview.creator
        if creator is None:
            return None
        change = self.overview.method_change
        # Never whole here, for any role: the payout's own page shows finance more.
        return {
            "method": creator.get_payout_method_display(),
            "destination": destination_masked(creator.destination),
            "changed_at": creator.payout_method_changed_at,
            "cooloff_ends": self.overview.cooloff_ends,
            "change": change
            and {
                "method": change.get_payout_method_display(),
                "destination": destination_masked(change.destination),
                "requested_at": change.requested_at,
                "url": self._admin_url(
                    "payouts.view_payoutmethodchange",
                    "payouts_payoutmethodchange_change",
                    change.pk,
                ),
            },
        }

    def sections(self) -> list[Section]:
        sections = [self.limits(), self.purchases(), self.gifts_sent()]
        if self.overview.creator is not None:
            sections += [self.gifts_received(), self.payouts()]
        return [*sections, self.transfers()]

    def limits(self) -> Section:
        limits, home = self.overview.limits, self.overview.home
        region_limit = limits.region_limit
        rows = [
            *(
                [(home.region.code, region_limit, "The region's limits")]
                if region_limit
                else []
            ),
            *(
                (override.region.code, override, f"Own: {override.reason}")
                for override in limits.overrides
            ),
        ]
        return self._section(
            "limits",
            "Spending limits",
            selectors.Recent(rows=rows, more=False),
            {
                "Region": lambda row: row[0],
                "Daily": lambda row: row[1].daily_limit or "the region's",
                "Monthly": lambda row: row[1].monthly_limit or "the region's",
                "Whose": lambda row: row[2],
                "Set by": lambda row: (
                    f"{row[1].set_by or '—'}, {_when(row[1].updated_at)}"
                    if row[1] is not region_limit
                    else "—"
                ),
            },
            note=self._limits_note(),
            empty="No limits: no home region yet, and no limits of their own.",
            all_url=self._list_url(
                "wallets.spendinglimitoverride", user__id__exact=self.user.pk
            ),
            all_label="Their own limits",
        )

    def _limits_note(self) -> str:
        limits, home = self.overview.limits, self.overview.home
        daily, monthly = limits.in_force
        in_force = (
            f"In force in {home.region.code}: "
            f"{f'{daily} a day' if daily else 'no daily limit'}, "
            f"{f'{monthly} a month' if monthly else 'no monthly limit'}."
            if home
            else "No home region yet: the first purchase sets it, and so the limits."
        )
        spent = "; ".join(
            f"{Money(today, currency)} today, {Money(month, currency)} this month"
            for currency, today, month in limits.spent
        )
        return f"{in_force} Spent (UTC days): {spent or 'nothing this month'}."

    def purchases(self) -> Section:
        return self._section(
            "purchases",
            "Purchases",
            self.overview.purchases,
            {
                "When": lambda p: _when(p.created_at),
                "Purchase": lambda p: self._row_link(
                    "wallets.purchase", p.pk, f"#{p.pk}"
                ),
                "Bundle": lambda p: p.bundle.sku,
                "Region": lambda p: p.region.code,
                "Store": lambda p: p.get_store_display(),
                "Price": lambda p: p.price,
                "Coins": lambda p: f"{p.coins:,} + {p.bonus_coins:,} bonus",
                "Unspent": lambda p: f"{p.paid_coins_remaining:,}",
                "Status": lambda p: p.get_status_display(),
            },
            empty="No purchases.",
            all_url=self._list_url("wallets.purchase", user__id__exact=self.user.pk),
            all_label="All purchases",
        )

    def _gift_columns(self, **middle) -> dict:
        return {
            "When": lambda send: _when(send.created_at),
            "Gift send": lambda send: self._row_link(
                "gifting.giftsend", send.pk, f"#{send.pk}"
            ),
            "Gift": lambda send: f"{send.gift.name} × {send.quantity}",
            **middle,
            "Coins": lambda send: f"{send.coins:,}",
        }

    def gifts_sent(self) -> Section:
        return self._section(
            "gifts-sent",
            "Gifts sent",
            self.overview.gifts_sent,
            {
                **self._gift_columns(
                    To=lambda send: self._lookup(
                        send.creator.user_id, send.creator.display_name
                    )
                ),
                "Where": lambda send: send.stream_id or f"video {send.video_id}",
            },
            empty="No gifts sent.",
            all_url=self._list_url("gifting.giftsend", sender__id__exact=self.user.pk),
            all_label="All gifts sent",
        )

    def gifts_received(self) -> Section:
        return self._section(
            "gifts-received",
            "Gifts received",
            self.overview.gifts_received,
            {
                **self._gift_columns(
                    From=lambda send: self._lookup(send.sender_id, send.sender.username)
                ),
                "Share": lambda send: f"{send.share_percent} %",
                "Diamonds": lambda send: diamonds_display(send.creator_diamond_units),
            },
            empty="No gifts received.",
            all_url=self._list_url(
                "gifting.giftsend", creator__id__exact=self.overview.creator.pk
            ),
            all_label="All gifts received",
        )

    def payouts(self) -> Section:
        def cash(amount_field):
            # Amount and currency on one line.
            return lambda p: f"{getattr(p, amount_field):,}\u00a0{p.currency}"

        return self._section(
            "payouts",
            "Payouts",
            self.overview.payouts,
            {
                "Requested": lambda p: _when(p.requested_at),
                "Payout": lambda p: self._row_link("payouts.payout", p.pk, p.reference),
                "Status": lambda p: p.get_status_display(),
                "Diamonds": lambda p: diamonds_display(p.diamond_units),
                "Gross": cash("gross_amount"),
                "Fee": cash("fee_amount"),
                "Net": cash("net_amount"),
                "To": lambda p: (
                    f"{p.get_method_display()} {destination_masked(p.destination)}"
                ),
            },
            empty="No payouts.",
            all_url=self._list_url(
                "payouts.payout",
                queue="all",
                creator__id__exact=self.overview.creator.pk,
            ),
            all_label="All payouts",
        )

    def _side(self, transfer):
        """The user's account in the transfer, and the amount signed for them."""
        if transfer.credit_account.owner_id == self.user.pk:
            return transfer.credit_account, transfer.amount
        return transfer.debit_account, -transfer.amount

    def transfers(self) -> Section:
        return self._section(
            "transfers",
            "Transfers",
            self.overview.transfers,
            {
                "When": lambda t: _when(t.created_at),
                "Kind": lambda t: t.get_kind_display(),
                "Account": lambda t: self._side(t)[0].get_kind_display(),
                "Amount": lambda t: amount_display(
                    self._side(t)[0].kind, self._side(t)[1], signed=True
                ),
                "Reference": lambda t: reference_link(t.reference, user=self.viewer),
                "Transfer": lambda t: self._row_link(
                    "wallets.transfer", t.pk, f"#{t.pk}"
                ),
            },
            empty="No transfers.",
            all_url=self._list_url("wallets.transfer", user=self.user.pk),
            all_label="All transfers of this user",
        )


@admin.register(UserLookup)
class UserLookupAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Support's search for a user (username, e-mail or id) and each user's page:
    wallet, limits, purchases, gifts, payouts and transfers. Reads only."""

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        query = request.GET.get("q", "").strip()
        matches = selectors.users_matching(query=query)
        if matches.exact and len(matches.users) == 1:
            return redirect("admin:reports_userlookup_change", matches.users[0].pk)
        return TemplateResponse(
            request,
            "admin/reports/userlookup/search.html",
            {
                **self.admin_site.each_context(request),
                "title": "Look up a user",
                "opts": self.model._meta,
                "query": query,
                "matches": matches,
            },
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        user_id = unquote(object_id)
        overview = (
            selectors.user_overview(user_id=int(user_id))
            if user_id.isascii() and user_id.isdigit() and int(user_id) < 2**63
            else None
        )
        if overview is None:
            raise Http404("No such user.")
        page = UserPage(request, overview)
        today = timezone.localdate()
        return TemplateResponse(
            request,
            "admin/reports/userlookup/user.html",
            {
                **self.admin_site.each_context(request),
                "title": overview.user.username,
                "opts": self.model._meta,
                "overview": overview,
                "links": page.links(),
                "payout_method": page.payout_method(),
                "sections": page.sections(),
                "diamonds": diamonds_display(overview.balances.diamond_units),
                "age": overview.user.age_on(today),
                "adult": overview.user.is_adult_on(today),
                "ineligible": overview.creator
                and overview.creator.ineligibility_reason(today),
            },
        )


class IncidentStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("closed", "Closed")]

    def queryset(self, request, queryset):
        if self.value() in ("open", "closed"):
            return queryset.filter(closed_at__isnull=self.value() == "open")
        return queryset


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Alerts sent to operators and finance, open and closed (docs/operations.md,
    Alerts). Opened and closed only by the alert check; nobody edits them."""

    # The state before the summary, so a phone shows it without scrolling.
    list_display = ("opened", "state", "kind", "summary", "closed")
    list_display_links = ("opened", "summary")
    list_filter = (IncidentStateFilter, "kind")
    search_fields = ("summary", "key")
    fields = ("kind", "key", "summary", "details", "opened_at", "closed_at")
    date_hierarchy = "opened_at"

    @staticmethod
    def _moment(moment):
        """The day over the time, so a narrow column never breaks the date."""
        if moment is None:
            return display.NONE
        day, _, time = display.when(moment).partition(" ")
        return format_html("{}<br>{}", nowrap(day), time)

    @admin.display(description="Opened", ordering="opened_at")
    def opened(self, incident):
        return self._moment(incident.opened_at)

    @admin.display(description="Closed", ordering="closed_at")
    def closed(self, incident):
        return self._moment(incident.closed_at)

    @admin.display(description="State")
    def state(self, incident):
        return "Open" if incident.is_open else "Closed"
