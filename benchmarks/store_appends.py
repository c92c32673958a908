"""Cost of one append to a crop store as it grows, and the shard files a reader keeps open.

    python benchmarks/store_appends.py [--shards 1100] [--json results.json]

Appends ``--shards`` shards of 20 cells (16 x 16 x 2, uint8) to one store
through one handle, as ``CellSegmenter.to_store`` does, and prints the median
time of an append over windows of 50 appends, then reads every crop back
through a fresh handle and reports how many shard files it holds open.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import machine, print_table, write_json  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=1100)
    parser.add_argument("--json")
    args = parser.parse_args()

    from skpci import CropStore

    rows = []
    with tempfile.TemporaryDirectory(prefix="skpci-appends-") as folder:
        store = CropStore.create(Path(folder) / "store")
        seconds = []
        for i in range(args.shards):
            started = time.perf_counter()
            store.append([np.full((20, 16, 16, 2), i % 250, np.uint8)], names=[f"image-{i}"])
            seconds.append(time.perf_counter() - started)
        for end in sorted({50, args.shards // 2, args.shards}):
            window = seconds[max(0, end - 50):end]
            rows.append({"shards": end, "append ms (median of last 50)": 1000 * np.median(window)})
        reader = CropStore(Path(folder) / "store")
        started = time.perf_counter()
        crops = reader.read()
        read_seconds = time.perf_counter() - started
        open_files = len(reader._handles)
    print(f"{args.shards} appends through one handle; {machine()}")
    print_table(rows, {"shards": "d", "append ms (median of last 50)": ".1f"}, title="Appending a shard")
    print(f"reading all {len(crops)} crops: {read_seconds:.2f} s, {open_files} shard files left open")
    write_json(args.json, "store_appends", {"rows": rows, "read_seconds": read_seconds, "open_files": open_files})


if __name__ == "__main__":
    main()
