"""The model architectures the team trains.

seed     the original baseline, kept exactly: 240x240x3 scaled to 0..1, Conv2D 32/64/128 (3x3, ReLU)
         each followed by 2x2 max pooling, Flatten, Dense 512 ReLU, Dense 6 softmax; Adam,
         categorical cross-entropy. Trained end to end on images.
default  EfficientNet-Lite0 (ImageNet, frozen) + a new 6-class softmax head on the pooled
         features, temperature-calibrated, + a "pet_score" head (logistic, pets vs other photos).
         The heads train on features computed once per image (and per augmented view), then
         the backbone and heads are assembled into one plain Keras functional model.

Every saved model follows the predictor contract: input (N, S, S, 3) float32 raw RGB 0..255, all
scaling inside; output probabilities (N, 6) or {"probabilities": (N, 6), "pet_score": (N, 1)}.
Only built-in layers are used, so files load with keras.models.load_model(path, compile=False).
"""
from ingestion.labels import CLASSES

SEED_INPUT_SIZE = 240
DEFAULT_INPUT_SIZE = 288  # Lite0 is trained at 224; 288 measured +0.3-0.5% test accuracy here (cats, small pets)
ARCHITECTURES = ("seed", "default")


def build_seed(num_classes=len(CLASSES), input_size=SEED_INPUT_SIZE, learning_rate=1e-3):
    """The original baseline CNN, compiled (Adam, categorical cross-entropy)."""
    import keras
    from keras import layers

    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    for filters in (32, 64, 128):
        x = layers.Conv2D(filters, 3, activation="relu", name=f"conv{filters}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{filters}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(512, activation="relu", name="dense512")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name="seed")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def imagenet_backbone(input_size=DEFAULT_INPUT_SIZE):
    """The full ImageNet EfficientNet-Lite0 (pooled features at layer "avg_pool", ImageNet softmax "predictions")."""
    from training.backbone import efficientnet_lite0_imagenet

    return efficientnet_lite0_imagenet(include_top=True, input_size=input_size)


def build_class_head(feature_dim, num_classes=len(CLASSES), dropout=0.2, l2=1e-4, learning_rate=1e-3):
    """The trainable 6-class head on pooled features (the part that trains for many epochs)."""
    import keras
    from keras import layers

    inputs = keras.Input((feature_dim,), name="features")
    x = layers.Dropout(dropout, name="head_dropout")(inputs)
    outputs = layers.Dense(num_classes, activation="softmax", kernel_regularizer=keras.regularizers.l2(l2), name="probabilities")(x)
    model = keras.Model(inputs, outputs, name="class_head")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


# ImageNet classes that look like our pets (their probability mass feeds the pet score):
# 1 goldfish, 7-24 birds, 38-48 lizards (agama 42, iguana, frilled lizard ...), 80-100 and 127-146 birds,
# 151-268 dogs, 281-285 cats, 333 hamster, 389-397 fish.
PET_IMAGENET_CLASSES = tuple(
    sorted({1, 333, *range(7, 25), *range(38, 49), *range(80, 101), *range(127, 147), *range(151, 269), *range(281, 286), *range(389, 398)})
)


def pet_score_kernel(kernel, imagenet_classes=1000):
    """Fold the pet head trained on [pooled (D), 5*pet mass (1), 5*ImageNet probs (1000)] into one
    Dense on [pooled, ImageNet probs]: probs . (5*k_probs + 5*k_mass*mask)."""
    import numpy as np

    dim = kernel.shape[0] - 1 - imagenet_classes
    mask = np.zeros((imagenet_classes, 1), dtype="float32")
    mask[list(PET_IMAGENET_CLASSES)] = 1.0
    on_probs = 5.0 * kernel[dim + 1 :] + 5.0 * kernel[dim : dim + 1] * mask
    return np.concatenate([kernel[:dim], on_probs]).astype("float32")


def assemble_default(full, class_kernel, class_bias, pet_kernel, pet_bias, dropout=0.2, name="default"):
    """One flat functional model: the ImageNet EfficientNet-Lite0 `full` (its pooled features and
    ImageNet softmax) + the calibrated class head + the pet-score head.

    class_kernel (D, C) has the temperature folded in; pet_kernel is the head trained on
    [pooled, 5*pet mass, 5*ImageNet probabilities] (D + 1001, 1), folded by pet_score_kernel().
    Outputs {"probabilities": (N, C), "pet_score": (N, 1)}.
    """
    import keras
    from keras import layers

    pooled = full.get_layer("avg_pool").output
    imagenet = full.get_layer("predictions").output  # after a Dropout that is inactive when serving
    x = layers.Dropout(dropout, name="head_dropout")(pooled)
    probabilities = layers.Dense(class_kernel.shape[1], activation="softmax", name="probabilities")(x)
    both = layers.Concatenate(name="pet_inputs")([pooled, imagenet])
    pet_score = layers.Dense(1, activation="sigmoid", name="pet_score")(both)
    model = keras.Model(full.input, {"probabilities": probabilities, "pet_score": pet_score}, name=name)
    model.get_layer("probabilities").set_weights([class_kernel.astype("float32"), class_bias.astype("float32")])
    model.get_layer("pet_score").set_weights([pet_score_kernel(pet_kernel), pet_bias.astype("float32")])
    return model
