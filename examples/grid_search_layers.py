"""
Grid search over layers without retraining
==========================================

Which source-encoder layer describes localization best? ``GridSearchCV`` over
``featurizer__layer`` answers it. With a pretrained model (``epochs=0``) each
candidate only loads the weights and reads another layer, so the search costs
a few feature extractions, not a training run per layer.

Run ``python examples/grid_search_layers.py``.
"""

import argparse
import time

import matplotlib.pyplot as plt
import pandas as pd
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skpci import PairedInpaintingFeaturizer, plots
from skpci.datasets import make_cell_crops


def main(n_images=28, random_state=0):
    data = make_cell_crops(n_images=n_images, image_size=160, cell_radius=8, crop_size=32,
                           random_state=random_state)
    pipeline = Pipeline([
        ("featurizer", PairedInpaintingFeaturizer.from_pretrained("synthetic-32")),
        ("scale", StandardScaler()),
        ("knn", KNeighborsClassifier(n_neighbors=5)),
    ])
    layers = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
    search = GridSearchCV(pipeline, {"featurizer__layer": layers}, cv=StratifiedGroupKFold(n_splits=4))
    started = time.perf_counter()
    # Single cells, grouped by field: a field's cells never sit on both sides of a split.
    search.fit(data.cells, data.cell_labels, groups=data.groups)
    results = pd.DataFrame(search.cv_results_)[["param_featurizer__layer", "mean_test_score", "std_test_score"]]
    print(results.to_string(index=False))
    print(f"best layer: {search.best_params_['featurizer__layer']} "
          f"({search.best_score_:.3f}); searched in {time.perf_counter() - started:.0f} s")
    trained = search.best_estimator_.named_steps["featurizer"].history_["loss"]
    print(f"epochs trained during the search: {len(trained)}")

    table = pd.DataFrame({"features": "synthetic-32", "layer": layers,
                          "accuracy": search.cv_results_["mean_test_score"],
                          "accuracy_std": search.cv_results_["std_test_score"]})
    plots.plot_layer_accuracy(table, chance=1 / len(data.localizations))
    plt.show()
    return search


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").strip().split("\n")[0])
    parser.add_argument("--images", type=int, default=28)
    args = parser.parse_args()
    main(n_images=args.images)
