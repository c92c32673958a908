"""
Yeast benchmark: do paired-inpainting features beat hand-crafted ones on real cells?
=====================================================================================

Trains the featurizer on the authors' yeast toy crops (GFP protein + RFP
cytosol, 2 + 1 channels; cells paired within a protein's folder), then scores
kNN classification with leave-one-field-out folds, and the mean average
precision (copairs) of retrieving same-label cells from other fields, for two
tasks: protein identity (5 classes) and mitochondrion-vs-not (AAC1, AAC3).
Baselines on the same folds: the untrained network, hand-crafted features, raw
downsampled pixels, and brightness alone (expression level, no localization).
The background probe scores the network's conv3_1 and conv4_1 features again
with only the central cell in each crop. ``--seeds N`` trains N times and
reports mean ± std.

Needs the yeast toy set: ``--data ../shared/data`` or ``SKPCI_DATA_DIR``.
``--fast`` trains one epoch on a third of the cells at 32 px (about a minute);
the default trains 15 epochs at 32 px (about 10 minutes on 2 CPU cores).
At 32 px the hand-crafted features still win protein identity; at the paper's
``--input-size 64`` (60 to 80 minutes on 2 CPU cores, minutes on a GPU) the
trained conv3_1 features lead them (docs/benchmarks.md, "At 64 px").
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import LeaveOneGroupOut

from skpci import PairedInpaintingFeaturizer
from skpci.evaluation import (
    brightness_features,
    handcrafted_features,
    knn_scores,
    layer_features,
    map_scores,
    mask_background,
    pixel_features,
)
from skpci.io import read_yeast_crops
from skpci.network import FEATURE_LAYERS

MITOCHONDRIAL = ("AAC1", "AAC3")


def main(data_dir, *, epochs=15, input_size=32, fast=False, seeds=(0,), output=None, random_state=None):
    yeast = read_yeast_crops(Path(data_dir) / "yeast_toy")
    cells, groups, fields, proteins = yeast.cells, yeast.groups, yeast.fields, yeast.labels
    if fast:
        keep = np.arange(0, len(cells), 3)
        cells, groups, fields, proteins = cells[keep], groups[keep], fields[keep], proteins[keep]
        epochs = 1
    seeds = (random_state,) if random_state is not None else tuple(seeds)
    print(f"{len(cells)} yeast cells, {len(np.unique(fields))} fields, proteins {sorted(set(proteins))}; "
          f"seeds {list(seeds)}")
    tasks = {"protein identity (5 classes)": proteins,
             "mitochondrion vs not": np.isin(proteins, MITOCHONDRIAL)}
    # Only the central cell: everything outside it (found in the RFP cytosol channel) set to the crop's floor.
    masked = mask_background(cells, marker_channel=1)
    baselines = {
        "hand-crafted (intensity, Haralick, LBP, radial, objects)": handcrafted_features(cells),
        "raw pixels (16x16, per-crop scaled)": pixel_features(cells),
        "brightness (mean, max of raw GFP)": brightness_features(cells),
    }
    cv = LeaveOneGroupOut()
    rows, training_seconds = [], []
    for seed in seeds:
        params = dict(protein_channels=(0,), marker_channels=(1,), input_size=input_size, batch_size=64,
                      random_state=seed)
        started = time.perf_counter()
        trained = PairedInpaintingFeaturizer(epochs=epochs, verbose=1, **params).fit(cells, groups=groups)
        training_seconds.append(time.perf_counter() - started)
        print(f"seed {seed}: trained {epochs} epochs in {training_seconds[-1] / 60:.1f} min; "
              f"loss {trained.history_['loss'][0]:.4f} -> {trained.history_['loss'][-1]:.4f}")
        untrained = PairedInpaintingFeaturizer(epochs=0, **params).fit(cells)
        feature_sets = {}
        for name, featurizer in (("paired inpainting", trained), ("untrained network", untrained)):
            for layer, features in layer_features(featurizer, cells, FEATURE_LAYERS).items():
                feature_sets[(name, layer)] = features
            for layer, features in layer_features(featurizer, masked, PROBE_LAYERS).items():
                feature_sets[(f"{name}, central cell only", layer)] = features
        if seed == seeds[0]:  # baselines do not depend on the seed
            feature_sets.update({(name, "-"): features for name, features in baselines.items()})
        for task, labels in tasks.items():
            for (name, layer), features in feature_sets.items():
                rows.append({"task": task, "features": name, "layer": layer, "seed": seed,
                             **_scores(features, labels, fields, cv)})
    per_seed = pd.DataFrame(rows)
    result = _summarize(per_seed)
    for task in tasks:
        table = result[result["task"] == task].drop(columns="task")
        best = table.loc[table["features"] == "paired inpainting", "accuracy"].max()
        best_baseline = table.loc[~table["features"].str.startswith("paired inpainting"), "accuracy"].max()
        print(f"\n{task}: best paired-inpainting layer {best:.3f}, best other row {best_baseline:.3f} "
              f"(mean over {len(seeds)} seed(s); ± is the std over seeds)")
        print(_formatted(table).to_string(index=False))
    result.attrs["training_seconds"] = float(np.mean(training_seconds))
    result.attrs["per_seed"] = per_seed
    if output:
        result.to_csv(output, index=False)
        print(f"\ntable written to {output}")
    return result


#: Layers the background probe scores (the paper's best).
PROBE_LAYERS = ("conv3_1", "conv4_1")


def _scores(features, labels, fields, cv):
    """kNN accuracy by held-out field and, with copairs installed, mAP of retrieval across fields."""
    knn = knn_scores(features, labels, fields, cv=cv)
    scores = {"accuracy": knn["accuracy"], "balanced_accuracy": knn["balanced_accuracy"]}
    try:
        scores["map"] = map_scores(features, labels, fields, null_size=100)["map"]
    except ImportError:
        scores["map"] = np.nan
    return scores


def _summarize(per_seed):
    grouped = per_seed.groupby(["task", "features", "layer"], sort=False)
    summary = grouped[["accuracy", "balanced_accuracy", "map"]].agg(["mean", "std"])
    summary.columns = [f"{metric}{'' if stat == 'mean' else '_std'}" for metric, stat in summary.columns]
    summary["seeds"] = grouped.size()
    return summary.reset_index()


def _formatted(table):
    shown = table[["features", "layer"]].copy()
    for metric in ("accuracy", "map"):
        spread = table[f"{metric}_std"].fillna(0)
        shown[metric] = [f"{mean:.3f} ± {std:.3f}" if n > 1 else f"{mean:.3f}"
                         for mean, std, n in zip(table[metric], spread, table["seeds"])]
    return shown


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("SKPCI_DATA_DIR"),
                        help="folder holding yeast_toy/ (default: $SKPCI_DATA_DIR)")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--input-size", type=int, default=32)
    parser.add_argument("--fast", action="store_true", help="one epoch on a third of the cells")
    parser.add_argument("--seeds", type=int, default=1, help="train with seeds 0..N-1; report mean ± std")
    parser.add_argument("--output", help="also write the table as CSV")
    args = parser.parse_args()
    if not args.data:
        parser.error("give --data or set SKPCI_DATA_DIR to the folder holding yeast_toy/")
    main(args.data, epochs=args.epochs, input_size=args.input_size, fast=args.fast, seeds=range(args.seeds),
         output=args.output)
