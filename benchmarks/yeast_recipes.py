"""Recipe search on the real yeast crops: which training and read-out options give the best features?

Each *training recipe* is a set of :class:`~skpci.PairedInpaintingFeaturizer`
parameters on top of the base (32 px, 15 epochs, batch 64, flips):
``rotations``, ``protein-jitter`` (``protein_jitter=0.5``), ``central-cell``
(``mask_neighbours=True``), ``30-epochs``. Each recipe is trained once per seed
and saved under ``--cache``, so a rerun only scores; an interrupted training
resumes from its checkpoint (``<model>-checkpoint`` in the cache) at the last
completed epoch. The untrained network of
each seed is scored once, as recipe ``untrained``.

Every network is read out every way a user can choose: conv2_1, conv3_1,
conv4_1 and conv3_1+conv4_1 concatenated; max, mean and mean+max pooling;
whole crops or the central cell only (``mask_background`` on the RFP channel);
kNN in the standardized or the cosine space (see
:func:`skpci.evaluation.feature_space`; the whitened space is left out, see
``SPACES``). The baselines (hand-crafted, raw pixels, brightness) get the same
choices where they apply.

Scores: kNN accuracy with leave-one-field-out folds and, with copairs, mAP of
retrieving same-label cells from other fields (standardized features, cosine
distance; max and mean+max pooling only), on protein identity (5 classes) and
mitochondrion vs not. Written as one CSV row per (recipe, seed, read-out,
task, space); ``--summary`` prints mean ± std over seeds.

Usage::

    python benchmarks/yeast_recipes.py --data ../shared/data --recipes flips rotations --seeds 3
    python benchmarks/yeast_recipes.py --summary benchmarks/results/yeast_recipes.csv

32 px, 15 epochs: 13 to 30 minutes of training per recipe and seed on the
2-core CPU machine (depending on what else runs), and about 5 minutes of
scoring per network.
"""

import argparse
import itertools
import os
import shutil
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

MITOCHONDRIAL = ("AAC1", "AAC3")

#: Training recipes: featurizer parameters on top of the base.
RECIPES = {
    "flips": {},
    "rotations": {"rotations": True},
    "protein-jitter": {"protein_jitter": 0.5},
    "central-cell": {"mask_neighbours": True},
    "rotations+jitter": {"rotations": True, "protein_jitter": 0.5},
    "30-epochs": {"epochs": 30},
}
#: Layers read out (conv1_1 and conv5_1 never came first in earlier runs), alone and concatenated.
READ_OUT_LAYERS = {"conv2_1": ["conv2_1"], "conv3_1": ["conv3_1"], "conv4_1": ["conv4_1"],
                   "conv3_1+conv4_1": ["conv3_1", "conv4_1"]}
POOLINGS = ("max", "mean", "meanmax")
#: Feature spaces of the kNN. "whitened" (PCA-whitened to 99% of the variance) was tried on the first models and
#: scored near chance everywhere (e.g. identity 0.11-0.17 for max pooling): it is left out to save time.
SPACES = ("standardized", "cosine")
#: Columns of the results CSV, one row per (recipe, seed, read-out, task, space).
COLUMNS = ["recipe", "seed", "features", "input", "layer", "pooling", "task", "space", "accuracy", "map",
           "training_minutes", "final_loss"]


def base_params(input_size, epochs, seed):
    return dict(protein_channels=(0,), marker_channels=(1,), input_size=input_size, batch_size=64, epochs=epochs,
                random_state=seed)


def model_path(recipe, seed, *, cache, input_size, epochs):
    epochs = RECIPES[recipe].get("epochs", epochs)
    return Path(cache) / f"{recipe}-{input_size}px-{epochs}ep-seed{seed}"


def trained_model(recipe, seed, cells, groups, *, cache, input_size, epochs, verbose):
    """The featurizer of ``recipe`` and ``seed``: loaded from ``cache``, or trained and saved there.

    Either way it reads crops as given (``mask_neighbours=False``): the read-outs choose whole or masked crops.
    """
    params = {**base_params(input_size, epochs, seed), **RECIPES[recipe]}
    path = model_path(recipe, seed, cache=cache, input_size=input_size, epochs=epochs)
    if path.exists():
        return PairedInpaintingFeaturizer.from_pretrained(path, epochs=0, mask_neighbours=False).fit(cells[:1]), None
    checkpoint = path.with_name(path.name + "-checkpoint")
    started = time.perf_counter()
    featurizer = PairedInpaintingFeaturizer(verbose=verbose, checkpoint_dir=checkpoint, **params)
    featurizer.fit(cells, groups=groups)
    seconds = time.perf_counter() - started
    featurizer.save_pretrained(path)
    shutil.rmtree(checkpoint)
    featurizer.set_params(mask_neighbours=False)
    resumed = f" (resumed after epoch {featurizer.resumed_from_epoch_})" if featurizer.resumed_from_epoch_ else ""
    print(f"{recipe} seed {seed}: trained in {seconds / 60:.1f} min{resumed}, loss "
          f"{featurizer.history_['loss'][0]:.4f} -> {featurizer.history_['loss'][-1]:.4f}", flush=True)
    return featurizer, seconds


