from django.conf import settings
from django.db import models


class HordakWallet(models.Model):
    """A benchmark sender's two django-hordak accounts: the peer scenario moves coins
    from `coins` (an asset) to `spent` (an expense). Hordak's accounts have no owner,
    so this links them to the user, as an application built on hordak would.

    Benchmark only (bench/peer.py); the legs themselves are hordak's, append-only.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="hordak_wallet",
    )
    coins = models.OneToOneField(
        "hordak.Account", on_delete=models.PROTECT, related_name="+"
    )
    spent = models.OneToOneField(
        "hordak.Account", on_delete=models.PROTECT, related_name="+"
    )

    def __str__(self):
        return f"Hordak wallet of user {self.user_id}"
