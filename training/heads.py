"""Training the default architecture's heads on precomputed backbone features (no Django).

fit_class_head       softmax head (the pets and the non-pet kinds), class-weighted, early stopping on validation
                     loss, best weights kept
fit_temperature      temperature scaling on validation photos (folded into the head's kernel and bias)
cross_fitted_logits  each training photo's logits from a head fitted without it (k folds of photos)
choose_threshold     the unknown threshold from held-out pets (every source folder on its own) and non-pet photos
"""
import numpy as np


def _one_hot(labels, num_classes):
    out = np.zeros((len(labels), num_classes), dtype="float32")
    out[np.arange(len(labels)), np.asarray(labels, dtype=int)] = 1.0
    return out


def softmax(logits):
    logits = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


def fit_class_head(x_train, y_train, x_val, y_val, num_classes, epochs=60, batch_size=64, class_weight=None, seed=0,
                   dropout=0.2, l2=1e-4, learning_rate=1e-3, patience=8, callbacks=()):
    """Train the softmax head; returns (kernel (D, C), bias (C,), history dict)."""
    import keras

    from training.architectures import build_class_head

    keras.utils.set_random_seed(seed)
    head = build_class_head(x_train.shape[1], num_classes, dropout=dropout, l2=l2, learning_rate=learning_rate)
    has_val = len(x_val) > 0
    monitor = "val_loss" if has_val else "loss"
    stop = keras.callbacks.EarlyStopping(monitor=monitor, patience=patience, restore_best_weights=True)
    history = head.fit(
        x_train,
        _one_hot(y_train, num_classes),
        validation_data=(x_val, _one_hot(y_val, num_classes)) if has_val else None,
        epochs=epochs,
        batch_size=batch_size,
        class_weight=class_weight,
        shuffle=True,
        verbose=0,
        callbacks=[stop, *callbacks],
    )
    kernel, bias = head.get_layer("probabilities").get_weights()
    return kernel, bias, {k: [float(v) for v in vals] for k, vals in history.history.items()}


def cross_fitted_logits(x_train, y_train, photo, x_val, y_val, num_classes, folds=4, seed=0, fold_done=None, **fit_options):
    """Logits (n_photos, C) of each training photo's first row from a head fitted on the other folds' photos.

    `photo[i]` says which photo row i shows (a photo's mirror image and other views share its fold), so every photo
    is scored by a head that never saw any view of it: thresholds chosen on these scores see thousands of photos
    instead of the validation split alone. `fold_done(k)` is called after each fold (progress).
    """
    photo = np.asarray(photo)
    n_photos = int(photo.max()) + 1
    fold = np.random.RandomState(seed).permutation(n_photos) % folds
    _, first_row = np.unique(photo, return_index=True)  # photos are numbered 0..n_photos-1
    logits = np.zeros((n_photos, num_classes), dtype="float32")
    for k in range(folds):
        rows = fold[photo] != k
        kernel, bias, _ = fit_class_head(x_train[rows], y_train[rows], x_val, y_val, num_classes, seed=seed, **fit_options)
        held = np.flatnonzero(fold == k)
        logits[held] = x_train[first_row[held]] @ kernel + bias
        if fold_done:
            fold_done(k)
    return logits


def fit_temperature(logits, labels, grid=None):
    """The temperature T minimising validation NLL of softmax(logits / T); 1.0 without data."""
    labels = np.asarray(labels, dtype=int)
    if len(labels) == 0:
        return 1.0
    grid = np.exp(np.linspace(np.log(0.25), np.log(4.0), 161)) if grid is None else grid
    best, best_nll = 1.0, np.inf
    for t in grid:
        p = softmax(logits / t)
        nll = -np.mean(np.log(np.clip(p[np.arange(len(labels)), labels], 1e-12, 1.0)))
        if nll < best_nll:
            best, best_nll = float(t), nll
    return best


# At most this share of the held-out pets of each source folder (base, at home) may fall under the unknown threshold
# (the targets on test: base <= 0.5%, at home <= 1.5%); the share of held-out non-pet photos it aims to catch.
MAX_PET_UNKNOWN_RATE = 0.008
TARGET_OTHER_UNKNOWN_RATE = 0.97


def choose_threshold(pet_scores, other_scores, max_pet_rate=MAX_PET_UNKNOWN_RATE, target_other_rate=TARGET_OTHER_UNKNOWN_RATE,
                     pet_groups=None):
    """The unknown threshold: below it, a photo is 'unknown'.

    high = the largest threshold that turns at most `max_pet_rate` of held-out pets into unknown, all together and
           in every group of `pet_groups` (the pets' source folders: base photos and pets at home each keep to the
           rate) large enough to measure it (at least 1 / max_pet_rate photos);
    low  = the smallest threshold that turns `target_other_rate` of the held-out other photos into unknown.
    When low <= high, take the midpoint (in logit space) of the two; otherwise high (pets first).
    Returns None without held-out pets.
    """
    pet_scores = np.asarray(pet_scores, dtype="float64")
    if len(pet_scores) == 0:
        return None
    groups = np.zeros(len(pet_scores), int) if pet_groups is None else np.asarray(pet_groups)

    def largest_allowed(scores):
        scores = np.sort(scores)
        return float(scores[int(np.floor(max_pet_rate * len(scores)))])  # strictly below it: the allowed pets at most

    measurable = [g for g in np.unique(groups) if (groups == g).sum() * max_pet_rate >= 1]
    high = min([largest_allowed(pet_scores), *(largest_allowed(pet_scores[groups == g]) for g in measurable)])
    other_scores = np.sort(np.asarray(other_scores, dtype="float64"))
    if len(other_scores) == 0:
        return high
    index = min(int(np.ceil(target_other_rate * len(other_scores))), len(other_scores)) - 1
    low = float(np.nextafter(other_scores[index], np.inf))  # other photos at or below index fall under it
    if low > high:
        return high

    def logit(p):
        p = min(max(p, 1e-7), 1 - 1e-7)
        return np.log(p / (1 - p))

    return float(sigmoid((logit(low) + logit(high)) / 2))
