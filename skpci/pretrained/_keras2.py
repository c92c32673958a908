"""Importing the authors' Keras 2 weight files into the Keras 3 network.

Convolutions are matched by name. The files leave the BatchNormalization
layers unnamed (``batch_normalization_<k>``), so each is matched to the
convolution it follows: read from the file's model graph when present, else
from the order in which the authors' code created them.
"""

import json

import h5py
import numpy as np

from .._files import decode_strings
from ..network import (
    DECODER_LAYERS,
    OUTPUT,
    SOURCE_ENCODER_LAYERS,
    TARGET_ENCODER_LAYERS,
    Architecture,
    batch_norm_name,
)
from ._errors import PretrainedModelError

ENCODER_CONVS = tuple(name for name, _ in SOURCE_ENCODER_LAYERS + TARGET_ENCODER_LAYERS)
ALL_CONVS = ENCODER_CONVS + tuple(name for name, _ in DECODER_LAYERS) + (OUTPUT,)
#: Order in which the authors' code created the BatchNormalization layers, so
#: ``batch_normalization_<k>`` (counting from the file's smallest k) follows the k-th of these.
#: No weight of the network holds more values than this (conv4_1's kernel holds 3*3*384*384, about 1.3 million).
MAX_WEIGHT_ELEMENTS = 8 * 2**20
AUTHORS_BN_ORDER = ("conv1_1", "conv2_1", "rfpconv1_1", "rfpconv2_1", "conv3_1", "conv4_1", "conv5_1",
                    "rfpconv3_1")


def legacy_architecture(path, input_size=64):
    """The :class:`~skpci.network.Architecture` of a Keras 2 weight file: channel counts from its kernels."""
    with open_h5(path) as file:
        weights = _legacy_layer_weights(file, path)
    for name in ("conv1_1", "rfpconv1_1", OUTPUT):
        if name not in weights:
            raise PretrainedModelError(f"{str(path)!r} has no layer {name!r}: not a paired cell inpainting model.")
    n_source = weights["conv1_1"][0].shape[2]
    n_marker = weights["rfpconv1_1"][0].shape[2]
    return Architecture(int(n_source - n_marker), int(n_marker), int(input_size))


def load_legacy_h5(model, path):
    """Load a Keras 2 (``model.save`` or ``save_weights``) HDF5 file into ``model``.

    Convolutions are matched by name. The file's BatchNormalization layers
    are unnamed (``batch_normalization_<k>``), so each is matched to the
    convolution it follows: read from the file's model graph when present,
    else from the order in which the authors' code created them.
    """
    with open_h5(path) as file:
        weights = _legacy_layer_weights(file, path)
        follows = _legacy_batch_norm_owners(file, weights)
    for conv in ALL_CONVS:
        if conv not in weights:
            raise PretrainedModelError(f"{str(path)!r} has no weights for layer {conv!r}.")
        _assign(model.get_layer(conv), weights[conv], conv, path)
    for conv in ENCODER_CONVS:
        if conv not in follows:
            raise PretrainedModelError(f"{str(path)!r} has no BatchNormalization after {conv!r}.")
        _assign(model.get_layer(batch_norm_name(conv)), weights[follows[conv]],
                f"{follows[conv]} (BatchNormalization after {conv})", path)


def _assign(layer, arrays, label, path):
    expected = [tuple(w.shape) for w in layer.weights]
    found = [tuple(a.shape) for a in arrays]
    if expected != found:
        raise PretrainedModelError(
            f"Layer {label} in {str(path)!r} has weights of shapes {found}, but the network expects "
            f"{expected}: the file is for other channel counts or another architecture."
        )
    layer.set_weights(list(arrays))


def open_h5(path):
    """Open an HDF5 file for reading, or raise :class:`PretrainedModelError` naming it."""
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise PretrainedModelError(f"Cannot open {str(path)!r} as HDF5 (corrupt or truncated?): {error}") from error


def _legacy_layer_weights(file, path):
    """The weights of the file's convolutions and BatchNorm layers (other layers are not read).

    Every dataset's size is checked before it is read, so a file with a huge
    (or huge once decompressed) dataset is refused instead of filling memory.
    """
    group = file["model_weights"] if "model_weights" in file else file
    if "layer_names" not in group.attrs:
        raise PretrainedModelError(f"{str(path)!r} is not a Keras 2 weight file (no layer_names attribute).")
    weights = {}
    try:
        for name in decode_strings(group.attrs["layer_names"]):
            if name not in ALL_CONVS and not name.startswith("batch_normalization"):
                continue
            names = decode_strings(group[name].attrs.get("weight_names", []))
            datasets = [group[name][w] for w in names]
            for weight_name, dataset in zip(names, datasets):
                if not isinstance(dataset, h5py.Dataset) or dataset.size > MAX_WEIGHT_ELEMENTS:
                    shape = getattr(dataset, "shape", "a group")
                    raise PretrainedModelError(
                        f"{str(path)!r}: weight {weight_name!r} of layer {name!r} has shape {shape}, not a weight "
                        "of this network (the largest has about 1.3 million values); the file is damaged or "
                        "not a paired cell inpainting model."
                    )
            if datasets:
                weights[name] = [np.asarray(dataset) for dataset in datasets]
    except (KeyError, OSError) as error:
        raise PretrainedModelError(f"{str(path)!r} is damaged: {error}") from error
    return weights


def _legacy_batch_norm_owners(file, weights):
    """Map each encoder convolution to the name of the BatchNormalization after it."""
    batch_norms = [name for name in weights if name.startswith("batch_normalization")]
    config = file.attrs.get("model_config")
    if config is not None:
        config = json.loads(config.decode() if isinstance(config, bytes) else config)
        owners = {}
        for layer in config.get("config", {}).get("layers", []):
            if layer.get("class_name") == "BatchNormalization" and layer.get("inbound_nodes"):
                inbound = layer["inbound_nodes"][0][0][0]
                owners[inbound] = layer["config"]["name"]
        if owners:
            return owners
    # No graph in the file: the k-th BN (by its number, not its position) follows
    # the k-th convolution in the authors' creation order.
    numbered = sorted(batch_norms, key=lambda n: int(n.rsplit("_", 1)[1]) if n[-1].isdigit() else 0)
    return dict(zip(AUTHORS_BN_ORDER, numbered))
