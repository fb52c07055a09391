import json

from django.core.management.base import BaseCommand
from django.db import connection

from bench.growth import history_grow, ledger_disk


class Command(BaseCommand):
    help = (
        "Benchmark only: add consistent history (purchases, gift sends, their "
        "transfers) until the ledger holds about --transfers transfers."
    )

    def add_arguments(self, parser):
        parser.add_argument("--transfers", type=int, required=True)

    def handle(self, *args, **options):
        grown = history_grow(transfers=options["transfers"])
        # Settled like a production table after autovacuum: hint bits, visibility.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        grown["disk"] = ledger_disk()
        self.stdout.write(json.dumps(grown))
