"""The hand-built EfficientNet-Lite0 and its numpy-only .pth reader."""
import numpy as np
import pytest

from tests.conftest import OTHER, PETS, SHARED

REFERENCE = SHARED / "weights" / "efficientnet_lite0_imagenet.keras"
CAT_CLASSES = range(281, 286)


def _photos():
    return (
        sorted((PETS / "cat").glob("*.jpg"))[:4]
        + sorted((PETS / "dog").glob("*.jpg"))[:1]
        + sorted((OTHER / "vehicles").glob("*.jpg"))[:1]
    )


def _batch(paths):
    from ingestion.images import image_to_array, open_image

    return np.stack([image_to_array(open_image(p), 224) for p in paths]).astype("float32")


def test_pth_reader_reads_every_tensor_with_the_right_shapes():
    from training.backbone import default_pth_path, read_pth, weight_assignments

    state = read_pth(default_pth_path())
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_fc.bias"].dtype == np.float32
    # every float tensor is consumed by a Keras layer (num_batches_tracked are only counters)
    used = set()

    class Recorder(dict):
        def __getitem__(self, key):
            used.add(key)
            return state[key]

    list(weight_assignments(Recorder()))
    assert used == {k for k in state if not k.endswith("num_batches_tracked")}


def test_pth_reader_refuses_foreign_globals(tmp_path):
    import pickle

    from training.backbone import LEGACY_MAGIC, WeightsFormatError, read_pth

    path = tmp_path / "evil.pth"
    with path.open("wb") as f:
        pickle.dump(LEGACY_MAGIC, f, protocol=2)
        pickle.dump(1001, f, protocol=2)
        pickle.dump({"little_endian": True}, f, protocol=2)
        f.write(b"cos\nsystem\n(S'echo pwned'\ntR.")
    with pytest.raises(WeightsFormatError):
        read_pth(path)


@pytest.mark.slow
def test_backbone_matches_the_reference_conversion_and_knows_cats():
    import keras

    from training.backbone import efficientnet_lite0_imagenet

    ours = efficientnet_lite0_imagenet()
    reference = keras.models.load_model(REFERENCE)
    batch = _batch(_photos())
    mine, theirs = ours.predict(batch, verbose=0), reference.predict(batch, verbose=0)
    np.testing.assert_allclose(mine, theirs, atol=1e-3)
    features = keras.Model(ours.input, ours.get_layer("avg_pool").output).predict(batch, verbose=0)
    reference_features = keras.Model(reference.input, reference.get_layer("avg_pool").output).predict(batch, verbose=0)
    np.testing.assert_allclose(features, reference_features, atol=1e-3)
    # the third cat photo is a clear cat; most of the first four land in ImageNet cats 281-285 top-3
    assert int(mine[2].argmax()) in CAT_CLASSES
    top3 = np.argsort(mine[:4], axis=1)[:, -3:]
    assert sum(any(c in CAT_CLASSES for c in row) for row in top3) >= 2


@pytest.mark.parametrize("variant", ["lite1", "lite2"])
def test_larger_variants_use_every_tensor_of_their_wheel(variant):
    from training.backbone import default_pth_path, read_pth, weight_assignments

    state = read_pth(default_pth_path(variant))
    used = set()

    class Recorder(dict):
        def __getitem__(self, key):
            used.add(key)
            return state[key]

    list(weight_assignments(Recorder(), variant=variant))
    assert used == {k for k in state if not k.endswith("num_batches_tracked")}


@pytest.mark.slow
def test_lite2_knows_cats():
    from training.backbone import VARIANTS, efficientnet_lite_imagenet

    model = efficientnet_lite_imagenet("lite2", input_size=VARIANTS["lite2"].native_size)
    paths = sorted((PETS / "cat").glob("*.jpg"))[:4]
    from ingestion.images import image_to_array, open_image

    batch = np.stack([image_to_array(open_image(p), 260) for p in paths]).astype("float32")
    top3 = np.argsort(model.predict(batch, verbose=0), axis=1)[:, -3:]
    assert sum(any(c in CAT_CLASSES for c in row) for row in top3) >= 3
