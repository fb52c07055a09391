import json
import uuid

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import OuterRef, Subquery
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from accounts.admin_mixins import ReadOnlyAdminMixin
from accounts.errors import ServiceError

from . import selectors, services
from .models import (
    BalanceAdjustment,
    LedgerAccount,
    Promotion,
    Purchase,
    ReconciliationRun,
    SpendingLimit,
    SpendingLimitOverride,
    Transfer,
    UnrecoveredStoreRefund,
    Wallet,
)

Kind = LedgerAccount.Kind


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    pass


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
        plan = json.loads(queryset.order_by().explain(format="json"))
        capped = queryset.order_by()[: self.EXACT_UP_TO + 1].count()
        if capped <= self.EXACT_UP_TO:
            return capped
        return max(capped, int(plan[0]["Plan"]["Plan Rows"]))


def _balance_of(kind: str):
    return Subquery(
        LedgerAccount.objects.filter(owner=OuterRef("pk"), kind=kind).values("balance")[
            :1
        ]
    )


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    list_display = (
        "username",
        "email",
        "paid_coins",
        "bonus_coins",
        "diamonds",
        "date_joined",
    )
    search_fields = ("username", "email", "=id")
    ordering = ("username",)
    show_full_result_count = False
    fields = (
        "username",
        "email",
        "birth_date",
        "date_joined",
        "balances",
        "recent_transfers",
        "recent_purchases",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                paid_balance=_balance_of(Kind.PAID_COINS),
                bonus_balance=_balance_of(Kind.BONUS_COINS),
                diamond_balance=_balance_of(Kind.DIAMONDS),
            )
        )

    @admin.display(description="Paid coins", ordering="paid_balance")
    def paid_coins(self, wallet):
        return wallet.paid_balance or 0

    @admin.display(description="Bonus coins", ordering="bonus_balance")
    def bonus_coins(self, wallet):
        return wallet.bonus_balance or 0

    @admin.display(description="Diamonds", ordering="diamond_balance")
    def diamonds(self, wallet):
        return wallet.diamond_balance or 0

    @admin.display(description="Balances")
    def balances(self, wallet):
        balances = selectors.wallet_balances(user=wallet)
        return (
            f"{balances.coins} coins ({balances.paid_coins} paid, "
            f"{balances.bonus_coins} bonus) · {balances.diamonds} diamonds"
        )

    @admin.display(description="Last 20 transfers")
    def recent_transfers(self, wallet):
        transfers = selectors.transfers_for_user(user=wallet)[:20]
        rows = []
        for transfer in transfers:
            incoming = transfer.credit_account.owner_id == wallet.id
            side = transfer.credit_account if incoming else transfer.debit_account
            sign = "+" if incoming else "−"
            rows.append(
                (
                    f"{transfer.created_at:%Y-%m-%d %H:%M}",
                    transfer.get_kind_display(),
                    side.get_kind_display(),
                    f"{sign}{transfer.amount}",
                    transfer.reference,
                )
            )
        if not rows:
            return "No transfers yet."
        return format_html(
            "<table><tr><th>When</th><th>Kind</th><th>Balance</th><th>Amount</th>"
            "<th>Reference</th></tr>{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                rows,
            ),
        )

    @admin.display(description="Last 20 purchases")
    def recent_purchases(self, wallet):
        purchases = Purchase.objects.filter(user=wallet).select_related(
            "bundle", "region"
        )[:20]
        rows = [
            (
                f"{purchase.created_at:%Y-%m-%d %H:%M}",
                f"#{purchase.id}",
                str(purchase.bundle),
                purchase.region.code,
                str(purchase.price),
                purchase.get_status_display(),
            )
            for purchase in purchases
        ]
        if not rows:
            return "No purchases yet."
        return format_html(
            "<table><tr><th>When</th><th>Purchase</th><th>Bundle</th><th>Region</th>"
            "<th>Price</th><th>Status</th></tr>{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                rows,
            ),
        )


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ("id", "owner", "kind", "unit", "balance", "created_at")
    list_filter = ("kind", "unit")
    list_select_related = ("owner",)
    search_fields = ("=owner__username", "=id")
    show_full_result_count = False


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "kind",
        "unit",
        "amount",
        "debit_account",
        "credit_account",
        "reference",
    )
    list_filter = ("kind", "unit")
    list_select_related = ("debit_account__owner", "credit_account__owner")
    search_fields = (
        "=reference",
        "=idempotency_key",
        "=debit_account__owner__username",
        "=credit_account__owner__username",
    )
    # A COUNT(*) over millions of transfers on every page is the slow part.
    show_full_result_count = False
    paginator = EstimatedCountPaginator


class RefundForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Recorded on each refunded purchase.",
    )


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "user",
        "bundle",
        "region",
        "channel",
        "store",
        "price",
        "coins",
        "bonus_coins",
        "paid_coins_remaining",
        "status",
    )
    list_filter = (
        "status",
        "store",
        "channel",
        "region",
        ("created_at", admin.DateFieldListFilter),
    )
    list_select_related = ("user", "bundle", "region")
    search_fields = ("=id", "=store_transaction_id", "=user__username", "user__email")
    show_full_result_count = False
    actions = ("refund",)
    change_list_template = "admin/wallets/purchase/change_list.html"

    def get_urls(self):
        liability = self.admin_site.admin_view(self.liability_view)
        return [
            path("liability/", liability, name="wallets_purchase_liability"),
            *super().get_urls(),
        ]

    def liability_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return TemplateResponse(
            request,
            "admin/wallets/purchase/liability.html",
            {
                **self.admin_site.each_context(request),
                "title": "Paid-coin liability",
                "opts": self.model._meta,
                "liability": selectors.paid_coin_liability(),
            },
        )

    def has_refund_permission(self, request):
        return request.user.has_perm("wallets.refund_purchase")

    @admin.display(description="Bonus coins")
    def bonus_coins(self, purchase):
        return purchase.bonus_coins

    @admin.action(description="Refund selected purchases", permissions=["refund"])
    def refund(self, request, queryset):
        form = RefundForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._refund_each(request, queryset, form.cleaned_data["reason"])
            return None
        return TemplateResponse(
            request,
            "admin/wallets/purchase/refund.html",
            {
                **self.admin_site.each_context(request),
                "title": "Refund purchases",
                "opts": self.model._meta,
                "purchases": queryset.select_related("user", "bundle"),
                "form": form,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            },
        )

    def _refund_each(self, request, queryset, reason):
        refunded = 0
        for purchase in queryset:
            try:
                result = services.purchase_refund(
                    purchase=purchase,
                    actor=request.user,
                    reason=reason,
                    source=Purchase.RefundSource.FINANCE,
                )
            except services.RefundRefused as refusal:
                self.message_user(request, refusal.message, messages.ERROR)
                continue
            if result.refunded:
                refunded += 1
            else:
                self.message_user(
                    request,
                    f"Purchase #{purchase.id} was already refunded.",
                    messages.WARNING,
                )
        if refunded:
            self.message_user(
                request, f"Refunded {refunded} purchase(s).", messages.SUCCESS
            )


@admin.register(Promotion)
class PromotionAdmin(SimpleHistoryAdmin):
    list_display = (
        "name",
        "kind",
        "bonus_percent",
        "channel",
        "starts_at",
        "ends_at",
        "is_active",
    )
    list_filter = ("kind", "is_active", "channel", "regions")
    search_fields = ("name",)
    filter_horizontal = ("regions",)
    readonly_fields = ("applied",)

    @admin.display(description="Applied")
    def applied(self, promotion):
        count = promotion.purchases.count() if promotion.pk else 0
        if not count:
            return "Not applied to any purchase yet."
        return (
            f"Applied to {count:,} purchase(s): it explains their bonus coins, so it "
            "cannot be deleted; deactivate it instead."
        )

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.purchases.exists():
            return False
        return super().has_delete_permission(request, obj)


@admin.register(SpendingLimit)
class SpendingLimitAdmin(SimpleHistoryAdmin):
    list_display = ("region", "daily_limit", "monthly_limit")
    list_select_related = ("region",)
    search_fields = ("region__code", "region__name")


