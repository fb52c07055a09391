"""What must hold after the load: every gift paid for once and credited once."""

import time
from collections import defaultdict

from django.db.models import Sum

from accounts.models import User
from gifting.models import CreatorProfile, GiftSend
from wallets import ledger
from wallets.models import PendingCredit, Purchase
from wallets.selectors import wallet_balances


def diamonds_check() -> dict:
    """Each creator's diamonds (as the API reads them) equal the creator shares
    stamped on the gifts they received."""
    earned = dict(
        GiftSend.objects.values("creator")
        .annotate(total=Sum("creator_diamond_units"))
        .values_list("creator", "total")
    )
    mismatches = []
    creators = CreatorProfile.objects.select_related("user").order_by("id")
    for creator in creators:
        held = wallet_balances(user=creator.user).diamond_units
        if held != earned.get(creator.id, 0):
            mismatches.append(
                f"Creator {creator.id}: holds {held}, gifts say "
                f"{earned.get(creator.id, 0)}."
            )
    return {
        "creators_checked": creators.count(),
        "gift_sends": GiftSend.objects.count(),
        "pending_credits": PendingCredit.objects.count(),
        "mismatches": mismatches[:20],
        "mismatch_count": len(mismatches),
    }


def coins_check() -> dict:
    """Each sender's coins are what they bought less what their gifts cost."""
    bought: dict[int, int] = defaultdict(int)
    for user_id, coins in Purchase.objects.filter(
        user__username__startswith="bench-sender-"
    ).values_list("user", "coins"):
        bought[user_id] += coins
    spent = dict(
        GiftSend.objects.filter(sender__in=list(bought))
        .values("sender")
        .annotate(total=Sum("coins"))
        .values_list("sender", "total")
    )
    mismatches = []
    for user in User.objects.filter(id__in=list(bought)).order_by("id"):
        held = wallet_balances(user=user).coins
        if held + spent.get(user.id, 0) != bought[user.id]:
            mismatches.append(
                f"Sender {user.id}: holds {held}, spent {spent.get(user.id, 0)}, "
                f"bought {bought[user.id]}."
            )
    return {
        "senders_checked": len(bought),
        "mismatches": mismatches[:20],
        "mismatch_count": len(mismatches),
    }


def pending_fold() -> dict:
    """What the beat task `wallets.fold_pending_credits` does every 10 seconds."""
    pending = PendingCredit.objects.count()
    started = time.perf_counter()
    accounts = ledger.pending_credits_fold_all()
    return {
        "pending_credits": pending,
        "accounts_folded": accounts,
        "seconds": round(time.perf_counter() - started, 3),
    }
