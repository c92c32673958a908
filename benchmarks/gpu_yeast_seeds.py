"""The paper's yeast setting (64 px, 30 epochs, batch 64) for several seeds on a GPU, scored back on the CPU.

A lent GPU machine returns at most 16 MiB per file, less than a whole
64-px network (29 MB). Features need only the source encoder (13 MB), so
``train`` keeps that, exactly, in one ``.npz`` per seed, with the loss history
and the training time; ``restore`` rebuilds full model directories from
those files (the decoder freshly initialised: it is never read for
features) in the cache of ``yeast_recipes.py``, whose ``--score-only`` then
scores them with every read-out::

    # on the GPU machine
    KERAS_BACKEND=jax python benchmarks/gpu_yeast_seeds.py train --data DATA --seeds 3 --output $OUT
    # back on the CPU machine
    python benchmarks/gpu_yeast_seeds.py restore /work/.device/.../out --data ../shared/data \\
        --cache benchmarks/results/yeast_recipes_models_gpu
    python benchmarks/yeast_recipes.py --data ../shared/data --recipes 30-epochs --seeds 3 --input-size 64 \\
        --cache benchmarks/results/yeast_recipes_models_gpu --output benchmarks/results/yeast_recipes_64px_gpu.csv \\
        --score-only
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from gpu_training import device_name  # noqa: E402
from yeast_recipes import RECIPES, base_params, model_path  # noqa: E402

from skpci import PairedInpaintingFeaturizer  # noqa: E402
from skpci.io import read_yeast_crops  # noqa: E402
from skpci.network import SOURCE_ENCODER_LAYERS, batch_norm_name  # noqa: E402

RECIPE = "30-epochs"


def encoder_layer_names():
    """The source encoder's convolutions and their BatchNorms: all that features read."""
    return [name for conv, _ in SOURCE_ENCODER_LAYERS for name in (conv, batch_norm_name(conv))]


def recipe_params(seed, input_size):
    return {**base_params(input_size, RECIPES[RECIPE]["epochs"], seed), **RECIPES[RECIPE]}


def train(data_dir, seeds, output, *, input_size=64, epochs=None):
    """Train each seed and write ``seed<N>.npz``: encoder weights, losses, seconds, backend and device."""
    import keras

    yeast = read_yeast_crops(Path(data_dir) / "yeast_toy")
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in seeds:
        params = recipe_params(seed, input_size)
        if epochs is not None:
            params["epochs"] = epochs
        started = time.perf_counter()
        featurizer = PairedInpaintingFeaturizer(**params).fit(yeast.cells, groups=yeast.groups)
        seconds = time.perf_counter() - started
        losses = np.asarray(featurizer.history_["loss"], dtype=np.float64)
        arrays = {f"{layer}/{index}": np.asarray(keras.ops.convert_to_numpy(weight))
                  for layer in encoder_layer_names()
                  for index, weight in enumerate(featurizer.model_.get_layer(layer).weights)}
        np.savez(output / f"seed{seed}.npz", losses=losses, seconds=seconds, backend=keras.backend.backend(),
                 device=device_name(), epochs=params["epochs"], input_size=input_size, **arrays)
        rows.append((seed, seconds, losses[0], losses[-1]))
        print(f"seed {seed}: {params['epochs']} epochs of {len(yeast.cells)} cells in {seconds:.1f} s "
              f"({params['epochs'] * len(yeast.cells) / seconds:,.0f} samples/s with compilation), "
              f"loss {losses[0]:.4f} -> {losses[-1]:.4f}", flush=True)
    print(json.dumps({"device": device_name(), "backend": keras.backend.backend(),
                      "seeds": [{"seed": s, "seconds": t, "first_loss": a, "final_loss": b} for s, t, a, b in rows]}))


def restore(folder, data_dir, cache):
    """Model directories in ``cache`` (named as ``yeast_recipes.py`` names them) from the ``.npz`` of ``train``."""
    yeast = read_yeast_crops(Path(data_dir) / "yeast_toy")
    for path in sorted(Path(folder).glob("seed*.npz")):
        saved = np.load(path)
        seed = int(path.stem.removeprefix("seed"))
        if int(saved["epochs"]) != RECIPES[RECIPE]["epochs"]:
            print(f"seed {seed}: skipped, trained {int(saved['epochs'])} epochs, not the recipe's "
                  f"{RECIPES[RECIPE]['epochs']} (a rehearsal?)")
            continue
        input_size = int(saved["input_size"])
        params = recipe_params(seed, input_size)
        # epochs=0 builds the network without training; epochs is set back for the model card.
        featurizer = PairedInpaintingFeaturizer(**{**params, "epochs": 0}).fit(yeast.cells[:2])
        for layer in encoder_layer_names():
            weights = featurizer.model_.get_layer(layer).weights
            for index, weight in enumerate(weights):
                weight.assign(saved[f"{layer}/{index}"])
        featurizer.history_ = {"loss": [float(loss) for loss in saved["losses"]]}
        featurizer.n_cells_fit_ = len(yeast.cells)  # for the model card: what training saw
        featurizer.set_params(epochs=int(saved["epochs"]))
        target = model_path(RECIPE, seed, cache=cache, input_size=input_size, epochs=int(saved["epochs"]))
        featurizer.save_pretrained(
            target, overwrite=True,
            training_data=(f"yeast toy crops; trained on {saved['device']} ({saved['backend']}) in "
                           f"{float(saved['seconds']):.1f} s; source encoder only, decoder not kept"))
        print(f"seed {seed}: {target} (trained in {float(saved['seconds']):.1f} s on {saved['device']}, "
              f"final loss {saved['losses'][-1]:.4f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    training = commands.add_parser("train", help="on the GPU machine: train and keep each seed's encoder")
    training.add_argument("--data", default=os.environ.get("SKPCI_DATA_DIR"))
    training.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1")
    training.add_argument("--first-seed", type=int, default=0)
    training.add_argument("--epochs", type=int, help="override the recipe's 30 (a rehearsal)")
    training.add_argument("--input-size", type=int, default=64, help="a rehearsal: smaller")
    training.add_argument("--output", required=True)
    restoring = commands.add_parser("restore", help="on the CPU machine: model directories from the .npz files")
    restoring.add_argument("folder")
    restoring.add_argument("--data", default=os.environ.get("SKPCI_DATA_DIR"))
    restoring.add_argument("--cache", default="benchmarks/results/yeast_recipes_models_gpu")
    args = parser.parse_args()
    if args.command == "train":
        train(args.data, range(args.first_seed, args.first_seed + args.seeds), args.output, input_size=args.input_size,
              epochs=args.epochs)
    else:
        restore(args.folder, args.data, args.cache)
