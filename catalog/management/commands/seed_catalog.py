from django.core.management.base import BaseCommand

from catalog.seed import seed_catalog


class Command(BaseCommand):
    help = (
        "Load the starting regions and the six gifts; running it again changes nothing."
    )

    def handle(self, *args, **options):
        created = seed_catalog()
        self.stdout.write(
            f"Catalog: {created['regions']} region(s) and "
            f"{created['gifts']} gift(s) created."
        )
