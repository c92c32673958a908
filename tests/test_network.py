import keras
import numpy as np
import pytest

from skpci.network import (
    FEATURE_LAYERS,
    build_feature_extractor,
    build_inpainting_model,
)

ENCODER_CONVS = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1",
                 "rfpconv1_1", "rfpconv2_1", "rfpconv3_1"]
DECODER_CONVS = ["conv6_1", "conv7_1", "conv8_1", "conv9_1", "conv10_1"]


@pytest.mark.parametrize(
    "n_protein, n_marker, expected",
    [(1, 1, 7_323_521), (1, 2, 7_324_529)],
    ids=["yeast 2+1", "human 3+2"],
)
def test_parameter_count_matches_the_published_network(n_protein, n_marker, expected):
    assert build_inpainting_model(n_protein, n_marker, 64).count_params() == expected


def test_inputs_outputs_and_layer_names_follow_the_authors():
    model = build_inpainting_model(1, 2, 64)
    assert [t.name for t in model.inputs] == ["x_in", "y_rfp"]
    assert tuple(model.inputs[0].shape) == (None, 64, 64, 3)
    assert tuple(model.inputs[1].shape) == (None, 64, 64, 2)
    assert tuple(model.output.shape) == (None, 64, 64, 1)
    names = {layer.name for layer in model.layers}
    assert set(ENCODER_CONVS + DECODER_CONVS + ["y_gfp"]) <= names
    widths = {name: model.get_layer(name).filters for name in ENCODER_CONVS + DECODER_CONVS}
    assert widths == {"conv1_1": 96, "conv2_1": 256, "conv3_1": 384, "conv4_1": 384, "conv5_1": 256,
                      "rfpconv1_1": 16, "rfpconv2_1": 32, "rfpconv3_1": 32, "conv6_1": 256,
                      "conv7_1": 384, "conv8_1": 384, "conv9_1": 256, "conv10_1": 96}
    assert model.get_layer("y_gfp").get_config()["activation"] == "linear"
    assert model.get_layer("y_gfp").kernel_size == (1, 1)


def _consumers(model, layer):
    node_layers = []
    for other in model.layers:
        for node in other._inbound_nodes:
            if any(t._keras_history.operation is layer for t in node.input_tensors):
                node_layers.append(other)
    return node_layers


def test_batchnorm_follows_every_encoder_convolution_and_no_decoder_convolution():
    model = build_inpainting_model(1, 1, 32)
    for name in ENCODER_CONVS:
        (consumer,) = _consumers(model, model.get_layer(name))
        assert isinstance(consumer, keras.layers.BatchNormalization), name
        assert model.get_layer(name).get_config()["activation"] == "relu"
    for name in DECODER_CONVS:
        assert not any(isinstance(c, keras.layers.BatchNormalization)
                       for c in _consumers(model, model.get_layer(name))), name
    n_batchnorm = sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    assert n_batchnorm == len(ENCODER_CONVS)


def test_same_seed_gives_same_weights_and_another_seed_differs():
    first, again, other = (build_inpainting_model(1, 1, 16, seed=s) for s in (3, 3, 4))
    assert all(np.array_equal(a, b) for a, b in zip(first.get_weights(), again.get_weights()))
    assert not np.array_equal(first.get_layer("conv1_1").kernel, other.get_layer("conv1_1").kernel)


def test_feature_extractor_holds_only_the_source_encoder_up_to_the_layer():
    model = build_inpainting_model(1, 1, 16)
    extractor = build_feature_extractor(model, ["conv3_1"])
    convs = {layer.name for layer in extractor.layers if isinstance(layer, keras.layers.Conv2D)}
    assert convs == {"conv1_1", "conv2_1", "conv3_1"}
    assert [t.name for t in extractor.inputs] == ["x_in"]


def test_features_are_pooled_relu_output_before_batchnorm():
    model = build_inpainting_model(1, 1, 16, seed=0)
    # Give BatchNorm non-trivial statistics so that "after BN" would differ.
    bn = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in bn:
        gamma, beta, mean, var = layer.get_weights()
        layer.set_weights([gamma * 3, beta - 1, mean + 0.5, var * 2])
    x = np.random.default_rng(0).random((5, 16, 16, 2)).astype("float32")
    conv3 = keras.Model(model.inputs[0], model.get_layer("conv3_1").output)
    for pooling, reduce in (("max", np.max), ("mean", np.mean)):
        extractor = build_feature_extractor(model, ["conv3_1"], pooling)
        expected = reduce(keras.ops.convert_to_numpy(conv3(x, training=False)), axis=(1, 2))
        np.testing.assert_allclose(keras.ops.convert_to_numpy(extractor(x)), expected, rtol=1e-5, atol=1e-6)
    assert (keras.ops.convert_to_numpy(extractor(x)) >= 0).all()


def test_several_layers_are_concatenated_in_order():
    model = build_inpainting_model(1, 1, 16, seed=0)
    x = np.random.default_rng(1).random((3, 16, 16, 2)).astype("float32")
    both = keras.ops.convert_to_numpy(build_feature_extractor(model, ["conv2_1", "conv1_1"])(x))
    one = keras.ops.convert_to_numpy(build_feature_extractor(model, ["conv1_1"])(x))
    assert both.shape == (3, 256 + 96)
    np.testing.assert_allclose(both[:, 256:], one, rtol=1e-6)


@pytest.mark.parametrize("size", [30, 0, 2])
def test_input_size_must_be_a_multiple_of_four(size):
    with pytest.raises(ValueError, match="multiple of 4"):
        build_inpainting_model(1, 1, size)


def test_feature_layers_are_the_source_encoder():
    assert FEATURE_LAYERS == ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
