"""
A CellProfiler LoadData CSV to pycytominer profiles
===================================================

Image-based profiling pipelines list their images in a CellProfiler LoadData
CSV (``FileName_<channel>``, ``PathName_<channel>`` and ``Metadata_*`` columns)
and process per-cell measurements with pycytominer. skpci fits in between:

1. the LoadData CSV is the field list of :class:`~skpci.CellSegmenter` (its
   plate, well and site name each image; its metadata stays with it);
2. features are written with ``style="pycytominer"``: ``Metadata_*`` columns, then
   ``Cells_skpci_<layer>_<unit>`` features;
3. pycytominer's ``aggregate``, ``normalize`` and ``feature_select`` run on them
   as they would on CellProfiler output: features and metadata are found by their
   names, and the default strata are the plate and well.

The example writes synthetic fields as a 2-well plate with treated and untreated
sites. Needs ``pip install "skpci[profiling]"``.

Run ``python examples/loaddata_profiles.py``.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pycytominer
import tifffile

from skpci import CellSegmenter, PairedInpaintingFeaturizer
from skpci.datasets import make_cell_images
from skpci.formats import profile_feature_columns

CHANNELS = {"Protein": 0, "DNA": 1, "Cytosol": 2}


def write_plate(folder, n_sites=4, random_state=0):
    """Synthetic fields as CellProfiler would find them: one TIFF per channel, and the LoadData CSV."""
    wells = {"A01": "nucleus", "A02": "cytoplasm"}  # one localization per well
    rows = []
    for well, localization in wells.items():
        fields = make_cell_images(n_images=n_sites, image_size=160, cell_radius=10, localizations=(localization,),
                                  random_state=random_state + len(rows))
        for site, image in enumerate(fields.images, start=1):
            row = {"Metadata_Plate": "P1", "Metadata_Well": well, "Metadata_Site": site,
                   "Metadata_Localization": localization}
            for channel, index in CHANNELS.items():
                name = f"P1_{well}_s{site}_{channel}.tif"
                tifffile.imwrite(Path(folder) / name, (image[..., index] * 30000).astype(np.uint16))
                row[f"FileName_{channel}"], row[f"PathName_{channel}"] = name, str(folder)
            rows.append(row)
    path = Path(folder) / "load_data.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def main():
    with tempfile.TemporaryDirectory() as scratch:
        csv = write_plate(scratch)
        load_data = pd.read_csv(csv)
        print(load_data.filter(like="Metadata_").to_string(index=False))
        store = CellSegmenter(nuclear_channel=1, scale=1, crop_size=32).to_store(load_data, Path(scratch) / "store")
        print(f"{len(store)} cells in {store.n_images} images; channels {store.channel_names}")
        featurizer = PairedInpaintingFeaturizer.from_pretrained(
            "synthetic-32", channel_map={"protein": "Protein", "nucleus": "DNA", "cytosol": "Cytosol"})
        featurizer.fit(store)
        cells = pd.read_parquet(featurizer.write_features(store, Path(scratch) / "cells.parquet",
                                                          style="pycytominer"))
    wells = pycytominer.aggregate(cells)  # the defaults: the median per Metadata_Plate and Metadata_Well
    print(f"{len(wells)} well profiles of {len(profile_feature_columns(wells))} features")
    sites = pycytominer.aggregate(cells, strata=["Metadata_Well", "Metadata_Site"])
    normalized = pycytominer.normalize(sites, samples="all")
    selected = pycytominer.feature_select(normalized, operation=["variance_threshold", "correlation_threshold"])
    features = profile_feature_columns(selected)
    print(f"{len(profile_feature_columns(cells))} features per cell; {len(features)} kept by feature_select")
    print(selected[["Metadata_Well", "Metadata_Site", *features[:3]]].round(2).to_string(index=False))

    similarity = np.corrcoef(selected[features].to_numpy())
    figure, axis = plt.subplots(figsize=(4.8, 4), layout="constrained")
    shown = axis.imshow(similarity, vmin=-1, vmax=1, cmap="RdBu_r")
    labels = [f"{well} s{site}" for well, site in zip(selected["Metadata_Well"], selected["Metadata_Site"])]
    axis.set_xticks(range(len(labels)), labels, rotation=90)
    axis.set_yticks(range(len(labels)), labels)
    axis.set_title("Site profiles (selected features): correlation")
    figure.colorbar(shown, label="Pearson r")
    plt.show()
    return selected, similarity


if __name__ == "__main__":
    main()