@admin.register(SpendingLimitOverride)
class SpendingLimitOverrideAdmin(SimpleHistoryAdmin):
    list_display = (
        "user",
        "region",
        "daily_limit",
        "monthly_limit",
        "set_by",
        "updated_at",
    )
    list_select_related = ("user", "region", "set_by")
    list_filter = ("region",)
    search_fields = ("=user__username", "user__email")
    autocomplete_fields = ("user",)
    readonly_fields = ("set_by", "updated_at")

    def save_model(self, request, obj, form, change):
        obj.set_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    list_display = (
        "started_at",
        "finished_at",
        "clean",
        "transfers_checked",
        "accounts_checked",
    )
    fields = (
        "started_at",
        "finished_at",
        "transfers_checked",
        "accounts_checked",
        "problem_list",
    )
    readonly_fields = fields

    @admin.display(description="Clean", boolean=True)
    def clean(self, run):
        return run.is_clean

    @admin.display(description="Problems")
    def problem_list(self, run):
        if run.is_clean:
            return "None."
        return format_html(
            "<ul>{}</ul>",
            format_html_join("", "<li>{}</li>", ((p,) for p in run.problems)),
        )


class AdjustmentForm(forms.Form):
    user = forms.ModelChoiceField(
        queryset=Wallet.objects.all(), widget=forms.NumberInput, help_text="User id."
    )
    account_kind = forms.ChoiceField(
        choices=BalanceAdjustment._meta.get_field("account_kind").choices
    )
    amount = forms.IntegerField(
        help_text="Bonus coins, or diamonds in ten-thousandths; negative takes away."
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))
    idempotency_key = forms.CharField(widget=forms.HiddenInput)


@admin.register(BalanceAdjustment)
class BalanceAdjustmentAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "user",
        "account_kind",
        "amount",
        "balance_before",
        "balance_after",
        "actor",
        "reason",
    )
    list_filter = ("account_kind",)
    list_select_related = ("user", "actor")
    search_fields = ("=user__username", "=actor__username")
    change_list_template = "admin/wallets/balanceadjustment/change_list.html"

    def get_urls(self):
        adjust = self.admin_site.admin_view(self.adjust_view)
        return [
            path("adjust/", adjust, name="wallets_balanceadjustment_adjust"),
            *super().get_urls(),
        ]

    def adjust_view(self, request):
        if not request.user.has_perm(services.ADJUST_PERMISSION):
            raise PermissionDenied
        if request.method == "POST":
            form = AdjustmentForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    services.balance_adjust(
                        user=data["user"],
                        account_kind=data["account_kind"],
                        amount=data["amount"],
                        reason=data["reason"],
                        actor=request.user,
                        idempotency_key=data["idempotency_key"],
                    )
                except ServiceError as refusal:
                    form.add_error(refusal.field, refusal.message)
                else:
                    self.message_user(request, "Balance adjusted.", messages.SUCCESS)
                    return redirect("admin:wallets_balanceadjustment_changelist")
        else:
            form = AdjustmentForm(initial={"idempotency_key": uuid.uuid4().hex})
        return TemplateResponse(
            request,
            "admin/wallets/balanceadjustment/adjust.html",
            {
                **self.admin_site.each_context(request),
                "title": "Adjust a balance",
                "opts": self.model._meta,
                "form": form,
            },
        )


class ResolveForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="What finance did: written off, disputed with the store, "
        "recovered from the buyer, ...",
    )


class ResolvedFilter(admin.SimpleListFilter):
    title = "resolved"
    parameter_name = "resolved"

    def lookups(self, request, model_admin):
        return (("no", "Open"), ("yes", "Resolved"))

    def queryset(self, request, queryset):
        if self.value() in ("no", "yes"):
            return queryset.filter(resolved_at__isnull=self.value() == "no")
        return queryset


