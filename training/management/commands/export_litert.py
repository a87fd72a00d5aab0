"""python manage.py export_litert [--model NAME|PATH | --path PATH] --data DIR: write the verified LiteRT copy beside a model file."""
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ingestion.images import IMAGE_SUFFIXES
from training.evaluation import resolve_spec
from training.litert import check_batch_from_images, export_tflite
from training.registry import NoModelAvailable


class Command(BaseCommand):
    help = "Export a model to LiteRT for fast serving, verified against the Keras model on real photos."

    def add_arguments(self, parser):
        parser.add_argument("--model", help="ModelVersion name or .keras path with its JSON card (default: the active model).")
        parser.add_argument("--path", help="A .keras file with its JSON card (the same as --model PATH).")
        parser.add_argument("--data", required=True, help="Folder of photos to verify on (searched recursively).")
        parser.add_argument("--limit", type=int, default=0, help="Verify on at most this many photos (0: all).")

    def handle(self, *args, **options):
        try:
            spec = resolve_spec(options["path"] or options["model"])
        except (NoModelAvailable, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        photos = sorted(p for p in Path(options["data"]).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if options["limit"]:
            photos = photos[: options["limit"]]
        if not photos:
            raise CommandError(f"No photos under {options['data']} to verify the export on.")
        self.stdout.write(f"Exporting {spec.version} ({spec.path}); verifying on {len(photos)} photos ...")
        try:
            path, difference = export_tflite(spec.path, check_batch_from_images(photos, spec.input_size))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Wrote {path}: top-1 identical, max probability difference {difference:.2e}."))
