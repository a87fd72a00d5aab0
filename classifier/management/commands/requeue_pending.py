from django.core.management.base import BaseCommand
from django.template.defaultfilters import pluralize

from classifier.services import requeue_stale_pending


class Command(BaseCommand):
    help = ("Re-send the pending predictions whose classification was lost (at most 1000 a call): claimed by a worker "
            "that stopped renewing its claim, or sent and never claimed while no longer waiting in the queue. A healthy "
            "backlog is left alone. The beat sweeper does the same every few minutes.")

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, default=None,
                            help="Seconds without a claim or its renewal before a row counts as lost (default: PETSITE_PENDING_SWEEP_SECONDS).")

    def handle(self, *args, **options):
        stale = requeue_stale_pending(options["older_than"])
        self.stdout.write(f"Re-enqueued {len(stale)} pending prediction{pluralize(len(stale))}.")
