import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skpci.preprocessing import (
    check_crops,
    minmax_scale_crops,
    prepare_crop_stacks,
    prepare_crops,
    resize_crops,
)


def test_minmax_scales_each_channel_of_each_crop_independently(rng):
    crops = rng.random((3, 10, 10, 2)) * [5.0, 100.0] + [1.0, -20.0]
    scaled = minmax_scale_crops(crops)
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled.min(axis=(1, 2)), 0, atol=1e-6)
    np.testing.assert_allclose(scaled.max(axis=(1, 2)), 1, atol=1e-6)
    # Scaling is affine per crop and channel: correlation with the input is exact.
    for i in range(3):
        for c in range(2):
            assert np.corrcoef(scaled[i, ..., c].ravel(), crops[i, ..., c].ravel())[0, 1] > 0.9999


def test_constant_channel_becomes_zeros_not_nan():
    crops = np.full((2, 8, 8, 2), 7, dtype=np.uint16)
    crops[1, 0, 0, 1] = 9
    scaled = minmax_scale_crops(crops)
    assert np.isfinite(scaled).all()
    assert (scaled[0] == 0).all() and (scaled[1, ..., 0] == 0).all()
    assert scaled[1, 0, 0, 1] == 1


_CROP_SHAPES = st.tuples(st.integers(1, 3), st.integers(8, 12), st.integers(8, 12), st.integers(1, 3))


@st.composite
def crop_stacks(draw):
    dtype = np.dtype(draw(st.sampled_from(["uint8", "uint16", "int16", "float32", "float64"])))
    if dtype.kind == "f":
        elements = st.floats(-1e6, 1e6, allow_nan=False, width=dtype.itemsize * 8)
    else:
        info = np.iinfo(dtype)
        elements = st.integers(int(info.min), int(info.max))
    return draw(arrays(dtype, draw(_CROP_SHAPES), elements=elements))


@given(crop_stacks())
@settings(max_examples=60, deadline=None)
def test_prepared_crops_are_finite_in_unit_range_for_any_dtype_and_range(crops):
    prepared = prepare_crops(crops, 8, list(range(crops.shape[-1])))
    assert prepared.shape == (crops.shape[0], 8, 8, crops.shape[-1])
    assert prepared.dtype == np.float32
    assert np.isfinite(prepared).all()
    assert prepared.min() >= 0 and prepared.max() <= 1


def test_resize_keeps_stack_and_channels(rng):
    crops = rng.random((4, 40, 40, 3)).astype(np.float32)
    resized = resize_crops(crops, 16)
    assert resized.shape == (4, 16, 16, 3)
    # Channels are resized separately, not mixed.
    crops[..., 1] = 0
    assert (resize_crops(crops, 16)[..., 1] == 0).all()
    assert resize_crops(crops, 40) is crops


def test_prepare_reorders_channels_protein_first(rng):
    crops = rng.random((2, 8, 8, 3))
    crops[..., 2] *= 0  # a constant channel is recognizable after scaling
    prepared = prepare_crops(crops, 8, [2, 0])
    assert (prepared[..., 0] == 0).all()
    np.testing.assert_allclose(prepared[..., 1], minmax_scale_crops(crops[..., [0]])[..., 0])


def test_parallel_preparation_equals_serial(rng):
    stacks = [rng.random((n, 12, 12, 2)) for n in (5, 9, 1)] + [rng.random((4, 20, 20, 2))]
    serial = prepare_crop_stacks(stacks, 8, [0, 1], n_jobs=1, chunk_size=3)
    parallel = prepare_crop_stacks(stacks, 8, [0, 1], n_jobs=2, chunk_size=3)
    assert serial.shape == (19, 8, 8, 2)
    np.testing.assert_array_equal(serial, parallel)


@pytest.mark.parametrize(
    "crops, message",
    [
        (np.zeros((2, 16, 16)), "explicit channel axis"),
        (np.zeros((16, 16, 3)), r"looks like a single crop .* np\.stack\(crops\)"),
        (np.zeros((2, 4, 16, 1)), "too small"),
        (np.full((1, 8, 8, 1), np.nan), "NaN or infinite"),
        (np.full((1, 8, 8, 1), np.inf), "NaN or infinite"),
        (np.array([["a"]]), "numeric"),
        (np.full((1, 8, 8, 1), -1e300), r"reach 1e\+300, beyond float32's range .* rescale"),
    ],
    ids=["no channel axis", "one crop", "smaller than 8 px", "NaN", "inf", "strings", "beyond float32"],
)
def test_bad_crops_get_a_clear_error(crops, message):
    with pytest.raises(ValueError, match=message):
        check_crops(crops)


def test_wrong_channel_count_names_expected_and_actual():
    with pytest.raises(ValueError, match="expected 3 channels, got 2"):
        check_crops(np.zeros((1, 8, 8, 2)), n_channels=3)
