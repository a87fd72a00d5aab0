"""Benchmark the dataset rebuild on ../shared/data/pets.

Rebuilds into a temporary directory and prints photos per second, the per-class counts, the
duplicates removed and the cross-split near-duplicate count (must be 0), the last both as the build
reports it and re-checked independently from the PNG files it wrote.

    .venv/bin/python bench/bench_dataset.py [--workers 1] [--size 240] [--seed 1]
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "petsite.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from PIL import Image  # noqa: E402

from ingestion.dataset import build_dataset, read_manifest  # noqa: E402
from ingestion.hashing import near_duplicate_pairs, perceptual_hash  # noqa: E402
from ingestion.labels import CLASSES  # noqa: E402


def cross_split(files, hashes, distance):
    return sum(1 for i, j in near_duplicate_pairs(hashes, distance) if files[i]["split"] != files[j]["split"])


def recheck_written(dest, distance):
    """Cross-split pairs among the written PNGs hashed afresh, and (an audit) at a looser distance on either hash."""
    files = read_manifest(dest)["files"]
    hashes = []
    for entry in files:
        with Image.open(dest / entry["file"]) as image:
            hashes.append(perceptual_hash(image.convert("RGB")))
    loose = distance + 4
    borderline = max(cross_split(files, hashes, loose), cross_split(files, [entry["phash"] for entry in files], loose))
    return cross_split(files, hashes, distance), borderline, loose


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=str(REPO.parent / "shared" / "data" / "pets"))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--size", type=int, default=240)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    distance = settings.PETSITE_NEAR_DUPLICATE_DISTANCE

    with tempfile.TemporaryDirectory(prefix="bench-dataset-") as tmp:
        dest = Path(tmp) / "dataset"
        started = time.perf_counter()
        report = build_dataset([args.source], dest, size=args.size, seed=args.seed, workers=args.workers, examples=[])
        seconds = time.perf_counter() - started
        written_leaks, borderline, loose = recheck_written(dest, distance)

    print(f"source {args.source}  size {args.size}  seed {args.seed}  workers {args.workers}  cpus {os.cpu_count()}")
    print(f"{report.inputs} photos in {seconds:.1f} s: {report.inputs / seconds:.1f} photos/s")
    print(f"{'class':<10}{'train':>8}{'test':>8}{'total':>8}{'test %':>8}")
    for label in CLASSES:
        train, test = report.counts[label]["train"], report.counts[label]["test"]
        total = train + test
        print(f"{label:<10}{train:>8}{test:>8}{total:>8}{(100 * test / total if total else 0):>7.1f}%")
    print(f"kept {report.kept}; duplicates removed {report.duplicates_removed} "
          f"({report.exact_duplicates} exact, {report.near_duplicates} near, distance <= {distance}); "
          f"unreadable {len(report.unreadable)}; label conflicts {len(report.label_conflicts)}")
    print(f"cross-split near-duplicates: {report.cross_split_near_duplicates} (build check), "
          f"{written_leaks} (re-check of the written PNGs); "
          f"audit: {borderline} cross-split pair(s) within {loose} bits on one hash")
    return 0 if report.cross_split_near_duplicates == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
