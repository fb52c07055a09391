"""The wallet as every money-moving answer embeds it (purchase, gift send).

Public to the apps above, whose APIs embed it; they never import `wallets.api`.
"""

from decimal import Decimal

from rest_framework import serializers

from .models import DIAMOND_SCALE
from .selectors import wallet_balances


class WalletSerializer(serializers.Serializer):
    coins = serializers.IntegerField(
        help_text="All coins that can be spent: paid + bonus."
    )
    paid_coins = serializers.IntegerField(help_text="Coins bought with money.")
    bonus_coins = serializers.IntegerField(
        help_text="Coins from promotions; spent before paid coins."
    )
    diamonds = serializers.DecimalField(
        max_digits=24,
        decimal_places=4,
        help_text="Diamonds earned from gifts, to four decimals.",
    )


def wallet_data(user) -> dict:
    """The wallet as `WalletSerializer` describes it (built directly: it is on the
    answer to every purchase and gift)."""
    balances = wallet_balances(user=user)
    diamonds = Decimal(balances.diamonds) / DIAMOND_SCALE
    return {
        "coins": balances.coins,
        "paid_coins": balances.paid_coins,
        "bonus_coins": balances.bonus_coins,
        "diamonds": f"{diamonds:.4f}",
    }
