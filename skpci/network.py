"""The paired cell inpainting network (Lu et al. 2019, Fig. 1) in backend-neutral Keras 3.

Two encoders meet in one decoder:

* the *source encoder* sees every channel of the source cell (protein and markers);
* the *target-marker encoder* sees only the marker channels of the target cell;
* the *decoder* predicts the target cell's protein channels.

Layer names follow the authors' published weights, so their files can be mapped
onto this graph. Features are read from the source encoder only.
"""

from dataclasses import asdict, dataclass

import keras
import numpy as np

#: Convolutions of the source encoder, in order, with their number of filters.
SOURCE_ENCODER_LAYERS = (
    ("conv1_1", 96),
    ("conv2_1", 256),
    ("conv3_1", 384),
    ("conv4_1", 384),
    ("conv5_1", 256),
)

#: Convolutions of the target-marker encoder.
TARGET_ENCODER_LAYERS = (("rfpconv1_1", 16), ("rfpconv2_1", 32), ("rfpconv3_1", 32))

#: Convolutions of the decoder, then the 1x1 output.
DECODER_LAYERS = (("conv6_1", 256), ("conv7_1", 384), ("conv8_1", 384), ("conv9_1", 256), ("conv10_1", 96))

#: Names of the layers whose features ``transform`` can return.
FEATURE_LAYERS = tuple(name for name, _ in SOURCE_ENCODER_LAYERS)

SOURCE_INPUT = "x_in"
#: Largest input size a model card may record (a 4096 px input already needs GBs per batch).
MAX_INPUT_SIZE = 4096
TARGET_MARKER_INPUT = "y_rfp"
OUTPUT = "y_gfp"

_WIDTHS = dict(SOURCE_ENCODER_LAYERS + TARGET_ENCODER_LAYERS + DECODER_LAYERS)


@dataclass(frozen=True)
class Architecture:
    """What shapes the network: channel counts and input size.

    Model cards store it as a plain dict (:meth:`to_dict`).

    Examples
    --------
    >>> Architecture(1, 2, 64).describe()
    '1 protein + 2 marker channel(s) at 64 px'
    """

    n_protein_channels: int = 1
    n_marker_channels: int = 1
    input_size: int = 64

    def __post_init__(self):
        if int(self.n_protein_channels) < 1:
            raise ValueError(f"The network needs at least one protein channel, got {self.n_protein_channels}.")
        if int(self.n_marker_channels) < 1:
            raise ValueError(f"The network needs at least one marker channel, got {self.n_marker_channels}.")
        if int(self.input_size) < 4 or int(self.input_size) % 4:
            raise ValueError(
                f"input_size must be a positive multiple of 4 (the encoders pool twice), got {self.input_size}."
            )
        for field in ("n_protein_channels", "n_marker_channels", "input_size"):
            object.__setattr__(self, field, int(getattr(self, field)))

    @classmethod
    def from_dict(cls, values):
        """The architecture recorded in a model card, checked: counts of 1..64 channels, 8..4096 px."""
        if not isinstance(values, dict):
            raise TypeError(f"an architecture is a dict, got {type(values).__name__}")
        architecture = cls(values["n_protein_channels"], values["n_marker_channels"], values["input_size"])
        for name, value, high in (("n_protein_channels", architecture.n_protein_channels, 64),
                                  ("n_marker_channels", architecture.n_marker_channels, 64),
                                  ("input_size", architecture.input_size, MAX_INPUT_SIZE)):
            if not isinstance(value, int) or isinstance(value, bool) or not (1 if high == 64 else 8) <= value <= high:
                raise ValueError(f"{name}={value!r} is out of range")
        return architecture

    @classmethod
    def of(cls, model):
        """The architecture of a network built by :func:`build_inpainting_model`."""
        source = model.get_layer(SOURCE_INPUT).output.shape
        markers = model.get_layer(TARGET_MARKER_INPUT).output.shape
        return cls(int(source[-1] - markers[-1]), int(markers[-1]), int(source[1]))

    @property
    def n_source_channels(self):
        return self.n_protein_channels + self.n_marker_channels

    def to_dict(self):
        return asdict(self)

    def describe(self):
        return (f"{self.n_protein_channels} protein + {self.n_marker_channels} marker channel(s) "
                f"at {self.input_size} px")


