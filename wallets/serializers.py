"""The wallet as every money-moving answer embeds it (purchase, gift send).

Public to the apps above, whose APIs embed it; they never import `wallets.api`.
"""

from rest_framework import serializers

from .selectors import WalletBalances, wallet_balances
from .units import diamonds_from_units


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


def wallet_data(user, balances: WalletBalances | None = None) -> dict:
    """The wallet as `WalletSerializer` describes it (built directly: it is on the
    answer to every purchase and gift): `balances` when the caller read them along
    with its own statement, else read now."""
    if balances is None:
        balances = wallet_balances(user=user)
    return {
        "coins": balances.coins,
        "paid_coins": balances.paid_coins,
        "bonus_coins": balances.bonus_coins,
        "diamonds": str(diamonds_from_units(balances.diamond_units)),
    }
