"""Evaluation metrics and report pictures (numpy + matplotlib Agg; no Django)."""
import io

import numpy as np

ECE_BINS = 15


def confusion_matrix(y_true, y_pred, num_classes):
    matrix = np.zeros((num_classes, num_classes), dtype=int)
    for t, p in zip(y_true, y_pred):
        matrix[int(t), int(p)] += 1
    return matrix


def expected_calibration_error(probabilities, y_true, bins=ECE_BINS):
    """ECE of the top-class confidence over `bins` equal-width bins (0..1)."""
    probabilities = np.asarray(probabilities, dtype="float64")
    if len(probabilities) == 0:
        return 0.0
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(y_true)
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        mask = (confidence > low) & (confidence <= high)
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def site_predictions(probabilities, pet_scores=None, threshold=None):
    """The site's answer for each photo as a class index: the top class, or len(classes) ("not a pet") when the
    pet score is under the unknown threshold (no threshold or no pet scores: the top class always)."""
    probabilities = np.asarray(probabilities, dtype="float64")
    if not len(probabilities):
        return np.zeros(0, dtype=int)
    y_pred = probabilities.argmax(axis=1)
    if threshold is not None and pet_scores is not None:
        y_pred = np.where(np.asarray(pet_scores, dtype="float64").reshape(-1) < threshold, probabilities.shape[1], y_pred)
    return y_pred


