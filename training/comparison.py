"""Comparison: a candidate model and the live one evaluated on the same photos, stored as a ModelComparison.

The photos: the test split of the candidate's dataset version (or a given dataset folder), plus the fixed benchmark
folder of settings.PETSITE_BENCHMARK_DIR (<class>/*, photos never used for training; empty: none). Both models run
through the serving path (training.predictor) and their answers are mapped as the site maps them (a class, or
"unknown" under the model's threshold). Recorded for each: accuracy, per-class precision and recall (and the
differences), ECE, both confusion matrices, pets answered "not a pet", the unknown rate on the held-out part of the
non-pet folders (settings.PETSITE_TRAINING_OTHER_DIRS, training.pipeline.split_other); and every photo whose answer
changed, worst regressions first. Models whose classes differ are not scored against each other: the comparison
records why instead.

compare_versions()   run and store a comparison (raises ComparisonError when there is nothing to compare on).
comparison_photo()   the file of a changed photo, only when it lies inside the comparison's photo folders.
"""
from pathlib import Path

import numpy as np
from django.conf import settings

from ingestion.labels import UNKNOWN
from training import metrics as M, pipeline


class ComparisonError(ValueError):
    """The comparison cannot run (no dataset for the candidate, no photos); the message says why."""


def benchmark_split(folder, classes):
    """The benchmark photos (<folder>/<class>/*) as a Split; an empty Split when the folder is unset or missing."""
    if not folder or not Path(folder).is_dir():
        return pipeline.Split()
    result = pipeline.Split()
    for index, name in enumerate(classes):
        for path in pipeline.image_files(Path(folder) / name):
            result.paths.append(str(path))
            result.labels.append(index)
    return result


def candidate_data_dir(candidate):
    """(DatasetVersion or None, dataset folder) a candidate is compared on: its own dataset version, else the folder
    it was trained on. ComparisonError when neither exists any more."""
    from ingestion.selectors import UnknownDatasetVersion, dataset_version_path

    if candidate.dataset_version_id is not None:
        try:
            return candidate.dataset_version, dataset_version_path(candidate.dataset_version.name)
        except UnknownDatasetVersion as exc:
            raise ComparisonError(str(exc)) from exc
    folder = (candidate.params or {}).get("data_dir")
    if folder and (Path(folder) / "test").is_dir():
        return None, Path(folder)
    raise ComparisonError(f"{candidate.name} records no dataset version (and its data folder is gone): "
                          "compare it on a dataset folder (--data).")


def answer_names(predictions, classes):
    """metrics.site_predictions' class indices as names: the classes, and "unknown" for the index past them."""
    names = list(classes) + [UNKNOWN]
    return [names[i] for i in predictions]


def _side(spec, photos, other_paths, batch_size):
    """Predictions and metrics of one model on the photos (and the non-pet photos)."""
    from training.predictor import Predictor

    predictor = Predictor(spec)
    probabilities, pet_scores = pipeline.predict_paths(predictor.predict_arrays, photos.paths, spec.input_size, batch_size)
    _, other_scores = pipeline.predict_paths(predictor.predict_arrays, list(other_paths), spec.input_size, batch_size)
    # Of the site's answer: "not a pet" under this model's threshold is wrong on a pet photo, with its own column.
    results = M.classification_metrics(photos.labels, probabilities, spec.classes, pet_scores, spec.unknown_threshold)
    results.pop("nll", None)
    results.update({
        "matrix_columns": list(spec.classes) + ([UNKNOWN] if spec.unknown_threshold is not None else []),
        "version": spec.version,
        "unknown_threshold": spec.unknown_threshold,
        "recall": {name: row["recall"] for name, row in results["per_class"].items()},
        "precision": {name: row["precision"] for name, row in results["per_class"].items()},
        "pets_unknown_rate": M.unknown_rate(pet_scores, spec.unknown_threshold),
        "other_unknown_rate": M.unknown_rate(other_scores, spec.unknown_threshold) if len(other_scores) else None,
        "other_images": len(other_scores),
    })
    return results, probabilities, M.site_predictions(probabilities, pet_scores, spec.unknown_threshold)


def _difference(new, old):
    return None if new is None or old is None else new - old


def changed_photos(photos, sets, classes, live, candidate):
    """Photos whose answer changed, worst regressions first: the live model was right and the candidate is wrong
    (the biggest drop in the true class's probability first), then changes between two wrong answers, then fixes."""
    (live_probabilities, live_answers), (candidate_probabilities, candidate_answers) = live, candidate
    rows = []
    for i, (path, label) in enumerate(zip(photos.paths, photos.labels)):
        if live_answers[i] == candidate_answers[i]:
            continue
        truth = classes[label]
        drop = float(live_probabilities[i][label] - candidate_probabilities[i][label])
        kind = ("regression" if live_answers[i] == truth else "fix" if candidate_answers[i] == truth else "changed")
        rows.append({"path": path, "true_label": truth, "live": live_answers[i], "candidate": candidate_answers[i],
                     "kind": kind, "set": sets[i], "true_probability_drop": round(drop, 4)})
    order = {"regression": 0, "changed": 1, "fix": 2}
    rows.sort(key=lambda row: (order[row["kind"]], -row["true_probability_drop"], row["path"]))
    return rows


