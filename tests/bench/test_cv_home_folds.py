"""bench/cv_home.py's folds: how near-miss animals are held out decides what the cross-validation estimates."""
import collections

import numpy as np

from bench.cv_home import assign_folds, fold_groups


def photos():
    items = [(f"pets/cat/{i}.jpg", "pets", "cat", None) for i in range(40)]
    items += [(f"pets-home/cat/{s}{i}.jpg", "pets-home", "cat", f"home-{s}") for s in "abcd" for i in range(5)]
    items += [(f"nearmiss/ferret/{i}.jpg", "nearmiss", "ferret", "meadows") for i in range(24)]  # one source only
    items += [(f"nearmiss/rabbit/m{i}.jpg", "nearmiss", "rabbit", "meadows") for i in range(4)]
    items += [(f"nearmiss/rabbit/{s}{i}.jpg", "nearmiss", "rabbit", f"shop-{s}") for s in "xy" for i in range(4)]
    return items


def folds_of(items, fold, pool, kind=None, group=None):
    return {int(f) for (_, p, k, g), f in zip(items, fold)
            if p == pool and (kind is None or k == kind) and (group is None or g == group)}


def test_grouped_keeps_every_source_in_one_fold_so_a_single_source_kind_can_vanish_from_training():
    items = photos()
    fold = assign_folds(items, 4, "grouped")
    for source in ("home-a", "home-b", "home-c", "home-d", "meadows", "shop-x", "shop-y"):
        assert len({int(f) for (_, _, _, g), f in zip(items, fold) if g == source}) == 1
    assert len(folds_of(items, fold, "nearmiss", "ferret")) == 1  # every ferret held out together


def test_kinds_splits_a_dominant_source_at_random_and_keeps_minor_sources_whole():
    items = photos()
    fold = assign_folds(items, 4, "kinds")
    assert len(folds_of(items, fold, "nearmiss", "ferret")) > 1  # ferrets are seen in training in every fold
    assert len(folds_of(items, fold, "nearmiss", "rabbit", "shop-x")) == 1
    assert len(folds_of(items, fold, "nearmiss", "rabbit", "shop-y")) == 1
    groups = fold_groups(items, "kinds")  # the ferrets (all of them from meadows) are not grouped; its rabbits (a third) are
    assert collections.Counter(g for g in groups if g and g.startswith(("meadows", "shop"))) == {"meadows/rabbit": 4, "shop-x/rabbit": 4, "shop-y/rabbit": 4}
    # home photos are grouped by source whatever the near-miss scheme
    assert all(len(folds_of(items, fold, "pets-home", group=f"home-{s}")) == 1 for s in "abcd")


def test_random_folds_near_miss_animals_photo_by_photo():
    items = photos()
    groups = fold_groups(items, "random")
    assert all(g is None for (_, pool, _, _), g in zip(items, groups) if pool == "nearmiss")
    fold = assign_folds(items, 4, "random")
    assert len(folds_of(items, fold, "nearmiss", group="meadows")) > 1
    assert np.bincount(fold, minlength=4).min() > 0


def test_home_folds_do_not_depend_on_how_near_miss_animals_are_folded():
    items = photos()
    home = [i for i, item in enumerate(items) if item[1] == "pets-home"]
    folds = {scheme: assign_folds(items, 4, scheme)[home].tolist() for scheme in ("grouped", "kinds", "random")}
    assert folds["grouped"] == folds["kinds"] == folds["random"]
    assert sorted(set(folds["grouped"])) == [0, 1, 2, 3]  # four home sources of five photos: one per fold


def test_grouped_keeps_a_source_of_home_photos_and_near_miss_animals_in_one_fold():
    items = photos() + [("pets-home/cat/m.jpg", "pets-home", "cat", "meadows")]
    fold = assign_folds(items, 4, "grouped")
    assert len({int(f) for (_, _, _, g), f in zip(items, fold) if g == "meadows"}) == 1
