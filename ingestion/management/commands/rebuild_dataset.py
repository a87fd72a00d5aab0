import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ingestion import services
from ingestion.dataset import DEFAULT_SPLIT_SEED, DEFAULT_TEST_RATIO, DatasetError, build_dataset
from ingestion.labels import CLASSES
from ingestion.models import DatasetVersion


class Command(BaseCommand):
    help = (
        "Build a dataset from <source>/<class>/* folders and the extra sources named in "
        "settings.PETSITE_DATASET_EXTRA_SOURCES (reviewed predictions, accepted scraped photos): decode, normalize "
        "(long side at most 512 px, PNG) or fit and pad (--frame), deduplicate, split train/test stably, write "
        "manifest.json. --name records dataset version NAME (the admin's build, PETSITE_DATASETS_ROOT/NAME); "
        "--dest (re)builds a plain folder."
    )

    def add_arguments(self, parser):
        parser.add_argument("--source", action="append", required=True, help="Folder of <class>/ subfolders (repeatable).")
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--name", help="Build dataset version NAME (recorded as a DatasetVersion row; never rebuilt).")
        target.add_argument("--dest", help="Dataset directory to (re)build, without a version row.")
        parser.add_argument("--test-ratio", type=float, default=DEFAULT_TEST_RATIO, help="Share of each class in test (default %(default)s).")
        parser.add_argument("--seed", type=int, default=DEFAULT_SPLIT_SEED, help="Seed of the split (default %(default)s).")
        parser.add_argument(
            "--frame", "--size", dest="size", type=int, default=None,
            help="Fit and pad each photo into a square of this side (the original project's 240 px view); "
            "default: photos stored whole, long side at most 512 px.",
        )
        parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="Decoding threads.")
        parser.add_argument("--no-reviewed", action="store_true", help="Leave out the extra sources (PETSITE_DATASET_EXTRA_SOURCES: reviewed predictions and accepted scraped photos).")

    def handle(self, *args, **options):
        bar = tqdm(unit="photo", desc="rebuild", disable=options["verbosity"] == 0)

        def progress(done, total):
            bar.total = total
            bar.update(done - bar.n)  # update() throttles redraws

        if options["name"]:
            try:
                return self.build_version(options, progress)
            finally:
                bar.close()
        try:
            services.check_source_folders(options["source"])
        except services.BuildRefused as exc:
            raise CommandError(str(exc)) from exc
        try:
            report = build_dataset(
                options["source"], options["dest"], test_ratio=options["test_ratio"], seed=options["seed"],
                size=options["size"], workers=options["workers"], progress=progress,
                examples=[] if options["no_reviewed"] else None,
            )
        except DatasetError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        self.print_report(report)
        if options["no_reviewed"]:
            self.stdout.write(f"left out (--no-reviewed): {', '.join(settings.PETSITE_DATASET_EXTRA_SOURCES)}")

    def build_version(self, options, progress):
        extra = [] if options["no_reviewed"] else None
        try:
            version = services.create_dataset_version(
                options["name"], options["source"], None, frame=options["size"], test_ratio=options["test_ratio"],
                seed=options["seed"], extra_sources=extra,
            )
        except services.BuildRefused as exc:
            raise CommandError(str(exc)) from exc
        try:
            version = services.run_dataset_build(version.pk, progress=progress, workers=options["workers"])
        except services.BuildSuperseded as exc:  # marked interrupted while this command was quiet, maybe resumed
            raise CommandError(str(exc)) from exc
        if version.status != DatasetVersion.Status.BUILT:
            raise CommandError(f"Dataset version {version.name} {version.status}: {version.error}")
        self.print_counts(version.counts)
        report = version.report
        self.stdout.write(
            f"{report['inputs']} input photos, {report['kept']} kept; duplicates removed: {report['exact_duplicates']} exact, "
            f"{report['near_duplicates']} near; unreadable: {report['unreadable']}"
        )
        self.stdout.write("inputs: " + "; ".join(f"{count} from {name}" for name, count in version.inputs_by_source.items()))
        if version.previous:
            changes = [
                f"{label} {split} +{change['added']}/-{change['removed']}"
                for label, splits in version.diff.items() for split, change in splits.items() if change["added"] or change["removed"]
            ]
            self.stdout.write(f"since {version.previous.name}: " + (", ".join(changes) or "no change"))
        self.stdout.write(self.style.SUCCESS(
            f"Built dataset version {version.name} at {services.selectors.version_folder(version.name)} "
            f"(manifest digest {version.digest[:12]}) in {version.build_seconds:.1f} s."
        ))

    def print_counts(self, counts):
        write = self.stdout.write
        write(f"{'class':<10}{'train':>8}{'test':>8}{'total':>8}")
        totals = {"train": 0, "test": 0}
        for label in CLASSES:
            row = counts.get(label, {"train": 0, "test": 0})
            totals["train"] += row["train"]
            totals["test"] += row["test"]
            write(f"{label:<10}{row['train']:>8}{row['test']:>8}{row['train'] + row['test']:>8}")
        write(f"{'total':<10}{totals['train']:>8}{totals['test']:>8}{totals['train'] + totals['test']:>8}")

    def print_report(self, report):
        write = self.stdout.write
        write(f"{'class':<10}{'train':>8}{'test':>8}{'total':>8}")
        totals = {"train": 0, "test": 0}
        for label in CLASSES:
            counts = report.counts[label]
            totals["train"] += counts["train"]
            totals["test"] += counts["test"]
            write(f"{label:<10}{counts['train']:>8}{counts['test']:>8}{counts['train'] + counts['test']:>8}")
        write(f"{'total':<10}{totals['train']:>8}{totals['test']:>8}{totals['train'] + totals['test']:>8}")
        write(
            f"{report.inputs} input photos, {report.kept} kept; duplicates removed: {report.exact_duplicates} exact, "
            f"{report.near_duplicates} near; unreadable: {len(report.unreadable)}; "
            f"cross-split near-duplicates: {report.cross_split_near_duplicates}"
        )
        write("inputs: " + "; ".join(f"{count} from {name}" for name, count in report.inputs_by_source.items()))
        for path, reason in report.unreadable[:20]:
            write(self.style.WARNING(f"  skipped {path}: {reason}"))
        if len(report.unreadable) > 20:
            write(self.style.WARNING(f"  ... and {len(report.unreadable) - 20} more (see manifest.json)"))
        for path, reason in report.ignored[:20]:
            write(f"  ignored {path}: {reason}")
        if report.label_conflicts:
            write(self.style.WARNING(f"  {len(report.label_conflicts)} duplicate(s) had conflicting folder labels (see manifest.json)"))
        write(self.style.SUCCESS(
            f"Wrote {report.dest} (manifest digest {report.digest[:12]}) in {report.seconds:.1f} s, "
            f"{report.photos_per_second:.0f} photos/s."
        ))
