from payouts.models import Payout


class MoneyDashboard(Payout):
    """An admin entry for finance's money dashboard; it has no rows of its own.

    A proxy of `Payout` (moved from `payouts`, issue 13) so its permission,
    `reports.view_moneydashboard`, is what finance is granted.
    """

    class Meta:
        proxy = True
        verbose_name = "money dashboard"
        verbose_name_plural = "money dashboard"
