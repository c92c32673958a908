import numpy as np
import pandas as pd
import pytest

pytest.importorskip("matplotlib")

from skpci import CellSegmenter, plots  # noqa: E402
from skpci.datasets import make_cell_images  # noqa: E402


def _drawn_images(figure):
    return [image for axis in figure.axes for image in axis.get_images()]


def test_inpainting_preview_shows_source_markers_prediction_and_truth(fitted_featurizer, synthetic_crops):
    cells = synthetic_crops.cells[synthetic_crops.groups == 0]
    figure = plots.plot_inpainting(fitted_featurizer, cells[:-1], cells[1:], n_pairs=3)
    assert len(figure.axes) == 12
    assert [axis.get_title() for axis in figure.axes[:4]][2:] == ["predicted protein", "true protein"]
    # The same three pairs as the figure: a batch of another size may round differently on a CPU.
    predicted = fitted_featurizer.inpaint(cells[:3], cells[1:4])[0, ..., 0]
    np.testing.assert_allclose(_drawn_images(figure)[2].get_array(), predicted)


def test_embedding_has_one_series_per_label(rng):
    features = rng.normal(size=(60, 10))
    labels = np.repeat(["a", "b", "c"], 20)
    figure = plots.plot_embedding(features, labels)
    axis = figure.axes[0]
    assert [text.get_text() for text in axis.get_legend().get_texts()] == ["a", "b", "c"]
    assert sum(len(c.get_offsets()) for c in axis.collections) == 60
    with pytest.raises(ValueError, match="pca"):
        plots.plot_embedding(features, labels, method="tsne")


def test_layer_chart_draws_a_bar_per_layer_and_feature_set():
    table = pd.DataFrame({
        "features": ["a", "a", "b", "b", "baseline"], "layer": ["conv1_1", "conv2_1"] * 2 + ["-"],
        "accuracy": [0.5, 0.6, 0.4, 0.3, 0.2], "accuracy_std": [0.1] * 5,
    })
    figure = plots.plot_layer_accuracy(table, chance=0.1)
    axis = figure.axes[0]
    heights = sorted(round(p.get_height(), 3) for p in axis.patches)
    assert heights == [0.3, 0.4, 0.5, 0.6]
    assert [t.get_text() for t in axis.get_xticklabels()] == ["conv1_1", "conv2_1"]


def test_segmentation_overlay_marks_every_crop():
    field = make_cell_images(n_images=1, image_size=128, cell_radius=8, random_state=0).images[0]
    result = CellSegmenter(nuclear_channel=1, scale=1, crop_size=32, border="pad").segment(field)
    figure = plots.plot_segmentation(field, result, channel=1)
    axis = figure.axes[0]
    assert len(axis.patches) == result.n_cells > 3
    assert axis.get_xlim() == (-0.5, 127.5)
    assert [text.get_text() for text in axis.get_legend().get_texts()] == ["nucleus outline", "crop", "centroid"]
    assert axis.get_title().startswith(f"{result.n_found} nuclei found, {result.n_cells} cropped")
