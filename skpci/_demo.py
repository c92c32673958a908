"""`skpci demo`: train on synthetic fields and benchmark the features per layer."""

import time

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ._featurizer import PairedInpaintingFeaturizer
from ._segmenter import CellSegmenter
from .baselines import brightness_features
from .benchmark import knn_scores, layer_benchmark
from .datasets import CHANNELS, make_cell_images


def run_demo(*, n_images=42, epochs=4, input_size=32, random_state=0, verbose=1, echo=print):
    """Segment synthetic fields, train paired cell inpainting, and score its features.

    Parameters
    ----------
    n_images : int, default=42
        Synthetic fields (6 per localization class).
    epochs : int, default=4
    input_size : int, default=32
        Network input size; 32 keeps the demo to a few minutes on a CPU.
    random_state : int, default=0
    verbose : int, default=1
        Progress bars.
    echo : callable, default=print
        Where the report goes.

    Returns
    -------
    table : pandas.DataFrame
        kNN accuracy of single-cell localization (folds by image) for each
        layer of the trained and the untrained network, and for brightness.
    """
    started = time.perf_counter()
    fields = make_cell_images(n_images, image_size=160, cell_radius=8, random_state=random_state)
    segmenter = CellSegmenter(nuclear_channel=CHANNELS.index("nucleus"), scale=1, crop_size=32,
                              min_nucleus_area=12, border="pad", verbose=verbose)
    bags = segmenter.fit_transform(list(fields.images))
    sizes = [len(bag) for bag in bags]
    data = Bunch(bags=bags, cells=np.concatenate(list(bags)), groups=np.repeat(np.arange(n_images), sizes),
                 cell_labels=np.repeat(fields.labels, sizes), localizations=fields.localizations)
    true_nuclei = int(sum(labels.max() for labels in fields.nuclei))
    echo(f"Synthetic data: {n_images} fields, {len(data.localizations)} localization classes, "
         f"channels {CHANNELS}; segmented {len(data.cells)} cells ({true_nuclei} true nuclei).")
    params = dict(protein_channels=(0,), marker_channels=(1, 2), input_size=input_size,
                  batch_size=32, random_state=random_state)

    trained = PairedInpaintingFeaturizer(epochs=epochs, verbose=verbose, **params).fit(data.bags)
    losses = ", ".join(f"{loss:.4f}" for loss in trained.history_["loss"])
    echo(f"Trained {epochs} epochs in {time.perf_counter() - started:.0f} s; inpainting loss per epoch: {losses}")
    untrained = PairedInpaintingFeaturizer(epochs=0, **params).fit(data.bags)

    benchmark = dict(labels=data.cell_labels, groups=data.groups)
    table = pd.concat([
        layer_benchmark(trained, data.cells, name="paired inpainting", **benchmark),
        layer_benchmark(untrained, data.cells, name="untrained network", **benchmark),
        pd.DataFrame([{"features": "brightness (mean, max)", "layer": "-",
                       **knn_scores(brightness_features(data.cells), **benchmark)}]),
    ], ignore_index=True)
    echo("\nSingle-cell localization, kNN (k=5) with folds by field of view; chance is "
         f"{1 / len(data.localizations):.2f}:")
    echo(format_table(table))
    echo(f"\nDone in {time.perf_counter() - started:.0f} s.")
    return table


def format_table(table):
    """Render a benchmark table as aligned text with mean ± spread."""
    shown = pd.DataFrame({
        "features": table["features"],
        "layer": table["layer"],
        "accuracy": [f"{m:.3f} ± {s:.3f}" for m, s in zip(table["accuracy"], table["accuracy_std"])],
        "balanced accuracy": [f"{m:.3f} ± {s:.3f}" for m, s in
                              zip(table["balanced_accuracy"], table["balanced_accuracy_std"])],
    })
    return shown.to_string(index=False)
