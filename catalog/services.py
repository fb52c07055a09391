import datetime
import logging
from collections.abc import Iterable
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from djmoney.money import Money
from simple_history.utils import bulk_update_with_history

from accounts.models import User

from . import pricing, selectors
from .exchange import exchange_backend_class
from .models import (
    BundlePrice,
    CoinBundle,
    Gift,
    GiftPriceChange,
    Region,
    RepricingLine,
    RepricingProposal,
    new_price_moment,
)

logger = logging.getLogger(__name__)


@transaction.atomic
def gift_price_change_schedule(
    *, gift: Gift, coin_price: int, effective_at: datetime.datetime, actor: User | None
) -> GiftPriceChange:
    """Queue a new coin price for `gift`; refuses a moment in the past."""
    change = GiftPriceChange(
        gift=gift, coin_price=coin_price, effective_at=effective_at, created_by=actor
    )
    change.full_clean()
    change.save()
    return change


@transaction.atomic
def gift_price_change_reschedule(
    *, change: GiftPriceChange, coin_price: int, effective_at: datetime.datetime
) -> GiftPriceChange:
    """Move a pending change to another price or moment; refuses one already live.

    The row is locked first, so an edit and the task applying the change never
    both win: the edit either lands before the change goes live or is refused.
    """
    locked = GiftPriceChange.objects.select_for_update().get(id=change.id)
    locked.coin_price, locked.effective_at = coin_price, effective_at
    locked.full_clean()
    locked.save(update_fields=["coin_price", "effective_at"])
    return locked


def gift_price_changes_apply_due(*, now: datetime.datetime | None = None) -> int:
    """Make every scheduled price whose moment has come live; returns how many.

    Safe to run twice at once: each change is claimed with a compare-and-set on
    `applied_at`, so only one run applies it.
    """
    now = now or timezone.now()
    due_ids = list(
        GiftPriceChange.objects.filter(
            applied_at__isnull=True, effective_at__lte=now
        ).values_list("id", flat=True)
    )
    applied = 0
    for change_id in due_ids:
        with transaction.atomic():
            claimed = GiftPriceChange.objects.filter(
                id=change_id, applied_at__isnull=True
            ).update(applied_at=now)
            if not claimed:
                continue
            change = GiftPriceChange.objects.select_related("gift", "created_by").get(
                id=change_id
            )
            gift = Gift.objects.select_for_update().get(id=change.gift_id)
            gift.coin_price = change.coin_price
            gift._change_reason = f"Scheduled price change #{change.id}"
            gift._history_user = change.created_by
            gift.save(update_fields=["coin_price", "updated_at"])
            applied += 1
            logger.info(
                "Gift %s now costs %s coins (scheduled change %s)",
                gift.slug,
                gift.coin_price,
                change.id,
            )
    return applied


@transaction.atomic
def gifts_set_active(*, gifts, is_active: bool, actor: User | None) -> int:
    """Switch gifts on or off in bulk, keeping a history row for each one changed."""
    to_change = list(gifts.select_for_update().exclude(is_active=is_active))
    now = timezone.now()
    for gift in to_change:
        gift.is_active = is_active
        gift.updated_at = now
    bulk_update_with_history(
        to_change,
        Gift,
        ["is_active", "updated_at"],
        default_user=actor,
        default_change_reason="Activated" if is_active else "Deactivated",
    )
    return len(to_change)


def bundles_lock(*, bundle_ids: Iterable[int]) -> None:
    """Lock bundles for a price write, inside the caller's transaction."""
    # Price writes for a bundle queue behind each other; id order avoids deadlocks.
    list(
        CoinBundle.objects.select_for_update()
        .filter(id__in=bundle_ids)
        .order_by("id")
        .values_list("id", flat=True)
    )


def price_cell_key(region: Region, channel: str) -> str:
    return f"{region.code}_{channel}"


def bundle_prices_build(
    *,
    bundle: CoinBundle,
    prices: dict[tuple[Region, str], Decimal],
    effective_at: datetime.datetime | None,
    now: datetime.datetime,
    actor: User | None,
) -> list[BundlePrice]:
    """Validated, unsaved hand-set rows for `prices` {(region, channel): amount}.

    Raises one ValidationError keyed by cell ("JP_app") and "effective_at", so a
    form can show each error beside its cell. `bundle` may be unsaved yet.
    """
    moment = new_price_moment(effective_at, now=now)
    rows, errors = [], {}
    for (region, channel), amount in prices.items():
        row = BundlePrice(
            bundle=bundle,
            region=region,
            channel=channel,
            price=Money(amount, region.currency),
            effective_at=moment,
            source=BundlePrice.Source.MANUAL,
            created_by=actor,
        )
        try:
            row.full_clean(exclude=None if bundle.pk else ["bundle"])
        except ValidationError as error:
            errors[price_cell_key(region, channel)] = error.messages
        else:
            rows.append(row)
    if errors:
        raise ValidationError(errors)
    return rows


