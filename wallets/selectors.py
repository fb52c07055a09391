import datetime
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection
from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    When,
)
from django.db.models.functions import Cast, Coalesce
from djmoney.money import Money

from accounts.models import User
from core import prepared

from .models import (
    DEFAULT_REFUND_DAYS,
    AccountKind,
    BalanceAdjustment,
    LedgerAccount,
    PendingCredit,
    Purchase,
    RefundRule,
    SpendingLimit,
    SpendingLimitOverride,
    Transfer,
)


@dataclass(frozen=True)
class WalletBalances:
    paid_coins: int
    bonus_coins: int
    diamond_units: int

    @property
    def coins(self) -> int:
        return self.paid_coins + self.bonus_coins


def wallet_balances(*, user: User) -> WalletBalances:
    """Cached balances plus credits not yet folded in: what the user really holds.

    Every wallet read, and the answer to every purchase and gift, runs this: it is
    one fixed statement, written out so no request pays to build it again.
    """
    with connection.cursor() as cursor:
        prepared.execute(cursor, *wallet_balances_statement(user_id=user.pk))
        return wallet_balances_from(cursor.fetchall())


def wallet_balances_statement(*, user_id: int) -> tuple[str, list]:
    """The statement `wallet_balances` runs, for a caller that sends it along with
    its own (`core.prepared.execute_together`); its rows go to
    `wallet_balances_from`."""
    return _WALLET_BALANCES_SQL, [user_id]


def wallet_balances_from(rows) -> WalletBalances:
    # SUM of integers is NUMERIC on PostgreSQL: back to int.
    balances = {kind: int(amount) for kind, amount in rows}
    return WalletBalances(
        paid_coins=balances.get(AccountKind.PAID_COINS, 0),
        bonus_coins=balances.get(AccountKind.BONUS_COINS, 0),
        diamond_units=balances.get(AccountKind.DIAMONDS, 0),
    )


_WALLET_BALANCES_SQL = (
    "SELECT account.kind, account.balance + COALESCE("
    f"(SELECT SUM(pending.amount) FROM {PendingCredit._meta.db_table} pending "
    "WHERE pending.account_id = account.id), 0) "
    f"FROM {LedgerAccount._meta.db_table} account WHERE account.owner_id = %s"
)


def transfers_for_user(*, user: User):
    """Every transfer in or out of the user's accounts, newest first."""
    return (
        Transfer.objects.filter(transfers_of_user(user.pk))
        .select_related("debit_account", "credit_account")
        .order_by("-created_at", "-id")
    )


def transfers_of_user(user_id: int) -> Q:
    """Transfers in or out of one of the user's accounts."""
    return Q(debit_account__owner_id=user_id) | Q(credit_account__owner_id=user_id)


Limits = tuple[Money | None, Money | None]


def limits_in_force(region_limits: Limits | None, override: Limits | None) -> Limits:
    """The user's daily and monthly limits: their own where support set one, else
    the region's; None where neither says."""
    daily, monthly = region_limits or (None, None)
    if override is not None:
        daily = override[0] if override[0] is not None else daily
        monthly = override[1] if override[1] is not None else monthly
    return daily, monthly


def spending_periods(when) -> tuple[datetime.datetime, datetime.datetime]:
    """The starts of the day and the month `when` is in: UTC calendar days and
    months, as spending limits count them."""
    day_start = when.astimezone(datetime.UTC).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    return day_start, day_start.replace(day=1)


@dataclass(frozen=True)
class SpendingLimits:
    """A user's limits where they buy (their home region), every region where
    support or finance set their own, and what counts against them so far."""

    region_limit: SpendingLimit | None
    overrides: list[SpendingLimitOverride]
    # At home: (daily, monthly), the user's own where set, else the region's.
    in_force: Limits
    # (currency, today, this month): completed purchases, as the limits count them.
    spent: list[tuple[str, Decimal, Decimal]]