def network_features(featurizer, crops):
    """Every read-out of one network: {(layers name, pooling): features}; mean+max is both, side by side."""
    all_layers = sorted({layer for layers in READ_OUT_LAYERS.values() for layer in layers})
    pooled = {}
    for pooling in ("max", "mean"):
        featurizer.set_params(layer=all_layers, pooling=pooling)
        pooled[pooling] = layer_features(featurizer, crops, all_layers)
    features = {}
    for name, layers in READ_OUT_LAYERS.items():
        for pooling in POOLINGS:
            parts = [pooled[kind][layer] for layer in layers for kind in (("max", "mean") if pooling == "meanmax"
                                                                            else (pooling,))]
            features[(name, pooling)] = np.concatenate(parts, axis=1)
    return features


def score_rows(features, tasks, fields, *, with_map):
    """kNN accuracy in every feature space; mAP (copairs, cosine distance) in the standardized one only.

    Cosine distance ignores the length of a row, so the mAP of the "cosine"
    space equals the standardized one's; whitened mAP is left out for time.
    """
    cv = LeaveOneGroupOut()
    for task, labels in tasks.items():
        for space in SPACES:
            row = {"task": task, "space": space,
                   "accuracy": knn_scores(features, labels, fields, cv=cv, space=space)["accuracy"], "map": np.nan}
            if with_map and space == "standardized":
                row["map"] = map_scores(features, labels, fields, space=space, null_size=10)["map"]
            yield row


def main(data_dir, recipes, seeds, *, cache, output, input_size=32, epochs=15, with_map=True, score_only=False,
         verbose=0):
    yeast = read_yeast_crops(Path(data_dir) / "yeast_toy")
    cells, groups, fields, proteins = yeast.cells, yeast.groups, yeast.fields, yeast.labels
    tasks = {"identity": proteins, "mitochondria": np.isin(proteins, MITOCHONDRIAL)}
    Path(cache).mkdir(parents=True, exist_ok=True)
    masked_path = Path(cache) / "central_cell_crops.npy"
    if not masked_path.exists():
        np.save(masked_path, mask_background(cells, marker_channel=1))
    masked = np.load(masked_path)
    inputs = {"whole crop": cells, "central cell": masked}
    done = pd.read_csv(output) if Path(output).exists() else pd.DataFrame(columns=["recipe", "seed"])
    finished = set(zip(done["recipe"], done["seed"]))

    def write(rows):
        frame = pd.DataFrame(rows).reindex(columns=COLUMNS)
        frame.to_csv(output, mode="a", header=not Path(output).exists(), index=False)

    if ("baselines", -1) not in finished:
        rows = []
        for input_name, crops in inputs.items():
            for name, features in (("hand-crafted", handcrafted_features(crops)), ("raw pixels", pixel_features(crops)),
                                   ("brightness", brightness_features(cells))):
                for row in score_rows(features, tasks, fields, with_map=with_map):
                    rows.append({"recipe": "baselines", "seed": -1, "features": name, "input": input_name,
                                 "layer": "-", "pooling": "-", **row})
        write(rows)
        print("baselines scored", flush=True)
    # The untrained network of a seed is the same for every recipe: scored once, as recipe "untrained".
    for recipe, seed in itertools.product(["untrained", *recipes], seeds):
        if (recipe, seed) in finished:
            continue
        if recipe == "untrained":
            network, seconds = PairedInpaintingFeaturizer(**base_params(input_size, 0, seed)).fit(cells), None
        elif score_only and not model_path(recipe, seed, cache=cache, input_size=input_size, epochs=epochs).exists():
            continue
        else:
            network, seconds = trained_model(recipe, seed, cells, groups, cache=cache, input_size=input_size,
                                             epochs=epochs, verbose=verbose)
        rows = []
        for input_name, crops in inputs.items():
            for (layer, pooling), features in network_features(network, crops).items():
                for row in score_rows(features, tasks, fields, with_map=with_map and pooling != "mean"):
                    rows.append({"recipe": recipe, "seed": seed, "features": "network", "input": input_name,
                                 "layer": layer, "pooling": pooling, **row,
                                 "training_minutes": seconds / 60 if seconds else np.nan,
                                 "final_loss": (network.history_["loss"] or [np.nan])[-1]})
        write(rows)
        print(f"{recipe} seed {seed} scored", flush=True)