def classification_metrics(y_true, probabilities, classes, pet_scores=None, threshold=None):
    """accuracy, per-class precision/recall/F1/support, confusion matrix, ECE, NLL.

    With `pet_scores` and the model's unknown `threshold`, of the site's answer (site_predictions): a "not a pet"
    answer on a pet photo is wrong (accuracy, the true class's recall) and the confusion matrix gets a last "not a
    pet" column (rows: the true classes; columns: the classes, then "not a pet"). Without them, of the top class.
    """
    y_true = np.asarray(y_true, dtype=int)
    probabilities = np.asarray(probabilities, dtype="float64")
    with_unknown = pet_scores is not None and threshold is not None
    y_pred = site_predictions(probabilities, pet_scores, threshold)
    matrix = confusion_matrix(y_true, y_pred, len(classes) + 1)[: len(classes)]
    if not with_unknown:
        matrix = matrix[:, : len(classes)]
    per_class = {}
    for i, name in enumerate(classes):
        tp = int(matrix[i, i])
        support = int(matrix[i].sum())
        predicted = int(matrix[:, i].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else None
        f1 = 2 * precision * recall / (precision + recall) if recall and (precision + recall) else 0.0
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    nll = float(-np.mean(np.log(np.clip(probabilities[np.arange(len(y_true)), y_true], 1e-12, 1.0)))) if len(y_true) else 0.0
    return {
        "accuracy": float((y_pred == y_true).mean()) if len(y_true) else 0.0,
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
        "ece": expected_calibration_error(probabilities, y_true),
        "nll": nll,
        "test_images": int(len(y_true)),
    }


def unknown_rate(pet_scores, threshold):
    """Share of photos whose pet score falls below the threshold (reported as 'unknown')."""
    pet_scores = np.asarray(pet_scores, dtype="float64")
    if threshold is None or len(pet_scores) == 0:
        return 0.0
    return float((pet_scores < threshold).mean())


def matrix_columns(matrix, classes):
    """Column names of a confusion matrix: the classes, then "not a pet" when it has the site's extra column."""
    width = len(matrix[0]) if len(matrix) else len(classes)
    return list(classes) + (["not a pet"] if width == len(classes) + 1 else [])


def format_report(metrics, classes):
    """Plain-text report of accuracy, per-class table, confusion matrix and ECE."""
    lines = [f"accuracy  {metrics['accuracy']:.4f}   ECE {metrics['ece']:.4f}   ({metrics.get('test_images', 0)} test images)"]
    lines.append(f"{'class':<10}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}")
    for name in classes:
        row = metrics["per_class"][name]
        recall = "-" if row["recall"] is None else f"{row['recall']:.4f}"
        lines.append(f"{name:<10}{row['precision']:>10.4f}{recall:>10}{row['f1']:>10.4f}{row['support']:>9}")
    lines.append("confusion matrix (rows = true, columns = predicted):")
    columns = matrix_columns(metrics["confusion_matrix"], classes)
    width = max(10, max(len(c) for c in columns) + 1)
    lines.append(" " * width + "".join(f"{c:>{width}}" for c in columns))
    for name, row in zip(classes, metrics["confusion_matrix"]):
        lines.append(f"{name:<{width}}" + "".join(f"{v:>{width}}" for v in row))
    unknown = metrics.get("unknown")
    if unknown:
        parts = [f"threshold {unknown['threshold']}"] if unknown.get("threshold") is not None else []
        parts.append(f"pets -> unknown {unknown.get('pets_unknown_rate', 0.0):.2%}")
        if unknown.get("other_unknown_rate") is not None:
            parts.append(f"held-out other -> unknown {unknown['other_unknown_rate']:.2%} of {unknown.get('other_images')}")
        lines.append("unknown: " + "   ".join(parts))
    return "\n".join(lines)


def _png(figure):
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def curves_png(history, title="Training curves"):
    """PNG bytes: loss and accuracy per epoch (train and validation) from a Keras-style history dict."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, key in zip(axes, ("loss", "accuracy")):
        for prefix, style in (("", "-"), ("val_", "--")):
            values = history.get(prefix + key) or []
            if values:
                ax.plot(range(1, len(values) + 1), values, style, label=(prefix + key) or key)
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    figure.suptitle(title)
    return _png(figure)


def confusion_png(matrix, classes, title="Confusion matrix (test split)"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix)
    figure, ax = plt.subplots(figsize=(5.5, 4.8))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(matrix.shape[1]), matrix_columns(matrix, classes), rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    peak = matrix.max() if matrix.size else 0
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", color="white" if matrix[i, j] > peak / 2 else "black", fontsize=9)
    ax.set_title(title)
    return _png(figure)


def unknown_tradeoff(pet_scores, other_scores, points=121):
    """The "not a pet" trade-off over thresholds: for each, the share of pets rejected and of non-pets caught.

    Returns {"threshold": [...], "pets_rejected": [...], "others_caught": [...]}, thresholds spaced evenly in
    logit space (where the pet scores spread out), so the curve shows the whole choice, not only the chosen point.
    """
    pets = np.asarray(pet_scores, dtype="float64")
    others = np.asarray(other_scores, dtype="float64")
    thresholds = 1.0 / (1.0 + np.exp(-np.linspace(-7.0, 7.0, points)))
    return {
        "threshold": [round(float(t), 5) for t in thresholds],
        "pets_rejected": [float((pets < t).mean()) if len(pets) else 0.0 for t in thresholds],
        "others_caught": [float((others < t).mean()) if len(others) else 0.0 for t in thresholds],
    }


def tradeoff_png(curves, chosen=None, title='"Not a pet": pets rejected vs non-pets caught'):
    """PNG bytes: one line per photo set {label: unknown_tradeoff(...)}, a dot at the `chosen` threshold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from matplotlib.ticker import FixedLocator, NullLocator

    figure, ax = plt.subplots(figsize=(6, 5.2))
    for label, curve in curves.items():
        x, y = np.array(curve["pets_rejected"]) * 100, np.array(curve["others_caught"]) * 100
        (line,) = ax.plot(x, y)
        if chosen is not None and curve["threshold"]:
            i = int(np.argmin(np.abs(np.array(curve["threshold"]) - chosen)))
            ax.plot([x[i]], [y[i]], "o", color=line.get_color())
            label = f"{label}: at the dot {x[i]:.1f}% pets rejected, {y[i]:.1f}% caught"  # in the key: dots often overlap
        line.set_label(label)
    ax.set_xscale("symlog", linthresh=1.0)  # the interesting part is 0-2% of pets rejected
    ticks = [0, 0.5, 1, 2, 5, 10, 20, 50, 100]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 101)
    ax.set_xlabel("pets answered 'not a pet' (%)")
    ax.set_ylabel("non-pet photos answered 'not a pet' (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), frameon=False)  # below: it hid the curves' start
    ax.set_title(title + (f"\n(dots: the model's threshold {chosen:.3f})" if chosen is not None else ""), fontsize=9)
    return _png(figure)
