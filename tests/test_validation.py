"""Declarative parameter validation: every parameter is checked at fit, with a message that names it."""

import inspect
import re
from numbers import Integral, Real

import joblib
import numpy as np
import pytest

from skpci import CellSegmenter, PairedInpaintingFeaturizer
from skpci._validation import NONE, Interval, Options, validate_params

from .conftest import FAST

ESTIMATORS = [PairedInpaintingFeaturizer, CellSegmenter]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: e.__name__)
def test_every_parameter_has_a_constraint(estimator):
    assert set(estimator._parameter_constraints) == set(estimator().get_params())


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: e.__name__)
def test_constructors_are_keyword_only(estimator):
    parameters = inspect.signature(estimator.__init__).parameters.values()
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters if p.name != "self")
    with pytest.raises(TypeError):
        estimator(0)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: e.__name__)
def test_defaults_pass_validation(estimator):
    validate_params(estimator())


BAD_FEATURIZER = {
    "protein_channels": b"gfp", "marker_channels": (1.5,), "channel_names": "gfp,rfp",
    "channel_map": {"gfp": 1.5}, "input_size": 64.0, "layer": ["conv3_1", "y_gfp"],
    "pooling": "sum", "aggregate": "max", "epochs": 2.5, "batch_size": 0, "learning_rate": float("nan"),
    "beta_1": 1.0, "rotations": "yes", "protein_jitter": 1.0,
    "weights": 3, "memory": 42, "checkpoint_dir": 1, "block_bytes": -1,
    "precision": "float16", "devices": "gpu0", "n_jobs": 0, "random_state": -1, "verbose": -1,
}
BAD_SEGMENTER = {
    "nuclear_channel": -1, "scale": 1.5, "sigma": -0.5, "threshold": "magic", "min_nucleus_area": 30.5,
    "crop_size": 64.0, "method": "cellpose", "min_distance": 0, "border": "wrap", "n_jobs": 0, "verbose": "loud",
}


@pytest.mark.parametrize("name, value", BAD_FEATURIZER.items())
def test_each_bad_featurizer_parameter_is_named_at_fit(name, value, synthetic_crops):
    featurizer = PairedInpaintingFeaturizer(epochs=0, **FAST).set_params(**{name: value})
    with pytest.raises(ValueError, match=rf"^{name} must be .*, got {re.escape(repr(value)[:12])}"):
        featurizer.fit(synthetic_crops.bags)


@pytest.mark.parametrize("name, value", BAD_SEGMENTER.items())
def test_each_bad_segmenter_parameter_is_named_at_fit(name, value):
    with pytest.raises(ValueError, match=rf"^{name} must be .*, got {re.escape(repr(value)[:12])}"):
        CellSegmenter(**{name: value}).fit()


def test_floats_are_never_silently_truncated():
    with pytest.raises(ValueError, match="min_nucleus_area must be an integer >= 0 or None, got 30.5"):
        CellSegmenter(min_nucleus_area=30.5).fit()
    with pytest.raises(ValueError, match="epochs must be an integer >= 0, got 2.5"):
        validate_params(PairedInpaintingFeaturizer(epochs=2.5))


def test_accepted_forms_of_the_flexible_parameters():
    for params in [dict(protein_channels=0, marker_channels=np.array([1, 2])), dict(layer=["conv1_1", "conv4_1"]),
                   dict(memory=joblib.Memory(None)), dict(random_state=np.random.RandomState(0)),
                   dict(devices="all"), dict(devices=2), dict(verbose=True), dict(n_jobs=-1),
                   dict(weights="synthetic-32")]:
        validate_params(PairedInpaintingFeaturizer(**params))
    validate_params(CellSegmenter(threshold=0.3, scale=1))


def test_hints_say_how_to_fix_the_value():
    with pytest.raises(ValueError, match="multiple of 4.*encoders pool twice"):
        validate_params(PairedInpaintingFeaturizer(input_size=30))
    with pytest.raises(ValueError, match="scale must be a number in \\(0, 1\\].*downsampling"):
        CellSegmenter(scale=0).fit()


def test_devices_are_checked_before_any_data_is_read():
    featurizer = PairedInpaintingFeaturizer(epochs=1, devices=64)
    with pytest.raises(ValueError, match="sees only"):
        featurizer.fit("not data at all")  # the device count fails first


def test_transform_checks_only_what_it_reads(fitted_featurizer, synthetic_crops):
    fitted = fitted_featurizer
    fitted.set_params(epochs=-1)  # a training parameter: transform does not care
    try:
        assert fitted.transform(synthetic_crops.cells[:2]).shape == (2, 384)
        fitted.set_params(pooling="sum")
        with pytest.raises(ValueError, match="pooling must be one of"):
            fitted.transform(synthetic_crops.cells[:2])
    finally:
        fitted.set_params(epochs=2, pooling="max")


@pytest.mark.parametrize("form, accepted, rejected, text", [
    (Interval(Integral, 0, None), [0, 7, np.int64(3)], [-1, 2.0, True, "1"], "an integer >= 0"),
    (Interval(Real, 0, 1, closed="left"), [0, 0.5, np.float32(0.9)], [1, -0.1, float("nan"), True],
     "a number in [0, 1)"),
    (Interval(Real, 0, None, closed="neither"), [1e-9, 3], [0, -1, float("inf")], "a positive number"),
    (Interval(Integral, 8, None, multiple_of=4), [8, 64], [10, 4, 64.0], "a multiple of 4 >= 8"),
    (Options(("max", "mean")), ["max", "mean"], ["MAX", None, 1], "one of ('max', 'mean')"),
    (NONE, [None], [0, "None", False], "one of (None,)"),
])
def test_forms_accept_reject_and_describe_themselves(form, accepted, rejected, text):
    assert all(form.accepts(value) for value in accepted)
    assert not any(form.accepts(value) for value in rejected)
    assert str(form) == text
