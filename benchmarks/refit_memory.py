"""Memory kept per training refit in one process (a grid search refits many times).

    python benchmarks/refit_memory.py [--refits 20] [--input-size 32] [--json results.json]

Fits ``PairedInpaintingFeaturizer`` (1 epoch on synthetic crops) ``--refits``
times in one process, each with another ``random_state``, drops each fitted
estimator, and reads the process's resident memory (``VmRSS``) after each
fit. The table gives the memory after some fits and the growth per refit (a
least-squares slope over all fits after the fifth, once caches are warm).
Aim: at most 10 MiB per refit.
"""

import argparse
import gc
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import machine, print_table, write_json  # noqa: E402


def resident_mib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refits", type=int, default=20)
    parser.add_argument("--input-size", type=int, default=32)
    parser.add_argument("--json")
    args = parser.parse_args()

    from skpci import PairedInpaintingFeaturizer
    from skpci.datasets import make_cell_crops

    data = make_cell_crops(n_images=14, image_size=128, cell_radius=8, crop_size=32, random_state=0)
    memory = []
    for refit in range(args.refits):
        PairedInpaintingFeaturizer(marker_channels=(1, 2), input_size=args.input_size, batch_size=16, epochs=1,
                                   random_state=refit).fit(data.bags)
        gc.collect()
        memory.append(resident_mib())
    after = np.arange(5, len(memory))
    slope = float(np.polyfit(after, memory[5:], 1)[0]) if len(after) > 1 else float("nan")
    rows = [{"fits": n, "resident MiB": memory[n - 1]} for n in sorted({1, 5, len(memory) // 2, len(memory)})]
    print(f"{args.refits} fits of 1 epoch at {args.input_size} px in one process; {machine()}")
    print_table(rows, {"fits": "d", "resident MiB": ".0f"}, title="Resident memory after each fit")
    print(f"growth: {slope:.1f} MiB per refit (fits 6 to {len(memory)}); aim <= 10")
    write_json(args.json, "refit_memory", {"input_size": args.input_size, "resident_mib": memory,
                                          "mib_per_refit": slope})


if __name__ == "__main__":
    main()
