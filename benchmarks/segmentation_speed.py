"""Segment-and-crop throughput on 2048x2048 4-channel fields, and the n_jobs=2 speed-up.

    python benchmarks/segmentation_speed.py [--fields 8] [--json out.json]

Fields are synthetic (HPA-like: 4 channels, nuclei in channel 1) and are
segmented with the authors' settings (scale 0.25, 128 px crops; the other
sizes follow the nucleus diameter). ``fit`` estimates that diameter once, from
up to 8 fields; it is timed apart from ``transform``, which cuts the crops.
Serial and parallel runs are timed side by side in one process, so their
ratio is meaningful on a noisy machine.
"""

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import write_json  # noqa: E402

from skpci import CellSegmenter
from skpci.datasets import make_cell_images


def make_fields(n_fields, size=2048, seed=0):
    data = make_cell_images(n_fields, image_size=size, cells_per_image=(60, 90), cell_radius=48,
                            random_state=seed)
    images = (data.images * 65535).astype(np.uint16)
    # HPA fields have 4 channels: add a "yellow" (ER) stand-in.
    return [np.concatenate([image, image[..., 2:3]], axis=-1) for image in images]


def time_transform(segmenter, fields, repeats):
    best = np.inf
    for _ in range(repeats):
        started = time.perf_counter()
        bags = segmenter.transform(fields)
        best = min(best, time.perf_counter() - started)
    return best, sum(len(bag) for bag in bags)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    fields = make_fields(args.fields)
    megapixels = sum(f.shape[0] * f.shape[1] for f in fields) / 1e6
    rows = []
    for n_jobs in (1, 2):
        segmenter = CellSegmenter(nuclear_channel=1, scale=0.25, crop_size=128, n_jobs=n_jobs,
                                  min_nucleus_area=100)
        started = time.perf_counter()
        segmenter.fit(fields)
        fit_seconds = time.perf_counter() - started
        seconds, n_cells = time_transform(segmenter, fields, args.repeats)
        rows.append({"n_jobs": n_jobs, "fit_seconds": fit_seconds, "seconds": seconds,
                     "megapixels_per_s": megapixels / seconds, "fields_per_s": len(fields) / seconds,
                     "cells": n_cells})
    for row in rows:
        row["speedup"] = rows[0]["seconds"] / row["seconds"]
    print(f"{len(fields)} fields of 2048x2048x4 uint16 ({megapixels:.1f} MP), scale 0.25, 128 px crops; "
          f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}")
    print(f"{'n_jobs':>6} {'fit s':>6} {'seconds':>8} {'MP/s':>7} {'fields/s':>9} {'cells':>6} {'speed-up':>8}")
    for row in rows:
        print(f"{row['n_jobs']:>6} {row['fit_seconds']:>6.2f} {row['seconds']:>8.2f} {row['megapixels_per_s']:>7.1f} "
              f"{row['fields_per_s']:>9.2f} {row['cells']:>6} {row['speedup']:>8.2f}")
    write_json(args.json, "segmentation_speed", {"fields": len(fields), "rows": rows})


if __name__ == "__main__":
    main()