def spending_limits(
    *, user: User, home_region_id: int | None, now: datetime.datetime
) -> SpendingLimits:
    overrides = list(
        SpendingLimitOverride.objects.filter(user=user)
        .select_related("region", "set_by")
        .order_by("region__code")
    )
    region_limit = (
        SpendingLimit.objects.filter(region_id=home_region_id).first()
        if home_region_id is not None
        else None
    )
    override = next((o for o in overrides if o.region_id == home_region_id), None)
    in_force = limits_in_force(
        (region_limit.daily_limit, region_limit.monthly_limit)
        if region_limit
        else None,
        (override.daily_limit, override.monthly_limit) if override else None,
    )
    return SpendingLimits(
        region_limit=region_limit,
        overrides=overrides,
        in_force=in_force,
        spent=spent_so_far(user=user, now=now),
    )


def spent_so_far(*, user: User, now: datetime.datetime):
    """(currency, today, this month) of the user's completed purchases, per
    currency, over the days and months the spending limits count."""
    day_start, month_start = spending_periods(now)
    totals = (
        Purchase.objects.filter(
            user=user, status=Purchase.Status.COMPLETED, created_at__gte=month_start
        )
        .values("price_currency")
        .annotate(
            today=Sum("price", filter=Q(created_at__gte=day_start)),
            month=Sum("price"),
        )
        .order_by("price_currency")
    )
    return [
        (row["price_currency"], row["today"] or Decimal("0"), row["month"])
        for row in totals
    ]


def system_balances() -> dict[str, int]:
    """Balance of each system account: the sum of its transfers (never cached)."""
    balances: dict[str, int] = defaultdict(int)
    credited = (
        Transfer.objects.filter(credit_account__owner__isnull=True)
        .values("credit_account__kind")
        .annotate(total=Sum("amount"))
    )
    debited = (
        Transfer.objects.filter(debit_account__owner__isnull=True)
        .values("debit_account__kind")
        .annotate(total=Sum("amount"))
    )
    for row in credited:
        balances[row["credit_account__kind"]] += row["total"]
    for row in debited:
        balances[row["debit_account__kind"]] -= row["total"]
    return dict(balances)


def pending_credits_outstanding() -> dict[str, tuple[int, int]]:
    """Credits posted but not yet folded into their accounts' balances, by account
    kind: (how many, their amount)."""
    rows = (
        PendingCredit.objects.order_by()
        .values("account__kind")
        .annotate(count=Count("id"), total=Sum("amount"))
    )
    return {row["account__kind"]: (row["count"], row["total"]) for row in rows}


def _amounts_summed(model, account_field: str):
    """The sum of `model`'s amounts on the outer account, 0 without any."""
    total = (
        model.objects.filter(**{account_field: OuterRef("pk")})
        .order_by()
        .values(account_field)
        .annotate(total=Sum("amount"))
        .values("total")[:1]
    )
    return Coalesce(Subquery(total), 0)


def ledger_accounts_with_balance(queryset: QuerySet | None = None) -> QuerySet:
    """Ledger accounts with `ledger_balance`, what each holds as the ledger counts
    it: a user account's cached balance plus its pending credits (as
    `wallet_balances`), a system account's transfers in less its transfers out (as
    `system_balances`: it keeps no cached balance, its `balance` column stays 0)."""
    queryset = LedgerAccount.objects.all() if queryset is None else queryset
    system = _amounts_summed(Transfer, "credit_account") - _amounts_summed(
        Transfer, "debit_account"
    )
    held = F("balance") + _amounts_summed(PendingCredit, "account")
    return queryset.annotate(
        # SUM of integers is NUMERIC on PostgreSQL: back to an integer.
        ledger_balance=Cast(
            Case(When(owner__isnull=True, then=system), default=held),
            BigIntegerField(),
        )
    )


