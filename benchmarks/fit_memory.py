"""Peak memory of ``fit`` on 100k crops of 64x64x3 uint8, against the raw data size.

    python benchmarks/fit_memory.py [--cells 100000] [--seconds 60] [--json results.json]

Each measurement runs in a fresh process: it makes the crops, fits with
``epochs=1`` and stops after ``--seconds`` of training with Ctrl-C (a
``KeyboardInterrupt``, which ``fit`` handles), long enough for the data
pipeline to reach its steady state; then it reports its peak RSS. A run on
200 crops gives the cost of Python, TensorFlow and the model alone.
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
    import _thread, json, resource, sys, threading, warnings
    import numpy as np
    from skpci import PairedInpaintingFeaturizer
    n_cells, seconds = int(sys.argv[1]), float(sys.argv[2])
    crops = np.random.default_rng(0).integers(0, 255, (n_cells, 64, 64, 3), dtype=np.uint8)
    groups = np.arange(n_cells) // 50
    featurizer = PairedInpaintingFeaturizer(marker_channels=(1, 2), epochs=1, batch_size=64, random_state=0)
    threading.Timer(seconds, _thread.interrupt_main).start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        featurizer.fit(crops, groups=groups)
    print(json.dumps({"peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "raw": crops.nbytes}))
""")


def measure(n_cells, seconds):
    result = subprocess.run([sys.executable, "-c", _CHILD, str(n_cells), str(seconds)], capture_output=True,
                            text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, check=False)
    if result.returncode:
        sys.exit(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--json")
    args = parser.parse_args()
    baseline = measure(200, args.seconds / 2)
    large = measure(args.cells, args.seconds)
    raw = large["raw"]
    rows = [
        {"run": "200 crops (Python, TensorFlow, model)", "peak RSS MiB": baseline["peak"] / 2**20, "x raw": "-"},
        {"run": f"{args.cells:,} crops", "peak RSS MiB": large["peak"] / 2**20, "x raw": large["peak"] / raw},
        {"run": "difference: memory that grows with the data", "peak RSS MiB": (large["peak"] - baseline["peak"])
         / 2**20, "x raw": (large["peak"] - baseline["peak"]) / raw},
    ]
    print(f"fit on {args.cells:,} crops of 64x64x3 uint8 ({raw / 2**20:.0f} MiB raw), 64 px, "
          f"{args.seconds:.0f} s of training; {machine()}")
    print_table(rows, {"run": "", "peak RSS MiB": ",.0f", "x raw": ".2f"})
    print(f"a float32 copy of every crop (what fit held before this change) would add {raw * 4 / 2**20:,.0f} MiB")
    write_json(args.json, "fit_memory", {"cells": args.cells, "raw_mib": raw / 2**20, "rows": rows})


if __name__ == "__main__":
    main()
