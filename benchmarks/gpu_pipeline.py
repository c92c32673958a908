"""Does the data pipeline keep a GPU busy? Epochs of skpci's training loop on real pairs against one constant batch.

    python benchmarks/gpu_pipeline.py --data ../shared/data [--copies 8] [--batch-sizes 64,256] [--json results.json]

The yeast toy crops (1,220 real cells, 64 px, GFP + RFP) are repeated
``--copies`` times, each copy its own pairing groups, so an epoch is long
enough to time. Whole epochs run through :func:`skpci.featurizer.training.train_epochs`,
as ``fit`` runs them (one ``model.fit`` per epoch, pairs redrawn each epoch),
after one untimed epoch that compiles the training step. Sources:

* one constant batch (no data pipeline at all: the model's own speed);
* real pairs from crops in memory (``MemoryCrops``);
* real pairs streamed from a :class:`~skpci.CropStore` on local disk (``StoreCrops``).

Each source runs with the number of batch-preparing threads skpci picks for the
backend (``workers``) and with one thread. The table gives samples/s and the
fraction of the constant batch's rate reached.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import machine, print_table, write_json  # noqa: E402


def tiled_yeast(data_dir, copies):
    """Yeast crops repeated ``copies`` times; each copy pairs within its own groups."""
    from skpci.io import read_yeast_crops

    yeast = read_yeast_crops(Path(data_dir) / "yeast_toy")
    cells = np.concatenate([yeast.cells] * copies)
    groups = np.concatenate([[f"{copy}:{group}" for group in yeast.groups] for copy in range(copies)])
    return cells, groups


def constant_pairs(batches):
    """A copy of ``batches`` that serves its first batch at every index: the model with no data pipeline."""
    from skpci.featurizer.training import PairBatches

    class ConstantPairs(PairBatches):
        def __getitem__(self, index):
            return self.constant

    constant = ConstantPairs(batches.source, batches.n_protein_channels, batches.batch_size, batches.seed,
                             workers=batches.workers)
    constant.constant = batches[0]
    return constant


def epoch_seconds(model, batches, epochs):
    """Seconds per epoch of skpci's training loop, after one untimed epoch."""
    from skpci.featurizer.training import train_epochs

    train_epochs(model, batches, 1)
    started = time.perf_counter()
    train_epochs(model, batches, 1 + epochs, initial_epoch=1)
    return (time.perf_counter() - started) / epochs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("SKPCI_DATA_DIR", "../shared/data"))
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--batch-sizes", default="64,256")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per row")
    parser.add_argument("--workers", default="1,4", help="batch-preparing threads to try")
    parser.add_argument("--precision", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--input-size", type=int, default=64)
    parser.add_argument("--limit", type=int, help="use only this many cells (a quick rehearsal on a CPU)")
    parser.add_argument("--json")
    args = parser.parse_args()

    from skpci import CropStore
    from skpci.featurizer._inputs import as_crop_input
    from skpci.featurizer.training import PairBatches, compile_for_training
    from skpci.featurizer.training._train import PRECISIONS
    from skpci.network import build_inpainting_model

    cells, groups = tiled_yeast(args.data, args.copies)
    cells, groups = cells[:args.limit], groups[:args.limit]
    worker_counts = [int(count) for count in args.workers.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="skpci-gpu-pipeline-") as scratch:
        names, bags = np.unique(groups, return_inverse=True)
        store = CropStore.from_bags(Path(scratch) / "store", [cells[bags == i] for i in range(len(names))],
                                    names=list(names), groups=list(names), channel_names=["gfp", "rfp"])
        inputs = {"memory": as_crop_input(cells, groups), "store": as_crop_input(store)}
        sources = {name: data.training_crops(args.input_size, (0, 1)) for name, data in inputs.items()}
        for batch_size in (int(size) for size in args.batch_sizes.split(",")):
            network = build_inpainting_model(1, 1, args.input_size, seed=0, dtype=PRECISIONS[args.precision])
            model = compile_for_training(network)
            seconds = {}
            for workers in worker_counts:
                real = {name: PairBatches(source, 1, batch_size, seed=0, workers=workers)
                        for name, source in sources.items()}
                n_batches = real["memory"].num_batches
                seconds["constant batch", workers] = epoch_seconds(model, constant_pairs(real["memory"]), args.epochs)
                for name, batches in real.items():
                    seconds[f"real pairs, {name}", workers] = epoch_seconds(model, batches, args.epochs)
            base = min(value for (label, _), value in seconds.items() if label == "constant batch")
            for (label, count), value in seconds.items():
                samples = n_batches * batch_size / value
                rows.append({"batch": batch_size, "data": label, "workers": count, "s/epoch": value,
                             "samples/s": samples, "of constant": base / value})
        for source in sources.values():
            source.close()
        store.close()
    print(f"{len(cells)} cells (yeast toy x {args.copies}), {args.input_size} px, {args.precision}; "
          f"{device()}; {machine()}")
    print_table(rows, {"batch": "d", "data": "", "workers": "d", "s/epoch": ".3f", "samples/s": ",.0f",
                       "of constant": ".0%"}, title="Training epochs through skpci's loop")
    write_json(args.json, f"gpu_pipeline_{device()}", {"device": device(), "precision": args.precision,
                                                       "cells": len(cells), "rows": rows})


def device():
    from gpu_training import device_name

    return device_name()


if __name__ == "__main__":
    main()
