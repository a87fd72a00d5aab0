"""Evaluation: which model a name means, and its metrics on a dataset's test split, through the serving path.

resolve_spec()      the ONE place a model reference (ModelVersion name, .keras path, or None for the live model)
                    becomes a ModelSpec; `evaluate`, `export_litert` and bench/bench_models.py use it.
evaluate_model()    metrics of any version or file on a dataset's test split (+ unknown rate on other photos).
evaluate_trained()  for a model just trained: its metrics through the saved file (training.predictor), as it will
                    serve, with the unknown threshold its recipe chose (the default: cross-fitted, training.recipes)
                    or, when it chose none, one fitted here on validation pets vs the threshold part of the others.
"""
from pathlib import Path

from ingestion.dataset import DatasetError
from ingestion.labels import CLASSES
from training import heads, metrics as M, pipeline
from training.registry import ModelSpec, active_spec, spec_from_file

def resolve_spec(model=None):
    """The spec `model` names: a ModelVersion name, a .keras path (with its card), or (None) the active/shipped model."""
    from training.models import ModelVersion

    if model is None:
        return active_spec(use_database=True)
    if str(model).endswith(".keras") and Path(model).is_file():
        return spec_from_file(model)  # a file needs no database (a command may run before `migrate`)
    version = ModelVersion.objects.filter(name=model).first()
    if version is not None:
        return version.spec()
    if Path(model).exists():
        return spec_from_file(model)
    raise ValueError(f"No model version or file named {model!r}.")


def evaluate_predictor(predictor, spec, test, other_paths, batch_size=32):
    """Metrics of `predictor` on the `test` split, with `spec`'s unknown threshold; unknown rate on `other_paths`."""
    probabilities, pet_scores = pipeline.predict_paths(predictor.predict_arrays, test.paths, spec.input_size, batch_size)
    # Of the site's answer: a pet answered "not a pet" is wrong (accuracy, recall), as the comparison page counts it.
    results = M.classification_metrics(test.labels, probabilities, spec.classes, pet_scores, spec.unknown_threshold)
    _, other_scores = pipeline.predict_paths(predictor.predict_arrays, list(other_paths), spec.input_size, batch_size)
    results["unknown"] = {
        "threshold": spec.unknown_threshold,
        "pets_unknown_rate": M.unknown_rate(pet_scores, spec.unknown_threshold),
        "pets_images": len(test),
        "other_unknown_rate": M.unknown_rate(other_scores, spec.unknown_threshold) if len(other_scores) else None,
        "other_images": len(other_scores),
        "tradeoff": M.unknown_tradeoff(pet_scores, other_scores),
    }
    return results


def evaluate_trained(model_path, name, options, val, test, chosen=None, threshold_fit=None):
    """(unknown threshold or None, metrics) of a freshly saved model; `options` are its resolved TrainingOptions.

    The threshold is `chosen` (with `threshold_fit` saying how) when the recipe chose it, else fitted here on the
    validation pets and the 'threshold' part of the non-pet photos, scored through the serving path.
    """
    from training.predictor import Predictor

    size, batch_size, other_dirs = options.input_size, options.batch_size, options.other_dirs
    predictor = Predictor(ModelSpec(version=name, path=model_path, classes=CLASSES, input_size=size, unknown_threshold=None))
    _other_fit, other_threshold, other_held = pipeline.split_other(other_dirs, seed=options.seed)
    threshold = chosen
    if threshold is None and other_threshold:
        _, val_scores = pipeline.predict_paths(predictor.predict_arrays, val.paths, size, batch_size)
        _, other_scores = pipeline.predict_paths(predictor.predict_arrays, other_threshold, size, batch_size)
        threshold = heads.choose_threshold(val_scores, other_scores, pet_groups=val.sources)
        threshold_fit = {"validation_pets": len(val), "other_threshold_images": len(other_threshold),
                         "other_threshold_unknown_rate": M.unknown_rate(other_scores, threshold)}
    spec = ModelSpec(version=name, path=model_path, classes=CLASSES, input_size=size, unknown_threshold=threshold)
    results = evaluate_predictor(predictor, spec, test, other_held, batch_size)
    results["unknown"]["threshold_fit"] = threshold_fit or {}
    return threshold, results


def _other_photos(other_dirs, other_split, seed):
    """{folder name: [paths]} of the non-pet photos to measure: every photo, or the part held out from training."""
    result = {}
    for folder in pipeline.as_folders(other_dirs):
        if other_split == "all":
            result[folder.name] = [p for paths in pipeline.folder_images(folder).values() for p in paths]
        else:
            result[folder.name] = pipeline.split_other(folder, seed=seed)[2]
    return result


def evaluate_model(data_dir, model=None, other_dirs=(), other_split="held-out", seed=0, batch_size=32, by_source=False):
    """Metrics of a model on `data_dir`'s test split; unknown rates on non-pet photos (held-out part by default).

    With several non-pet folders (other things, near-miss animals) each gets its own rate under
    results["unknown"]["by_folder"]. With `by_source`, results["by_source"] holds the metrics of the test photos of
    each source folder the dataset was built from (the manifest records it): base photos and pets at home apart.
    """
    from training.predictor import Predictor

    spec = resolve_spec(model)
    test = pipeline.read_split(data_dir, "test", spec.classes)
    if len(test) == 0:
        raise DatasetError(f"{data_dir}/test/<class>/ holds no images.")
    predictor = Predictor(spec)
    others = _other_photos(other_dirs, other_split, seed)
    results = evaluate_predictor(predictor, spec, test, [p for paths in others.values() for p in paths], batch_size)
    if len(others) > 1 or by_source:
        results["unknown"]["by_folder"] = {}
        results["unknown"]["tradeoff_by_folder"] = {}
        _, pet_scores = pipeline.predict_paths(predictor.predict_arrays, test.paths, spec.input_size, batch_size)
        for folder, paths in others.items():
            _, scores = pipeline.predict_paths(predictor.predict_arrays, paths, spec.input_size, batch_size)
            results["unknown"]["by_folder"][folder] = {"images": len(paths), "unknown_rate": M.unknown_rate(scores, spec.unknown_threshold)}
            results["unknown"]["tradeoff_by_folder"][f"test pets vs {folder}"] = M.unknown_tradeoff(pet_scores, scores)
    if by_source:
        results["by_source"] = {}
        for source, split in pipeline.split_by_source(data_dir, test).items():
            part = evaluate_predictor(predictor, spec, split, [], batch_size)
            part["unknown"] = {k: part["unknown"][k] for k in ("pets_unknown_rate", "pets_images")}
            results["by_source"][source] = part
    results["model_version"] = spec.version
    results["classes"] = list(spec.classes)
    return results