class _SeededInitializers:
    """Hands out a differently seeded Glorot initializer for every layer.

    Seeding each initializer makes the weights a pure function of ``seed``,
    without touching Keras' global random state.
    """

    def __init__(self, seed):
        self._seed = seed
        self._calls = 0

    def __call__(self):
        self._calls += 1
        if self._seed is None:
            return "glorot_uniform"
        return keras.initializers.GlorotUniform(seed=self._seed + self._calls)


def build_inpainting_model(
    n_protein_channels=1, n_marker_channels=1, input_size=64, *, seed=None, dtype=None
):
    """Build the paired cell inpainting network.

    Parameters
    ----------
    n_protein_channels : int or Architecture, default=1
        Number of protein channels, predicted for the target cell; or a
        whole :class:`Architecture` (then leave the next two out).
    n_marker_channels : int, default=1
        Number of marker (structural) channels, given for both cells.
    input_size : int, default=64
        Height and width of the input crops; a multiple of 4 (two poolings).
    seed : int or None, default=None
        Seed for the weight initializers. ``None`` draws from Keras' global
        random state.
    dtype : str or keras.DTypePolicy, optional
        Dtype policy of the hidden layers, e.g. ``"mixed_bfloat16"``. The
        output layer always computes in float32.

    Returns
    -------
    model : keras.Model
        Inputs ``x_in`` ``(input_size, input_size, n_protein + n_marker)`` and
        ``y_rfp`` ``(input_size, input_size, n_marker)``; output ``y_gfp``
        ``(input_size, input_size, n_protein)``, linear.

    Examples
    --------
    >>> model = build_inpainting_model(1, 1, 64)
    >>> model.count_params()
    7323521
    >>> build_inpainting_model(Architecture(1, 2, 64)).count_params()
    7324529
    """
    if isinstance(n_protein_channels, Architecture):
        architecture = n_protein_channels
    else:
        architecture = Architecture(n_protein_channels, n_marker_channels, input_size)
    size = architecture.input_size
    init = _SeededInitializers(seed)

    def conv(name):
        return keras.layers.Conv2D(
            _WIDTHS[name], 3, padding="same", activation="relu", name=name,
            kernel_initializer=init(), dtype=dtype,
        )

    def batch_norm(after):
        return keras.layers.BatchNormalization(name=batch_norm_name(after), dtype=dtype)

    def pool():
        return keras.layers.MaxPooling2D(2, dtype=dtype)

    def upsample():
        return keras.layers.UpSampling2D(2, dtype=dtype)

    x_in = keras.Input((size, size, architecture.n_source_channels), name=SOURCE_INPUT)
    y_rfp = keras.Input((size, size, architecture.n_marker_channels), name=TARGET_MARKER_INPUT)

    # Source encoder: every channel of the source cell.
    x = pool()(batch_norm("conv1_1")(conv("conv1_1")(x_in)))
    x = pool()(batch_norm("conv2_1")(conv("conv2_1")(x)))
    x = batch_norm("conv3_1")(conv("conv3_1")(x))
    x = batch_norm("conv4_1")(conv("conv4_1")(x))
    x = batch_norm("conv5_1")(conv("conv5_1")(x))

    # Target-marker encoder: the marker channels of the target cell.
    y = pool()(batch_norm("rfpconv1_1")(conv("rfpconv1_1")(y_rfp)))
    y = pool()(batch_norm("rfpconv2_1")(conv("rfpconv2_1")(y)))
    y = batch_norm("rfpconv3_1")(conv("rfpconv3_1")(y))

    # Decoder: predicts the target cell's protein channels.
    z = keras.layers.Concatenate(dtype=dtype)([x, y])
    z = conv("conv6_1")(z)
    z = conv("conv7_1")(z)
    z = conv("conv8_1")(z)
    z = upsample()(z)
    z = conv("conv9_1")(z)
    z = upsample()(z)
    z = conv("conv10_1")(z)
    y_gfp = keras.layers.Conv2D(
        architecture.n_protein_channels, 1, name=OUTPUT, kernel_initializer=init(), dtype="float32"
    )(z)

    return keras.Model(inputs=[x_in, y_rfp], outputs=y_gfp, name="paired_cell_inpainting")


