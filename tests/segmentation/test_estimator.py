"""CellSegmenter: whole fields in, one bag of crops per field out; parameters, workers, bad input."""

import numpy as np
import pytest
import tifffile
from joblib import parallel_config
from skimage import measure
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from skpci import CellSegmenter, PairedInpaintingFeaturizer
from skpci.datasets import make_cell_images

from ..conftest import FAST


def match_recall(labels, truth, iou=0.5):
    """Fraction of true objects matched by a found object with IoU >= iou."""
    truth_regions = measure.regionprops(truth)
    matched = 0
    for region in truth_regions:
        found = labels[region.slice][region.image]
        values, counts = np.unique(found[found > 0], return_counts=True)
        if len(values):
            best = values[np.argmax(counts)]
            inter = counts.max()
            matched += inter / (region.area + (labels == best).sum() - inter) >= iou
    return matched / len(truth_regions)


@pytest.fixture(scope="module")
def fields():
    return make_cell_images(n_images=7, image_size=160, cell_radius=10, random_state=2)


def test_synthetic_nuclei_are_found_with_high_recall(fields):
    segmenter = CellSegmenter(nuclear_channel=1, scale=1, crop_size=40, border="pad")
    recalls = [match_recall(segmenter.segment(image).labels, truth)
               for image, truth in zip(fields.images, fields.nuclei)]
    assert np.mean(recalls) > 0.85


def test_every_nucleus_gets_a_crop_including_the_last():
    image = np.zeros((64, 64, 2), dtype=np.uint16)
    for k, (r, c) in enumerate([(15, 15), (15, 45), (45, 30)]):
        rr, cc = np.ogrid[:64, :64]
        image[(rr - r) ** 2 + (cc - c) ** 2 < 25, 0] = 1000
        image[r, c, 1] = k + 1  # tag the centre in the other channel
    result = CellSegmenter(scale=1, crop_size=16, min_nucleus_area=10).segment(image)
    assert result.n_cells == 3 and result.labels.max() == 3
    np.testing.assert_allclose(np.sort(result.centroids[:, 0]), [15, 15, 45], atol=0.5)
    tags = sorted(int(crop[..., 1].max()) for crop in result.crops)
    assert tags == [1, 2, 3]
    assert (result.boxes[:, 2:] - result.boxes[:, :2] == 16).all()


def test_downsampling_returns_labels_at_input_resolution(fields):
    segmenter = CellSegmenter(nuclear_channel=1, scale=0.5, crop_size=20, min_nucleus_area=8)
    result = segmenter.segment(fields.images[0])
    assert result.labels.shape == fields.images[0].shape[:2]
    assert result.crops.shape[1:] == (20, 20, 3)
    # Centroids are reported in input pixels and land on nuclei there.
    rows, cols = np.round(result.centroids).astype(int).T
    assert (fields.nuclei[0][rows, cols] > 0).mean() > 0.8


def test_border_drop_leaves_out_cut_cells_and_pad_keeps_them(fields):
    image = fields.images[3]
    dropped = CellSegmenter(nuclear_channel=1, scale=1, crop_size=40, border="drop").segment(image)
    padded = CellSegmenter(nuclear_channel=1, scale=1, crop_size=40, border="pad").segment(image)
    assert padded.n_cells > dropped.n_cells
    assert (dropped.boxes[:, :2] >= 0).all() and (dropped.boxes[:, 2:] <= 160).all()


def test_transform_gives_one_bag_per_field_independent_of_n_jobs(fields):
    images = list(fields.images)
    serial = CellSegmenter(nuclear_channel=1, scale=1, crop_size=32).fit_transform(images)
    with parallel_config(backend="loky"):
        parallel = CellSegmenter(nuclear_channel=1, scale=1, crop_size=32, n_jobs=2).transform(images)
    assert serial.dtype == object and serial.shape == (7,)
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a, b)
    assert all(bag.shape[1:] == (32, 32, 3) and len(bag) > 3 for bag in serial)


def test_a_users_joblib_parallel_config_takes_over(fields, monkeypatch):
    import threading

    import skpci.segmentation._estimator as segmenter_module

    threads = set()
    original = segmenter_module.crop_field

    def recording(*args, **kwargs):
        threads.add(threading.get_ident())
        return original(*args, **kwargs)

    monkeypatch.setattr(segmenter_module, "crop_field", recording)
    segmenter = CellSegmenter(nuclear_channel=1, scale=1, crop_size=32)  # n_jobs left at None
    with parallel_config(backend="threading", n_jobs=2):
        bags = segmenter.transform(list(fields.images))
    assert len(bags) == 7
    assert threading.get_ident() not in threads  # the tasks ran in the configured backend's threads


def test_any_dtype_is_accepted(fields):
    as_uint16 = (fields.images[0] * 65535).astype(np.uint16)
    segmenter = CellSegmenter(nuclear_channel=1, scale=1, crop_size=32)
    assert segmenter.segment(as_uint16).n_cells == segmenter.segment(fields.images[0]).n_cells


