"""Build the tiny colour-reading model used by tests (also usable from subprocesses)."""
import json
import sys
from pathlib import Path

import numpy as np

CLASSES = ["bird", "cat", "dog", "dragon", "fish", "hamster"]
INPUT_SIZE = 32


def build_tiny_model(path, class_maps=False):
    """class_maps: built like the default model's top (a feature map "head_relu6", here the photo's mean colour in
    4x4 cells, pooled by "avg_pool") with its "class_maps" output (training.architectures.with_class_maps);
    the same answers either way."""
    import keras

    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 255)(inputs)
    if class_maps:
        x = keras.layers.AveragePooling2D(4, name="cells")(x)
        x = keras.layers.ReLU(6.0, name="head_relu6")(x)
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    else:
        x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(len(CLASSES), activation="softmax", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name="tiny")
    kernel = np.zeros((3, len(CLASSES)), dtype="float32")
    kernel[0, CLASSES.index("cat")] = 12.0  # red
    kernel[1, CLASSES.index("dog")] = 12.0  # green
    kernel[2, CLASSES.index("fish")] = 12.0  # blue
    bias = np.full(len(CLASSES), 1.0, dtype="float32")
    model.get_layer("probabilities").set_weights([kernel, bias])
    if class_maps:
        from training.architectures import with_class_maps

        model = with_class_maps(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    path.with_suffix(".json").write_text(
        json.dumps({"version": "tiny-test", "architecture": "tiny", "classes": CLASSES, "input_size": INPUT_SIZE, "unknown_threshold": None})
    )
    return path


if __name__ == "__main__":
    print(build_tiny_model(sys.argv[1], class_maps="--class-maps" in sys.argv[2:]))
