from accounts.models import User
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


class UserLookup(User):
    """Support's page of one user (wallet, limits, purchases, gifts, payouts and
    transfers) and the search that finds it; read-only, no rows of its own.

    A proxy of `User` so its view permission, `reports.view_userlookup`, is what
    the support and finance roles are granted.
    """

    class Meta:
        proxy = True
        verbose_name = "user lookup"
        verbose_name_plural = "user lookup"
