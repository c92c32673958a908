"""Localization benchmarks: how well do features separate known classes?

The standard evaluation of the paper: a k-nearest-neighbour classifier on
standardized features, cross-validated with folds by image or field of view
(never by cell: cells of one field share imaging conditions), per layer.
"""

import warnings

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline

from .._ids import encode_ids
from ..network import FEATURE_LAYERS, layer_width
from ._spaces import feature_space


def knn_scores(features, labels, groups, *, n_neighbors=5, cv=None, space="standardized"):
    """Cross-validated kNN accuracy of ``features`` for ``labels``.

    Predictions of all test folds are pooled for the headline scores, so
    folds that hold a single class (leave-one-field-out, where a field shows
    one strain) count correctly; the spread is the standard deviation over
    folds (over folds with at least two classes, for balanced accuracy).

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features)
    labels : array-like of shape (n_samples,)
    groups : array-like of shape (n_samples,)
        Fold groups (image or field of view); a group is never split.
    n_neighbors : int, default=5
    cv : cross-validation splitter, optional
        Default: ``StratifiedGroupKFold`` with up to 5 folds (fewer when
        there are fewer groups, or fewer samples in every class), so every
        fold sees every class when the groups allow it.
    space : {"standardized", "cosine", "whitened"}, default="standardized"
        Where distances are measured (see :func:`feature_space`); it is
        fitted on each fold's training part only.

    Returns
    -------
    scores : dict
        ``accuracy``, ``accuracy_std``, ``balanced_accuracy``,
        ``balanced_accuracy_std`` and ``n_folds``.

    Raises
    ------
    ValueError
        If there is a single class, or a fold tests a class that none of
        its training samples has (e.g. every image is its own class and
        folds are by image): such scores would be meaningless.
    """
    features = np.asarray(features)
    if features.ndim != 2:
        raise ValueError(f"features must be 2-D (n_samples, n_features), got shape {features.shape}.")
    labels, class_names = encode_ids(labels, len(features), name="labels", expected="one entry per sample",
                                     missing_as="label", item="sample")
    groups, _ = encode_ids(groups, len(features), name="groups", expected="one entry per sample",
                           missing_as="fold group", item="sample")
    if len(np.unique(groups)) < 2:
        raise ValueError("Cross-validation needs at least two fold groups (images or fields); groups holds one.")
    classes = np.unique(labels)
    if len(classes) < 2:
        raise ValueError(
            f"A classification benchmark needs at least two classes; the labels hold {len(classes)} "
            f"({', '.join(map(str, class_names[:1]))}). Label the cells by what differs between them."
        )
    if cv is None:
        # Stratified folds need a class with at least as many samples as folds.
        n_splits = min(5, len(np.unique(groups)), int(np.bincount(labels).max()))
        if n_splits < 2:
            raise ValueError("Every class has a single sample, so none can be found among the others; a kNN "
                             "benchmark needs at least two samples of some class.")
        cv = StratifiedGroupKFold(n_splits=n_splits)
    splits = list(cv.split(features, labels, groups))
    smallest_training = min(len(train) for train, _ in splits)
    if smallest_training < n_neighbors:
        raise ValueError(
            f"A training fold holds {smallest_training} samples, fewer than n_neighbors={n_neighbors}: "
            "lower n_neighbors, or benchmark more samples (cells rather than images, or more images)."
        )
    unseen = sorted({str(class_names[code]) for train, test in splits
                     for code in np.setdiff1d(labels[test], labels[train])})
    if unseen:
        raise ValueError(
            f"{len(unseen)} of {len(classes)} classes (e.g. {', '.join(unseen[:3])}) are tested in a fold "
            "whose training part has no sample of them, so they can never be predicted right: each lies in "
            "a single fold group. Fold by a finer group (e.g. image rather than folder), or leave out classes "
            "with one group."
        )
    model = make_pipeline(feature_space(space), KNeighborsClassifier(n_neighbors=n_neighbors))
    predicted = np.empty_like(labels)
    tested = np.zeros(len(labels), dtype=bool)
    fold_accuracy, fold_balanced = [], []
    for train, test in splits:
        predicted[test] = clone(model).fit(features[train], labels[train]).predict(features[test])
        tested[test] = True
        fold_accuracy.append(accuracy_score(labels[test], predicted[test]))
        if len(np.unique(labels[test])) > 1:
            with warnings.catch_warnings():  # a fold may lack classes that are predicted
                warnings.simplefilter("ignore", UserWarning)
                fold_balanced.append(balanced_accuracy_score(labels[test], predicted[test]))
    return {
        "accuracy": float(accuracy_score(labels[tested], predicted[tested])),
        "accuracy_std": float(np.std(fold_accuracy)),
        "balanced_accuracy": float(balanced_accuracy_score(labels[tested], predicted[tested])),
        "balanced_accuracy_std": float(np.std(fold_balanced)) if fold_balanced else float("nan"),
        "n_folds": len(fold_accuracy),
    }


