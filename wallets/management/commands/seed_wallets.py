from django.core.management.base import BaseCommand

from wallets.seed import seed_wallets


class Command(BaseCommand):
    help = "Load default spending limits and a first-purchase bonus; safe to repeat."

    def handle(self, *args, **options):
        created = seed_wallets()
        self.stdout.write(
            f"Wallets: {created['limits']} spending limit(s) and "
            f"{created['promotions']} promotion(s) created."
        )
