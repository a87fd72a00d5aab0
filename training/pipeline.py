"""The input pipeline: file lists from the dataset layout, tf.data loading, augmentation, class weights,
and frozen-backbone feature extraction (computed once, reused by every head epoch).

Dataset layout (written by ingestion's `rebuild_dataset`): <dir>/train/<class>/*, <dir>/test/<class>/*,
<dir>/manifest.json. A class folder may be missing or empty; it then simply has no examples.

Every image becomes a model input through ingestion.images.image_to_array (normalize: long side capped at
512, what datasets store; then fit_and_pad at the model's input size): the one preprocessing for training,
evaluation and serving. Scaling is inside the models; augmentation runs on the training split only.
"""
import hashlib
import json
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ingestion.dataset import DatasetError
from ingestion.images import IMAGE_SUFFIXES, image_to_array, open_image
from ingestion.labels import CLASSES


@dataclass
class Split:
    paths: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    sources: list | None = None  # each photo's source folder (source_names), where known

    def __len__(self):
        return len(self.paths)

    def counts(self, classes=CLASSES):
        counter = Counter(self.labels)
        return {name: counter.get(i, 0) for i, name in enumerate(classes)}

    def subset(self, indices):
        sources = None if self.sources is None else [self.sources[i] for i in indices]
        return Split([self.paths[i] for i in indices], [self.labels[i] for i in indices], sources)


def image_files(folder):
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_split(data_dir, split, classes=CLASSES):
    """All images of one split (`train` or `test`) with their class indices, in a stable order."""
    result = Split()
    for index, name in enumerate(classes):
        for path in image_files(Path(data_dir) / split / name):
            result.paths.append(str(path))
            result.labels.append(index)
    return result


def read_dataset(data_dir, classes=CLASSES, require_test=True):
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DatasetError(f"Dataset folder {data_dir} does not exist. Build it with `python manage.py rebuild_dataset`.")
    train, test = read_split(data_dir, "train", classes), read_split(data_dir, "test", classes)
    if len(train) == 0:
        raise DatasetError(f"{data_dir}/train/<class>/ holds no images.")
    if require_test and len(test) == 0:
        raise DatasetError(f"{data_dir}/test/<class>/ holds no images.")
    if len(set(train.labels)) < 2:
        raise DatasetError("The training split needs photos of at least two classes.")
    return train, test


def source_names(data_dir, split):
    """The source folder each of `split`'s photos came from (the manifest's "source"): "pets", "pets-home", ... for a
    dataset built from ../shared/data/pets and ../shared/data/pets-home; "other sources" for photos the manifest does
    not know (or reviewed predictions)."""
    try:
        files = json.loads((Path(data_dir) / "manifest.json").read_text()).get("files", [])
    except (OSError, ValueError):
        files = []
    origin = {}
    for entry in files:
        source = Path(entry.get("source", ""))
        # <source folder>/<class>/<photo>: the source folder is two levels up.
        origin[entry.get("file")] = source.parent.parent.name if entry.get("origin") == "folder" and source.parent.parent.name else "other sources"
    return [origin.get(Path(path).relative_to(data_dir).as_posix(), "other sources") for path in split.paths]


def split_by_source(data_dir, split):
    """{source folder name: Split} of `split`'s photos, by the folder each came from (source_names)."""
    parts = {}
    for path, label, source in zip(split.paths, split.labels, source_names(data_dir, split)):
        part = parts.setdefault(source, Split())
        part.paths.append(path)
        part.labels.append(label)
    return dict(sorted(parts.items()))


def dataset_digest(data_dir):
    """The dataset's manifest digest (the "digest" rebuild_dataset records in manifest.json), else the
    sha256 of manifest.json, else of the sorted (path, size) listing of the folder."""
    data_dir = Path(data_dir)
    manifest = data_dir / "manifest.json"
    digest = hashlib.sha256()
    if manifest.exists():
        raw = manifest.read_bytes()
        try:
            recorded = json.loads(raw).get("digest")
        except (ValueError, AttributeError):
            recorded = None
        if isinstance(recorded, str) and recorded:
            return "manifest:" + recorded
        digest.update(raw)
        return "sha256:" + digest.hexdigest()
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(data_dir)}\t{path.stat().st_size}\n".encode())
    return "sha256-listing:" + digest.hexdigest()


