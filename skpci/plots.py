"""Figures people would rather look at than read (needs matplotlib: ``pip install skpci[plot]``).

Every function returns a ``matplotlib.figure.Figure``. When the caller has
imported ``matplotlib.pyplot`` the figure is pyplot's (``plt.show()`` shows it);
otherwise it is a standalone figure that never opens a window: save it with
``figure.savefig(path)``.
"""

import numpy as np

from .preprocessing import minmax_scale_crops, resize_crops


def _figure(**kwargs):
    """A new Figure: pyplot's when the caller uses pyplot, else a standalone one.

    Scripts and notebooks that import ``matplotlib.pyplot`` get figures that
    ``plt.show()`` displays; library use (the demo) never touches a GUI backend.
    """
    import sys

    try:
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("skpci.plots needs matplotlib: pip install 'skpci[plot]'") from error
    if "matplotlib.pyplot" in sys.modules:
        return sys.modules["matplotlib.pyplot"].figure(**kwargs)
    return Figure(**kwargs)


def _composite(crop, protein_channels, marker_channels):
    """An RGB view of a crop: protein in green, first marker in blue, second in red."""
    rgb = np.zeros(crop.shape[:2] + (3,), dtype=np.float32)
    rgb[..., 1] = crop[..., protein_channels[0]]
    if marker_channels:
        rgb[..., 2] = crop[..., marker_channels[0]]
    if len(marker_channels) > 1:
        rgb[..., 0] = crop[..., marker_channels[1]]
    return np.clip(rgb, 0, 1)


def plot_inpainting(featurizer, source_cells, target_cells, *, n_pairs=6):
    """A grid of source cell, target markers, predicted protein and true protein.

    Parameters
    ----------
    featurizer : PairedInpaintingFeaturizer
        Fitted.
    source_cells, target_cells : ndarray of shape (n, h, w, C)
        Pairs of cells from the same images.
    n_pairs : int, default=6
        Rows to draw.

    Returns
    -------
    figure : matplotlib.figure.Figure
    """
    n = min(n_pairs, len(source_cells))
    predicted = featurizer.inpaint(source_cells[:n], target_cells[:n])
    size = featurizer.input_size
    protein, markers = featurizer.protein_channels_, featurizer.marker_channels_
    source = minmax_scale_crops(resize_crops(np.asarray(source_cells[:n], dtype=np.float32), size))
    target = minmax_scale_crops(resize_crops(np.asarray(target_cells[:n], dtype=np.float32), size))
    titles = ["source cell\n(all channels)", "target markers", "predicted protein", "true protein"]
    figure = _figure(figsize=(8, 2 * n))
    axes = figure.subplots(n, 4, squeeze=False)
    for row in range(n):
        target_markers = _composite(target[row], protein, markers)
        target_markers[..., 1] = 0
        panels = [_composite(source[row], protein, markers), target_markers,
                  predicted[row, ..., 0], target[row, ..., protein[0]]]
        for column, panel in enumerate(panels):
            axis = axes[row, column]
            axis.imshow(panel, cmap="gray" if panel.ndim == 2 else None, vmin=0, vmax=1)
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(titles[column], fontsize=9)
    figure.suptitle("Paired cell inpainting: predicting a cell's protein from another cell", fontsize=10)
    key_height = 0.3 / figure.get_figheight()  # a line of text under the grid: which colour is which channel
    figure.tight_layout(rect=(0, key_height, 1, 1))
    figure.text(0.5, key_height / 4, _colour_key(featurizer, protein, markers), ha="center", va="bottom",
                fontsize=8)
    return figure


def _colour_key(featurizer, protein_channels, marker_channels):
    """What each colour of :func:`_composite` shows, e.g. ``"colours: green = protein, blue = nucleus"``."""
    names = getattr(featurizer, "channel_names_", None)

    def name(channel):
        return str(names[channel]) if names is not None else f"channel {channel}"

    shown = [("green", protein_channels[0]), ("blue", (marker_channels[:1] or [None])[0]),
             ("red", (marker_channels[1:2] or [None])[0])]
    return "colours: " + ", ".join(f"{colour} = {name(channel)}" for colour, channel in shown if channel is not None)


def plot_embedding(features, labels, *, method="pca", random_state=0, title=None):
    """Scatter plot of features in 2-D, coloured by label.

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features)
    labels : array-like of shape (n_samples,)
    method : {"pca", "umap"}, default="pca"
        UMAP needs the ``umap-learn`` package.
    random_state : int, default=0
    title : str, optional

    Returns
    -------
    figure : matplotlib.figure.Figure
    """
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    scaled = StandardScaler().fit_transform(np.asarray(features))
    if method == "pca":
        embedded = PCA(n_components=2, random_state=random_state).fit_transform(scaled)
    elif method == "umap":
        try:
            import umap
        except ImportError as error:
            raise ImportError("method='umap' needs umap-learn: pip install umap-learn") from error
        embedded = umap.UMAP(random_state=random_state).fit_transform(scaled)
    else:
        raise ValueError(f"method must be 'pca' or 'umap', got {method!r}.")
    labels = np.asarray(labels)
    figure = _figure(figsize=(7, 5))
    axis = figure.subplots()
    for label in np.unique(labels):
        chosen = labels == label
        axis.scatter(embedded[chosen, 0], embedded[chosen, 1], s=8, alpha=0.7, label=str(label))
    axis.set_xlabel(f"{method.upper()} 1")
    axis.set_ylabel(f"{method.upper()} 2")
    # Outside the axes, on the right, so that it never hides points.
    axis.legend(fontsize=8, markerscale=2, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1),
                borderaxespad=0)
    axis.set_title(title or f"Features ({method.upper()}), coloured by label", fontsize=10)
    figure.tight_layout()
    return figure


