"""Class activation maps (training.architectures.with_class_maps): a third output of the default model that says
where in the picture its evidence for each class lies; both backends serve them; manage.py add_class_maps adds them
to a saved model and re-exports it."""
import io
import shutil

import numpy as np
import pytest

from tests.conftest import pet_photos
from training.architectures import (
    GROUP_COUNT, GROUP_SCALE, IMAGENET_GROUPS, IMAGENET_SCALE, assemble_open_set, head_inputs,
    imagenet_group_log_probabilities, with_class_maps,
)
from training.layers import load_model

SIZE = 64  # the default architecture at a tiny input size: a 2x2 feature map


@pytest.fixture(scope="module")
def assembled():
    """A default-architecture model (EfficientNet-Lite0 graph, random weights) with a random open-set head over the
    six pets and two non-pet kinds, and that head's weights."""
    from training.backbone import build_efficientnet_lite

    rng = np.random.default_rng(0)
    full = build_efficientnet_lite("lite0", include_top=True, input_size=SIZE)
    kernel = rng.normal(0, 0.05, (1280 + 1000 + GROUP_COUNT, 8)).astype("float32")
    bias = rng.normal(0, 0.1, 8).astype("float32")
    return assemble_open_set(full, kernel, bias), kernel, bias


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_the_class_maps_averaged_over_the_picture_are_the_pooled_part_of_the_logits(assembled):
    import keras

    model, kernel, bias = assembled
    batch = np.random.default_rng(1).uniform(0, 255, (3, SIZE, SIZE, 3)).astype("float32")
    out = model(batch, training=False)
    assert set(out) == {"probabilities", "pet_score", "class_maps"}
    maps = np.asarray(out["class_maps"])
    assert maps.shape == (3, SIZE // 32, SIZE // 32, 6)
    assert [w.shape for w in model.get_layer("class_maps").get_weights()] == [(1, 1, 1280, 6)]  # no bias

    probe = keras.Model(model.input, [model.get_layer("avg_pool").output, model.get_layer("predictions").output])
    pooled, imagenet = (np.asarray(x) for x in probe(batch, training=False))
    np.testing.assert_allclose(maps.mean(axis=(1, 2)), pooled @ kernel[:1280, :6], rtol=1e-4, atol=1e-5)
    # ... and with the non-spatial part (ImageNet probabilities, ImageNet group log-probabilities) and the bias they
    # give the model's probabilities.
    groups = imagenet_group_log_probabilities(imagenet)
    logits = (maps.mean(axis=(1, 2)) + IMAGENET_SCALE * imagenet @ kernel[1280:2280, :6]
              + GROUP_SCALE * groups @ kernel[2280:, :6] + bias[:6])
    np.testing.assert_allclose(softmax(logits), np.asarray(out["probabilities"]), rtol=1e-4, atol=1e-6)


def test_the_assembled_model_reads_what_the_head_was_trained_on(assembled):
    """head_inputs (numpy, what training fits the head on) and the assembled graph (what serving runs) agree."""
    import keras

    model, kernel, bias = assembled
    batch = np.random.default_rng(2).uniform(0, 255, (3, SIZE, SIZE, 3)).astype("float32")
    pooled = np.asarray(keras.Model(model.input, model.get_layer("avg_pool").output)(batch, training=False))
    expected = softmax(head_inputs(model, pooled) @ kernel + bias)
    out = model(batch, training=False)
    np.testing.assert_allclose(np.asarray(out["pet_score"])[:, 0], expected[:, :6].sum(axis=1), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(out["probabilities"]), expected[:, :6] / expected[:, :6].sum(axis=1, keepdims=True),
                               rtol=1e-4, atol=1e-6)


def test_a_head_of_another_shape_is_refused():
    from training.backbone import build_efficientnet_lite

    full = build_efficientnet_lite("lite0", include_top=True, input_size=SIZE)
    with pytest.raises(ValueError, match="rows"):
        assemble_open_set(full, np.zeros((1280 + 1000, 8), "float32"), np.zeros(8, "float32"))  # no group rows


def test_every_imagenet_class_is_in_exactly_one_group():
    from training.architectures import imagenet_group_matrix

    matrix = imagenet_group_matrix()
    assert matrix.shape == (1000, GROUP_COUNT) and GROUP_COUNT == len(IMAGENET_GROUPS) + 1
    assert (matrix.sum(axis=1) == 1).all()
    names = [*IMAGENET_GROUPS, "object"]
    assert names[int(matrix[338].argmax())] == "guinea_pig" and names[int(matrix[331].argmax())] == "rabbit"  # hare
    assert names[int(matrix[1].argmax())] == "fish" and names[int(matrix[417].argmax())] == "object"  # goldfish, balloon
    assert names[int(matrix[106].argmax())] == "other_mammal" and names[int(matrix[107].argmax())] == "invertebrate"  # wombat, jellyfish


def test_adding_class_maps_twice_or_to_models_without_a_feature_map_changes_nothing(assembled):
    from training.architectures import build_seed

    model = assembled[0]
    assert with_class_maps(model) is model
    seed = build_seed(input_size=32)
    assert with_class_maps(seed) is seed


def test_a_saved_model_keeps_its_class_maps(assembled, tmp_path):
    model = assembled[0]
    model.save(tmp_path / "model.keras")
    loaded = load_model(tmp_path / "model.keras")
    batch = np.full((1, SIZE, SIZE, 3), 128.0, "float32")
    np.testing.assert_allclose(np.asarray(loaded(batch)["class_maps"]), np.asarray(model(batch)["class_maps"]), atol=1e-5)
    assert with_class_maps(loaded) is loaded


def test_the_map_shows_where_the_colour_is(tiny_maps_model_path):
    """The tiny colour model reads red as cat: a photo red on its left half has the cat evidence on the left."""
    model = load_model(tiny_maps_model_path)
    batch = np.full((1, 32, 32, 3), 30.0, "float32")
    batch[:, :, :16] = (230, 20, 20)
    cat = np.asarray(model(batch)["class_maps"])[0, :, :, 1]
    assert cat.shape == (8, 8)
    assert cat[:, :4].min() > 5 * cat[:, 4:].max()


@pytest.fixture(scope="module")
def exported_maps_model(tmp_path_factory, tiny_maps_model_path):
    from training.litert import check_batch_from_images, export_tflite
    from training.registry import spec_from_file

    directory = tmp_path_factory.mktemp("exported-maps")
    model = shutil.copy(tiny_maps_model_path, directory / "model.keras")
    shutil.copy(tiny_maps_model_path.with_suffix(".json"), directory / "model.json")
    export_tflite(model, check_batch_from_images([p for label in ("cat", "dog", "fish") for p in pet_photos(label, 4)], 32))
    return spec_from_file(model)


def test_both_backends_serve_the_same_class_maps(exported_maps_model):
    import json

    from ingestion.images import open_image
    from training.litert import check_batch_from_images
    from training.predictor import Predictor

    record = json.loads(exported_maps_model.path.with_suffix(".tflite.json").read_text())
    assert record["class_maps_checked"] is True
    batch = check_batch_from_images([p for label in ("bird", "cat", "hamster") for p in pet_photos(label, 3)], 32)
    keras_predictor, litert_predictor = Predictor(exported_maps_model, backend="keras"), Predictor(exported_maps_model, backend="litert")
    assert litert_predictor.backend == "litert" and keras_predictor.has_class_maps and litert_predictor.has_class_maps
    k_probs, k_scores, k_maps = keras_predictor.predict_arrays(batch, with_maps=True)
    l_probs, l_scores, l_maps = litert_predictor.predict_arrays(batch, with_maps=True)
    assert k_maps.shape == l_maps.shape == (9, 8, 8, 6)
    np.testing.assert_allclose(l_maps, k_maps, atol=1e-4)
    np.testing.assert_allclose(l_probs, k_probs, atol=1e-5)
    # without maps: the same answers, two outputs as before
    probs, scores = litert_predictor.predict_arrays(batch)
    np.testing.assert_allclose(probs, l_probs)
    np.testing.assert_allclose(scores, l_scores)
    images = [open_image(p) for p in pet_photos("cat", 2)]
    assert len(litert_predictor.predict_images(images)) == 3
    _, _, elapsed_ms, maps = litert_predictor.predict_images(images, with_maps=True)
    assert maps.shape == (2, 8, 8, 6) and elapsed_ms > 0


def test_an_export_whose_class_maps_disagree_is_rejected(exported_maps_model, tmp_path, monkeypatch):
    import training.litert as litert
    from training.predictor import usable_export
    from training.registry import spec_from_file

    for suffix in (".keras", ".json"):
        shutil.copy(exported_maps_model.path.with_suffix(suffix), tmp_path / f"model{suffix}")
    real_run = litert.LiteRTRunner.run

    def flipped_maps(self, batch, with_maps=False):
        out = real_run(self, batch, with_maps=with_maps)
        return (*out[:2], out[2][:, :, ::-1]) if with_maps else out

    monkeypatch.setattr(litert.LiteRTRunner, "run", flipped_maps)
    batch = litert.check_batch_from_images(pet_photos("cat", 2) + pet_photos("fish", 2), 32)
    batch[:, :, :16] = 0  # a picture whose halves differ, so a mirrored map is a wrong one
    with pytest.raises(ValueError, match="class maps disagree"):
        litert.export_tflite(tmp_path / "model.keras", batch)
    assert usable_export(spec_from_file(tmp_path / "model.keras")) is None


def test_models_without_class_maps_serve_as_before(tiny_model_path):
    from training.predictor import Predictor
    from training.registry import spec_from_file

    predictor = Predictor(spec_from_file(tiny_model_path), backend="keras")
    assert not predictor.has_class_maps
    batch = np.zeros((2, 32, 32, 3), "uint8")
    probabilities, pet_scores, maps = predictor.predict_arrays(batch, with_maps=True)
    assert maps is None and probabilities.shape == (2, 6) and pet_scores.shape == (2,)


def test_add_class_maps_command_adds_them_in_place_and_re_exports(tiny_maps_model_path, tmp_path):
    """A saved model built without the output (as models trained before it were) gets it, and a verified export."""
    import json

    import keras
    from django.core.management import call_command

    from training.predictor import Predictor, usable_export
    from training.registry import spec_from_file

    with_maps = load_model(tiny_maps_model_path)
    plain = keras.Model(with_maps.input, with_maps.output["probabilities"], name="tiny")  # the same model, no maps
    path = tmp_path / "model.keras"
    plain.save(path)
    shutil.copy(tiny_maps_model_path.with_suffix(".json"), tmp_path / "model.json")
    photos = tmp_path / "photos"
    photos.mkdir()
    for photo in pet_photos("cat", 3) + pet_photos("dog", 3):
        shutil.copy(photo, photos / photo.name)
    assert not Predictor(spec_from_file(path), backend="keras").has_class_maps

    out = io.StringIO()
    call_command("add_class_maps", str(path), "--data", str(photos), stdout=out)
    assert "class maps" in out.getvalue()
    spec = spec_from_file(path)
    assert usable_export(spec) is not None
    assert json.loads(path.with_suffix(".tflite.json").read_text())["class_maps_checked"] is True
    predictor = Predictor(spec)
    assert predictor.backend == "litert" and predictor.has_class_maps

    # running it again keeps the model as it is (and its export verified)
    digest = path.read_bytes()
    call_command("add_class_maps", str(path), "--data", str(photos), stdout=io.StringIO())
    assert path.read_bytes() == digest and usable_export(spec_from_file(path)) is not None


def test_add_class_maps_refuses_a_model_it_cannot_add_them_to(tiny_model_path, tmp_path):
    from django.core.management import CommandError, call_command

    path = shutil.copy(tiny_model_path, tmp_path / "model.keras")
    before = path.read_bytes()
    with pytest.raises(CommandError, match="no class maps"):
        call_command("add_class_maps", str(path), "--data", str(tmp_path), stdout=io.StringIO())
    assert path.read_bytes() == before
