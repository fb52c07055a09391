from django.core.management.base import BaseCommand

from catalog.seed import seed_catalog


class Command(BaseCommand):
    help = (
        "Load the starting regions, gifts, coin bundles, their prices and exchange "
        "rates; running it again changes nothing."
    )

    def handle(self, *args, **options):
        created = seed_catalog()
        self.stdout.write(
            f"Catalog: {created['regions']} region(s), {created['gifts']} gift(s), "
            f"{created['bundles']} bundle(s), {created['rates']} exchange rate(s) "
            f"and {created['prices']} bundle price(s) created."
        )
