"""python manage.py add_class_maps PATH [--data DIR] [--limit N]: give a saved default-architecture model its
"class_maps" output (training.architectures.with_class_maps: where in the photo it looked, shown on the result page),
saved in place, and re-create its verified LiteRT copy (class maps checked too). Its answers do not change."""
import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ingestion.images import IMAGE_SUFFIXES
from training.litert import check_batch_from_images, export_record_path, export_tflite, exported_path
from training.predictor import usable_export
from training.registry import spec_from_file


def default_data():
    """The training data's test split when there is one here, else the dataset base folders."""
    test = Path(settings.PETSITE_TRAINING_DATA_DIR) / "test"
    return str(test if test.is_dir() else settings.PETSITE_DATASET_BASE_FOLDERS[0])


class Command(BaseCommand):
    help = "Add the class-map output (the heat map of where the model looked) to a .keras model and re-export it to LiteRT."

    def add_arguments(self, parser):
        parser.add_argument("path", help="The .keras model file (with its JSON card beside it), changed in place.")
        parser.add_argument("--data", default=None,
                            help="Folder of photos to verify the LiteRT copy on, searched recursively "
                                 "(default: PETSITE_TRAINING_DATA_DIR/test if present, else the dataset base folder).")
        parser.add_argument("--limit", type=int, default=0, help="Verify on at most this many photos, spread evenly (0: all).")

    def handle(self, *args, **options):
        from training.architectures import CLASS_MAPS, with_class_maps
        from training.layers import load_model

        path = Path(options["path"])
        if path.suffix != ".keras" or not path.is_file():
            raise CommandError(f"{path} is not a .keras model file.")
        model = load_model(path)
        mapped = with_class_maps(model)
        if CLASS_MAPS not in {layer.name for layer in mapped.layers}:
            raise CommandError(f"{path} has no class maps to add: it has no 'head_relu6' feature map read by a "
                               "'probabilities' head (only the default architecture has).")
        if mapped is model:
            self.stdout.write(f"{path} already has class maps.")
            if self._export_checked(path):
                self.stdout.write(self.style.SUCCESS(f"Its LiteRT copy {exported_path(path)} is verified, class maps included."))
                return
        else:
            tmp = path.with_name(path.stem + ".with-maps.keras")  # a .keras name: Keras refuses any other
            mapped.save(tmp)
            tmp.replace(path)
            self.stdout.write(f"Added class maps {tuple(mapped.output[CLASS_MAPS].shape[1:])} to {path}.")
        self._export(path, options)

    @staticmethod
    def _export_checked(path):
        if usable_export(spec_from_file(path)) is None:
            return False
        return bool(json.loads(export_record_path(path).read_text()).get("class_maps_checked"))

    def _export(self, path, options):
        data = options["data"] or default_data()
        photos = sorted(p for p in Path(data).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if options["limit"] and len(photos) > options["limit"]:
            photos = photos[:: len(photos) // options["limit"]][: options["limit"]]
        if not photos:
            export_record_path(path).unlink(missing_ok=True)  # the old copy no longer matches
            raise CommandError(f"No photos under {data} to verify the LiteRT copy on; run `manage.py export_litert` "
                               f"--path {path} --data DIR (until then the Keras model serves).")
        spec = spec_from_file(path)
        self.stdout.write(f"Exporting to LiteRT; verifying answers and class maps on {len(photos)} photos ...")
        try:
            export, difference = export_tflite(path, check_batch_from_images(photos, spec.input_size))
        except ValueError as exc:
            raise CommandError(f"{exc}; the Keras model (with class maps) serves until an export verifies.") from exc
        self.stdout.write(self.style.SUCCESS(
            f"Wrote {export}: top-1 identical, max probability difference {difference:.2e}, class maps checked."))
