from django.core.management.base import BaseCommand, CommandError

from gifting.leaderboards import boards_forget, redis_client
from gifting.models import CreatorProfile


class Command(BaseCommand):
    help = (
        "Drop leaderboards from the Redis cache (one creator's, or all): each is "
        "rebuilt from the database when next read. Run it after Redis was down."
    )

    def add_arguments(self, parser):
        parser.add_argument("--creator", type=int, help="A creator profile's id.")

    def handle(self, *args, creator=None, **options):
        if redis_client() is None:
            raise CommandError(
                "No Redis cache is configured (CACHE_URL): nothing to do."
            )
        if (
            creator is not None
            and not CreatorProfile.objects.filter(id=creator).exists()
        ):
            raise CommandError(f"No creator with id {creator}.")
        try:
            dropped = boards_forget(creator_id=creator)
        except Exception as exc:
            raise CommandError(f"Redis did not answer: {exc}") from exc
        self.stdout.write(f"Dropped {dropped} leaderboard keys; rebuilt when read.")
