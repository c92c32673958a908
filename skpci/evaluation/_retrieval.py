"""Mean average precision of retrieving same-label cells across fields, with the cytomining ``copairs`` package.

Image-based profiling papers score representations by how well a cell's (or
well's) nearest neighbours share its label: for every query cell, the
average precision of ranking the cells of its label (from *other* fields,
so that a field's shared look does not count) above the cells of other
labels; then the mean per label, with a permutation p-value. skpci calls
``copairs`` so its numbers are the field's numbers.
"""

import numpy as np
import pandas as pd

from .._ids import encode_ids
from ._spaces import feature_space


def map_scores(features, labels, groups, *, space="standardized", distance="cosine", null_size=1000, threshold=0.05,
               seed=0):
    """Mean average precision (mAP) of retrieving same-label cells from other fields.

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features)
    labels : array-like of shape (n_samples,)
        What should be retrieved (localization, protein...).
    groups : array-like of shape (n_samples,)
        Field (or image) of each sample: positives must come from another
        field (copairs' ``pos_diffby``).
    space : {"standardized", "cosine", "whitened"} or None, default="standardized"
        Features are first taken into this space (see
        :func:`feature_space`), as profiling pipelines standardize before
        retrieval; ``None`` keeps them as they are.
    distance : str, default="cosine"
        As copairs takes it (``"cosine"``, ``"euclidean"``, ``"abs_cosine"``...).
    null_size : int, default=1000
        Permutations for each label's p-value.
    threshold : float, default=0.05
        False discovery rate for calling a label's mAP significant.
    seed : int, default=0

    Returns
    -------
    scores : dict
        ``map`` (the mean over labels of their mAP), ``mean_ap`` (over
        query samples), ``fraction_significant`` (labels whose mAP beats
        the null after FDR correction) and ``per_label`` (a DataFrame from
        copairs: label, mean_average_precision, p_value, corrected_p_value,
        below_corrected_p).

    Raises
    ------
    ImportError
        Without copairs (``pip install "skpci[evaluation]"``).
    ValueError
        If no sample has a positive in another field.
    """
    from .._optional import require

    require("copairs", "evaluation")
    from copairs.map import average_precision, mean_average_precision

    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"features must be 2-D (n_samples, n_features), got shape {features.shape}.")
    if space is not None:
        features = feature_space(space).fit_transform(features)
    label_codes, label_names = encode_ids(labels, len(features), name="labels", expected="one entry per sample",
                                         missing_as="label", item="sample")
    group_codes, _ = encode_ids(groups, len(features), name="groups", expected="one entry per sample",
                                missing_as="group", item="sample")
    meta = pd.DataFrame({"label": label_codes, "field": group_codes})
    try:
        ap = average_precision(meta, features, pos_sameby=["label"], pos_diffby=["field"], neg_sameby=[],
                               neg_diffby=["label"], distance=distance, progress_bar=False)
    except Exception as error:  # copairs raises its own UnpairedException when no positive pair exists
        if type(error).__name__ != "UnpairedException":
            raise
        ap = pd.DataFrame({"average_precision": []})
    ap = ap.dropna(subset=["average_precision"])
    if ap.empty:
        raise ValueError("No sample has a same-label sample in another field, so no average precision exists; "
                         "each label needs cells in at least two fields.")
    per_label = mean_average_precision(ap, sameby=["label"], null_size=null_size, threshold=threshold, seed=seed,
                                       progress_bar=False)
    per_label["label"] = [label_names[code] for code in per_label["label"]]
    return {
        "map": float(per_label["mean_average_precision"].mean()),
        "mean_ap": float(ap["average_precision"].mean()),
        "fraction_significant": float(per_label["below_corrected_p"].mean()),
        "per_label": per_label.reset_index(drop=True),
    }
