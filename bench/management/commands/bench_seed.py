import json
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection

from bench.seed import RECEIPTS_PER_BUYER, population_create, receipts_write


class Command(BaseCommand):
    help = (
        "Benchmark only: load the catalog and wallet defaults, then senders with "
        "coins, buyers and creators; write their tokens and ids to --out as JSON."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", type=Path, required=True)
        parser.add_argument("--senders", type=int, default=2000)
        parser.add_argument("--buyers", type=int, default=1000)
        parser.add_argument("--creators", type=int, default=1000)
        parser.add_argument("--lots", type=int, default=1)
        parser.add_argument(
            "--receipts",
            type=int,
            default=RECEIPTS_PER_BUYER,
            help="Signed sandbox receipts per buyer, written to "
            "buyers-receipts.txt next to --out (one per purchase request).",
        )

    def handle(self, *args, **options):
        # The project's own seeding first, as an operator would run it.
        call_command("seed_catalog", stdout=self.stdout)
        call_command("seed_wallets", stdout=self.stdout)
        population = population_create(
            senders=options["senders"],
            buyers=options["buyers"],
            creators=options["creators"],
            lots=options["lots"],
            receipts=options["receipts"],
        )
        # As after any bulk load, and whether or not autovacuum is on: statistics
        # for the planner and a settled heap, so the run measures the app.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        options["out"].write_text(
            json.dumps(
                {
                    "sender_tokens": population.sender_tokens,
                    "buyer_tokens": population.buyer_tokens,
                    "creator_ids": population.creator_ids,
                }
            )
        )
        # Next to the buyers' tokens file bench/run.py writes (buyers.txt).
        receipts_write(
            options["out"].parent / "buyers-receipts.txt", population.buyer_receipts
        )
        self.stdout.write(
            f"Bench population: {len(population.sender_tokens)} senders, "
            f"{len(population.buyer_tokens)} buyers, "
            f"{len(population.creator_ids)} creators."
        )
