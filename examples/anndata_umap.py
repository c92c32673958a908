"""
Fields to an AnnData embedding: skpci features in scanpy
========================================================

skpci writes its single-cell features as an :class:`anndata.AnnData` — ``X`` the
features, ``obs`` each cell's image, label, group and position, ``var`` each
feature's layer — so the scverse toolbox takes over: neighbours, UMAP and Leiden
clusters with scanpy, coloured by the localization the synthetic fields were drawn
with.

The example segments synthetic fields into a crop store, featurizes them with the
bundled model (conv3_1 and conv4_1), writes ``cells.h5ad`` and reads it back
with anndata. Needs ``pip install "skpci[anndata]"``.

Run ``python examples/anndata_umap.py``.
"""

import tempfile
from pathlib import Path

import anndata
import matplotlib.pyplot as plt
import scanpy as sc

from skpci import CellSegmenter, PairedInpaintingFeaturizer
from skpci.datasets import make_cell_images


def main(n_images=21, random_state=0):
    fields = make_cell_images(n_images=n_images, image_size=160, cell_radius=10, random_state=random_state)
    with tempfile.TemporaryDirectory() as scratch:
        store = CellSegmenter(nuclear_channel=1, scale=1, crop_size=32).to_store(
            list(fields.images), Path(scratch) / "store", names=[f"field{i:02d}" for i in range(n_images)],
            labels=list(fields.labels), channel_names=list(fields.channel_names))
        featurizer = PairedInpaintingFeaturizer.from_pretrained("synthetic-32", layer=["conv3_1", "conv4_1"])
        featurizer.fit(store)  # loads the bundled weights and matches channels by name; trains nothing
        path = featurizer.write_features(store, Path(scratch) / "cells.h5ad")
        cells = anndata.read_h5ad(path)
    print(cells)
    print(cells.var.groupby("layer", observed=True).size().to_string())

    conv4 = cells[:, cells.var["layer"] == "conv4_1"].copy()  # one layer's block
    sc.pp.scale(conv4)
    sc.pp.pca(conv4, n_comps=20, random_state=random_state)
    sc.pp.neighbors(conv4, n_neighbors=10, random_state=random_state)
    sc.tl.umap(conv4, random_state=random_state)
    sc.tl.leiden(conv4, flavor="igraph", n_iterations=2, random_state=random_state)
    print(conv4.obs.groupby("label", observed=True)["leiden"].agg(lambda s: s.value_counts().index[0]).to_string())
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
    sc.pl.umap(conv4, color="label", ax=axes[0], show=False, title="conv4_1 UMAP: true localization")
    sc.pl.umap(conv4, color="leiden", ax=axes[1], show=False, title="Leiden clusters")
    plt.show()
    return conv4


if __name__ == "__main__":
    main()