def stratified_split(split, fraction, seed):
    """Indices (keep, held) with about `fraction` of each class held out (at least one where a class has 3+)."""
    rng = random.Random(seed)
    by_class = {}
    for i, label in enumerate(split.labels):
        by_class.setdefault(label, []).append(i)
    keep, held = [], []
    for label in sorted(by_class):
        indices = by_class[label][:]
        rng.shuffle(indices)
        n_held = int(round(len(indices) * fraction))
        if n_held == 0 and len(indices) >= 3 and fraction > 0:
            n_held = 1
        held += indices[:n_held]
        keep += indices[n_held:]
    return sorted(keep), sorted(held)


def folder_images(folder):
    """Every image under `folder` (recursively), grouped by its first-level subfolder (for 'other' photos)."""
    folder = Path(folder)
    groups = {}
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                group = path.relative_to(folder).parts[0] if len(path.relative_to(folder).parts) > 1 else ""
                groups.setdefault(group, []).append(str(path))
    return groups


def as_folders(folders):
    """One folder or several (a list, or one string with os.pathsep/comma separators) -> [Path]; empties dropped."""
    if folders is None:
        return []
    if isinstance(folders, (str, Path)):
        folders = [part for chunk in str(folders).split(os.pathsep) for part in chunk.split(",")]
    return [Path(f) for f in folders if str(f).strip()]


def split_other(folders, fractions=(0.5, 0.2, 0.3), seed=0):
    """Split non-pet photos per kind (first-level subfolder) into (fit, threshold, held-out) path lists, seeded.

    `folders` is one folder or several (e.g. other things and near-miss animals). `fit` trains the heads,
    `threshold` chooses the unknown threshold and calibrates, and `held-out` is touched by neither: the
    unknown rates reported on the model card come from it.
    """
    fit, threshold, held = [], [], []
    for folder in as_folders(folders):
        for group, paths in sorted(folder_images(folder).items()):
            paths = paths[:]
            random.Random(f"{seed}-{group}").shuffle(paths)
            n_fit = int(round(len(paths) * fractions[0]))
            n_threshold = int(round(len(paths) * fractions[1]))
            fit += paths[:n_fit]
            threshold += paths[n_fit : n_fit + n_threshold]
            held += paths[n_fit + n_threshold :]
    return fit, threshold, held


def other_kind(path):
    """The kind of a non-pet photo: the name of the folder it sits in (vehicles, rabbit, ...)."""
    return Path(path).parent.name


def class_weights(labels, num_classes=len(CLASSES), power=1.0):
    """Inverse-frequency weights (1 for a class of average size), raised to `power` (>1 favours rare
    classes more); absent classes get weight 1."""
    counts = Counter(labels)
    present = [c for c in range(num_classes) if counts.get(c)]
    total = sum(counts.values())
    return {c: ((total / (len(present) * counts[c])) ** power if counts.get(c) else 1.0) for c in range(num_classes)}


def load_array(path, size):
    """One model input (size, size, 3) uint8, through the serving preprocessing."""
    return image_to_array(open_image(path), size)


