import uuid

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import PermissionDenied
from django.db.models import BigIntegerField, OuterRef, Subquery, Sum
from django.db.models.functions import Cast, Coalesce
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from djmoney.money import Money

from accounts.models import User
from catalog.models import Region
from core import display
from core.admin import (
    ConfirmFormMixin,
    ConfirmPage,
    DecideEachMixin,
    EstimatedCountPaginator,
    ListExportMixin,
    OpensOnFilter,
    ReadOnlyAdminMixin,
    column,
    html_table,
    nowrap,
    numbered_when,
    truncated,
)
from core.errors import ServiceError
from core.exports import Column
from core.history import HistoryAdmin, ReadableHistoryAdmin

from . import selectors, services
from .models import (
    AccountKind,
    BalanceAdjustment,
    HomeRegion,
    LedgerAccount,
    PendingCredit,
    Promotion,
    Purchase,
    ReconciliationRun,
    RefundRequest,
    RefundRule,
    SpendingLimit,
    SpendingLimitOverride,
    Transfer,
    Unit,
    UnrecoveredStoreRefund,
    Wallet,
    amount_display,
    unit_display,
)
from .references import reference_link
from .units import diamonds_from_units, units_from_diamonds


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    pass


def _balance_of(kind: str):
    return Subquery(
        LedgerAccount.objects.filter(owner=OuterRef("pk"), kind=kind).values("balance")[
            :1
        ]
    )


