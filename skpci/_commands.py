"""What the ``skpci fit``, ``features`` and ``benchmark`` commands do, on crop folders.

Crop folders hold one file per channel and cell, ``<folder>/<image>_<cell>_<channel>.tif``
(the layout of the authors' yeast and HPA sets, read by :func:`skpci.io.read_cell_crops`).
"""

from pathlib import Path

import numpy as np
import pandas as pd

from ._featurizer import PairedInpaintingFeaturizer
from ._files import atomic_file
from .baselines import brightness_features, handcrafted_features
from .benchmark import knn_scores, layer_benchmark
from .io import read_cell_crops


def _roles(channels, protein, markers):
    """Channel names to (protein indices, marker indices), checking every name exists."""
    unknown = [name for name in (*protein, *markers) if name not in channels]
    if unknown:
        raise ValueError(f"Channel(s) {unknown} are not among --channels {list(channels)}.")
    return tuple(channels.index(n) for n in protein), tuple(channels.index(n) for n in markers)


def fit_command(crops, output, *, channels, protein, markers, group_by="folder", input_size=64, epochs=30,
                batch_size=64, seed=0, checkpoint_dir=None, start_from=None, n_jobs=None, verbose=1,
                echo=print):
    """Train on a crop folder and save a model directory; returns its path."""
    data = read_cell_crops(crops, channels, n_jobs=n_jobs)
    protein_channels, marker_channels = _roles(list(channels), protein, markers)
    groups = data.cell_table[group_by].to_numpy() if group_by == "folder" else (
        data.cell_table["folder"] + "/" + data.cell_table["image"]).to_numpy()
    echo(f"{len(data.cells)} cells in {len(np.unique(groups))} groups ({group_by}); channels {list(channels)}")
    featurizer = PairedInpaintingFeaturizer(
        protein_channels=protein_channels, marker_channels=marker_channels, input_size=input_size,
        epochs=epochs, batch_size=batch_size, random_state=seed, checkpoint_dir=checkpoint_dir,
        weights=start_from, n_jobs=n_jobs, verbose=verbose,
    ).fit(data.cells, groups=groups)
    path = featurizer.save_pretrained(
        output, overwrite=True, channel_names=list(channels),
        training_data=f"crop folder {str(Path(crops).resolve())}: {len(data.cells)} cells, groups by {group_by}",
    )
    losses = featurizer.history_["loss"]
    if losses:
        echo(f"loss {losses[0]:.4f} -> {losses[-1]:.4f} over {len(losses)} epochs")
    echo(f"model written to {path}")
    return path


def features_command(crops, model, output, *, layer="conv3_1", per="cell", channels=None, n_jobs=None,
                     verbose=1, echo=print):
    """Features of every cell (or mean per image or folder) of a crop folder, written as CSV or Parquet."""
    _check_table_suffix(output)
    featurizer = PairedInpaintingFeaturizer.from_pretrained(model, layer=layer.split(","), n_jobs=n_jobs,
                                                            verbose=verbose)
    channels = channels or _model_channel_names(featurizer)
    data = read_cell_crops(crops, channels, n_jobs=n_jobs)
    featurizer.fit(data.cells[:1])
    table = pd.DataFrame(featurizer.transform(data.cells), columns=featurizer.get_feature_names_out())
    table = pd.concat([data.cell_table.reset_index(drop=True), table], axis=1)
    if per != "cell":
        keys = ["folder"] if per == "folder" else ["folder", "image"]
        counts = table.groupby(keys).size().rename("n_cells")
        table = table.drop(columns=[c for c in ("image", "cell") if c not in keys]).groupby(keys).mean()
        table = table.join(counts).reset_index()
    write_table(table, output)
    echo(f"{len(table)} rows x {table.shape[1]} columns written to {output}")
    return table


def benchmark_command(crops, model, *, channels=None, labels="folder", folds="image", layers=None,
                      n_jobs=None, echo=print):
    """kNN localization benchmark of a model's layers against baselines on a crop folder."""
    featurizer = PairedInpaintingFeaturizer.from_pretrained(model, n_jobs=n_jobs)
    channels = channels or _model_channel_names(featurizer)
    data = read_cell_crops(crops, channels, n_jobs=n_jobs)
    featurizer.fit(data.cells[:1])
    table = data.cell_table
    y = table[labels].to_numpy()
    groups = (table["folder"] + "/" + table["image"]).to_numpy() if folds == "image" else table[folds].to_numpy()
    protein = featurizer.protein_channels_
    result = pd.concat([
        layer_benchmark(featurizer, data.cells, y, groups, name=Path(str(model)).name,
                        **({"layers": layers} if layers else {})),
        pd.DataFrame([
            {"features": "hand-crafted", "layer": "-",
             **knn_scores(handcrafted_features(data.cells, protein, n_jobs=n_jobs), y, groups)},
            {"features": "brightness", "layer": "-", **knn_scores(brightness_features(data.cells, protein), y, groups)},
        ]),
    ], ignore_index=True)
    echo(f"{len(y)} cells, {len(np.unique(y))} classes ({labels}), folds by {folds}; "
         f"chance {1 / len(np.unique(y)):.3f}")
    echo(result.drop(columns="n_folds").round(3).to_string(index=False))
    return result


def write_table(table, output):
    """Write a DataFrame atomically as CSV (``.csv``) or Parquet (``.parquet``)."""
    output = Path(output)
    suffix = _check_table_suffix(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(output) as temporary:
        if suffix == ".csv":
            table.to_csv(temporary, index=False)
        else:
            try:
                table.to_parquet(temporary, index=False)
            except ImportError as error:
                raise ValueError("Writing Parquet needs pyarrow: pip install pyarrow, or write .csv.") from error


def _check_table_suffix(output):
    suffix = Path(output).suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ValueError(f"Output {str(output)!r} must end in .csv or .parquet.")
    return suffix


def _model_channel_names(featurizer):
    from . import pretrained

    card = pretrained.resolve(featurizer.weights).card or {}
    names = card.get("channels", {}).get("names")
    if not names:
        raise ValueError("The model does not record its channel names; pass --channels.")
    return names
