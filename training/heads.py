"""Training the default architecture's heads on precomputed backbone features (no Django).

fit_class_head     softmax head (the pets and the non-pet kinds), class-weighted, early stopping on validation
                   loss, best weights kept
fit_temperature    temperature scaling on validation photos (folded into the head's kernel and bias)
choose_threshold   the unknown threshold from validation pets and the 'threshold' part of other photos
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


def choose_threshold(pet_scores, other_scores, max_pet_rate=0.005, target_other_rate=0.97):
    """The unknown threshold: below it, a photo is 'unknown'.

    high = the largest threshold that turns at most `max_pet_rate` of validation pets into unknown;
    low  = the smallest threshold that turns `target_other_rate` of the threshold-fitting other photos
    into unknown. When low <= high, take the midpoint (in logit space) of the two; otherwise high (pets first).
    Returns None without validation pets.
    """
    pet_scores = np.sort(np.asarray(pet_scores, dtype="float64"))
    if len(pet_scores) == 0:
        return None
    allowed = int(np.floor(max_pet_rate * len(pet_scores)))
    high = float(pet_scores[allowed])  # scores strictly below this are unknown: `allowed` pets at most
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
