"""Compare the seed and default models in one run.

For each: test accuracy and per-class recall and training wall time (from the model registry, or the
model card of a file), batch-1 latency (median of 50 after warm-up, decoding + preprocessing included)
and batch-32 throughput (images/s, preprocessing included; model-only in brackets).

    .venv/bin/python bench/bench_models.py                      # latest registered seed and default versions
    .venv/bin/python bench/bench_models.py --default training/default_model/model.keras --seed seed-20261124-...
    .venv/bin/python bench/bench_models.py --json
"""
import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "petsite.settings")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def load_entry(reference, architecture):
    """(spec, metrics, training_seconds) for a ModelVersion name, a .keras path, or the latest version of `architecture`."""
    from training.evaluation import resolve_spec
    from training.models import ModelVersion
    from training.registry import read_card

    if not reference:
        latest = ModelVersion.objects.filter(architecture=architecture).order_by("-created_at").first()
        if latest is None and architecture != "default":
            return None
        reference = latest.name if latest is not None else str(REPO / "training" / "default_model" / "model.keras")
    try:
        spec = resolve_spec(reference)
    except ValueError:
        return None
    version = ModelVersion.objects.filter(name=reference).first()
    if version is not None:
        return spec, version.metrics, version.training_seconds
    card = read_card(spec.path)
    return spec, card.get("metrics", {}), card.get("training_seconds")


def photos(count):
    from tests.conftest import PETS

    files = []
    for label in ("bird", "cat", "dog", "dragon", "fish", "hamster"):
        files += sorted((PETS / label).glob("*.jpg"))[:8]
    return (files * (count // len(files) + 1))[:count]


def measure(spec):
    import numpy as np

    from ingestion.images import open_image
    from training.predictor import Predictor

    predictor = Predictor(spec)
    files = photos(64)
    raw = [f.read_bytes() for f in files]

    def one(data):
        predictor.predict_images([open_image(data)])

    for data in raw[:5]:
        one(data)
    times = []
    for data in raw[:50]:
        start = time.perf_counter()
        one(data)
        times.append((time.perf_counter() - start) * 1000)
    batch = raw[:32]
    predictor.predict_images([open_image(d) for d in batch])  # trace the batch-32 graph
    runs, model_runs = [], []
    for _ in range(5):
        start = time.perf_counter()
        predictor.predict_images([open_image(d) for d in batch])
        runs.append(time.perf_counter() - start)
        arrays = np.stack([predictor.prepare(open_image(d)) for d in batch])
        start = time.perf_counter()
        predictor.predict_arrays(arrays)
        model_runs.append(time.perf_counter() - start)
    return {
        "backend": getattr(predictor, "backend", "keras"),
        "latency_ms_b1_median": statistics.median(times),
        "throughput_b32": 32 / statistics.median(runs),
        "throughput_b32_model_only": 32 / statistics.median(model_runs),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", default=None, help="seed ModelVersion name or .keras path (default: latest seed version)")
    parser.add_argument("--default", default=None, help="default ModelVersion name or .keras path (default: latest default version, else the shipped file)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import django

    django.setup()
    import tensorflow as tf

    from ingestion.labels import CLASSES

    results = {}
    for arch, ref in (("seed", args.seed), ("default", args.default)):
        entry = load_entry(ref, arch)
        if entry is None:
            print(f"{arch}: no model found (train one with `manage.py train --arch {arch}`)", file=sys.stderr)
            continue
        spec, metrics, seconds = entry
        row = {"version": spec.version, "input_size": spec.input_size, "accuracy": metrics.get("accuracy"), "ece": metrics.get("ece"),
               "recall": {c: (metrics.get("per_class", {}).get(c) or {}).get("recall") for c in CLASSES},
               "unknown": metrics.get("unknown"), "training_seconds": seconds}
        row.update(measure(spec))
        results[arch] = row
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores visible")
    header = f"{'':<22}" + "".join(f"{arch:>24}" for arch in results)
    print(header)

    def line(label, fmt):
        print(f"{label:<22}" + "".join(f"{fmt(r):>24}" for r in results.values()))

    pct = lambda v: "-" if v is None else f"{v:.2%}"
    line("version", lambda r: r["version"][:23])
    line("input", lambda r: f"{r['input_size']}x{r['input_size']}")
    line("backend", lambda r: r["backend"])
    line("test accuracy", lambda r: pct(r["accuracy"]))
    for c in CLASSES:
        line(f"  recall {c}", lambda r, c=c: pct(r["recall"][c]))
    line("ECE", lambda r: pct(r["ece"]))
    line("pets -> unknown", lambda r: pct((r["unknown"] or {}).get("pets_unknown_rate")))
    line("other -> unknown", lambda r: pct((r["unknown"] or {}).get("other_unknown_rate")))
    line("training wall time", lambda r: "-" if r["training_seconds"] is None else f"{r['training_seconds']:.0f} s")
    line("latency b=1 (median)", lambda r: f"{r['latency_ms_b1_median']:.1f} ms")
    line("throughput b=32", lambda r: f"{r['throughput_b32']:.1f} img/s")
    line("  model only", lambda r: f"{r['throughput_b32_model_only']:.1f} img/s")


if __name__ == "__main__":
    main()
