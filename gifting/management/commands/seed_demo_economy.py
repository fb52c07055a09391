from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from gifting.demo import demo_economy_create


class Command(BaseCommand):
    help = "Make the demo creator a creator and give the demo viewer coins, once."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("Demo data is refused with DJANGO_DEBUG=0.")
        done = demo_economy_create()
        self.stdout.write(
            "Demo economy: " + ("; ".join(done) if done else "already there.")
        )