def summary(output):
    """One row per read-out: kNN accuracy and mAP of both tasks, as mean ± std over seeds (the seed count too)."""
    table = pd.read_csv(output)
    keys = ["recipe", "features", "input", "layer", "pooling", "space"]
    grouped = table.groupby([*keys, "task"], sort=False)
    stats = grouped[["accuracy", "map"]].agg(["mean", "std"])
    stats.columns = [f"{metric}_{stat}" for metric, stat in stats.columns]
    stats["seeds"] = grouped.size()
    wide = stats.unstack("task")
    wide.columns = [f"{task}_{value}" for value, task in wide.columns]
    return wide.reset_index()


def formatted(wide):
    """Mean ± std strings, as the docs show them."""
    shown = wide[["recipe", "features", "input", "layer", "pooling", "space"]].copy()
    for task in ("identity", "mitochondria"):
        for metric in ("accuracy", "map"):
            mean, std = wide[f"{task}_{metric}_mean"], wide[f"{task}_{metric}_std"]
            # One seed (or a deterministic baseline) has no spread to show.
            shown[f"{task} {metric}"] = ["–" if np.isnan(m) else f"{m:.3f}" if np.isnan(s) else f"{m:.3f} ± {s:.3f}"
                                         for m, s in zip(mean, std)]
    shown["seeds"] = wide["identity_seeds"].astype(int)
    return shown


#: The library's defaults as a read-out: what a user gets without choosing.
DEFAULT_READ_OUT = {"input": "whole crop", "layer": "conv3_1", "pooling": "max", "space": "standardized"}


def markdown(wide):
    """The tables of docs/benchmarks.md: recipes at the default read-out and at their best, read-outs, probe."""
    shown = formatted(wide)
    columns = ["identity accuracy", "identity map", "mitochondria accuracy", "mitochondria map", "seeds"]

    def table(frame, keys):
        header = [*keys, *columns]
        lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        lines += ["| " + " | ".join(str(row[key]) for key in header) + " |" for _, row in frame.iterrows()]
        return "\n".join(lines)

    at_default = np.logical_and.reduce([shown[key] == value for key, value in DEFAULT_READ_OUT.items()])
    networks = shown["recipe"] != "baselines"
    parts = ["Recipes at the default read-out (conv3_1, max pooling, standardized, whole crop):",
             table(shown[networks & at_default], ["recipe"])]
    candidates = wide[networks & (wide["space"] != "whitened")]
    best = candidates.sort_values("identity_accuracy_mean", ascending=False).groupby("recipe", sort=False).head(1)
    parts += ["Each recipe's best read-out for identity (chosen on the same folds, so optimistic):",
              table(shown.loc[best.index], ["recipe", "input", "layer", "pooling", "space"])]
    flips = shown[(shown["recipe"].isin(["flips", "untrained"])) & (shown["input"] == "whole crop")
                  & (shown["space"] != "whitened")]
    parts += ["Read-outs of the base recipe and the untrained network (whole crop):",
              table(flips, ["recipe", "layer", "pooling", "space"])]
    probe = shown[(shown["space"] == "standardized") & ((networks & (shown["pooling"] == "max")
                  & shown["layer"].isin(["conv2_1", "conv3_1", "conv4_1"])) | (shown["features"] == "hand-crafted"))]
    parts += ["Background probe (max pooling, standardized):", table(probe, ["recipe", "features", "input", "layer"])]
    baselines = shown[~networks & ~((shown["features"] == "brightness") & (shown["input"] == "central cell"))]
    parts += ["Baselines:", table(baselines, ["features", "input", "space"])]
    return "\n\n".join(parts)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("SKPCI_DATA_DIR"))
    parser.add_argument("--recipes", nargs="*", default=["flips"], choices=list(RECIPES),
                        help="training recipes (none: only the untrained network)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--input-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--cache", default="benchmarks/results/yeast_recipes_models")
    parser.add_argument("--output", default="benchmarks/results/yeast_recipes.csv")
    parser.add_argument("--no-map", action="store_true")
    parser.add_argument("--score-only", action="store_true", help="score the models already in --cache, train none")
    parser.add_argument("--summary", metavar="CSV", help="print mean ± std over seeds of a finished run and exit")
    parser.add_argument("--markdown", action="store_true", help="with --summary: the tables of docs/benchmarks.md")
    args = parser.parse_args()
    if args.summary:
        pd.set_option("display.width", 200)
        wide = summary(args.summary)
        print(markdown(wide) if args.markdown else formatted(wide).to_string(index=False))
    else:
        main(args.data, args.recipes, range(args.first_seed, args.first_seed + args.seeds), cache=args.cache,
             output=args.output, input_size=args.input_size, epochs=args.epochs, with_map=not args.no_map,
             score_only=args.score_only, verbose=1)
