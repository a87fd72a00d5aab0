"""python manage.py evaluate --data DIR [--model <version>] [--json]"""
import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from training import metrics as M


class Command(BaseCommand):
    help = "Evaluate a model on a dataset's test split: accuracy, per-class precision/recall/F1, confusion matrix, ECE."

    def add_arguments(self, parser):
        parser.add_argument("--data", default=str(settings.PETSITE_TRAINING_DATA_DIR))
        parser.add_argument("--model", default=None, help="ModelVersion name or .keras path (default: the active model).")
        parser.add_argument("--other", default=None, help="Also measure the unknown rate on these non-pet photos.")
        parser.add_argument("--other-split", choices=("held-out", "all"), default="held-out",
                            help="Use only the part held out from threshold fitting (default) or every photo.")
        parser.add_argument("--json", action="store_true", help="Print the metrics as JSON.")

    def handle(self, *args, **options):
        from ingestion.dataset import DatasetError
        from training.evaluation import evaluate_model
        from training.registry import NoModelAvailable

        try:
            results = evaluate_model(options["data"], model=options["model"], other_dir=options["other"], other_split=options["other_split"])
        except (DatasetError, NoModelAvailable, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(results, indent=2))
        else:
            self.stdout.write(f"model {results['model_version']}")
            self.stdout.write(M.format_report(results, results["classes"]))
