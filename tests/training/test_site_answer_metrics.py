"""Reported accuracy is of the site's answer: a pet photo answered "not a pet" is wrong, and the report and the
confusion picture show that answer as its own column."""
import numpy as np

from training import metrics as M

CLASSES = ["bird", "cat", "dog", "dragon", "fish", "hamster"]


def one_hot_like(indices):
    probabilities = np.full((len(indices), len(CLASSES)), 0.02)
    probabilities[np.arange(len(indices)), indices] = 0.9
    return probabilities


def test_a_pet_answered_not_a_pet_counts_as_wrong():
    labels = [0, 1, 2, 2]
    probabilities = one_hot_like([0, 1, 2, 2])  # the top class is right for all four
    pet_scores = [0.9, 0.9, 0.9, 0.2]  # ... but the last one falls under the threshold
    top_class = M.classification_metrics(labels, probabilities, CLASSES)
    site = M.classification_metrics(labels, probabilities, CLASSES, pet_scores, 0.5)
    assert top_class["accuracy"] == 1.0
    assert site["accuracy"] == 0.75
    assert site["per_class"]["dog"]["recall"] == 0.5
    assert [len(row) for row in site["confusion_matrix"]] == [7] * 6
    assert site["confusion_matrix"][2] == [0, 0, 1, 0, 0, 0, 1]


def test_the_report_and_picture_name_the_not_a_pet_column():
    site = M.classification_metrics([0, 2], one_hot_like([0, 2]), CLASSES, [0.9, 0.1], 0.5)
    report = M.format_report(site, CLASSES)
    header = next(line for line in report.splitlines()[1:] if "bird" in line and "cat" in line and "precision" not in line)
    assert header.rstrip().endswith("not a pet")
    png = M.confusion_png(site["confusion_matrix"], CLASSES)
    assert png.startswith(b"\x89PNG")
    assert M.matrix_columns(site["confusion_matrix"], CLASSES)[-1] == "not a pet"
    assert M.matrix_columns(M.classification_metrics([0], one_hot_like([0]), CLASSES)["confusion_matrix"], CLASSES) == CLASSES
