"""Segmentation accuracy against known nuclei: small touching ones, large irregular ones, real fields.

    SKPCI_DATA_DIR=../shared/data python benchmarks/segmentation_accuracy.py [--json out.json]

Compares the default (sizes that follow the nucleus diameter) with the
previous fixed sizes (sigma 1, min area 30, min distance 4) and the authors'
plain Otsu, on:

* ``nuclei_gt``: 125 annotated small nuclei (recall at IoU >= 0.5, objects
  that cut one nucleus, objects that merge several);
* ``skpci.datasets.make_nuclei``: large, lobed nuclei of known masks, a share
  of them touching (same measures);
* ``human_toy``: the authors' 128 px HPA crops, each with its nucleus at the
  centre (in how many the centre nucleus is one object);
* whole fields with default settings: cells cropped from the HeLa and
  Drosophila fields and a synthetic HPA-scale 2048 px field.
"""

import argparse
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import tifffile
from skimage import filters, measure

sys.path.insert(0, str(Path(__file__).parent))
from _report import write_json  # noqa: E402

from skpci import CellSegmenter
from skpci.datasets import make_cell_images, make_nuclei
from skpci.io import list_fields

VARIANTS = {
    "default (sizes follow the diameter)": {},
    "fixed sizes (sigma 1, area 30, distance 4)": dict(sigma=1.0, min_nucleus_area=30, min_distance=4),
    "plain Otsu (the authors' recipe)": dict(method="otsu"),
}


def match_scores(labels, truth):
    """Recall at IoU >= 0.5; true nuclei cut into several objects; objects holding several nuclei."""
    true_area = np.bincount(truth.ravel())
    found_area = np.bincount(labels.ravel())
    both = (truth > 0) & (labels > 0)
    pairs, overlap = np.unique(np.stack([truth[both], labels[both]]), axis=1, return_counts=True)
    iou = overlap / (true_area[pairs[0]] + found_area[pairs[1]] - overlap)
    matched = len(np.unique(pairs[0][iou >= 0.5]))
    mostly_inside = overlap >= 0.5 * found_area[pairs[1]]
    cut = np.bincount(pairs[0][mostly_inside], minlength=len(true_area))
    covering = overlap >= 0.5 * true_area[pairs[0]]
    merged = np.bincount(pairs[1][covering], minlength=len(found_area))
    n_true = len(np.unique(truth)) - 1
    return {"nuclei": n_true, "objects": len(np.unique(labels)) - 1, "recall": matched / n_true,
            "cut": int((cut >= 2).sum()), "merged": int((merged >= 2).sum())}


def table(title, rows):
    print(f"\n{title}")
    keys = list(next(iter(rows.values())))
    print(f"{'':44} " + " ".join(f"{key:>8}" for key in keys))
    for name, row in rows.items():
        print(f"{name:44} " + " ".join(f"{row[k]:>8.3f}" if isinstance(row[k], float) else f"{row[k]:>8}"
                                        for k in keys))


def annotated(data_dir):
    image = tifffile.imread(data_dir / "nuclei_gt" / "img2d.tif")[..., np.newaxis]
    truth = tifffile.imread(data_dir / "nuclei_gt" / "mask2d.tif")
    return {name: match_scores(CellSegmenter(scale=1, border="pad", **params).segment(image).labels, truth)
            for name, params in VARIANTS.items()}


def large_irregular():
    data = make_nuclei(n_images=8, diameter=60, random_state=0)
    rows = {}
    for name, params in VARIANTS.items():
        scores = [match_scores(CellSegmenter(scale=1, border="pad", **params).segment(image).labels, truth)
                  for image, truth in zip(data.images, data.nuclei)]
        total = {key: sum(score[key] for score in scores) for key in ("nuclei", "objects", "cut", "merged")}
        total["recall"] = sum(score["recall"] * score["nuclei"] for score in scores) / total["nuclei"]
        rows[name] = total
    return rows


def centre_nucleus(data_dir):
    rows = {}
    paths = sorted((data_dir / "human_toy").glob("*/*_blue.tif"))
    for name, params in VARIANTS.items():
        whole = crops = 0
        for path in paths:
            blue = tifffile.imread(path)
            smoothed = filters.gaussian(blue, 1)
            otsu = measure.label(smoothed > filters.threshold_otsu(smoothed))
            if not otsu[64, 64]:
                continue
            centre = otsu == otsu[64, 64]
            labels = CellSegmenter(scale=1, border="pad", **params).segment(blue[..., np.newaxis]).labels
            pieces, sizes = np.unique(labels[centre & (labels > 0)], return_counts=True)
            whole += int((sizes > 0.05 * centre.sum()).sum() == 1)
            crops += 1
        rows[name] = {"crops": crops, "one object": whole, "share": whole / crops}
    return rows


def whole_fields(data_dir):
    hela = [tuple(str(data_dir / "cellprofiler" / "ExampleHuman" / "images" / f"AS_09125_050116030001_D03f00d{i}.tif")
                  for i in range(3))]
    fly, _ = list_fields(data_dir / "cellprofiler" / "ExampleFly" / "images", ("D", "F", "R"),
                         channel_pattern=r"_(?P<channel>[DFR])$")
    hpa = make_cell_images(2, image_size=2048, cells_per_image=(60, 90), cell_radius=48, random_state=0)
    rows = {}
    for name, fields, nuclear in (("HeLa (512 px, 1 field)", hela, 0), ("Drosophila (1000 px, 3 fields)", fly, 0),
                                  ("synthetic HPA-scale (2048 px, 2 fields)",
                                   [(image * 65535).astype(np.uint16) for image in hpa.images], 1)):
        segmenter = CellSegmenter(nuclear_channel=nuclear).fit(fields)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            old = CellSegmenter(nuclear_channel=nuclear, scale=0.25, crop_size=128, sigma=1.0, min_nucleus_area=30,
                                min_distance=4).transform(fields)
        rows[name] = {"diameter": segmenter.nucleus_diameter_, "scale": segmenter.scale_,
                      "crop": segmenter.crop_size_, "cells": int(sum(map(len, segmenter.transform(fields)))),
                      "old cells": int(sum(map(len, old)))}
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    results = {"large irregular nuclei (make_nuclei, 8 images, d = 60 px)": large_irregular()}
    location = os.environ.get("SKPCI_DATA_DIR")
    if location and Path(location).is_dir():
        data_dir = Path(location)
        results["nuclei_gt (125 annotated nuclei, scale 1)"] = annotated(data_dir)
        results["human_toy: is the centre nucleus one object?"] = centre_nucleus(data_dir)
        results["whole fields, CellSegmenter(nuclear_channel=...) defaults vs the old scale 0.25 / 128 px"] = (
            whole_fields(data_dir))
    else:
        print("SKPCI_DATA_DIR is not set: real-data tables skipped")
    for title, rows in results.items():
        table(title, rows)
    write_json(args.json, "segmentation_accuracy", results)


if __name__ == "__main__":
    main()
