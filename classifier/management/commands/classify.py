import json

from django.core.management.base import BaseCommand, CommandError

from classifier.inference import NoModelAvailable, classify_image
from ingestion.images import ImageError
from ingestion.labels import display_name


class Command(BaseCommand):
    help = "Classify photos with the active model (no worker or database needed): one line per image."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument("--json", action="store_true", help="One JSON object per line.")

    def handle(self, *paths, **options):
        failures = 0
        for path in options["paths"]:
            try:
                result = classify_image(path)
            except NoModelAvailable as exc:
                raise CommandError(str(exc)) from exc
            except (ImageError, OSError) as exc:
                failures += 1
                message = str(exc) if isinstance(exc, ImageError) else f"cannot read file: {exc.strerror or exc}"
                self._emit(options, {"path": path, "error": message}, f"{path}\terror: {message}")
                continue
            row = {"path": path, **result.as_dict()}
            row.pop("model_version")
            self._emit(options, row, f"{path}\t{display_name(result.label)}\t{result.confidence * 100:.1f}%")
        if failures:
            raise SystemExit(1)

    def _emit(self, options, row, text):
        self.stdout.write(json.dumps(row) if options["json"] else text)
        self.stdout.flush()
