"""python manage.py export_litert [--model NAME|PATH | --path PATH] --data DIR [--int8]: write the verified LiteRT copy
beside a model file; with --int8 also the int8 copy (training.quantize), verified on DIR's test split."""
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ingestion.images import IMAGE_SUFFIXES
from training.evaluation import resolve_spec
from training.litert import check_batch_from_images, export_tflite
from training.quantize import MAX_ACCURACY_DROP_POINTS, MIN_AGREEMENT, REPRESENTATIVE_IMAGES, Int8Refused, export_int8
from training.registry import NoModelAvailable


class Command(BaseCommand):
    help = "Export a model to LiteRT for fast serving, verified against the Keras model on real photos."

    def add_arguments(self, parser):
        parser.add_argument("--model", help="ModelVersion name or .keras path with its JSON card (default: the active model).")
        parser.add_argument("--path", help="A .keras file with its JSON card (the same as --model PATH).")
        parser.add_argument("--data", required=True, help="Folder of photos to verify on (searched recursively).")
        parser.add_argument("--limit", type=int, default=0, help="Verify on at most this many photos (0: all).")
        parser.add_argument("--int8", action="store_true", help=(
            "Also write the int8 copy (post-training quantization calibrated on DIR/train), served only if on DIR/test "
            f"its top-1 agrees with the Keras model on at least {100 * MIN_AGREEMENT:.1f}%% and accuracy drops by at "
            f"most {MAX_ACCURACY_DROP_POINTS} points (DIR: a dataset with train/ and test/ class folders)."))
        parser.add_argument("--representative", type=int, default=REPRESENTATIVE_IMAGES,
                            help="Training photos the int8 quantization is calibrated on.")

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
        if options["int8"]:
            self._int8(spec, options)

    def _int8(self, spec, options):
        from training.pipeline import DatasetError

        try:
            path, record = export_int8(spec.path, options["data"], representative=options["representative"],
                                       progress=self.stdout.write)
        except (Int8Refused, DatasetError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(
            f"Wrote {path}: top-1 agrees with the Keras model on {100 * record['top1_agreement']:.2f}% of "
            f"{record['checked_images']} test photos; accuracy {100 * record['keras_accuracy']:.2f}% -> "
            f"{100 * record['int8_accuracy']:.2f}% ({record['accuracy_drop_points']:+.2f} points drop). "
            "Served when PETSITE_INFERENCE_BACKEND is auto or litert-int8."))
