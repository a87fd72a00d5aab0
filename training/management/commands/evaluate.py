"""python manage.py evaluate --data DIR [--model <version>] [--other DIR ...] [--other-split held-out|all] [--by-source] [--json]"""
import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from training import metrics as M


class Command(BaseCommand):
    help = "Evaluate a model on a dataset's test split: accuracy, per-class precision/recall/F1, confusion matrix, ECE."

    def add_arguments(self, parser):
        parser.add_argument("--data", default=str(settings.PETSITE_TRAINING_DATA_DIR))
        parser.add_argument("--model", default=None, help="ModelVersion name or .keras path (default: the active model).")
        parser.add_argument("--other", action="append", default=[],
                            help="Also measure the unknown rate on this folder of non-pet photos (repeatable; one rate per folder).")
        parser.add_argument("--by-source", action="store_true",
                            help="Also report the test photos of each source folder of the dataset apart (e.g. pets, pets-home).")
        parser.add_argument("--other-split", choices=("held-out", "all"), default="held-out",
                            help="Use only the part held out from threshold fitting (default) or every photo.")
        parser.add_argument("--json", action="store_true", help="Print the metrics as JSON.")

    def handle(self, *args, **options):
        from ingestion.dataset import DatasetError
        from training.evaluation import evaluate_model
        from training.registry import NoModelAvailable

        try:
            results = evaluate_model(options["data"], model=options["model"], other_dirs=options["other"],
                                     other_split=options["other_split"], by_source=options["by_source"])
        except (DatasetError, NoModelAvailable, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(results, indent=2))
        else:
            self.stdout.write(f"model {results['model_version']}")
            self.stdout.write(M.format_report(results, results["classes"]))
            for folder, part in results["unknown"].get("by_folder", {}).items():
                self.stdout.write(f"{folder}: {part['unknown_rate']:.2%} of {part['images']} answered 'not a pet'")
            for source, part in results.get("by_source", {}).items():
                self.stdout.write(f"\n== test photos from {source}")
                self.stdout.write(M.format_report(part, results["classes"]))
