"""Rough edges of the figures (issue #19): colour key, legends outside the data, labelled lines and error bars."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("matplotlib")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402

from skpci import PairedInpaintingFeaturizer, plots  # noqa: E402
from skpci.datasets import make_cell_crops  # noqa: E402


def _renderer(figure):
    return FigureCanvasAgg(figure).get_renderer()


def test_inpainting_preview_says_which_channel_each_colour_shows():
    data = make_cell_crops(n_images=2, image_size=96, cell_radius=8, crop_size=32, random_state=0)
    featurizer = PairedInpaintingFeaturizer.from_pretrained("synthetic-32").fit(data.bags)
    cells = data.bags[0]
    figure = plots.plot_inpainting(featurizer, cells[:-1], cells[1:], n_pairs=2)
    texts = [text.get_text() for text in figure.texts]
    assert "colours: green = protein, blue = nucleus, red = cytosol" in texts
    renderer = _renderer(figure)
    key = next(text for text in figure.texts if text.get_text().startswith("colours"))
    box = key.get_window_extent(renderer)
    assert box.y0 >= 0 and not any(box.overlaps(axis.get_window_extent(renderer)) for axis in figure.axes)


def test_embedding_legend_sits_outside_the_points():
    features = np.random.default_rng(0).normal(size=(60, 10))
    figure = plots.plot_embedding(features, np.repeat(["nucleus", "cytosol", "plasma membrane"], 20))
    renderer = _renderer(figure)
    axis = figure.axes[0]
    legend = axis.get_legend().get_window_extent(renderer)
    assert legend.x0 >= axis.get_window_extent(renderer).x1
    assert legend.x1 <= figure.bbox.x1  # and still on the figure


def test_layer_chart_names_lines_away_from_the_bars_and_explains_the_error_bars():
    table = pd.DataFrame({
        "features": ["model", "model", "untrained", "untrained", "brightness", "hand-crafted"],
        "layer": ["conv1_1", "conv2_1"] * 2 + ["-", "-"],
        "accuracy": [0.5, 0.9, 0.4, 0.3, 0.6, 0.61], "accuracy_std": [0.1] * 6,
    })
    figure = plots.plot_layer_accuracy(table, chance=0.1)
    renderer = _renderer(figure)
    axis = figure.axes[0]
    bars = [patch.get_window_extent(renderer) for patch in axis.patches]
    names = {text.get_text(): text.get_window_extent(renderer) for text in axis.texts}
    assert set(names) == {"brightness", "hand-crafted", "chance"}
    assert not any(name.overlaps(bar) for name in names.values() for bar in bars)
    assert not names["brightness"].overlaps(names["hand-crafted"])
    legend = axis.get_legend()
    assert [text.get_text() for text in legend.get_texts()] == ["model", "untrained", "error bars: std over folds"]
    legend_box = legend.get_window_extent(renderer)
    assert not any(legend_box.overlaps(bar) for bar in bars)
    assert legend_box.y0 >= 0