def _diamond_units_held():
    """The diamond balance with its pending gift credits, as `wallet_balances` reads
    it: a creator's earnings stay pending until the background fold."""
    pending = Subquery(
        PendingCredit.objects.filter(
            account__owner=OuterRef("pk"), account__kind=AccountKind.DIAMONDS
        )
        .order_by()
        .values("account")
        .annotate(total=Sum("amount"))
        .values("total")[:1]
    )
    return Cast(
        Coalesce(_balance_of(AccountKind.DIAMONDS), 0) + Coalesce(pending, 0),
        BigIntegerField(),
    )


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    # Who and what they hold fit beside the menu; the rest is on the wallet's page.
    list_display = (
        "username",
        "email_short",
        "home",
        "paid_coins",
        "bonus_coins",
        "diamonds",
    )
    list_select_related = ("home_region__region",)
    search_fields = ("username", "email", "=id")
    ordering = ("username",)
    show_full_result_count = False
    fields = (
        "username",
        "email",
        "birth_date",
        "date_joined",
        "home_region_line",
        "balances",
        "recent_transfers",
        "recent_purchases",
    )
    readonly_fields = fields
    change_form_template = "admin/wallets/wallet/change_form.html"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                paid_balance=Coalesce(_balance_of(AccountKind.PAID_COINS), 0),
                bonus_balance=Coalesce(_balance_of(AccountKind.BONUS_COINS), 0),
                diamond_units=_diamond_units_held(),
            )
        )

    @admin.display(description="Region", ordering="home_region__region__code")
    def home(self, wallet):
        home = getattr(wallet, "home_region", None)
        return home.region.code if home else "–"

    @admin.display(description="Home region")
    def home_region_line(self, wallet):
        home = HomeRegion.objects.filter(user=wallet).select_related("region").first()
        if home is None:
            return "Not known yet: the first purchase sets it."
        return (
            f"{home.region.code} ({home.region.name}) · {home.get_source_display()}, "
            f"{display.when(home.set_at)}"
        )

    email_short = column("email", description="E-mail", ordering="email", width="16em")

    paid_coins = column(
        "paid_balance", display.coins, description="Paid coins", ordering="paid_balance"
    )
    bonus_coins = column(
        "bonus_balance",
        display.coins,
        description="Bonus coins",
        ordering="bonus_balance",
    )

    diamonds = column(
        "diamond_units",
        display.diamonds,
        description="Diamonds",
        ordering="diamond_units",
    )

    @admin.display(description="Balances")
    def balances(self, wallet):
        balances = selectors.wallet_balances(user=wallet)
        return (
            f"{display.coins(balances.coins)} coins "
            f"({display.coins(balances.paid_coins)} paid, "
            f"{display.coins(balances.bonus_coins)} bonus) · "
            f"{amount_display(AccountKind.DIAMONDS, balances.diamond_units)}"
        )

    @admin.display(description="Last 20 transfers")
    def recent_transfers(self, wallet):
        transfers = selectors.transfers_for_user(user=wallet)[:20]
        rows = []
        for transfer in transfers:
            incoming = transfer.credit_account.owner_id == wallet.id
            side = transfer.credit_account if incoming else transfer.debit_account
            amount = transfer.amount if incoming else -transfer.amount
            rows.append(
                (
                    display.when(transfer.created_at),
                    transfer.get_kind_display(),
                    side.get_kind_display(),
                    nowrap(unit_display(transfer.unit, amount, signed=True)),
                    transfer.reference,
                )
            )
        return html_table(
            ("When", "Kind", "Balance", "Amount", "Reference"),
            rows,
            empty="No transfers yet.",
        )

    @admin.display(description="Last 20 purchases")
    def recent_purchases(self, wallet):
        purchases = Purchase.objects.filter(user=wallet).select_related(
            "bundle", "region"
        )[:20]
        rows = [
            (
                display.when(purchase.created_at),
                f"#{purchase.id}",
                str(purchase.bundle),
                purchase.region.code,
                nowrap(display.money(purchase.price)),
                purchase.get_status_display(),
            )
            for purchase in purchases
        ]
        return html_table(
            ("When", "Purchase", "Bundle", "Region", "Price", "Status"),
            rows,
            empty="No purchases yet.",
        )


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ("id", "owner_short", "kind", "balance_shown", "opened")
    list_filter = ("kind", "unit")
    list_select_related = ("owner",)
    search_fields = ("=owner__username", "=id")
    show_full_result_count = False
    fields = ("kind", "owner", "unit", "balance_shown", "balance_source", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        # The balance the ledger holds: a system account's stored one is always 0.
        return selectors.ledger_accounts_with_balance(super().get_queryset(request))

    @admin.display(description="Owner", ordering="owner__username")
    def owner_short(self, account):
        return "—" if account.owner is None else truncated(account.owner, "12em")

    @admin.display(description="Balance", ordering="ledger_balance")
    def balance_shown(self, account):
        return unit_display(account.unit, account.ledger_balance)

    @admin.display(description="How it is counted")
    def balance_source(self, account):
        if account.is_system:
            return (
                "A system account keeps no balance of its own: this is the sum of "
                "its transfers in less its transfers out."
            )
        return "The account's balance with its gift credits not folded in yet."

    opened = column(
        "created_at", display.when, description="Opened", ordering="created_at"
    )


class TransfersOfUserFilter(admin.SimpleListFilter):
    """`?user=<id>`: every transfer in or out of that user's accounts (the user
    lookup's "all transfers of this user")."""

    title = "user"
    parameter_name = "user"

    def lookups(self, request, model_admin):
        # Only the user asked for: a choice of every user would be the whole table.
        # A filter without a choice is dropped, and the list would show everything.
        value = self.value()
        if value is None:
            return []
        self.user = None
        if value.isascii() and value.isdigit() and int(value) < 2**63:
            self.user = User.objects.filter(pk=value).only("pk", "username").first()
        return [(value, self.user.username if self.user else "no such user")]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        if self.user is None:
            return queryset.none()
        return queryset.filter(selectors.transfers_of_user(self.user.pk))


def transfer_amount(transfer: Transfer):
    """Coins as an integer, diamonds as a `Decimal` with their four decimals."""
    if transfer.unit == Unit.DIAMOND:
        return diamonds_from_units(transfer.amount)
    return transfer.amount


@admin.register(Transfer)
class TransferAdmin(ListExportMixin, ReadOnlyAdmin):
    export_permission = "wallets.export_transfer"
    export_columns = (
        Column("id", "id"),
        Column("time (UTC)", "created_at"),
        Column("kind", lambda transfer: transfer.get_kind_display()),
        Column("reference", "reference"),
        Column("debit account id", "debit_account_id"),
        Column("debit account", "debit_account", str),
        Column("credit account id", "credit_account_id"),
        Column("credit account", "credit_account", str),
        Column("unit", "unit"),
        Column("amount", transfer_amount),
    )

    # Long account names are cut (whole on hover and on the transfer's page).
    list_display = (
        "when",
        "kind",
        "amount_shown",
        "accounts",
        "reference",
    )
    fields = (
        "created_at",
        "kind",
        "amount_shown",
        "debit_account",
        "credit_account",
        "reference",
        "idempotency_key",
    )
    readonly_fields = fields
    list_filter = (TransfersOfUserFilter, "kind", "unit")
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

    @admin.display(description="Transfer, when", ordering="created_at")
    def when(self, transfer):
        return numbered_when(transfer, transfer.created_at)

    @admin.display(description="Amount", ordering="amount")
    def amount_shown(self, transfer):
        return transfer.amount_display

    @admin.display(description="From (debit) → to (credit)")
    def accounts(self, transfer):
        return format_html(
            '{}<br><span style="white-space: nowrap">→ {}</span>',
            truncated(transfer.debit_account, "14em"),
            truncated(transfer.credit_account, "13em"),
        )

    def export_queryset(self, request, queryset):
        return queryset.select_related("debit_account__owner", "credit_account__owner")

    def get_list_display(self, request):
        # The reference links to what it names, for those who may open that.
        @admin.display(description="Reference", ordering="reference")
        def reference(transfer):
            return reference_link(transfer.reference, user=request.user)

        return tuple(
            reference if column == "reference" else column
            for column in super().get_list_display(request)
        )


class RefundForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Recorded on each refunded purchase.",
    )


