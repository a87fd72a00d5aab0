"""The default recipe's head arithmetic (training.heads): the unknown threshold and cross-fitted scores."""
import numpy as np

from training import heads


def test_the_threshold_keeps_every_source_folder_to_the_pet_rate():
    base = np.linspace(0.5, 1.0, 1000)  # 1,000 base pets: 0.8% = 8 may fall under the threshold
    home = np.concatenate([[0.1, 0.2, 0.3, 0.6], np.linspace(0.7, 1.0, 196)])  # 200 pets at home: 1 may
    others = np.linspace(0.0, 0.55, 100)
    pooled = heads.choose_threshold(np.concatenate([base, home]), others, max_pet_rate=0.008, target_other_rate=0.97)
    grouped = heads.choose_threshold(np.concatenate([base, home]), others, max_pet_rate=0.008, target_other_rate=0.97,
                                     pet_groups=["pets"] * 1000 + ["pets-home"] * 200)
    assert np.mean(home < pooled) > 0.008  # pooled, the base photos' numbers hide the home pets it rejects
    assert np.mean(home < grouped) <= 0.008 and np.mean(base < grouped) <= 0.008
    assert grouped == 0.2  # the largest that rejects only the home pet at 0.1 (the non-pets' 97% lies above it)

    # a source too small to measure the rate (under 1 / rate photos) is judged with the rest only
    small = heads.choose_threshold(np.concatenate([base, [0.05, 0.9]]), others, max_pet_rate=0.008,
                                   pet_groups=["pets"] * 1000 + ["other sources"] * 2)
    assert small > 0.05 and np.mean(np.concatenate([base, [0.05, 0.9]]) < small) <= 0.008


def test_cross_fitted_logits_score_each_photo_with_a_head_that_never_saw_it():
    # Features that identify each photo and nothing else: a head that saw a photo (either view) knows its label, one
    # that never saw it can only guess.
    photos, classes = 90, 3
    labels = np.random.RandomState(0).randint(classes, size=photos)
    x = np.concatenate([np.eye(photos), np.eye(photos)]).astype("float32")  # the photo and its mirror image
    y = np.concatenate([labels, labels])
    photo = np.concatenate([np.arange(photos)] * 2)
    options = {"epochs": 60, "learning_rate": 0.05, "dropout": 0.0, "l2": 0.0}

    kernel, bias, _ = heads.fit_class_head(x, y, x[:0], y[:0], classes, seed=0, **options)
    assert ((x[:photos] @ kernel + bias).argmax(axis=1) == labels).mean() > 0.95  # seen: remembered
    logits = heads.cross_fitted_logits(x, y, photo, x[:0], y[:0], classes, folds=3, seed=0, **options)
    assert logits.shape == (photos, classes)
    assert (logits.argmax(axis=1) == labels).mean() < 0.6  # never seen, in either view: a guess

    # Features that carry the class: the held-out heads score every photo right, in the photos' own order (rows of
    # each photo scattered across the array, as the recipe's views are)
    carrying = np.concatenate([np.eye(classes)[labels], np.eye(photos)], axis=1).astype("float32")
    order = np.random.RandomState(1).permutation(2 * photos)
    x, y, photo = np.concatenate([carrying, carrying])[order], np.concatenate([labels, labels])[order], photo[order]
    logits = heads.cross_fitted_logits(x, y, photo, x[:0], y[:0], classes, folds=3, seed=0, **options)
    assert (logits.argmax(axis=1) == labels).mean() > 0.95
