import json
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection

from bench import admin_pages


class Command(BaseCommand):
    help = (
        "Benchmark only: fill the admin's large tables (transfers, gift sends, "
        "payouts) and count each changelist page's SQL queries. Prints JSON."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--small",
            action="store_true",
            help="a few gift sends (through the service) and payouts, before the load",
        )
        parser.add_argument(
            "--rows",
            type=int,
            default=0,
            help="fill gift sends and payouts to this many rows (and the ledger to "
            "about three transfers per gift send)",
        )
        parser.add_argument(
            "--session",
            action="store_true",
            help="also sign the superuser in and print its session cookie",
        )

    def handle(self, *args, **options):
        result: dict = {}
        started = time.perf_counter()
        if options["small"]:
            result["fill"] = {
                "gift_sends": admin_pages.gift_sends_few(10),
                "payouts": admin_pages.payouts_fill(rows=10, open_requests=5),
            }
        elif options["rows"]:
            rows = options["rows"]
            result["fill"] = {
                "gift_sends": admin_pages.gift_sends_grow(rows=rows),
                "payouts": admin_pages.payouts_fill(rows=rows, open_requests=rows),
            }
        if options["small"] or options["rows"]:
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
            result["fill"]["seconds"] = round(time.perf_counter() - started, 1)
        result["rows"] = admin_pages.table_rows()
        client = admin_pages.staff_client()
        result["pages"] = {
            name: {
                view: {"url": url, **admin_pages.queries_count(client, url)}
                for view, url in views.items()
            }
            for name, views in admin_pages.pages().items()
        }
        if options["session"]:
            name = settings.SESSION_COOKIE_NAME
            result["session_cookie"] = {
                "name": name,
                "value": client.cookies[name].value,
            }
        self.stdout.write(json.dumps(result, default=str))