@transaction.atomic
def bundle_prices_set(
    *,
    bundle: CoinBundle,
    prices: dict[tuple[Region, str], Decimal],
    effective_at: datetime.datetime | None,
    actor: User | None,
) -> list[BundlePrice]:
    """Set prices of `bundle` by hand from `effective_at` (empty: now) on.

    Each is a new MANUAL row, which derivation never replaces. Refuses the lot,
    writing nothing, if one is invalid or the moment is past.
    """
    bundles_lock(bundle_ids=[bundle.id])
    rows = bundle_prices_build(
        bundle=bundle,
        prices=prices,
        effective_at=effective_at,
        now=timezone.now(),
        actor=actor,
    )
    BundlePrice.objects.bulk_create(rows)
    return rows


def region_prices_build(
    *,
    region: Region,
    channel: str,
    prices: dict[CoinBundle, Decimal],
    effective_at: datetime.datetime | None,
    now: datetime.datetime,
    actor: User | None,
) -> list[BundlePrice]:
    """Validated, unsaved hand-set rows for `prices` {bundle: amount} in one region
    and channel: the price grid of a region and store.

    Each row is built as a bundle's own grid builds it; one ValidationError keyed
    by bundle id and "effective_at" lets a form show each error beside its row.
    """
    moment = new_price_moment(effective_at, now=now)
    rows, errors = [], {}
    for bundle, amount in prices.items():
        try:
            rows += bundle_prices_build(
                bundle=bundle,
                prices={(region, channel): amount},
                effective_at=moment,
                now=now,
                actor=actor,
            )
        except ValidationError as error:
            errors[str(bundle.id)] = error.messages
    if errors:
        raise ValidationError(errors)
    return rows


@transaction.atomic
def region_prices_set(
    *,
    region: Region,
    channel: str,
    prices: dict[CoinBundle, Decimal],
    effective_at: datetime.datetime | None,
    actor: User | None,
) -> list[BundlePrice]:
    """Set the prices of several bundles in one region and channel by hand, from
    `effective_at` (empty: now) on: new MANUAL rows, as `bundle_prices_set` adds.

    All or nothing: one invalid price, or a past moment, refuses the lot.
    """
    bundles_lock(bundle_ids=[bundle.id for bundle in prices])
    rows = region_prices_build(
        region=region,
        channel=channel,
        prices=prices,
        effective_at=effective_at,
        now=timezone.now(),
        actor=actor,
    )
    BundlePrice.objects.bulk_create(rows)
    logger.info(
        "%s set %s price(s) in %s/%s by hand", actor, len(rows), region.code, channel
    )
    return rows


def _derivation(
    *, bundles: list[CoinBundle], regions: list[Region]
) -> tuple[list[RepricingLine], list[str]]:
    """Unsaved lines for every derived price of `bundles` x `regions` that would move,
    and notes on what had to be left out.

    A cell whose latest row (scheduled ones included) was set by hand is left
    alone. The web price is taken off the in-app price that will be in force: the
    hand-set one if there is one, else the derived one.
    """
    notes, rates = [], {}
    for currency in sorted({region.currency for region in regions}):
        rates[currency] = selectors.exchange_rate_current(currency=currency)
        if rates[currency] is None:
            codes = ", ".join(r.code for r in regions if r.currency == currency)
            notes.append(f"No USD to {currency} exchange rate: {codes} left out.")
            logger.warning(notes[-1])
    latest = {
        (row.bundle_id, row.region_id, row.channel): row
        for row in selectors.bundle_prices_latest().filter(bundle__in=bundles)
    }
    lines = []
    for bundle in bundles:
        for region in regions:
            rate = rates[region.currency]
            if rate is None:
                continue
            rule = region.price_rule
            app = pricing.app_price_derive(
                base=bundle.base_price.amount, rate=rate, rule=rule
            )
            app_row = latest.get((bundle.id, region.id, BundlePrice.Channel.APP))
            app_in_force = (
                app_row.price.amount
                if _hand_set(app_row) and app_row.price.currency.code == region.currency
                else app
            )
            web = pricing.web_price_derive(
                app_price=app_in_force,
                discount_percent=region.web_discount_percent,
                rule=rule,
            )
            for channel, amount in (
                (BundlePrice.Channel.APP, app),
                (BundlePrice.Channel.WEB, web),
            ):
                row = latest.get((bundle.id, region.id, channel))
                new_price = Money(amount, region.currency)
                if _hand_set(row) or (row is not None and row.price == new_price):
                    continue
                lines.append(
                    RepricingLine(
                        bundle=bundle,
                        region=region,
                        channel=channel,
                        old_price=row,
                        new_price=new_price,
                        exchange_rate=rate,
                    )
                )
    return lines, notes


def _hand_set(row: BundlePrice | None) -> bool:
    return row is not None and row.source == BundlePrice.Source.MANUAL


def _line_key(line: RepricingLine) -> tuple:
    return (
        line.bundle_id,
        line.region_id,
        line.channel,
        line.old_price_id,
        line.new_price.amount,
        line.new_price.currency.code,
    )