def make_dataset(paths, labels, size, batch_size, num_classes=len(CLASSES), shuffle=False, augment=None, seed=0, cache=True):
    """A tf.data pipeline of (float32 0..255 images, one-hot labels): decode, cache, shuffle, augment, batch, prefetch."""
    import tensorflow as tf

    def load(path):
        return load_array(path.decode() if isinstance(path, bytes) else str(path), size)

    def tf_load(path, label):
        image = tf.numpy_function(load, [path], tf.uint8)
        image.set_shape((size, size, 3))
        return image, tf.one_hot(label, num_classes)

    ds = tf.data.Dataset.from_tensor_slices((list(paths), np.asarray(labels, dtype="int32")))
    ds = ds.map(tf_load, num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        ds = ds.cache()  # decoded uint8, so later epochs skip JPEG/PNG decoding
    if shuffle:
        ds = ds.shuffle(max(len(paths), 1), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE)
    if augment is not None:
        ds = ds.map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def augmentation(seed=0):
    """Mild random flip, rotation, zoom-in, translation and contrast; applied to the training split only.

    Stronger settings (rotation 0.08, zoom out 10%, translation 0.08, contrast 0.2) measured worse
    test accuracy for the frozen-feature head here.

    Contrast works on 0..255 values (value_range), so the pipeline keeps raw pixels like serving.
    """
    import keras
    from keras import layers

    return keras.Sequential(
        [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomRotation(0.04, fill_mode="constant", seed=seed + 1),
            layers.RandomZoom((-0.12, 0.0), fill_mode="constant", seed=seed + 2),  # zoom in only: no extra borders
            layers.RandomTranslation(0.05, 0.05, fill_mode="constant", seed=seed + 3),
            layers.RandomContrast(0.15, value_range=(0, 255), seed=seed + 4),
        ],
        name="augmentation",
    )


def horizontal_flip(images, training=True):
    """The mirrored view of a batch (N, H, W, 3): an augmentation that costs one backbone pass and no guesswork."""
    import tensorflow as tf

    return tf.reverse(images, axis=[2])


def _cache_key(model_name, paths, size, augment_round, seed):
    digest = hashlib.sha256(json.dumps([model_name, size, augment_round, seed]).encode())
    for path in paths:
        stat = Path(path).stat()
        digest.update(f"{path}\t{stat.st_size}\t{int(stat.st_mtime)}\n".encode())
    return digest.hexdigest()[:24]


def extract_features(feature_model, paths, size, batch_size=32, augment=None, augment_round=0, seed=0, cache_dir=None, progress=None, description="features"):
    """Pooled backbone features for `paths` (N, D) float32, optionally of one augmented view.

    Results are cached on disk under `cache_dir` keyed by the file list, size, backbone and
    augmentation round, so repeated runs on the same data skip the expensive backbone pass.
    """
    import tensorflow as tf

    paths = list(paths)
    if not paths:
        return np.zeros((0, *(int(d) for d in feature_model.output.shape[1:])), dtype="float32")
    cache_file = None
    if cache_dir is not None:
        key = _cache_key(feature_model.name, paths, size, augment_round if augment is not None else -1, seed)
        cache_file = Path(cache_dir) / f"features-{key}.npy"
        if cache_file.exists():
            if progress:
                progress(description, len(paths), len(paths))
            return np.load(cache_file)
    ds = make_dataset(paths, [0] * len(paths), size, batch_size, cache=False)
    if augment is not None:
        tf.random.set_seed(seed * 1000 + augment_round)
        ds = ds.map(lambda x, y: (augment(x, training=True), y))

    @tf.function(input_signature=[tf.TensorSpec((None, size, size, 3), tf.float32)])
    def call(batch):
        return feature_model(batch, training=False)

    chunks, done = [], 0
    for images, _ in ds:
        chunks.append(call(images).numpy())
        done += int(images.shape[0])
        if progress:
            progress(description, done, len(paths))
    features = np.concatenate(chunks).astype("float32")
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(".tmp.npy")
        np.save(tmp, features)
        tmp.replace(cache_file)
    return features


def predict_paths(predict_arrays, paths, size, batch_size=32):
    """Run a Predictor-style `predict_arrays(uint8 batch) -> (probabilities, pet_scores)` over files."""
    probabilities, scores = [], []
    for start in range(0, len(paths), batch_size):
        batch = np.stack([load_array(p, size) for p in paths[start : start + batch_size]])
        p, s = predict_arrays(batch)
        probabilities.append(p)
        scores.append(s)
    if not probabilities:
        return np.zeros((0, len(CLASSES))), np.zeros((0,))
    return np.concatenate(probabilities), np.concatenate(scores)
