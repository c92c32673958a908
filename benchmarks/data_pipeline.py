"""Pairs/s of skpci's batch pipeline against a per-sample loader in the authors' style.

    python benchmarks/data_pipeline.py --data ../shared/data [--json results.json]

Both run in one process on the yeast toy crops (64x64, GFP + RFP).

* per-sample loader (as in the authors' scripts): for each pair, list the
  source's folder to pick a partner, read both cells' two channel files
  with PIL, min-max scale each channel in Python, flip each crop at random;
* skpci: :class:`skpci.featurizer.training.PairBatches` over crops held in memory
  (read once), drawing a whole epoch's pairs and flips at once and building
  each batch with vectorized NumPy. A data set this small is min-max scaled
  once; the third row forces the path of large data sets (crops kept as
  uint16, each batch scaled as it is gathered), the fourth gives it a
  channels-major view (what ``np.moveaxis`` of channels-first planes
  returns), and the fifth streams the uint16 crops from a
  :class:`~skpci.CropStore` on local disk (``StoreCrops``).

The second table compares training samples/s on real pairs with training on
one constant batch held in memory (the model's speed with no data pipeline
at all): the pipeline must not starve the model.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import machine, print_table, rate, write_json  # noqa: E402
from training_flops import batch_dataset  # noqa: E402


def authors_style_pairs(root, n_pairs, seed=0):
    """Per-sample loading: 4 PIL reads, Python scaling and flips for every pair."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    folders = sorted(p for p in Path(root).iterdir() if p.is_dir())
    sources = [(folder, name.rsplit("_", 1)[0]) for folder in folders
               for name in sorted(os.listdir(folder)) if name.endswith("_gfp.tif")]

    def load(folder, cell):
        channels = []
        for channel in ("gfp", "rfp"):
            plane = np.asarray(Image.open(folder / f"{cell}_{channel}.tif"), dtype=np.float32)
            low, high = plane.min(), plane.max()
            channels.append((plane - low) / (high - low) if high > low else np.zeros_like(plane))
        crop = np.stack(channels, axis=-1)
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        if rng.random() < 0.5:
            crop = crop[::-1]
        return crop

    started = time.perf_counter()
    for _ in range(n_pairs):
        folder, source = sources[rng.integers(len(sources))]
        # As the authors' loader does: list the source's folder to find its partners, every time.
        partners = [name.rsplit("_", 1)[0] for name in os.listdir(folder) if name.endswith("_gfp.tif")]
        partners.remove(source)
        load(folder, source), load(folder, partners[rng.integers(len(partners))])
    return time.perf_counter() - started


def skpci_pairs(cells, groups, n_epochs, batch_size=64, *, source=None, **source_options):
    """The training pipeline: pairs, flips and scaling of whole epochs, batch by batch.

    ``source`` (a training source) replaces crops held in memory.
    """
    from skpci.featurizer.training import MemoryCrops, PairBatches, encode_groups

    if source is None:
        source = MemoryCrops([cells], encode_groups(groups, len(cells)), 64, [0, 1], **source_options)
    batches = PairBatches(source, 1, batch_size, seed=0)
    n_pairs = 0
    started = time.perf_counter()
    for epoch in range(n_epochs):
        batches.set_epoch(epoch)
        for index in range(len(batches)):
            n_pairs += len(batches[index][1])
    return time.perf_counter() - started, n_pairs


def store_pairs(cells, groups, n_epochs):
    """The pipeline streaming ``cells`` from a CropStore (one shard per group) in a temporary folder."""
    from skpci import CropStore
    from skpci.featurizer.training import StoreCrops, encode_groups

    names, group_of_cell = np.unique(groups, return_inverse=True)
    with tempfile.TemporaryDirectory(prefix="skpci-data-pipeline-") as scratch:
        store = CropStore.from_bags(Path(scratch) / "store", [cells[group_of_cell == i] for i in range(len(names))],
                                    names=list(names), groups=list(names))
        source = StoreCrops(store, encode_groups(store.cells["group"].to_numpy(), len(store)), 64, [0, 1])
        try:
            return skpci_pairs(None, None, n_epochs, source=source)
        finally:
            source.close()
            store.close()


