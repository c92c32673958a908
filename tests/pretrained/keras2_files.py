"""Keras 2 weight files written as the authors' code wrote them, for the import tests."""

import json

import h5py
import numpy as np

from skpci.network import build_inpainting_model
from skpci.pretrained import AUTHORS_BN_ORDER, ENCODER_CONVS


def write_keras2_file(path, model, *, with_graph=True, layer_order=None):
    """Write ``model``'s weights in the layout of Keras 2.1 ``model.save``.

    BatchNormalization layers get the authors' unnamed names
    (``batch_normalization_<k>`` in creation order), and layer_names lists
    them in topological order, where conv3_1's BN precedes rfpconv2_1's.
    """
    bn_name = {conv: f"batch_normalization_{k}" for k, conv in enumerate(AUTHORS_BN_ORDER, start=1)}
    layers = {}
    for conv in ENCODER_CONVS:
        layers[conv] = model.get_layer(conv).get_weights()
        layers[bn_name[conv]] = model.get_layer(f"{conv}_bn").get_weights()
    for conv in ("conv6_1", "conv7_1", "conv8_1", "conv9_1", "conv10_1", "y_gfp"):
        layers[conv] = model.get_layer(conv).get_weights()
    order = layer_order or ["conv1_1", bn_name["conv1_1"], "rfpconv1_1", "conv2_1", bn_name["rfpconv1_1"],
                            bn_name["conv2_1"], "rfpconv2_1", "conv3_1", bn_name["conv3_1"],
                            bn_name["rfpconv2_1"], "conv4_1", "rfpconv3_1", bn_name["conv4_1"],
                            bn_name["rfpconv3_1"], "conv5_1", bn_name["conv5_1"], "conv6_1", "conv7_1",
                            "conv8_1", "conv9_1", "conv10_1", "y_gfp"]
    suffixes = {2: ["kernel:0", "bias:0"], 4: ["gamma:0", "beta:0", "moving_mean:0", "moving_variance:0"]}
    with h5py.File(path, "w") as file:
        file.attrs["keras_version"] = b"2.1.6"
        group = file.create_group("model_weights")
        group.attrs["layer_names"] = [name.encode() for name in ["x_in", "y_rfp", *order]]
        for name in ["x_in", "y_rfp"]:
            group.create_group(name).attrs["weight_names"] = []
        for name in order:
            layer_group = group.create_group(name).create_group(name)
            names = [f"{name}/{suffix}" for suffix in suffixes[len(layers[name])]]
            group[name].attrs["weight_names"] = [n.encode() for n in names]
            for weight_name, value in zip(names, layers[name]):
                layer_group.create_dataset(weight_name.split("/", 1)[1], data=value)
        if with_graph:
            config = {"class_name": "Model", "config": {"layers": [
                {"class_name": "BatchNormalization", "config": {"name": bn_name[conv]},
                 "inbound_nodes": [[[conv, 0, 0, {}]]]} for conv in ENCODER_CONVS]}}
            file.attrs["model_config"] = json.dumps(config).encode()


def random_model(seed, n_marker=1):
    model = build_inpainting_model(1, n_marker, 16, seed=seed)
    rng = np.random.default_rng(seed)
    for conv in ENCODER_CONVS:  # distinct, non-trivial BN statistics for every layer
        layer = model.get_layer(f"{conv}_bn")
        layer.set_weights([rng.uniform(0.5, 2, w.shape).astype("float32") for w in layer.get_weights()])
    return model
