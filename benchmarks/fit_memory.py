"""Peak memory of ``fit`` on 100k crops of 64x64x3 uint8, against the raw data size.

    python benchmarks/fit_memory.py [--cells 100000] [--batches 10] [--json results.json]

Each measurement runs in a fresh process: it makes the crops, fits with
``epochs=1`` but only over the epoch's first ``--batches`` batches (all of
fit's data structures exist by then; a full epoch of 100k cells takes hours
on a CPU), and reports its peak RSS. A run on 200 crops gives the cost of
Python, TensorFlow and training the model (activations of a 64-px batch of
64 take about 2 GB) alone.
"""

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _report import machine, print_table, write_json  # noqa: E402

_CHILD = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    from skpci import PairedInpaintingFeaturizer
    from skpci.featurizer.training import PairBatches
    n_cells, n_batches = int(sys.argv[1]), int(sys.argv[2])
    # Train on the first n_batches batches of the epoch only: every data structure is built by then,
    # and a whole epoch of 100k cells would take hours on a CPU.
    full_epoch = PairBatches.num_batches.fget
    PairBatches.num_batches = property(lambda self: min(full_epoch(self), n_batches))
    crops = np.random.default_rng(0).integers(0, 255, (n_cells, 64, 64, 3), dtype=np.uint8)
    groups = np.arange(n_cells) // 50
    featurizer = PairedInpaintingFeaturizer(marker_channels=(1, 2), epochs=1, batch_size=64, random_state=0)
    featurizer.fit(crops, groups=groups)
    print(json.dumps({"peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "raw": crops.nbytes}))
""")


def measure(n_cells, n_batches):
    result = subprocess.run([sys.executable, "-c", _CHILD, str(n_cells), str(n_batches)], capture_output=True,
                            text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, check=False)
    if result.returncode:
        sys.exit(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=100_000)
    parser.add_argument("--batches", type=int, default=10, help="training batches before stopping")
    parser.add_argument("--json")
    args = parser.parse_args()
    baseline = measure(200, args.batches)
    large = measure(args.cells, args.batches)
    raw = large["raw"]
    rows = [
        {"run": "200 crops (Python, TensorFlow, model)", "peak RSS MiB": baseline["peak"] / 2**20, "x raw": "-"},
        {"run": f"{args.cells:,} crops", "peak RSS MiB": large["peak"] / 2**20, "x raw": large["peak"] / raw},
        {"run": "difference: memory that grows with the data", "peak RSS MiB": (large["peak"] - baseline["peak"])
         / 2**20, "x raw": (large["peak"] - baseline["peak"]) / raw},
    ]
    print(f"fit on {args.cells:,} crops of 64x64x3 uint8 ({raw / 2**20:.0f} MiB raw), 64 px, "
          f"{args.batches} training batches of 64; {machine()}")
    print_table(rows, {"run": "", "peak RSS MiB": ",.0f", "x raw": ".2f"})
    print(f"a float32 copy of every crop (what fit held before this change) would add {raw * 4 / 2**20:,.0f} MiB")
    write_json(args.json, "fit_memory", {"cells": args.cells, "raw_mib": raw / 2**20, "rows": rows})


if __name__ == "__main__":
    main()