@admin.register(UnrecoveredStoreRefund)
class UnrecoveredStoreRefundAdmin(ReadOnlyAdmin):
    """Store refunds of partly spent purchases, for finance to work off."""

    # Narrow columns: the whole row fits beside the admin's menu and the filters.
    list_display = (
        "received",
        "user",
        "store",
        "transaction_link",
        "price",
        "coins_not_recovered",
        "coins_taken_back",
        "paid_value_not_recovered",
        "resolved",
    )
    list_filter = (ResolvedFilter, "store")
    list_select_related = ("purchase__user",)
    search_fields = (
        "=purchase__user__username",
        "purchase__user__email",
        "=purchase__store_transaction_id",
        "=purchase__id",
    )
    show_full_result_count = False
    actions = ("resolve",)
    fields = (
        "purchase_link",
        "user",
        "store",
        "transaction",
        "price",
        "description",
        "paid_coins_spent",
        "bonus_coins_missing",
        "paid_value_not_recovered",
        "paid_coins_taken_back",
        "bonus_coins_taken_back",
        "received_at",
        "last_received_at",
        "notifications",
        "resolved_at",
        "resolved_by",
        "resolution_note",
    )
    readonly_fields = fields

    def get_urls(self):
        resolve = self.admin_site.admin_view(self.resolve_view)
        return [
            path(
                "<path:object_id>/resolve/",
                resolve,
                name="wallets_unrecoveredstorerefund_resolve",
            ),
            *super().get_urls(),
        ]

    def has_resolve_permission(self, request):
        return request.user.has_perm(services.RESOLVE_UNRECOVERED_PERMISSION)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_resolve": self.has_resolve_permission(request),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="User", ordering="purchase__user__username")
    def user(self, record):
        return record.purchase.user

    @admin.display(description="Transaction")
    def transaction(self, record):
        return record.purchase.store_transaction_id

    @admin.display(description="Received", ordering="received_at")
    def received(self, record):
        return timezone.localtime(record.received_at).strftime("%Y-%m-%d %H:%M")

    @admin.display(description="Transaction")
    def transaction_link(self, record):
        url = reverse("admin:wallets_purchase_change", args=[record.purchase_id])
        return format_html(
            '<a href="{}" title="Purchase #{}">{}</a>',
            url,
            record.purchase_id,
            record.purchase.store_transaction_id,
        )

    @admin.display(description="Coins lost")
    def coins_not_recovered(self, record):
        return f"{record.paid_coins_spent} + {record.bonus_coins_missing} bonus"

    @admin.display(description="Coins back")
    def coins_taken_back(self, record):
        return f"{record.paid_coins_taken_back} + {record.bonus_coins_taken_back} bonus"

    @admin.display(description="Value lost")
    def paid_value_not_recovered(self, record):
        return record.paid_value_not_recovered

    @admin.display(description="What happened")
    def description(self, record):
        return record.description

    @admin.display(description="Resolved", boolean=True, ordering="resolved_at")
    def resolved(self, record):
        return record.is_resolved

    @admin.display(description="Purchase")
    def purchase_link(self, record):
        url = reverse("admin:wallets_purchase_change", args=[record.purchase_id])
        return format_html('<a href="{}">#{}</a>', url, record.purchase_id)

    @admin.action(
        description="Resolve selected (with one note)", permissions=["resolve"]
    )
    def resolve(self, request, queryset):
        form = ResolveForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._resolve_each(request, queryset, form.cleaned_data["note"])
            return None
        return self._resolve_page(request, queryset, form, in_bulk=True)

    def resolve_view(self, request, object_id):
        if not self.has_resolve_permission(request):
            raise PermissionDenied
        record = self.get_object(request, unquote(object_id))
        if record is None:
            raise Http404("No such unrecovered store refund.")
        form = ResolveForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            try:
                services.unrecovered_store_refund_resolve(
                    record=record, actor=request.user, note=form.cleaned_data["note"]
                )
            except ServiceError as refusal:
                form.add_error(refusal.field, refusal.message)
            else:
                self.message_user(request, "Resolved.", messages.SUCCESS)
                return redirect("admin:wallets_unrecoveredstorerefund_changelist")
        records = UnrecoveredStoreRefund.objects.filter(pk=record.pk)
        return self._resolve_page(request, records, form, in_bulk=False)

    def _resolve_page(self, request, queryset, form, *, in_bulk):
        return TemplateResponse(
            request,
            "admin/wallets/unrecoveredstorerefund/resolve.html",
            {
                **self.admin_site.each_context(request),
                "title": "Resolve unrecovered store refunds",
                "opts": self.model._meta,
                "records": queryset.select_related("purchase__user"),
                "form": form,
                "in_bulk": in_bulk,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            },
        )

    def _resolve_each(self, request, queryset, note):
        resolved = 0
        for record in queryset:
            try:
                services.unrecovered_store_refund_resolve(
                    record=record, actor=request.user, note=note
                )
            except ServiceError as refusal:
                self.message_user(request, refusal.message, messages.WARNING)
            else:
                resolved += 1
        if resolved:
            self.message_user(request, f"Resolved {resolved}.", messages.SUCCESS)
