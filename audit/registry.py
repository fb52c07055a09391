"""What the audit records: the models whose changes finance must be able to explain.

Each entry names a model by label. By default every insert, update and delete is
recorded; `watch` limits updates to changes of those fields (and turns inserts off
with `insert=False`), `ignore` names fields whose change alone is not worth a record
(timestamps, counters). Triggers are rebuilt from this list after each `migrate`.
"""

from dataclasses import dataclass, field

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class Audited:
    label: str
    watch: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    insert: bool = True


AUDITED = (
    # Prices, bundles and what regional prices are derived from.
    Audited("catalog.Gift", ignore=("updated_at",)),
    Audited("catalog.GiftPriceChange"),
    Audited("catalog.Region", ignore=("updated_at",)),
    Audited("catalog.CoinBundle", ignore=("updated_at",)),
    Audited("catalog.BundlePrice"),
    Audited("exchange.Rate"),
    Audited("wallets.Promotion"),
    # Spending rules.
    Audited("wallets.SpendingLimit"),
    Audited("wallets.SpendingLimitOverride", ignore=("updated_at",)),
    # Shares: a level's share, and which level (or pin, or suspension) a creator has;
    # the payout destination is here too. Follower counts change all day.
    Audited("payouts.CreatorLevel"),
    Audited("payouts.CreatorProfile", ignore=("follower_count",)),
    # Rates, rules and payout states.
    Audited("payouts.DiamondCashRate"),
    Audited("payouts.PayoutRules"),
    Audited("payouts.Payout", ignore=("updated_at",)),
    # Refunds only: a purchase is its own record and the ledger's; spending draws
    # its lot down (`paid_coins_remaining`) on every gift, which is not a change.
    Audited(
        "wallets.Purchase",
        watch=(
            "status",
            "refunded_at",
            "refunded_by",
            "refund_source",
            "refund_reason",
        ),
        insert=False,
    ),
    Audited("wallets.BalanceAdjustment"),
)


@dataclass(frozen=True)
class AuditedTable:
    """One audited model resolved to its table and columns."""

    label: str
    table: str
    pk: str
    insert: bool
    # Columns whose change makes an update worth a record; None: any column.
    watch: frozenset[str] | None
    ignore: frozenset[str] = field(default_factory=frozenset)


def _columns(model, names: tuple[str, ...], label: str) -> frozenset[str]:
    columns = set()
    for name in names:
        try:
            columns.add(model._meta.get_field(name).column)
        except Exception as error:
            raise ImproperlyConfigured(
                f"audit.registry: {label} has no field {name!r}."
            ) from error
    return frozenset(columns)


def audited_tables() -> list[AuditedTable]:
    tables = []
    for entry in AUDITED:
        try:
            model = apps.get_model(entry.label)
        except LookupError as error:
            raise ImproperlyConfigured(
                f"audit.registry: {entry.label} is not an installed model."
            ) from error
        tables.append(
            AuditedTable(
                label=model._meta.label,
                table=model._meta.db_table,
                pk=model._meta.pk.column,
                insert=entry.insert,
                watch=_columns(model, entry.watch, entry.label)
                if entry.watch
                else None,
                ignore=_columns(model, entry.ignore, entry.label),
            )
        )
    return tables