REFUND_PAGE = ConfirmPage(
    title="Refund purchases",
    crumb="Refund",
    intro="These purchases will be refunded: their paid coins go back, and their "
    "bonus coins as far as the buyer still has them. A purchase past its "
    "region's refund window (14 days unless a refund rule says otherwise), refunded "
    "only by its store, or with spent coins is refused and left as it is.",
    line=lambda purchase: (
        f"#{purchase.id} · {purchase.user} · {purchase.bundle} · "
        f"{display.money(purchase.price)} · {display.when(purchase.created_at)} · "
        f"{purchase.get_status_display()}"
    ),
    submit="Refund {count} purchase(s)",
)


@admin.register(Purchase)
class PurchaseAdmin(ListExportMixin, ConfirmFormMixin, ReadOnlyAdmin):
    export_permission = "wallets.export_purchase"
    export_columns = (
        Column("id", "id"),
        Column("time (UTC)", "created_at"),
        Column("buyer", "user.username"),
        Column("buyer id", "user_id"),
        Column("store", lambda purchase: purchase.get_store_display()),
        Column("store transaction id", "store_transaction_id"),
        Column("channel", lambda purchase: purchase.get_channel_display()),
        Column("region", "region.code"),
        Column("bundle", "bundle.sku"),
        Column("price", "price.amount"),
        Column("currency", "price.currency.code"),
        Column("paid coins", "coins"),
        Column("bonus coins (bundle)", "bundle_bonus_coins"),
        Column("bonus coins (promotions)", "promotion_bonus_coins"),
        Column("paid coins unspent", "paid_coins_remaining"),
        Column("status", lambda purchase: purchase.get_status_display()),
        Column("refunded at (UTC)", "refunded_at"),
        Column("refunded by", "refunded_by.username"),
        Column("refund source", lambda purchase: purchase.get_refund_source_display()),
        Column("refund reason", "refund_reason"),
    )

    def export_queryset(self, request, queryset):
        return queryset.select_related("user", "bundle", "region", "refunded_by")

    # What a refund decision needs fits beside the menu and filters; region,
    # channel, bonus coins and the refund's details are on the purchase's page.
    list_display = (
        "when",
        "user_short",
        "bundle_short",
        "price_shown",
        "store",
        "unspent",
        "status",
    )
    fields = (
        "user",
        "bundle",
        "region",
        "store",
        "channel",
        "store_transaction_id",
        "price_shown",
        "coins_shown",
        "bonus_coins_shown",
        "unspent",
        "promotions",
        "status",
        "created_at",
        "refunded_at",
        "refunded_by",
        "refund_source",
        "refund_reason",
        "refund_request",
        "idempotency_key",
    )
    readonly_fields = fields
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
                "liability": [
                    Money(amount, currency)
                    for currency, amount in selectors.paid_coin_liability().items()
                ],
            },
        )

    def has_refund_permission(self, request):
        return request.user.has_perm(services.REFUND_PERMISSION)

    @admin.display(description="Purchase, when", ordering="created_at")
    def when(self, purchase):
        return numbered_when(purchase, purchase.created_at)

    user_short = column(
        "user", description="User", ordering="user__username", width="8em"
    )

    @admin.display(description="Bundle", ordering="bundle__coins")
    def bundle_short(self, purchase):
        return str(purchase.bundle)

    price_shown = column("price", display.money, description="Price", ordering="price")

    coins_shown = column("coins", display.coins, description="Paid coins")

    @admin.display(description="Bonus coins")
    def bonus_coins_shown(self, purchase):
        return (
            f"{display.coins(purchase.bonus_coins)} "
            f"({display.coins(purchase.bundle_bonus_coins)} with the bundle, "
            f"{display.coins(purchase.promotion_bonus_coins)} from promotions)"
        )

    unspent = column(
        "paid_coins_remaining",
        display.coins,
        description="Unspent",
        ordering="paid_coins_remaining",
    )

    @admin.display(description="Buyer's refund request")
    def refund_request(self, purchase):
        asked = purchase.refund_requests.first()
        if asked is None:
            return display.NONE
        url = reverse("admin:wallets_refundrequest_change", args=[asked.id])
        return format_html(
            '<a href="{}">#{}</a> · {} · {}',
            url,
            asked.id,
            asked.get_status_display(),
            display.when(asked.created_at),
        )

    @admin.action(description="Refund selected purchases", permissions=["refund"])
    def refund(self, request, queryset):
        return self.confirm_form(
            request,
            queryset.select_related("user", "bundle"),
            action="refund",
            form_class=RefundForm,
            page=REFUND_PAGE,
            run=lambda data: self._refund_each(request, queryset, data["reason"]),
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
class PromotionAdmin(HistoryAdmin):
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
class SpendingLimitAdmin(HistoryAdmin):
    list_display = ("region", "daily_limit", "monthly_limit")
    list_select_related = ("region",)
    search_fields = ("region__code", "region__name")


@admin.register(SpendingLimitOverride)
class SpendingLimitOverrideAdmin(HistoryAdmin):
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


class HomeRegionForm(forms.Form):
    user = forms.ModelChoiceField(
        queryset=User.objects.all(),
        to_field_name="username",
        widget=forms.TextInput,
        help_text="The user's username.",
        error_messages={"invalid_choice": "No user with that username."},
    )
    region = forms.ModelChoiceField(
        queryset=Region.objects.filter(is_active=True).order_by("code"),
        help_text="Where the user buys coins and sends gifts from.",
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 50}),
        help_text="Why: what the user showed you, the ticket. Recorded and audited.",
    )


