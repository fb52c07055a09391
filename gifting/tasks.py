from celery import shared_task

from . import services


@shared_task(name="gifting.recompute_creator_levels")
def recompute_creator_levels() -> int:
    """Returns how many creators moved level."""
    return services.creator_levels_recompute()
