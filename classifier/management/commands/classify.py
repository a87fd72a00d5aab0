import json

from django.core.management.base import BaseCommand, CommandError

from classifier.inference import NoModelAvailable, classify_image
from classifier.selectors import answer_sureness, unsaved_answer
from ingestion.images import ImageError
from ingestion.labels import display_name


class Command(BaseCommand):
    help = ("Classify photos with the active model (no worker or database needed): one line per image, with how sure "
            "it is as the site says it; --json: label, confidence (share among the six pets), probabilities, pet_score.")

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
            if result.pet_score is not None:
                row["pet_score"] = round(result.pet_score, 6)
            sure = answer_sureness(unsaved_answer(result))  # the site's figure: share x pet score for a pet
            self._emit(options, row, f"{path}\t{display_name(result.label)}\t{sure * 100:.1f}% sure")
        if failures:
            raise SystemExit(1)

    def _emit(self, options, row, text):
        self.stdout.write(json.dumps(row) if options["json"] else text)
        self.stdout.flush()
