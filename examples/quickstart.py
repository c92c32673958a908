"""
Quickstart: whole fields to a localization classifier
=====================================================

Segment synthetic fields into single cells, describe each field by the mean
paired-inpainting features of its cells (the bundled ``synthetic-32`` model),
and cross-validate a nearest-neighbour classifier of the protein's
localization, all in one scikit-learn Pipeline.

Run ``python examples/quickstart.py`` (about a minute on a CPU).
"""

import argparse

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from skpci import CellSegmenter, PairedInpaintingFeaturizer, plots
from skpci.datasets import make_cell_images


def main(n_images=28, random_state=0):
    fields = make_cell_images(n_images=n_images, image_size=160, cell_radius=8, random_state=random_state)
    print(f"{n_images} fields; channels {fields.channel_names}; classes {sorted(set(fields.labels.tolist()))}")
    pipeline = Pipeline([
        ("segmenter", CellSegmenter(nuclear_channel=1, scale=1, crop_size=32, min_nucleus_area=12,
                                    border="pad")),
        ("featurizer", PairedInpaintingFeaturizer.from_pretrained("synthetic-32", layer="conv3_1")),
        ("classifier", KNeighborsClassifier(n_neighbors=1)),
    ])
    per_class = min(np.unique(fields.labels, return_counts=True)[1])
    cv = StratifiedKFold(n_splits=min(4, per_class), shuffle=True, random_state=random_state)
    scores = cross_val_score(pipeline, list(fields.images), fields.labels, cv=cv)
    print(f"field-level accuracy: {scores.mean():.3f} ± {scores.std():.3f} "
          f"(chance {1 / len(fields.localizations):.3f})")

    # What the segmenter found in one field, and a map of the single cells' features.
    segmenter = pipeline.named_steps["segmenter"]
    plots.plot_segmentation(fields.images[0], segmenter.segment(fields.images[0]), channel=1)
    bags = segmenter.transform(list(fields.images))
    featurizer = pipeline.named_steps["featurizer"].fit(bags)
    cells = np.concatenate(list(bags))
    cell_labels = np.repeat(fields.labels, [len(bag) for bag in bags])
    plots.plot_embedding(featurizer.transform(cells), cell_labels,
                         title="conv3_1 features of single cells (PCA)")
    plt.show()
    return scores


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").strip().split("\n")[0])
    parser.add_argument("--images", type=int, default=28)
    args = parser.parse_args()
    main(n_images=args.images)
