"""The project's own Keras layer, and the one way to open a saved model file.

Keras has no built-in layer for a logarithm, and the default architecture's head reads the ImageNet class groups'
probabilities on a log scale (training.architectures.imagenet_group_log_probabilities). `Log` is registered, so a
saved model holding it loads in Keras' default safe mode, provided this module was imported first: load_model does
that. Files without it (the seed CNN, earlier defaults) load the same way.
"""
import keras


@keras.saving.register_keras_serializable(package="petsite")
class Log(keras.layers.Layer):
    """log(x + epsilon), element by element (epsilon keeps log(0) finite; its users name theirs:
    training.architectures.PROBABILITY_EPSILON and GROUP_EPSILON)."""

    def __init__(self, epsilon, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, inputs):
        return keras.ops.log(inputs + self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def load_model(path):
    """The Keras model saved at `path`, for inference (not compiled), in safe mode."""
    return keras.models.load_model(path, compile=False)