@admin.register(HomeRegion)
class HomeRegionAdmin(ReadOnlyAdmin):
    list_display = ("user", "region_code", "source", "set_by", "set")
    list_filter = ("source", "region")
    list_select_related = ("user", "region", "set_by")
    search_fields = ("=user__username", "user__email")
    show_full_result_count = False
    fields = ("user", "region", "source", "reason", "set_by", "set_at")
    readonly_fields = fields
    change_list_template = "admin/wallets/homeregion/change_list.html"
    change_form_template = "admin/wallets/homeregion/change_form.html"

    @admin.display(description="Region", ordering="region__code")
    def region_code(self, home):
        return home.region.code

    set = column("set_at", display.when, description="Set", ordering="set_at")

    def get_urls(self):
        set_view = self.admin_site.admin_view(self.set_view)
        return [
            path("set/", set_view, name="wallets_homeregion_set"),
            *super().get_urls(),
        ]

    def set_view(self, request):
        if not request.user.has_perm(services.HOME_REGION_PERMISSION):
            raise PermissionDenied
        if request.method == "POST":
            form = HomeRegionForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    home = services.home_region_set(
                        user=data["user"],
                        region=data["region"],
                        actor=request.user,
                        reason=data["reason"],
                    )
                except ServiceError as refusal:
                    form.add_error(refusal.field, refusal.message)
                else:
                    self.message_user(
                        request,
                        f"{home.user}'s home region is now {home.region.code}.",
                        messages.SUCCESS,
                    )
                    return redirect("admin:wallets_homeregion_changelist")
        else:
            form = HomeRegionForm(initial={"user": request.GET.get("user", "")})
        username = form["user"].value()
        current = (
            HomeRegion.objects.filter(user__username=username)
            .select_related("region", "set_by")
            .first()
            if username
            else None
        )
        return TemplateResponse(
            request,
            "admin/wallets/homeregion/set.html",
            {
                **self.admin_site.each_context(request),
                "title": "Set a home region",
                "opts": self.model._meta,
                "form": form,
                "current": current,
            },
        )


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    list_display = ("started", "finished", "clean", "transfers", "accounts")
    fields = ("started", "finished", "transfers", "accounts", "problem_list")
    readonly_fields = fields

    started = column(
        "started_at", display.when, description="Started", ordering="started_at"
    )
    finished = column("finished_at", display.when, description="Finished")
    transfers = column(
        "transfers_checked", display.number, description="Transfers checked"
    )
    accounts = column(
        "accounts_checked", display.number, description="Accounts checked"
    )

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


