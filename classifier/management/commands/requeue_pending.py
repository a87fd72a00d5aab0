from django.core.management.base import BaseCommand

from classifier.services import requeue_stale_pending


class Command(BaseCommand):
    help = "Re-enqueue predictions left pending longer than --older-than seconds."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, default=None)

    def handle(self, *args, **options):
        stale = requeue_stale_pending(options["older_than"])
        self.stdout.write(f"Re-enqueued {len(stale)} pending prediction(s).")
