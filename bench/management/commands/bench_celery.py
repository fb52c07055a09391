import json
import time

from django.core.management.base import BaseCommand, CommandError

from bench import background


class Command(BaseCommand):
    help = (
        "Benchmark only: create approved payouts (--payouts N), ask the workers to "
        "pay them (--dispatch), queue no-op tasks (--noop N), or check the payouts "
        "after the workers ran (--check). Prints JSON."
    )

    def add_arguments(self, parser):
        parser.add_argument("--payouts", type=int, default=0)
        parser.add_argument("--dispatch", action="store_true")
        parser.add_argument("--noop", type=int, default=0)
        parser.add_argument("--check", action="store_true")

    def handle(self, *args, **options):
        from django.conf import settings

        result: dict = {}
        if (options["dispatch"] or options["noop"]) and (
            settings.CELERY_TASK_ALWAYS_EAGER
        ):
            raise CommandError("Set CELERY_BROKER_URL: tasks would run in-process.")
        if options["payouts"]:
            started = time.perf_counter()
            result = background.approved_payouts_create(count=options["payouts"])
            result["seconds"] = round(time.perf_counter() - started, 2)
        if options["dispatch"]:
            from payouts.tasks import dispatch_payouts

            # The beat task the approvals enqueue; it queues the batches.
            dispatch_payouts.delay()
        if options["noop"]:
            from bench.tasks import noop

            started = time.perf_counter()
            for _ in range(options["noop"]):
                noop.delay()
            result["publish_seconds"] = round(time.perf_counter() - started, 2)
        if options["check"]:
            result = background.payouts_check()
        self.stdout.write(json.dumps(result))