@pytest.mark.parametrize("dtype, offset", [(np.uint32, 2**31), (np.int64, 2**40), (np.float64, 1e12)])
def test_a_huge_constant_offset_segments_the_same_nuclei(fields, dtype, offset, tmp_path):
    # float32 keeps only a few levels of 2**31 + a few thousand; the offset must go before the cast.
    plain = (fields.images[0] * 4000).astype(np.uint16)
    shifted = plain.astype(dtype) + dtype(offset)
    for segmenter in (CellSegmenter(nuclear_channel=1, scale=1, crop_size=32),  # diameter estimated
                      CellSegmenter(nuclear_channel=1, scale=0.5, crop_size=16, nucleus_diameter=14)):
        expected = segmenter.fit([plain]).segment(plain)
        found = segmenter.fit([shifted]).segment(shifted)
        assert found.n_cells == expected.n_cells > 0
        np.testing.assert_allclose(found.centroids, expected.centroids)
    threshold = float(np.percentile(plain[..., 1], 80))  # an absolute intensity means the same on either
    absolute = CellSegmenter(nuclear_channel=1, scale=1, crop_size=32, threshold=threshold)
    assert absolute.fit([plain]).segment(plain).n_cells > 0
    shifted_threshold = absolute.set_params(threshold=threshold + float(offset)).fit([shifted]).segment(shifted)
    np.testing.assert_allclose(shifted_threshold.centroids,
                               absolute.set_params(threshold=threshold).fit([plain]).segment(plain).centroids)
    if dtype is not np.float64:  # a store keeps integer crops to the last digit (float crops are float32)
        segmenter = CellSegmenter(nuclear_channel=1, scale=1, crop_size=32)
        crops = segmenter.to_store([shifted], tmp_path / "shifted", names=["field"]).read()
        assert crops.dtype == dtype
        plain_crops = segmenter.to_store([plain], tmp_path / "plain", names=["field"]).read()
        np.testing.assert_array_equal(crops - dtype(offset), plain_crops)


def test_a_blank_channel_leaves_crops_in_float32(fields, tmp_path):
    field = (fields.images[0] * 255).astype(np.uint8)
    field[..., 2] = 0  # an empty or unused channel is common
    segmenter = CellSegmenter(nuclear_channel=1, scale=0.5, crop_size=16, nucleus_diameter=14)
    (bag,) = segmenter.transform([field])
    assert bag.dtype == np.float32 and len(bag) and segmenter.segment(field).crops.dtype == np.float32
    assert segmenter.to_store([field], tmp_path / "store", names=["f"]).read().dtype == np.uint8


def test_file_references_are_read_in_the_workers(fields, tmp_path):
    image = (fields.images[0] * 255).astype(np.uint8)
    multi = tmp_path / "field.tif"
    tifffile.imwrite(multi, np.moveaxis(image, -1, 0), photometric="minisblack")  # channels-first, as microscopes write
    per_channel = []
    for c, name in enumerate(("green", "blue", "red")):
        path = tmp_path / f"field_{name}.tif"
        tifffile.imwrite(path, image[..., c])
        per_channel.append(str(path))
    segmenter = CellSegmenter(nuclear_channel=1, scale=1, crop_size=32, n_jobs=2)
    from_array, from_file, from_channels = segmenter.transform([image, str(multi), tuple(per_channel)])
    np.testing.assert_array_equal(from_array, from_file)
    np.testing.assert_array_equal(from_array, from_channels)


def test_dark_image_gives_an_empty_bag_and_a_warning():
    dark = np.zeros((64, 64, 2), dtype=np.uint8)
    with pytest.warns(UserWarning, match="image 0: no nuclei found"):
        (bag,) = CellSegmenter(scale=1, crop_size=16).transform([dark])
    assert bag.shape == (0, 16, 16, 2)


@pytest.mark.parametrize(
    "image, params, message",
    [
        (np.zeros((64, 64, 2)), dict(nuclear_channel=2), "image 0: nuclear_channel=2, but the image has 2"),
        (np.zeros((64, 64, 1)), dict(crop_size=128), "image 0: crop_size=128 is larger than the image"),
        (np.full((64, 64, 1), np.nan), {}, "image 0: contains NaN"),
        ("/nonexistent/field.tif", {}, "field.tif"),
    ],
    ids=["too few channels", "crop larger than image", "NaN", "unreadable file"],
)
def test_bad_fields_get_an_error_naming_the_image(image, params, message):
    segmenter = CellSegmenter(**{"scale": 1, "crop_size": 16, **params})
    with pytest.raises((ValueError, OSError), match=message):
        segmenter.transform([image])


def test_corrupt_file_gets_an_error_naming_it(tmp_path):
    path = tmp_path / "broken.tif"
    path.write_bytes(b"II*\x00 not really a tiff")
    with pytest.raises(OSError, match="broken.tif"):
        CellSegmenter(scale=1, crop_size=16).transform([str(path)])


def test_pipeline_from_whole_fields_to_classifier_cross_validates():
    data = make_cell_images(n_images=16, image_size=128, cell_radius=8, random_state=4,
                            localizations=("nucleus", "plasma_membrane", "vesicles", "nucleolus"))
    pipeline = Pipeline([
        ("segmenter", CellSegmenter(nuclear_channel=1, scale=1, crop_size=32, border="pad")),
        ("featurizer", PairedInpaintingFeaturizer(epochs=1, random_state=0, **FAST)),
        ("knn", KNeighborsClassifier(n_neighbors=3)),
    ])
    pipeline.set_output(transform="pandas")
    cv = StratifiedKFold(n_splits=2, shuffle=True, random_state=0)
    accuracy = cross_val_score(pipeline, list(data.images), data.labels, cv=cv).mean()
    print(f"segment -> featurize -> kNN accuracy {accuracy:.3f} (chance 0.25)")
    assert accuracy >= 0.5


def test_clone_and_params_round_trip():
    segmenter = CellSegmenter(nuclear_channel=2, scale=0.5, threshold="li")
    copy = clone(segmenter)
    assert copy.get_params() == segmenter.get_params()
    with pytest.raises(ValueError, match="threshold must be"):
        CellSegmenter(threshold="magic").fit()