def build_with_weights(architecture, weights, *, dtype=None):
    """Rebuild a network from its architecture and a list of weights.

    The initializers get a fixed seed: their values are overwritten at once,
    and an unseeded build would draw from Python's global random state.

    Parameters
    ----------
    architecture : Architecture
    weights : list of ndarray
        As returned by ``model.get_weights()``.
    dtype : str, optional
        Dtype policy, e.g. ``"float16"`` for compact storage.

    Returns
    -------
    model : keras.Model
    """
    model = build_inpainting_model(architecture, seed=0, dtype=dtype)
    model.set_weights(weights)
    return model


def build_feature_extractor(model, layers, pooling="max"):
    """Build a model from ``x_in`` to spatially pooled features of ``layers``.

    The extractor holds only the source-encoder layers up to the deepest
    requested one, so neither the target-marker encoder nor the decoder runs.

    Parameters
    ----------
    model : keras.Model
        A model from :func:`build_inpainting_model` (weights are shared).
    layers : sequence of str
        Names of source-encoder convolutions (see :data:`FEATURE_LAYERS`).
    pooling : {"max", "mean", "meanmax"}, default="max"
        Pooling over space of each layer's ReLU output (before BatchNorm);
        ``"meanmax"`` gives each layer's max-pooled units, then its
        mean-pooled ones.

    Returns
    -------
    extractor : keras.Model
        Maps ``(n, size, size, n_source_channels)`` crops to
        ``(n, sum of the layers' widths)`` features (twice that for
        ``"meanmax"``).
    """
    pool_layer = {"max": keras.layers.GlobalMaxPooling2D, "mean": keras.layers.GlobalAveragePooling2D}
    kinds = ("max", "mean") if pooling == "meanmax" else (pooling,)
    source = model.get_layer(SOURCE_INPUT).output
    pooled = [
        pool_layer[kind](name=f"{kind}_pool_{name}", dtype="float32")(model.get_layer(name).output)
        for name in layers
        for kind in kinds
    ]
    output = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate(dtype="float32")(pooled)
    return keras.Model(inputs=source, outputs=output, name="source_encoder_features")


#: Inputs of up to this many batches are run by direct calls, larger ones by Keras's compiled ``predict``.
DIRECT_BATCHES = 4


def predict(model, inputs, batch_size):
    """Run ``model`` in inference mode and return NumPy float32.

    A few batches are direct calls, which avoid ``predict``'s per-call
    overhead. Larger inputs go through the compiled ``predict`` loop in
    whole batches only, and their remainder through a direct call: every
    compiled step then sees one batch shape, so a model traces its predict
    function once. (A smaller last batch made TensorFlow trace it again, and
    across the new models of a cross-validation those retraces added up to
    TensorFlow's "triggered tf.function retracing" warning.)
    """
    n = len(next(iter(inputs.values()))) if isinstance(inputs, dict) else len(inputs)
    if n == 0:
        return np.zeros((0, *model.output.shape[1:]), dtype=np.float32)
    compiled = 0 if n <= DIRECT_BATCHES * batch_size else n - n % batch_size
    outputs = [model.predict(_rows(inputs, 0, compiled), batch_size=batch_size, verbose=0)] if compiled else []
    outputs += [keras.ops.convert_to_numpy(model(_rows(inputs, start, start + batch_size), training=False))
                for start in range(compiled, n, batch_size)]
    return np.asarray(np.concatenate(outputs) if len(outputs) > 1 else outputs[0], dtype=np.float32)


def _rows(inputs, start, stop):
    """Rows ``start:stop`` of an input array, or of each array of a dict of inputs."""
    if isinstance(inputs, dict):
        return {name: values[start:stop] for name, values in inputs.items()}
    return inputs[start:stop]


def batch_norm_name(conv_name):
    """Name of the BatchNormalization layer that follows an encoder convolution.

    The authors' Keras 2 files leave these layers unnamed; naming them after
    their convolution makes every weight file map onto the graph by name.
    """
    return f"{conv_name}_bn"


def layer_width(name):
    """Number of filters of a convolution, such as ``conv3_1``."""
    return _WIDTHS[name]