@transaction.atomic
def repricing_proposal_create(
    *, bundles: Iterable[CoinBundle] | None, actor: User | None
) -> RepricingProposal | None:
    """Preview every derived price of `bundles` (None: all) that would move.

    Changes no price. Returns the new proposal, or a pending one that already
    proposes exactly this, or None when nothing would move. Other pending
    proposals that only touch these bundles go out of date.
    """
    active = CoinBundle.objects.filter(is_active=True)
    if bundles is not None:
        active = active.filter(id__in=[bundle.id for bundle in bundles])
    scope = list(active)
    lines, notes = _derivation(
        bundles=scope, regions=list(Region.objects.filter(is_active=True))
    )
    wanted = {_line_key(line) for line in lines}
    scope_ids = {bundle.id for bundle in scope}
    same, outdated = None, []
    for pending in RepricingProposal.objects.filter(
        status=RepricingProposal.Status.PENDING
    ).prefetch_related("lines"):
        proposed = {_line_key(line) for line in pending.lines.all()}
        if not {key[0] for key in proposed} <= scope_ids:
            continue
        if proposed == wanted and same is None:
            same = pending
        else:
            outdated.append(pending.id)
    now = timezone.now()
    RepricingProposal.objects.filter(
        id__in=outdated, status=RepricingProposal.Status.PENDING
    ).update(status=RepricingProposal.Status.SUPERSEDED, decided_at=now)
    if same is not None or not lines:
        return same
    proposal = RepricingProposal.objects.create(
        notes="\n".join(notes), created_by=actor
    )
    for line in lines:
        line.proposal = proposal
    RepricingLine.objects.bulk_create(lines)
    logger.info("%s proposes %s price(s)", proposal, len(lines))
    return proposal


def _proposal_decide(
    proposal: RepricingProposal, *, status: str, actor: User | None
) -> None:
    now = timezone.now()
    decided = RepricingProposal.objects.filter(
        id=proposal.id, status=RepricingProposal.Status.PENDING
    ).update(status=status, decided_by=actor, decided_at=now)
    proposal.refresh_from_db(fields=["status", "decided_by", "decided_at"])
    if not decided:
        raise ValidationError(
            f"{proposal} is no longer waiting for review: "
            f"it is {proposal.get_status_display().lower()}."
        )


@transaction.atomic
def repricing_proposal_apply(
    *, proposal: RepricingProposal, actor: User | None
) -> list[BundlePrice]:
    """Make a proposal's prices live now, as derived rows; returns the rows.

    Safe to run twice: a compare-and-set on the status lets only one run apply.
    A line whose cell has changed since it was proposed (set by hand, or applied
    from another proposal) is left out.
    """
    _proposal_decide(proposal, status=RepricingProposal.Status.APPLIED, actor=actor)
    lines = list(proposal.lines.all())
    bundles_lock(bundle_ids={line.bundle_id for line in lines})
    latest = {
        (row.bundle_id, row.region_id, row.channel): row.id
        for row in selectors.bundle_prices_latest().filter(
            bundle_id__in={line.bundle_id for line in lines}
        )
    }
    fresh = [
        line
        for line in lines
        if latest.get((line.bundle_id, line.region_id, line.channel))
        == line.old_price_id
    ]
    rows = BundlePrice.objects.bulk_create(
        [
            BundlePrice(
                bundle_id=line.bundle_id,
                region_id=line.region_id,
                channel=line.channel,
                price=line.new_price,
                effective_at=proposal.decided_at,
                source=BundlePrice.Source.DERIVED,
                exchange_rate=line.exchange_rate,
                created_by=actor,
            )
            for line in fresh
        ]
    )
    for line, row in zip(fresh, rows, strict=True):
        line.applied_price = row
    RepricingLine.objects.bulk_update(fresh, ["applied_price"])
    logger.info("%s applied: %s of %s price(s)", proposal, len(rows), len(lines))
    return rows


@transaction.atomic
def repricing_proposal_discard(
    *, proposal: RepricingProposal, actor: User | None
) -> None:
    """Close a proposal without changing any price."""
    _proposal_decide(proposal, status=RepricingProposal.Status.DISCARDED, actor=actor)


@transaction.atomic
def bundle_prices_fill(*, bundles: list[CoinBundle], regions: list[Region]) -> int:
    """Give every cell of `bundles` x `regions` that has no price at all a derived
    one, effective now; returns how many. A first price has nothing to preview."""
    lines, _ = _derivation(bundles=bundles, regions=regions)
    now = timezone.now()
    rows = BundlePrice.objects.bulk_create(
        [
            BundlePrice(
                bundle=line.bundle,
                region=line.region,
                channel=line.channel,
                price=line.new_price,
                effective_at=now,
                source=BundlePrice.Source.DERIVED,
                exchange_rate=line.exchange_rate,
            )
            for line in lines
            if line.old_price is None
        ]
    )
    return len(rows)


def exchange_rates_refresh() -> RepricingProposal | None:
    """Refresh rates from the configured backend, then propose the prices that
    would move (see `repricing_proposal_create`)."""
    exchange_backend_class()().update_rates()
    return repricing_proposal_create(bundles=None, actor=None)
