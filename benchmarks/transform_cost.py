"""What features cost: conv3_1 features against a full forward pass, and streaming 100k crops.

    python benchmarks/transform_cost.py [--cells 256] [--stream 100000] [--json results.json]

1. Per cell, ``transform`` with ``layer="conv3_1"`` runs only the source
   encoder up to conv3_1. Its time is compared with the network's full
   forward pass (both encoders and the decoder) on the same crops, in the
   same run, at 64 px with 2 + 1 channels.
2. ``transform`` of ``--stream`` crops (uint8, 16 px so that it runs in a
   minute on a CPU) streams blocks of 2,048 crops: peak memory grows by
   the output table and one block, not by a float32 copy of every crop.
"""

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import machine, print_table, write_json  # noqa: E402


def best_time(function, repeats=3):
    function()  # compile
    best = np.inf
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def peak_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=256)
    parser.add_argument("--stream", type=int, default=100_000)
    parser.add_argument("--json")
    args = parser.parse_args()

    from training_flops import forward_flops

    from skpci import PairedInpaintingFeaturizer
    from skpci.network import build_feature_extractor, predict

    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, (args.cells, 64, 64, 3), dtype=np.uint8)
    featurizer = PairedInpaintingFeaturizer(epochs=0, random_state=0, batch_size=256).fit(crops[:2])
    model = featurizer.model_
    extractor = build_feature_extractor(model, ("conv3_1",), "max")
    prepared = np.random.default_rng(1).random((args.cells, 64, 64, 2), dtype=np.float32)
    inputs = {"x_in": prepared, "y_rfp": prepared[..., 1:]}
    full = best_time(lambda: predict(model, inputs, 256))
    features = best_time(lambda: predict(extractor, prepared, 256))
    with_preparation = best_time(lambda: featurizer.transform(crops))
    encoder_flops = sum(2 * np.prod(layer.output.shape[1:]) * np.prod(layer.kernel.shape[:3])
                        for layer in extractor.layers if hasattr(layer, "kernel"))
    rows = [
        {"pass": "full forward (both encoders + decoder)", "ms/cell": 1e3 * full / args.cells, "relative": 1.0},
        {"pass": "conv3_1 features (source encoder to conv3_1)", "ms/cell": 1e3 * features / args.cells,
         "relative": features / full},
        {"pass": "transform(uint8 crops): preparation + conv3_1", "ms/cell": 1e3 * with_preparation / args.cells,
         "relative": with_preparation / full},
    ]
    print(f"{args.cells} crops, 64 px, 2 + 1 channels, batch 256; {machine()}")
    print(f"FLOPs: conv3_1 features {encoder_flops / 1e9:.2f} GFLOP per cell, full forward "
          f"{forward_flops(model) / 1e9:.2f} ({encoder_flops / forward_flops(model):.0%})")
    print_table(rows, {"pass": "", "ms/cell": ".2f", "relative": ".0%"}, title="Cost per cell (best of 3)")

    small = PairedInpaintingFeaturizer(epochs=0, random_state=0, input_size=16, batch_size=256)
    stream = rng.integers(0, 255, (args.stream, 16, 16, 3), dtype=np.uint8)
    small.fit(stream[:2]).transform(stream[:256])  # compile
    before = peak_rss()
    started = time.perf_counter()
    table = small.transform(stream)
    seconds = time.perf_counter() - started
    growth = peak_rss() - before
    float32_copy = stream.size * 4
    print(f"transform of {args.stream:,} crops (16 px, uint8, {stream.nbytes / 2**20:.0f} MiB): "
          f"{seconds:.0f} s, {args.stream / seconds:,.0f} cells/s")
    print(f"peak RSS grew by {growth / 2**20:.0f} MiB: the {table.nbytes / 2**20:.0f} MiB feature table plus "
          f"one block (a float32 copy of every crop would be {float32_copy / 2**20:.0f} MiB)")
    write_json(args.json, "transform_cost", {
        "cells": args.cells, "per_cell": rows, "feature_flop_fraction": encoder_flops / forward_flops(model),
        "stream": {"cells": args.stream, "seconds": seconds, "peak_rss_growth_mib": growth / 2**20,
                   "features_mib": table.nbytes / 2**20, "float32_copy_mib": float32_copy / 2**20}})


if __name__ == "__main__":
    main()