def paid_coin_liability() -> dict[str, Decimal]:
    """What the platform would owe for unspent paid coins, per currency.

    Each purchase's unspent paid coins valued at the price paid per coin, summed
    and rounded to the cent per currency (half up).
    """
    liability: dict[str, Decimal] = defaultdict(Decimal)
    open_lots = Purchase.objects.filter(
        status=Purchase.Status.COMPLETED, paid_coins_remaining__gt=0
    ).values_list("price_currency", "price", "coins", "paid_coins_remaining")
    for currency, price, coins, remaining in open_lots.iterator():
        liability[currency] += price * remaining / coins
    return {
        currency: amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        for currency, amount in sorted(liability.items())
    }


def manual_diamond_credits(*, user_ids, since: datetime.datetime) -> dict[int, int]:
    """Diamonds (ten-thousandths) finance credited by hand to each of these users
    and approved since `since`, in one query; a user with none is left out."""
    rows = (
        BalanceAdjustment.objects.filter(
            user_id__in=list(user_ids),
            account_kind=AccountKind.DIAMONDS,
            status=BalanceAdjustment.Status.APPROVED,
            amount__gt=0,
            decided_at__gte=since,
        )
        .values("user_id")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    return {row["user_id"]: int(row["total"]) for row in rows}


@dataclass(frozen=True)
class RefundTerms:
    """The refund terms of one purchase: its rule's, or the built-in ones."""

    rule: RefundRule | None
    window_days: int
    self_service_days: int
    in_app_by_store: bool

    def deadline(self, purchase: Purchase) -> datetime.datetime:
        """Refunds are granted before this moment, not at it."""
        return purchase.created_at + datetime.timedelta(days=self.window_days)

    def self_service_deadline(self, purchase: Purchase) -> datetime.datetime:
        return purchase.created_at + datetime.timedelta(days=self.self_service_days)

    def refunded_by_store(self, purchase: Purchase) -> bool:
        return self.in_app_by_store and purchase.channel == "app"


BUILT_IN_REFUND_TERMS = RefundTerms(
    rule=None,
    window_days=DEFAULT_REFUND_DAYS,
    self_service_days=DEFAULT_REFUND_DAYS,
    in_app_by_store=False,
)


def refund_terms_for(purchase: Purchase) -> RefundTerms:
    """The terms a purchase was bought under: the rule in force at its moment for
    its region, else the default rule then, else the built-in 14 days.

    The moment of the purchase, not now: a buyer's right is fixed when they pay,
    and no later rule (they never start in the past) changes it.
    """
    return refund_terms_at(region_id=purchase.region_id, at=purchase.created_at)


def refund_terms_at(*, region_id: int | None, at: datetime.datetime) -> RefundTerms:
    """The terms in force at `at` for `region_id`: its own latest rule by then, else
    the default rule then, else the built-in 14 days (a subscription charge is
    refunded by the terms of the subscriber's home region when charged)."""
    rule = (
        RefundRule.objects.filter(
            Q(region_id=region_id) | Q(region__isnull=True), effective_at__lte=at
        )
        .order_by(F("region").asc(nulls_last=True), "-effective_at")
        .first()
    )
    return refund_terms_of(rule)


def refund_terms_of(rule: RefundRule | None) -> RefundTerms:
    """The terms `rule` sets (a request stamps its rule); None: the built-in ones."""
    if rule is None:
        return BUILT_IN_REFUND_TERMS
    return RefundTerms(
        rule=rule,
        window_days=rule.window_days,
        self_service_days=rule.self_service_days,
        in_app_by_store=rule.in_app_purchases == RefundRule.InApp.STORE,
    )


def refund_rules_with_state(queryset: QuerySet, *, now: datetime.datetime):
    """Rules with `replaced`: a later rule of the same region (or a later default)
    is in force by `now`, so this one governs only purchases made before it."""
    later = RefundRule.objects.filter(
        effective_at__gt=OuterRef("effective_at"), effective_at__lte=now
    )
    return queryset.annotate(
        replaced=Case(
            When(region__isnull=True, then=Exists(later.filter(region__isnull=True))),
            default=Exists(later.filter(region=OuterRef("region"))),
        )
    )