class UserSearch(AutocompleteSelect):
    """Admin's autocomplete; a typed id that is not a number shows as no choice
    (the stock widget's query would raise on it)."""

    def optgroups(self, name, value, attr=None):
        return super().optgroups(name, [v for v in value if str(v).isdigit()], attr)


class AdjustmentForm(forms.Form):
    """An adjustment as finance types it: the user found by name, the amount in the
    unit people read (diamonds to four decimals, whole bonus coins)."""

    user = forms.ModelChoiceField(queryset=User.objects.all())
    account_kind = forms.ChoiceField(
        label="Balance",
        choices=BalanceAdjustment._meta.get_field("account_kind").choices,
    )
    amount = forms.DecimalField(
        max_digits=17,
        decimal_places=4,
        help_text="In diamonds (up to four decimals: 200000 is 200,000 diamonds) or "
        "whole bonus coins. Negative takes away.",
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))
    idempotency_key = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, admin_site, **kwargs):
        super().__init__(*args, **kwargs)
        # Found by name, as in any admin autocomplete; not typed as an id.
        self.fields["user"] = forms.ModelChoiceField(
            queryset=User.objects.all(),
            widget=UserSearch(BalanceAdjustment._meta.get_field("user"), admin_site),
            help_text="Search by username or e-mail.",
        )

    def clean(self):
        data = super().clean()
        kind, amount = data.get("account_kind"), data.get("amount")
        if kind is None or amount is None:
            return data
        if kind == AccountKind.DIAMONDS:
            # The field's four decimals already refuse anything finer than a unit.
            data["units"] = units_from_diamonds(amount)
        elif amount != amount.to_integral_value():
            self.add_error("amount", "Bonus coins are whole coins.")
        else:
            data["units"] = int(amount)
        return data


class RejectAdjustmentForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Kept on each rejected adjustment.",
    )


REJECT_ADJUSTMENTS_PAGE = ConfirmPage(
    title="Reject adjustments",
    crumb="Reject",
    intro="These credits will be rejected and never move; one already decided is "
    "left as it is.",
    line=lambda adjustment: (
        f"#{adjustment.id} · {adjustment.user} · {adjustment.change_display} · "
        f"asked by {adjustment.actor} · {adjustment.get_status_display()}"
    ),
    submit="Reject {count} adjustment(s)",
)