def compare_specs(candidate_spec, live_spec, data_dir, benchmark_dir="", other_dirs=(), seed=0, batch_size=32):
    """The comparison results (a dict) of two ModelSpecs on `data_dir`'s test split + the benchmark folder.

    Raises ComparisonError when the classes differ (scores would be compared class by class wrongly) or there are
    no photos.
    """
    if tuple(candidate_spec.classes) != tuple(live_spec.classes):
        raise ComparisonError(
            f"The models' classes differ ({candidate_spec.version}: {', '.join(candidate_spec.classes)}; "
            f"{live_spec.version}: {', '.join(live_spec.classes)}): they cannot be scored against each other."
        )
    classes = tuple(candidate_spec.classes)
    test = pipeline.read_split(data_dir, "test", classes)
    bench = benchmark_split(benchmark_dir, classes)
    photos = pipeline.Split(test.paths + bench.paths, test.labels + bench.labels)
    if len(photos) == 0:
        raise ComparisonError(f"{data_dir}/test/<class>/ holds no photos (and no benchmark photos): nothing to compare on.")
    sets = ["test"] * len(test) + ["benchmark"] * len(bench)
    other_held = pipeline.split_other(other_dirs, seed=seed)[2]
    live, live_p, live_pred = _side(live_spec, photos, other_held, batch_size)
    candidate, cand_p, cand_pred = _side(candidate_spec, photos, other_held, batch_size)
    live_a, cand_a = answer_names(live_pred, classes), answer_names(cand_pred, classes)
    difference = {
        "accuracy": candidate["accuracy"] - live["accuracy"],
        "ece": candidate["ece"] - live["ece"],
        "pets_unknown_rate": candidate["pets_unknown_rate"] - live["pets_unknown_rate"],
        "other_unknown_rate": _difference(candidate["other_unknown_rate"], live["other_unknown_rate"]),
        "recall": {c: _difference(candidate["recall"][c], live["recall"][c]) for c in classes},
        "precision": {c: _difference(candidate["precision"][c], live["precision"][c]) for c in classes},
    }
    by_set = {}
    for name in ("test", "benchmark"):
        mask = np.asarray(sets) == name
        if mask.any():
            truth = np.asarray(photos.labels)[mask]
            by_set[name] = {
                "images": int(mask.sum()),
                "live_accuracy": float((live_pred[mask] == truth).mean()),
                "candidate_accuracy": float((cand_pred[mask] == truth).mean()),
            }
    return {
        "classes": list(classes),
        "images": len(photos),
        "sets": by_set,
        "data_dir": str(data_dir),
        "benchmark_dir": str(benchmark_dir or ""),
        "candidate": candidate,
        "live": live,
        "difference": difference,
        "changed": changed_photos(photos, sets, classes, (live_p, live_a), (cand_p, cand_a)),
    }


def live_model():
    """(ModelVersion or None, ModelSpec) of the model serving now (the active version, else the shipped file)."""
    from training.registry import active_spec, active_version

    version = active_version()
    if version is not None and version.resolved_path.exists():
        return version, version.spec()
    spec = active_spec(use_database=True)
    from training.models import ModelVersion

    return ModelVersion.objects.filter(name=spec.version).first(), spec


def compare_versions(candidate, against=None, data_dir=None, benchmark_dir=None, other_dirs=None, progress=None):
    """Compare ModelVersion `candidate` with `against` (a ModelVersion; None: the live model) and store the
    ModelComparison (with the promotion rules' verdict). Photos: `data_dir`'s test split (default: the candidate's
    dataset version) + `benchmark_dir` (default settings.PETSITE_BENCHMARK_DIR). Models whose classes differ are
    stored with the reason in `error` (and fail the rules). Raises ComparisonError when there is no dataset to use.
    """
    from training.models import ModelComparison
    from training.promotion import check_rules

    if data_dir is None:
        dataset_version, data_dir = candidate_data_dir(candidate)
    else:
        dataset_version = None
    from training.registry import NoModelAvailable

    try:
        live_version, live_spec = live_model() if against is None else (against, against.spec())
    except NoModelAvailable as exc:  # nothing serves yet: there is nothing to be worse than
        comparison = ModelComparison(candidate=candidate, dataset_version=dataset_version, data_dir=str(data_dir),
                                     error=f"No live model to compare with ({exc}).")
        comparison.rules_passed, comparison.rule_failures = check_rules(comparison)
        comparison.save()
        return comparison
    benchmark_dir = settings.PETSITE_BENCHMARK_DIR if benchmark_dir is None else benchmark_dir
    other_dirs = settings.PETSITE_TRAINING_OTHER_DIRS if other_dirs is None else other_dirs
    if progress:
        progress(f"comparing {candidate.name} with {live_spec.version}")
    comparison = ModelComparison(
        candidate=candidate, live=live_version, live_name=live_spec.version, dataset_version=dataset_version,
        data_dir=str(data_dir), benchmark_dir=str(benchmark_dir or ""),
    )
    try:
        comparison.results = compare_specs(candidate.spec(), live_spec, data_dir, benchmark_dir, other_dirs)
    except ComparisonError as exc:
        if "classes differ" not in str(exc):
            raise
        comparison.error = str(exc)
    comparison.rules_passed, comparison.rule_failures = check_rules(comparison)
    comparison.save()
    return comparison


def comparison_photo(comparison, index):
    """The path of changed photo `index` of `comparison`, or None unless it is a file inside the comparison's dataset
    folder or benchmark folder (paths come from the stored results, never from a request)."""
    changed = (comparison.results or {}).get("changed") or []
    if not 0 <= index < len(changed):
        return None
    path = Path(changed[index]["path"]).resolve()
    roots = [Path(folder).resolve() for folder in (comparison.data_dir, comparison.benchmark_dir) if folder]
    if not path.is_file() or not any(path.is_relative_to(root) for root in roots):
        return None
    return path
