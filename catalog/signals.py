from django.db.models.signals import m2m_changed, post_delete, post_save

from .api.conditional import answers
from .models import BundlePrice, CoinBundle, Gift, Region


def forget_catalog_answers(**kwargs) -> None:
    # Other processes keep theirs until they expire: CATALOG_CACHE_SECONDS at most.
    answers.clear()


def connect() -> None:
    for model in (Gift, Region, CoinBundle, BundlePrice):
        post_save.connect(forget_catalog_answers, sender=model)
        post_delete.connect(forget_catalog_answers, sender=model)
    m2m_changed.connect(forget_catalog_answers, sender=Gift.regions.through)
