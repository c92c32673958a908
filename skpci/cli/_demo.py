"""`skpci demo`: segment synthetic fields, featurize, and benchmark per layer."""

import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from .._files import atomic_file
from ..datasets import CHANNELS, LOCALIZATIONS, make_cell_images
from ..evaluation import (
    benchmark_scores,
    brightness_features,
    describe_shortfalls,
    layer_benchmark,
    layer_features,
    training_shortfalls,
)
from ..featurizer import PairedInpaintingFeaturizer
from ..segmentation import CellSegmenter

#: The bundled model the demo uses unless asked to train.
DEMO_MODEL = "synthetic-32"


def run_demo(*, n_images=42, epochs=0, input_size=32, random_state=0, verbose=1, output=None, echo=print):
    """Segment synthetic fields, featurize the cells, and score the features per layer.

    Parameters
    ----------
    n_images : int, default=42
        Synthetic fields (6 per localization class; at least 2 per class),
        drawn with ``random_state``; the bundled model never saw them.
    epochs : int, default=0
        ``0`` uses the bundled pretrained model ``synthetic-32``; more trains
        a network from scratch for that many epochs.
    input_size : int, default=32
        Network input size when training from scratch.
    random_state : int, default=0
    verbose : int, default=1
        Progress bars.
    output : str or path-like, optional
        Folder for the figures (PNG); none are drawn when ``None``.
    echo : callable, default=print
        Where the report goes.

    Returns
    -------
    table : pandas.DataFrame
        kNN accuracy of single-cell localization (folds by field) for each
        layer of the paired-inpainting network and of the same network
        untrained, and for the brightness baseline.
    """
    minimum = 2 * len(LOCALIZATIONS)
    if n_images < minimum:
        raise ValueError(f"The demo needs at least {minimum} images (--images): two of each of the "
                         f"{len(LOCALIZATIONS)} localizations, so that every class is tested on a field "
                         f"other than those it is learned from; got {n_images}.")
    started = time.perf_counter()
    data = _segmented_fields(n_images, random_state, verbose, echo)
    if epochs:
        featurizer = PairedInpaintingFeaturizer(
            protein_channels=(0,), marker_channels=(1, 2), input_size=input_size, batch_size=32,
            epochs=epochs, random_state=random_state, verbose=verbose,
        ).fit(data.bags)
        losses = ", ".join(f"{loss:.4f}" for loss in featurizer.history_["loss"])
        echo(f"Trained {epochs} epoch{'' if epochs == 1 else 's'} from scratch; inpainting loss per epoch: {losses}")
    else:
        featurizer = PairedInpaintingFeaturizer.from_pretrained(DEMO_MODEL).fit(data.bags)
        training = featurizer.pretrained_card_["training"]
        echo(f"Using the bundled model {DEMO_MODEL!r} ({training['epochs']} epochs on "
             f"{training['cells']} synthetic cells; final inpainting loss {training['final_loss']:.4f}).")
    untrained = PairedInpaintingFeaturizer(
        protein_channels=(0,), marker_channels=(1, 2), input_size=featurizer.input_size, epochs=0,
        random_state=random_state,
    ).fit(data.bags)

    benchmark = dict(labels=data.cell_labels, groups=data.groups)
    table = pd.concat([
        layer_benchmark(featurizer, data.cells, name="paired inpainting", retrieval=True, **benchmark),
        layer_benchmark(untrained, data.cells, name="untrained network", retrieval=True, **benchmark),
        pd.DataFrame([{"features": "brightness (mean, max)", "layer": "-",
                       **benchmark_scores(brightness_features(data.cells), retrieval=True, **benchmark)}]),
    ], ignore_index=True)
    echo("\nSingle-cell localization, kNN (k=5) on standardized features, 5 folds by field of view; "
         f"chance is {1 / len(data.localizations):.2f}"
         + ("; mAP: mean average precision of retrieving same-class cells from other fields (copairs):"
            if table["map"].notna().any() else ":"))
    echo(format_table(table))
    if epochs:  # the bundled model is known to beat its untrained twin
        warning = describe_shortfalls(training_shortfalls(table, "paired inpainting", "untrained network"))
        if warning:
            echo(warning)
    if output is not None:
        _save_figures(output, featurizer, table, data, echo)
    echo(f"\nDone in {time.perf_counter() - started:.0f} s.")
    return table


def _save_figures(output, featurizer, table, data, echo):
    try:
        from .. import plots
    except ImportError:
        echo("\nFigures skipped: install matplotlib (pip install 'skpci[plot]') to get them.")
        return
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    cells = data.cells[data.groups == 0]
    first_field = data.fields.images[0]
    figures = {
        "inpainting.png": plots.plot_inpainting(featurizer, cells[:-1], cells[1:], n_pairs=5),
        "embedding.png": plots.plot_embedding(
            layer_features(featurizer, data.cells, ["conv3_1"])["conv3_1"], data.cell_labels,
            title="conv3_1 features of single cells (PCA), by localization"),
        "layers.png": plots.plot_layer_accuracy(table, chance=1 / len(data.localizations)),
        "segmentation.png": plots.plot_segmentation(
            first_field, data.segmenter.segment(first_field),
            channel=CHANNELS.index("nucleus"), title="Nuclei found in the first synthetic field"),
    }
    for name, figure in figures.items():
        save_figure(figure, output / name)
    echo(f"\nFigures written to {output.resolve()}: {', '.join(figures)}")


def save_figure(figure, path, dpi=120):
    """Write a figure as PNG atomically: to a temporary name, then renamed."""
    with atomic_file(path) as temporary:
        figure.savefig(temporary, dpi=dpi, format="png")


def _segmented_fields(n_images, random_state, verbose, echo):
    fields = make_cell_images(n_images, image_size=160, cell_radius=8, random_state=random_state)
    segmenter = CellSegmenter(nuclear_channel=CHANNELS.index("nucleus"), scale=1, crop_size=32,
                              min_nucleus_area=12, border="pad", verbose=verbose)
    bags = segmenter.fit_transform(list(fields.images))
    sizes = [len(bag) for bag in bags]
    true_nuclei = int(sum(labels.max() for labels in fields.nuclei))
    echo(f"Synthetic data: {n_images} fields, {len(fields.localizations)} localization classes, "
         f"channels {CHANNELS}; segmented {sum(sizes)} cells ({true_nuclei} true nuclei).")
    return Bunch(bags=bags, cells=np.concatenate(list(bags)), groups=np.repeat(np.arange(n_images), sizes),
                 cell_labels=np.repeat(fields.labels, sizes), localizations=fields.localizations,
                 fields=fields, segmenter=segmenter)


def format_table(table):
    """Render a benchmark table as aligned text with mean ± spread over folds."""
    shown = pd.DataFrame({
        "features": table["features"],
        "layer": table["layer"],
        "accuracy": [f"{m:.3f} ± {s:.3f}" for m, s in zip(table["accuracy"], table["accuracy_std"])],
        "balanced accuracy": [f"{m:.3f} ± {s:.3f}" for m, s in
                              zip(table["balanced_accuracy"], table["balanced_accuracy_std"])],
    })
    if "map" in table and table["map"].notna().any():  # with copairs installed
        shown["mAP"] = [f"{value:.3f}" for value in table["map"]]
    return shown.to_string(index=False)
