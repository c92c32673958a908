"""Tests on the real microscopy in ../shared/data (skipped when it is absent)."""

import numpy as np
import pytest
from sklearn.model_selection import LeaveOneGroupOut

from skpci import PairedInpaintingFeaturizer
from skpci.evaluation import knn_scores
from skpci.io import bags_by, read_human_crops, read_yeast_crops

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def yeast(data_dir):
    return read_yeast_crops(data_dir / "yeast_toy")


def test_yeast_toy_set_reads_as_documented(yeast):
    assert yeast.cells.shape == (1220, 64, 64, 2)
    counts = dict(zip(*np.unique(yeast.labels, return_counts=True)))
    assert counts == {"AAC1": 272, "AAC3": 343, "AAH1": 140, "AAP1": 227, "AAR2": 238}
    assert len(np.unique(yeast.fields)) == 15


def test_yeast_two_plus_one_channel_model_trains_and_separates_mitochondria(yeast):
    # A quick CPU version: every 3rd cell, 32 px input, one epoch.
    subset = np.arange(0, len(yeast.cells), 3)
    cells, groups, fields = yeast.cells[subset], yeast.groups[subset], yeast.fields[subset]
    featurizer = PairedInpaintingFeaturizer(protein_channels=(0,), marker_channels=(1,), input_size=32,
                                            epochs=1, batch_size=32, random_state=0)
    featurizer.fit(cells, groups=groups)
    assert featurizer.model_.get_layer("x_in").output.shape[-1] == 2
    assert featurizer.model_.get_layer("y_rfp").output.shape[-1] == 1
    assert np.isfinite(featurizer.history_["loss"]).all()
    mitochondrial = np.isin(yeast.labels[subset], ["AAC1", "AAC3"])
    scores = knn_scores(featurizer.transform(cells), mitochondrial, fields, cv=LeaveOneGroupOut())
    print(f"yeast mitochondrion-vs-not, leave-one-field-out: {scores}")
    assert scores["balanced_accuracy"] > 0.65  # chance is 0.5


def test_human_three_plus_two_channel_model_resizes_128px_crops_to_64(data_dir):
    human = read_human_crops(data_dir / "human_toy")
    assert human.cells.shape == (62, 128, 128, 3)
    bags, images = bags_by(human.cells, human.groups)
    featurizer = PairedInpaintingFeaturizer(protein_channels=(0,), marker_channels=(1, 2), input_size=64,
                                            epochs=1, batch_size=16, layer="conv4_1", random_state=0)
    featurizer.fit(bags)
    assert featurizer.model_.count_params() == 7_324_529
    features = featurizer.transform(bags)
    assert features.shape == (len(images), 384)
    assert np.isfinite(features).all()
    assert np.isfinite(featurizer.history_["loss"]).all()


def test_nuclei_gt_splitting_recovers_clearly_more_nuclei_than_plain_otsu(data_dir):
    import tifffile

    from skpci import CellSegmenter

    from .segmentation.test_estimator import match_recall

    image = tifffile.imread(data_dir / "nuclei_gt" / "img2d.tif")[..., np.newaxis]
    truth = tifffile.imread(data_dir / "nuclei_gt" / "mask2d.tif")
    results = {}
    for split in (False, True):
        segmenter = CellSegmenter(scale=1, crop_size=32, method="watershed" if split else "otsu", border="pad")
        labels = segmenter.segment(image).labels
        results[split] = (int(labels.max()), match_recall(labels, truth))
    print(f"nuclei_gt (125 nuclei): objects, recall@IoU0.5 plain Otsu {results[False]}, "
          f"split {results[True]}")
    assert results[True][0] > results[False][0] + 20
    assert results[True][1] > results[False][1] + 0.2
    assert results[True][1] >= 0.70


def test_cellprofiler_fields_give_hundreds_of_crops_from_per_channel_files(data_dir):
    from skpci import CellSegmenter
    from skpci.io import list_fields

    fields, ids = list_fields(data_dir / "cellprofiler" / "ExampleFly" / "images", ("D", "F", "R"))
    assert ids == ["01_POS002", "01_POS076", "01_POS218"]
    segmenter = CellSegmenter(nuclear_channel=0, scale=0.5, crop_size=32, min_nucleus_area=8, n_jobs=2)
    bags = segmenter.transform(fields)
    assert len(bags) == 3
    for bag in bags:
        assert bag.shape[1:] == (32, 32, 3)
        assert len(bag) > 100
    human, _ = list_fields(data_dir / "cellprofiler" / "ExampleHuman" / "images", ("d0", "d1", "d2"),
                           channel_pattern=r"(?P<channel>d\d)$")
    result = segmenter.segment(human[0])
    assert result.labels.shape == (512, 512)
    assert result.n_cells > 100