def plot_layer_accuracy(table, *, score="accuracy", chance=None):
    """Bar chart of a benchmark table: score per layer, one bar per feature set.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`skpci.evaluation.layer_benchmark` (possibly several
        concatenated); rows with layer ``"-"`` are drawn as horizontal lines.
    score : {"accuracy", "balanced_accuracy"}, default="accuracy"
    chance : float, optional
        Draws a dotted chance line.

    Returns
    -------
    figure : matplotlib.figure.Figure
    """
    from matplotlib.lines import Line2D

    per_layer = table[table["layer"] != "-"]
    flat = table[table["layer"] == "-"]
    layers = list(dict.fromkeys(per_layer["layer"]))
    sets = list(dict.fromkeys(per_layer["features"]))
    width = 0.8 / max(len(sets), 1)
    figure = _figure(figsize=(7, 4.5))
    axis = figure.subplots()
    for k, name in enumerate(sets):
        rows = per_layer[per_layer["features"] == name].set_index("layer").reindex(layers)
        axis.bar(np.arange(len(layers)) + (k - (len(sets) - 1) / 2) * width, rows[score], width,
                 yerr=rows[f"{score}_std"], capsize=2, label=name)
    lines = [(row[score], str(row["features"]), dict(linestyle="--", color="gray")) for _, row in flat.iterrows()]
    if chance is not None:
        lines.append((chance, "chance", dict(linestyle=":", color="black")))
    for value, _, style in lines:
        axis.axhline(value, linewidth=1, **style)
    # Lines are named right of the axes, where no bar can be; names too close to each other are spread.
    placed = []
    for value, name, _ in sorted(lines, key=lambda line: line[0]):
        placed.append(max(value, placed[-1] + 0.05) if placed else value)
        axis.text(1.01, placed[-1], name, transform=axis.get_yaxis_transform(), ha="left", va="center",
                  fontsize=8, clip_on=False)
    axis.set_xticks(np.arange(len(layers)), layers)
    axis.set_ylabel(score.replace("_", " "))
    axis.set_ylim(0, 1)
    handles, _ = axis.get_legend_handles_labels()
    handles.append(Line2D([], [], color="black", marker="|", markersize=10, linestyle="",
                          label="error bars: std over folds"))
    # Below the axes, so that it covers neither bars nor lines.
    axis.legend(handles=handles, fontsize=8, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.1),
                ncol=min(len(handles), 3))
    axis.set_title("kNN localization accuracy per layer (folds by field)", fontsize=10)
    figure.tight_layout()
    return figure


def plot_segmentation(image, segmentation, *, channel=0, title=None):
    """A field with nucleus outlines and crop boxes drawn on it.

    Parameters
    ----------
    image : ndarray of shape (H, W, C) or (H, W)
    segmentation : skpci.segmentation.Segmentation
        From ``CellSegmenter.segment(image)``.
    channel : int, default=0
        Channel shown in grey (usually the nuclear one).
    title : str, optional

    Returns
    -------
    figure : matplotlib.figure.Figure
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle
    from skimage.segmentation import find_boundaries

    plane = np.asarray(image, dtype=np.float32)
    plane = plane[..., channel] if plane.ndim == 3 else plane
    low, high = np.percentile(plane, [1, 99.8])
    shown = np.clip((plane - low) / max(high - low, 1e-12), 0, 1)
    rgb = np.stack([shown] * 3, axis=-1)
    rgb[find_boundaries(segmentation.labels, mode="outer")] = (1.0, 0.8, 0.0)
    figure = _figure(figsize=(7, 7 * plane.shape[0] / plane.shape[1]))
    axis = figure.subplots()
    axis.imshow(rgb)
    for top, left, bottom, right in segmentation.boxes:
        axis.add_patch(Rectangle((left - 0.5, top - 0.5), right - left, bottom - top, fill=False,
                                 edgecolor="tab:cyan", linewidth=0.8))
    axis.plot(segmentation.centroids[:, 1], segmentation.centroids[:, 0], "+", color="tab:red", markersize=4)
    axis.set_xlim(-0.5, plane.shape[1] - 0.5)  # padded crop boxes may reach past the field
    axis.set_ylim(plane.shape[0] - 0.5, -0.5)
    axis.set_axis_off()
    axis.legend(handles=[
        Line2D([], [], color=(1.0, 0.8, 0.0), linewidth=2, label="nucleus outline"),
        Rectangle((0, 0), 1, 1, fill=False, edgecolor="tab:cyan", label="crop"),
        Line2D([], [], marker="+", linestyle="", color="tab:red", label="centroid"),
    ], loc="upper right", fontsize=8, framealpha=0.8)
    counts = segmentation.counts()
    dropped = counts["dropped_border"] + counts["dropped_small"]
    axis.set_title(title or f"{counts['found']} nuclei found, {segmentation.n_cells} cropped, {dropped} dropped",
                   fontsize=10)
    figure.tight_layout()
    return figure