def training_rates(cells, groups, input_size, n_batches, batch_size=64, workers=1):
    """Steady-state samples/s of model.fit on real pairs and on one constant batch, alternated.

    Each fit is timed step by step and the first step left out, so the start of
    a fit (building its input pipeline) does not count; the rate comes from the
    median step.
    """
    import keras

    from skpci.featurizer.training import (
        MemoryCrops,
        PairBatches,
        compile_for_training,
        encode_groups,
        fit_input,
    )
    from skpci.network import build_inpainting_model
    from skpci.preprocessing import resize_crops

    class StepTimes(keras.callbacks.Callback):
        def __init__(self, into):
            super().__init__()
            self.into = into

        def on_train_batch_begin(self, batch, logs=None):
            self.started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if batch > 0:
                self.into.append(time.perf_counter() - self.started)

    crops = resize_crops(cells, input_size)
    source = MemoryCrops([crops], encode_groups(groups, len(crops)), input_size, [0, 1])
    batches = PairBatches(source, 1, batch_size, seed=0, workers=workers)
    model = compile_for_training(build_inpainting_model(1, 1, input_size, seed=0))
    constant = batches[0]
    model.fit(batch_dataset(lambda index: constant, 2), epochs=1, verbose=0)  # compile the training step
    step_times = {"real pairs": [], "real pairs, as a PyDataset": [], "constant batch": []}
    for _ in range(2):  # alternate, so drifts of a noisy machine hit all alike
        # Real pairs are read as training reads them (fit_input: a tf.data map on TensorFlow);
        # the PyDataset row is how Keras itself would read them (tf.data from_generator).
        for name, data, steps in (("real pairs", fit_input(batches), n_batches),
                                  ("real pairs, as a PyDataset", batch_dataset(batches.__getitem__, n_batches), None),
                                  ("constant batch", batch_dataset(lambda index: constant, n_batches), None)):
            model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False,
                      callbacks=[StepTimes(step_times[name])])
    return {name: batch_size / float(np.median(times)) for name, times in step_times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("SKPCI_DATA_DIR", "../shared/data"))
    parser.add_argument("--pairs", type=int, default=2000, help="pairs for the per-sample loader")
    parser.add_argument("--epochs", type=int, default=20, help="epochs for skpci's pipeline")
    parser.add_argument("--input-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=6, help="training batches per fit (the first is not timed)")
    parser.add_argument("--no-training", action="store_true", help="only the pipeline table")
    parser.add_argument("--json")
    args = parser.parse_args()
    root = Path(args.data) / "yeast_toy"
    if not root.is_dir():
        sys.exit(f"No yeast toy crops at {root}; pass --data.")

    from skpci.io import read_yeast_crops

    data = read_yeast_crops(root)
    per_sample = authors_style_pairs(root, args.pairs)
    ours, n_pairs = skpci_pairs(data.cells, data.groups, args.epochs)
    # The path of data sets too large for a scaled copy: uint16 crops, scaled batch by batch.
    as_uint16 = np.round(data.cells * 65535).astype(np.uint16)
    on_the_fly, n_pairs_fly = skpci_pairs(as_uint16, data.groups, args.epochs, prescale_bytes=0)
    channels_major = np.moveaxis(np.ascontiguousarray(np.moveaxis(as_uint16, -1, 0)), 0, -1)
    strided, n_pairs_strided = skpci_pairs(channels_major, data.groups, args.epochs, prescale_bytes=0)
    streamed, n_pairs_streamed = store_pairs(as_uint16, data.groups, args.epochs)
    pipeline = [
        {"loader": "per-sample, PIL (authors' style)", "pairs": args.pairs, "seconds": per_sample,
         "pairs/s": rate(args.pairs, per_sample)},
        {"loader": "skpci PairBatches (default)", "pairs": n_pairs, "seconds": ours,
         "pairs/s": rate(n_pairs, ours)},
        {"loader": "skpci, uint16 scaled per batch", "pairs": n_pairs_fly, "seconds": on_the_fly,
         "pairs/s": rate(n_pairs_fly, on_the_fly)},
        {"loader": "skpci, uint16 channels-major view, per batch", "pairs": n_pairs_strided, "seconds": strided,
         "pairs/s": rate(n_pairs_strided, strided)},
        {"loader": "skpci, uint16 from a CropStore, per batch", "pairs": n_pairs_streamed, "seconds": streamed,
         "pairs/s": rate(n_pairs_streamed, streamed)},
    ]
    speedup = pipeline[1]["pairs/s"] / pipeline[0]["pairs/s"]
    print(f"{len(data.cells)} yeast toy cells, 64x64x2; one process each; {machine()}")
    print_table(pipeline, {"loader": "", "pairs": "d", "seconds": ".2f", "pairs/s": ",.0f"},
                title="Data pipeline (pair sampling, flips, min-max scaling)")
    print(f"speed-up: {speedup:.0f}x (default), "
          f"{pipeline[2]['pairs/s'] / pipeline[0]['pairs/s']:.0f}x (scaled per batch)\n")
    if args.no_training:
        write_json(args.json, "data_pipeline", {"pipeline": pipeline, "pipeline_speedup": speedup})
        return

    samples = training_rates(data.cells, data.groups, args.input_size, args.batches)
    training = [{"data": name, "samples/s": value} for name, value in samples.items()]
    fraction = samples["real pairs"] / samples["constant batch"]
    print_table(training, {"data": "", "samples/s": ".2f"},
                title=f"Training at {args.input_size} px, batch 64, median step of 2 x {args.batches - 1}")
    print(f"real pairs reach {fraction:.1%} of the constant-batch samples/s")
    write_json(args.json, "data_pipeline", {"pipeline": pipeline, "pipeline_speedup": speedup,
                                           "training": training, "training_fraction": fraction,
                                           "input_size": args.input_size})


if __name__ == "__main__":
    main()
