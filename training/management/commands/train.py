"""python manage.py train --dataset NAME | --data DIR --arch seed|default [--epochs N] [--name VERSION] [--activate]"""
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from training import metrics as M
from training.architectures import ARCHITECTURES
from training.management.commands._progress import TqdmProgress


class Command(BaseCommand):
    help = ("Train a model on a dataset version (--dataset NAME) or a dataset folder (--data: train/<class>/, test/<class>/), "
            "evaluate it and register a ModelVersion.")

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--dataset", default=None, help="Train on built dataset version NAME (recorded on the model version).")
        source.add_argument("--data", default=str(settings.PETSITE_TRAINING_DATA_DIR), help="Dataset folder (default: %(default)s).")
        parser.add_argument("--arch", choices=ARCHITECTURES, default="default")
        parser.add_argument("--epochs", type=int, default=None, help="Epochs (default: 8 for seed, 60 head epochs for default).")
        parser.add_argument("--activate", action="store_true", help="Make the new version the active model.")
        parser.add_argument("--other", action="append", default=None,
                            help="A folder of non-pet photos (<kind>/*), repeatable (default: PETSITE_TRAINING_OTHER_DIRS; '' for none).")
        parser.add_argument("--abstract-pictures", type=int, default=None,
                            help="default arch: abstract pictures added as a non-pet kind (default: PETSITE_TRAINING_ABSTRACT_PICTURES; 0 for none).")
        parser.add_argument("--input-size", type=int, default=None, help="Override the input size (tests use tiny sizes).")
        parser.add_argument("--batch-size", type=int, default=32)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--augment-rounds", type=int, default=0,
                            help="default arch: random augmented views of the train split, besides the clean and mirrored ones.")
        parser.add_argument("--finetune-epochs", type=int, default=0, help="default arch: epochs fine-tuning the top block.")
        parser.add_argument("--name", default=None, help="Version name (default: <arch>-<timestamp>).")
        parser.add_argument("--package", default=None,
                            help="Also copy the model file (and its LiteRT copy) here (a .keras path, or a folder for "
                                 "model.keras) and write its JSON card beside it.")

    def handle(self, *args, **options):
        from ingestion.dataset import DatasetError
        from training.recipes import TrainingOptions, train_model
        from training.registry import package_version

        training = TrainingOptions(
            architecture=options["arch"], epochs=options["epochs"], input_size=options["input_size"], seed=options["seed"],
            batch_size=options["batch_size"], augment_rounds=options["augment_rounds"], finetune_epochs=options["finetune_epochs"],
            other_dirs=settings.PETSITE_TRAINING_OTHER_DIRS if options["other"] is None else options["other"], name=options["name"],
            abstract_pictures=options["abstract_pictures"],
        )
        data_dir = options["data"]
        if options["dataset"]:
            from ingestion.selectors import UnknownDatasetVersion, dataset_version_path

            try:
                data_dir = dataset_version_path(options["dataset"])
            except UnknownDatasetVersion as exc:
                raise CommandError(str(exc)) from exc
        progress = TqdmProgress(self.stderr._out)
        try:
            version = train_model(data_dir, training, activate=options["activate"], progress=progress)
        except (DatasetError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        finally:
            progress.close()
        self.stdout.write(M.format_report(version.metrics, version.classes))
        self.stdout.write(f"training time {version.training_seconds:.1f} s; file {version.resolved_path}")
        if options["package"]:
            path = package_version(version, options["package"])
            self.stdout.write(f"packaged to {path} (+ {path.with_suffix('.json').name})")
        state = "active" if version.is_active else "not active (activate it in the admin or with --activate)"
        self.stdout.write(self.style.SUCCESS(f"Registered model version {version.name}: {state}."))