def test_a_callable_method_returning_the_true_mask_gives_one_crop_per_nucleus(data_dir):
    import tifffile

    from skpci import CellSegmenter

    image = tifffile.imread(data_dir / "nuclei_gt" / "img2d.tif")[..., np.newaxis]
    truth = tifffile.imread(data_dir / "nuclei_gt" / "mask2d.tif")  # 125 nuclei, labels not consecutive
    result = CellSegmenter(scale=1, crop_size=32, border="pad", method=lambda nuclear: truth).segment(image)
    assert result.n_cells == len(np.unique(truth)) - 1 == 125
    np.testing.assert_array_equal(result.labels, truth)


def _hela(data_dir):
    folder = data_dir / "cellprofiler" / "ExampleHuman" / "images"
    return tuple(str(folder / f"AS_09125_050116030001_D03f00d{i}.tif") for i in range(3))


def test_hela_at_the_authors_hpa_settings_says_why_it_gives_no_crops(data_dir):
    from skpci import CellSegmenter

    # Scaled by 0.25 the 512 px field is 128 px: nuclei shrink under min_nucleus_area, 128 px crops leave it.
    hpa = dict(nuclear_channel=0, scale=0.25, crop_size=128, min_nucleus_area=30)
    with pytest.warns(UserWarning, match=r"\d+ nuclei found, all dropped: \d+ at the border .*; \d+ as smaller"):
        bags = CellSegmenter(**hpa).transform([_hela(data_dir)])
    assert len(bags[0]) == 0
    result = CellSegmenter(**hpa).segment(_hela(data_dir))
    assert result.n_found > 100 and result.n_cells == 0
    assert result.n_dropped_border + result.n_dropped_small == result.n_found


def test_default_segmenter_crops_hundreds_of_cells_from_hela_and_drosophila(data_dir):
    from skpci import CellSegmenter
    from skpci.io import list_fields

    hela = CellSegmenter(nuclear_channel=0).fit([_hela(data_dir)])
    bags = hela.transform([_hela(data_dir)])
    fly_fields, _ = list_fields(data_dir / "cellprofiler" / "ExampleFly" / "images", ("D", "F", "R"),
                                channel_pattern=r"_(?P<channel>[DFR])$")
    fly = CellSegmenter(nuclear_channel=0).fit(fly_fields)
    fly_bags = fly.transform(fly_fields)
    print(f"HeLa: nuclei {hela.nucleus_diameter_} px, scale {hela.scale_}, crops {hela.crop_size_} px, "
          f"{len(bags[0])} cells; fly: nuclei {fly.nucleus_diameter_} px, crops {fly.crop_size_} px, "
          f"{[len(bag) for bag in fly_bags]} cells")
    assert len(bags[0]) > 200 and min(len(bag) for bag in fly_bags) > 200
    assert 8 < hela.nucleus_diameter_ < 16 and hela.scale_ == 1.0
    assert bags[0].shape[1] == hela.crop_size_ == 4 * round(3.5 * hela.nucleus_diameter_ / 4)


def test_large_hpa_nuclei_are_not_cut(data_dir):
    import tifffile
    from skimage import filters, measure

    from skpci import CellSegmenter

    # Each crop is 128 px at the authors' HPA scale with its own nucleus at the centre.
    whole = cut = 0
    for path in sorted((data_dir / "human_toy").glob("*/*_blue.tif")):
        blue = tifffile.imread(path)
        labels = CellSegmenter(scale=1, border="pad").segment(blue[..., np.newaxis]).labels
        smoothed = filters.gaussian(blue, 1)
        otsu = measure.label(smoothed > filters.threshold_otsu(smoothed))
        centre = otsu == otsu[64, 64]
        if not otsu[64, 64]:
            continue
        pieces, sizes = np.unique(labels[centre & (labels > 0)], return_counts=True)
        if (sizes > 0.05 * centre.sum()).sum() == 1:
            whole += 1
        else:
            cut += 1
    print(f"human_toy: centre nucleus one object in {whole} of {whole + cut} crops")
    # The rest are mostly pairs of touching nuclei (one Otsu object), rightly split.
    assert whole >= 0.85 * (whole + cut) and whole + cut > 50