@admin.register(BalanceAdjustment)
class BalanceAdjustmentAdmin(DecideEachMixin, ReadOnlyAdmin):
    """Adjustments, and the credits waiting for a second finance user's approval."""

    # Narrow columns: who, how much and the state fit beside the menu and filters;
    # the balance before and after is on each adjustment's page.
    list_display = ("when", "user_short", "change", "status", "people", "short_reason")
    list_filter = ("status", "account_kind")
    list_select_related = ("user", "actor", "decided_by")
    search_fields = ("=user__username", "=actor__username", "=decided_by__username")
    show_full_result_count = False
    actions = ("approve", "reject")
    change_list_template = "admin/wallets/balanceadjustment/change_list.html"

    def get_urls(self):
        adjust = self.admin_site.admin_view(self.adjust_view)
        return [
            path("adjust/", adjust, name="wallets_balanceadjustment_adjust"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        waiting = BalanceAdjustment.objects.filter(
            status=BalanceAdjustment.Status.REQUESTED
        ).count()
        extra_context = {**(extra_context or {}), "waiting": waiting}
        return super().changelist_view(request, extra_context)

    when = column(
        "created_at", display.when, description="Asked", ordering="created_at"
    )

    user_short = column(
        "user", description="User", ordering="user__username", width="9em"
    )

    @admin.display(description="Change", ordering="amount")
    def change(self, adjustment):
        return adjustment.change_display

    @admin.display(description="Asked / decided by")
    def people(self, adjustment):
        decided = adjustment.decided_by or "—"
        return format_html(
            "{}<br>{}",
            truncated(adjustment.actor, "9em"),
            truncated(decided, "9em"),
        )

    short_reason = column("reason", description="Reason", width="14em")

    @admin.display(description="Before → after")
    def balance(self, adjustment):
        if adjustment.balance_before is None:
            return "—"
        before = amount_display(adjustment.account_kind, adjustment.balance_before)
        after = amount_display(adjustment.account_kind, adjustment.balance_after)
        return f"{before.split()[0]} → {after}"

    def has_approve_permission(self, request):
        return request.user.has_perm(services.APPROVE_ADJUSTMENT_PERMISSION)

    def has_reject_permission(self, request):
        return self.has_approve_permission(request)

    each_noun = "adjustment"

    def each_name(self, adjustment) -> str:
        return f"#{adjustment.id}"

    @admin.action(description="Approve selected credits", permissions=["approve"])
    def approve(self, request, queryset):
        self._each(
            request,
            queryset.order_by("id"),
            "Approved",
            lambda adjustment: services.balance_adjustment_approve(
                adjustment=adjustment, actor=request.user
            ),
        )

    @admin.action(description="Reject selected credits", permissions=["reject"])
    def reject(self, request, queryset):
        return self._with_reason(
            request,
            queryset.select_related("user", "actor").order_by("id"),
            action="reject",
            form_class=RejectAdjustmentForm,
            page=REJECT_ADJUSTMENTS_PAGE,
            verb="Rejected",
            call=lambda adjustment, reason: services.balance_adjustment_reject(
                adjustment=adjustment, actor=request.user, reason=reason
            ),
        )

    def adjust_view(self, request):
        if not request.user.has_perm(services.ADJUST_PERMISSION):
            raise PermissionDenied
        preview = None
        if request.method == "POST":
            form = AdjustmentForm(request.POST, admin_site=self.admin_site)
            if form.is_valid() and "edit" not in request.POST:
                preview = self._adjust(request, form)
                if preview is True:
                    return redirect("admin:wallets_balanceadjustment_changelist")
        else:
            form = AdjustmentForm(
                initial={"idempotency_key": uuid.uuid4().hex},
                admin_site=self.admin_site,
            )
        context = {
            **self.admin_site.each_context(request),
            "title": "Confirm the adjustment" if preview else "Adjust a balance",
            "opts": self.model._meta,
            "form": form,
            "preview": preview,
            "media": self.media + form.media,
        }
        if preview:
            data = form.cleaned_data
            kind = data["account_kind"]
            context.update(
                target=data["user"],
                kind_label=dict(form.fields["account_kind"].choices)[kind],
                change=amount_display(kind, data["units"], signed=True),
                before=amount_display(kind, preview.balance_before),
                after=amount_display(kind, preview.balance_after),
            )
        return TemplateResponse(
            request, "admin/wallets/balanceadjustment/adjust.html", context
        )

    def _adjust(self, request, form):
        """The preview to confirm; True once confirmed and done; None on a refusal
        (said beside its field)."""
        data = form.cleaned_data
        arguments = {
            "user": data["user"],
            "account_kind": data["account_kind"],
            "amount": data["units"],
            "reason": data["reason"],
            "actor": request.user,
        }
        try:
            if "confirm" not in request.POST:
                return services.balance_adjustment_preview(**arguments)
            adjustment = services.balance_adjustment_request(
                **arguments, idempotency_key=data["idempotency_key"]
            )
        except ServiceError as refusal:
            form.add_error(refusal.field, refusal.message)
            return None
        if adjustment.status == BalanceAdjustment.Status.REQUESTED:
            self.message_user(
                request,
                "Credit requested: it moves nothing until another finance user "
                "approves it.",
                messages.SUCCESS,
            )
        else:
            self.message_user(request, "Balance adjusted.", messages.SUCCESS)
        return True


class ResolveForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="What finance did: written off, disputed with the store, "
        "recovered from the buyer, ...",
    )


def _resolve_line(record) -> str:
    already = " · already resolved" if record.is_resolved else ""
    return (
        f"Purchase #{record.purchase_id} · {record.purchase.user} · "
        f"{record.get_store_display()} {record.purchase.store_transaction_id} · "
        f"{display.money(record.price)} refunded · "
        f"{display.coins(record.paid_coins_not_recovered)} paid + "
        f"{display.coins(record.bonus_coins_missing)} bonus coins not recovered "
        f"({display.money(record.paid_value_not_recovered)}) · "
        f"{display.coins(record.paid_coins_taken_back)} paid + "
        f"{display.coins(record.bonus_coins_taken_back)} bonus taken back · "
        f"received {display.when(record.received_at)}{already}"
    )


RESOLVE_PAGE = ConfirmPage(
    title="Resolve unrecovered store refunds",
    crumb="Resolve",
    intro="These store refunds will be marked resolved with the note below, once "
    "and for good. An already resolved one is left as it is.",
    line=_resolve_line,
    submit="Resolve {count}",
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
class UnrecoveredStoreRefundAdmin(ConfirmFormMixin, ReadOnlyAdmin):
    """Store refunds of partly spent purchases, for finance to work off."""

    # Narrow columns: the whole row fits beside the admin's menu and the filters.
    list_display = (
        "received",
        "user",
        "store",
        "transaction_link",
        "price_shown",
        "coins_not_recovered",
        "coins_taken_back",
        "held_back",
        "paid_value_not_recovered",
        "resolved",
    )
    list_filter = (ResolvedFilter, "store", "refunded_twice")
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
        "price_shown",
        "description",
        "refunded_twice",
        "paid_coins_spent",
        "paid_coins_recovered",
        "diamonds_recovered",
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

    received = column(
        "received_at", display.when, description="Received", ordering="received_at"
    )

    price_shown = column("price", display.money, description="Price", ordering="price")

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
        return (
            f"{display.coins(record.paid_coins_not_recovered)} + "
            f"{display.coins(record.bonus_coins_missing)} bonus"
        )

    @admin.display(description="Coins back")
    def coins_taken_back(self, record):
        return (
            f"{display.coins(record.paid_coins_taken_back)} + "
            f"{display.coins(record.bonus_coins_taken_back)} bonus"
        )

    paid_value_not_recovered = column(
        "paid_value_not_recovered", display.money, description="Value lost"
    )
    # Spent coins whose gifts were still on hold: the earnings hold saved them.
    held_back = column(
        "paid_coins_recovered",
        display.coins,
        description="Held back",
        ordering="paid_coins_recovered",
    )
    diamonds_recovered = column(
        "diamond_units_recovered",
        lambda units: display.diamonds(units, unit=True),
        description="Diamonds the hold took back",
    )

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
        return self.confirm_form(
            request,
            queryset.select_related("purchase__user"),
            action="resolve",
            form_class=ResolveForm,
            page=RESOLVE_PAGE,
            run=lambda data: self._resolve_each(request, queryset, data["note"]),
        )

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
        return self.confirm_page(
            request, records.select_related("purchase__user"), form, RESOLVE_PAGE
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


@admin.register(RefundRule)
class RefundRuleAdmin(ReadableHistoryAdmin):
    """Refund terms per region, from a moment on; finance adds them, support reads.

    A rule governs the purchases made while it is in force, so one in force is
    never changed or deleted (add a later one); a pending one may be, until then.
    """

    list_display = (
        "where",
        "window_days",
        "self_service_days",
        "in_app_purchases",
        "effective",
        "state",
        "created_by",
    )
    list_filter = ("region", "in_app_purchases")
    list_select_related = ("region", "created_by")
    search_fields = ("region__code", "region__name")
    fields = (
        "region",
        "window_days",
        "self_service_days",
        "in_app_purchases",
        "effective_at",
        "created_by",
        "created_at",
    )
    readonly_fields = ("created_by", "created_at")

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        return fields if obj else [f for f in fields if f not in self.readonly_fields]

    def get_queryset(self, request):
        return selectors.refund_rules_with_state(
            super().get_queryset(request), now=timezone.now()
        )

    def get_actions(self, request):
        # One at a time, from its page: a bulk delete would skip the in-force check.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="Region", ordering="region__code")
    def where(self, rule):
        if rule.region_id is None:
            return "Default (every other region)"
        return f"{rule.region.code} ({rule.region.name})"

    effective = column(
        "effective_at", display.when, description="From", ordering="effective_at"
    )

    @admin.display(description="State")
    def state(self, rule):
        if not rule.is_in_force_by(timezone.now()):
            return "Pending"
        return "Replaced by a later rule" if rule.replaced else "In force"

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_in_force_by(timezone.now()):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_in_force_by(timezone.now()):
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


class DeclineForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="The buyer reads it (GET /api/v1/refund-requests/).",
    )


def _request_line(request: RefundRequest) -> str:
    purchase = request.purchase
    return (
        f"#{request.id} · {request.user} · purchase #{purchase.id} "
        f"({purchase.region.code}, {purchase.get_store_display()}) · "
        f"{display.money(purchase.price)} · {display.coins(purchase.coins)} coins · "
        f"{request.get_status_display()}"
    )


DECLINE_REQUESTS_PAGE = ConfirmPage(
    title="Decline refund requests",
    crumb="Decline",
    intro="These requests will be declined with the reason below, which the buyer "
    "reads; nothing moves. One already decided, or on your own purchase, is left "
    "as it is.",
    line=_request_line,
    submit="Decline {count} request(s)",
)


class RefundRequestStatusFilter(OpensOnFilter):
    """Opens on the queue: the requests waiting for finance."""

    title = "status"
    parameter_name = "status"
    default = RefundRequest.Status.QUEUED

    def lookups(self, request, model_admin):
        return [*RefundRequest.Status.choices, ("all", "All")]

    def queryset(self, request, queryset):
        if self.value() in RefundRequest.Status.values:
            return queryset.filter(status=self.value())
        return queryset


@admin.register(RefundRequest)
class RefundRequestAdmin(DecideEachMixin, ReadOnlyAdmin):
    """Buyers' refund requests, and the queue of those waiting for finance."""

    # Who, what it cost and why it waits fit beside the menu and the filters; the
    # buyer's words and the rule are on the request's page.
    list_display = (
        "when",
        "user_short",
        "purchase_shown",
        "price_shown",
        "status",
        "review",
        "decide_by",
        "decided",
    )
    list_filter = (
        RefundRequestStatusFilter,
        "review",
        "purchase__region",
        "purchase__store",
    )
    list_select_related = (
        "user",
        "purchase__region",
        "rule",
        "decided_by",
    )
    search_fields = ("=id", "=purchase__id", "=user__username", "user__email")
    show_full_result_count = False
    actions = ("approve", "decline")
    fields = (
        "purchase_link",
        "user",
        "price_shown",
        "status",
        "reason",
        "rule",
        "review",
        "review_detail",
        "decide_by",
        "decided_by",
        "decided_at",
        "decline_reason",
        "taken_back",
        "created_at",
        "idempotency_key",
    )
    readonly_fields = fields

    when = column(
        "created_at", display.when, description="Asked", ordering="created_at"
    )

    user_short = column(
        "user", description="Buyer", ordering="user__username", width="9em"
    )

    @admin.display(description="Purchase", ordering="purchase__created_at")
    def purchase_shown(self, refund_request):
        purchase = refund_request.purchase
        url = reverse("admin:wallets_purchase_change", args=[purchase.id])
        return format_html(
            '<a href="{}">#{}</a> · {}<br>{}',
            url,
            purchase.id,
            purchase.region.code,
            nowrap(display.when(purchase.created_at)),
        )

    price_shown = column(
        "purchase.price", display.money, description="Price", ordering="purchase__price"
    )

    @admin.display(description="Decide by")
    def decide_by(self, refund_request):
        if refund_request.status != RefundRequest.Status.QUEUED:
            return display.NONE
        terms = selectors.refund_terms_of(refund_request.rule)
        return display.when(terms.deadline(refund_request.purchase))

    @admin.display(description="Decided by", ordering="decided_at")
    def decided(self, refund_request):
        if refund_request.decided_by is None:
            return display.NONE
        return format_html(
            "{}<br>{}",
            truncated(refund_request.decided_by, "9em"),
            display.when(refund_request.decided_at),
        )

    @admin.display(description="Purchase")
    def purchase_link(self, refund_request):
        return self.purchase_shown(refund_request)

    @admin.display(description="Taken back")
    def taken_back(self, refund_request):
        if refund_request.paid_coins_taken_back is None:
            return display.NONE
        return (
            f"{display.coins(refund_request.paid_coins_taken_back)} paid + "
            f"{display.coins(refund_request.bonus_coins_taken_back)} bonus coins"
        )

    def has_approve_permission(self, request):
        return request.user.has_perm(services.REFUND_PERMISSION)

    def has_decline_permission(self, request):
        return self.has_approve_permission(request)

    each_noun = "request"

    def each_name(self, refund_request) -> str:
        return f"Request #{refund_request.id}"

    @admin.action(description="Approve selected requests", permissions=["approve"])
    def approve(self, request, queryset):
        self._each(
            request,
            queryset.order_by("id"),
            "Approved",
            lambda refund_request: services.refund_request_approve(
                request=refund_request, actor=request.user
            ),
        )

    @admin.action(description="Decline selected requests", permissions=["decline"])
    def decline(self, request, queryset):
        return self._with_reason(
            request,
            queryset.select_related("user", "purchase__region").order_by("id"),
            action="decline",
            form_class=DeclineForm,
            page=DECLINE_REQUESTS_PAGE,
            verb="Declined",
            call=lambda refund_request, reason: services.refund_request_decline(
                request=refund_request, actor=request.user, reason=reason
            ),
        )