def layer_benchmark(featurizer, X, labels, groups, *, layers=FEATURE_LAYERS, name="skpci",
                    n_neighbors=5, cv=None, retrieval=False, space="standardized"):
    """kNN scores of a fitted featurizer's features, one row per layer.

    Parameters
    ----------
    featurizer : PairedInpaintingFeaturizer
        Already fitted. All layers come from one pass of the encoder; the
        featurizer's ``layer`` is restored afterwards.
    X : ndarray of shape (n_cells, h, w, C), or list of bags
    labels, groups : array-like
        One per row of the features (per cell, or per bag).
    layers : str or sequence of str, default=all source-encoder layers
    name : str, default="skpci"
        Feature-set name in the table.
    n_neighbors : int, default=5
    cv : cross-validation splitter, optional
    retrieval : bool, default=False
        Also score the mean average precision of retrieving same-label rows
        from other groups (:func:`~skpci.evaluation.map_scores`, column
        ``map``; NaN without the copairs package).
    space : {"standardized", "cosine", "whitened"}, default="standardized"
        Where distances are measured (see :func:`feature_space`).

    Returns
    -------
    table : pandas.DataFrame
        Columns ``features``, ``layer``, then the scores of :func:`knn_scores`
        (and ``map``).
    """
    all_layers = layer_features(featurizer, X, layers)
    return pd.DataFrame([
        {"features": name, "layer": layer,
         **benchmark_scores(features, labels, groups, n_neighbors=n_neighbors, cv=cv, retrieval=retrieval,
                            space=space)}
        for layer, features in all_layers.items()
    ])


def training_shortfalls(table, trained, untrained, *, metric="accuracy"):
    """Layers where trained features score no better than the same network untrained.

    Random convolutional features are a strong baseline; a trained layer
    that does not beat them adds nothing, which usually means too little
    training (or a pretext task that does not fit the data).

    Parameters
    ----------
    table : pandas.DataFrame
        Rows of :func:`layer_benchmark` for both feature sets (columns
        ``features``, ``layer`` and ``metric``).
    trained, untrained : str
        Their names in the ``features`` column.
    metric : str, default="accuracy"

    Returns
    -------
    shortfalls : pandas.DataFrame
        Columns ``layer``, ``trained``, ``untrained``: one row per layer
        where the trained score is not higher (empty when training helped
        at every layer).
    """
    scores = {name: table[table["features"] == name].set_index("layer")[metric] for name in (trained, untrained)}
    both = pd.DataFrame({"trained": scores[trained], "untrained": scores[untrained]}).dropna()
    return both[both["trained"] <= both["untrained"]].rename_axis("layer").reset_index()


def describe_shortfalls(shortfalls):
    """A sentence for :func:`training_shortfalls`' result, or None when there is none."""
    if shortfalls.empty:
        return None
    pairs = "; ".join(f"{row.layer} {row.trained:.3f} vs {row.untrained:.3f}" for row in shortfalls.itertuples())
    return (f"Warning: at {', '.join(shortfalls['layer'])} the trained features score no better than the untrained "
            f"network ({pairs}). Training has not helped there yet: train longer (the paper trains 30 epochs) "
            "or read out a layer where it did.")


def benchmark_scores(features, labels, groups, *, n_neighbors=5, cv=None, retrieval=False, space="standardized"):
    """:func:`knn_scores`, plus the retrieval mAP (``map``) when ``retrieval`` (NaN without copairs)."""
    scores = knn_scores(features, labels, groups, n_neighbors=n_neighbors, cv=cv, space=space)
    if retrieval:
        from ._retrieval import map_scores

        try:
            scores["map"] = map_scores(features, labels, groups, space=space, null_size=100)["map"]
        except ImportError:
            scores["map"] = float("nan")
    return scores


def layer_features(featurizer, X, layers):
    """Features of several layers from one pass of the encoder, split by layer.

    Parameters
    ----------
    featurizer : PairedInpaintingFeaturizer
        Fitted; its ``layer`` is restored afterwards.
    X : ndarray of shape (n_cells, h, w, C), or list of bags
    layers : str or sequence of str

    Returns
    -------
    features : dict
        Layer name to its ``(n_rows, width)`` feature array.
    """
    layers = [layers] if isinstance(layers, str) else list(layers)
    previous = featurizer.layer
    featurizer.set_params(layer=list(layers))
    try:
        features = featurizer.transform(X)
    finally:
        featurizer.set_params(layer=previous)
    per_unit = 2 if featurizer.pooling == "meanmax" else 1
    bounds = np.cumsum([0] + [per_unit * layer_width(layer) for layer in layers])
    return {layer: features[:, start:stop] for layer, start, stop in zip(layers, bounds[:-1], bounds[1:])}
