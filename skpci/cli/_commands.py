"""What the ``skpci`` commands do: segment fields into a store; fit, featurize and benchmark.

``fit`` and ``features`` read a :class:`~skpci.CropStore` or a crop folder; crop
folders hold one file per channel and cell, ``<folder>/<image>_<cell>_<channel>.tif``
(the layout of the authors' yeast and HPA sets, read by :func:`skpci.io.read_cell_crops`).
"""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .. import pretrained
from ..evaluation import (
    benchmark_scores,
    brightness_features,
    describe_shortfalls,
    handcrafted_features,
    layer_benchmark,
    training_shortfalls,
)
from ..featurizer import PairedInpaintingFeaturizer
from ..featurizer._features import write_features
from ..formats import loaddata_fields, ome_channel_names
from ..io import bags_by, list_fields, read_cell_crops
from ..preprocessing import mask_background
from ..segmentation import CellSegmenter
from ..store import CropStore


def _open_store(path):
    """The crop store at ``path``, or None when ``path`` is a crop folder."""
    path = Path(path)
    if (path / "store.json").is_file() or (path.is_file() and path.suffix.lower() in (".h5", ".hdf5")):
        return CropStore(path)
    return None


def segment_command(fields, output, *, channels, nuclear, pattern=r"_(?P<channel>[^_]+)$", recursive=False,
                    label_from="none", group_by="field", scale="auto", crop_size="auto", min_nucleus_area=None,
                    nucleus_diameter=None, method="watershed", n_jobs=None, verbose=1, on_error="raise", echo=print):
    """Segment a folder of fields, or a CellProfiler LoadData CSV, into a crop store (resuming one); returns it."""
    metadata = None
    if Path(fields).is_file() and Path(fields).suffix.lower() == ".csv":
        table = loaddata_fields(fields, channels)
        channels = list(table.channel_names)
        paths, field_ids, metadata = table.fields, table.names, table.metadata
        folders = [str(Path(paths[i][0]).parent.name) for i in range(len(paths))]
    elif _ome_fields(fields, recursive):
        paths, field_ids, channels = _read_ome_folder(fields, recursive, channels)
        folders = [str(Path(fid).parent) for fid in field_ids]
    else:
        if not channels:
            raise ValueError("A folder of fields needs --channels (the channel names in the file names).")
        paths, field_ids = list_fields(fields, channels, channel_pattern=pattern, recursive=recursive)
        folders = [str(Path(fid).parent) for fid in field_ids]
    if nuclear not in channels:
        raise ValueError(f"--nuclear {nuclear!r} is not among the channels {list(channels)}.")
    order = sorted(range(len(paths)), key=lambda i: (folders[i], field_ids[i]))  # groups stay contiguous
    segmenter = CellSegmenter(nuclear_channel=list(channels).index(nuclear), scale=scale, crop_size=crop_size,
                              min_nucleus_area=min_nucleus_area, nucleus_diameter=nucleus_diameter, method=method,
                              n_jobs=n_jobs, verbose=verbose)
    existing = _open_store(output)
    before = existing.n_images if existing is not None else 0
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*could not be segmented and were skipped")  # echoed below
        store = segmenter.to_store(
            [paths[i] for i in order], output, names=[field_ids[i] for i in order], channel_names=list(channels),
            labels=[folders[i] for i in order] if label_from == "folder" else None,
            groups=[folders[i] for i in order] if group_by == "folder" else None, on_error=on_error,
            metadata=[metadata[i] for i in order] if metadata is not None else None,
        )
    settings = store.settings or {}
    diameter = settings.get("nucleus_diameter")
    echo(f"settings: scale {settings.get('scale')}, {settings.get('crop_size')} px crops"
         + (f", nuclei about {diameter:g} px across in the fields" if diameter else ""))
    new = store.images.iloc[before:]
    found = {key: sum(m.get("segmentation", {}).get(key, 0) for m in new["metadata"])
             for key in ("found", "kept", "dropped_border", "dropped_small")}
    echo(f"this run: {len(new)} fields, {found['found']} nuclei found, {found['kept']} kept, "
         f"{found['dropped_border']} dropped at the border, {found['dropped_small']} dropped as too small")
    empty = new.loc[new["n_cells"] == 0, "name"].tolist()
    if empty:
        echo(f"{len(empty)} field(s) gave no cells, e.g. {empty[0]!r}: "
             + ("every nucleus touched the border; try a smaller --crop-size or a larger --scale"
                if found["dropped_border"] else "no nuclei found; is --nuclear the nuclear stain?"))
    skipped = store.skipped
    if skipped:
        echo(f"{len(skipped)} field(s) could not be segmented and were skipped (listed in "
             f"{store.path / 'skipped.json'}; the next run tries them again):")
        for name, why in list(skipped.items())[:10]:
            echo(f"  {name}: {why}")
    shape = f" of {store.crop_shape} {store.dtype}" if len(store) else ""
    echo(f"{store.n_images} fields ({store.n_images - before} new), {len(store)} cells{shape} in {store.path}")
    return store


def _ome_fields(folder, recursive):
    """The OME-TIFF files and OME-Zarr folders under ``folder`` (each one whole field), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = folder.rglob("*") if recursive else folder.glob("*")
    return sorted(path for path in found if path.name.lower().endswith((".ome.tif", ".ome.tiff", ".ome.zarr")))


def _read_ome_folder(folder, recursive, channels):
    """Fields, names and channel names of a folder of OME files; every file must name the same channels."""
    paths = _ome_fields(folder, recursive)
    names = {path: ome_channel_names(path) for path in paths}
    declared = {value for value in names.values()}
    if None in declared:
        unnamed = next(path for path, value in names.items() if value is None)
        raise ValueError(f"{str(unnamed)!r} names no channels in its OME metadata; name them there, or store the "
                         "fields one file per channel and give --channels.")
    if len(declared) > 1:
        raise ValueError(f"The OME fields under {str(folder)!r} name different channels: {sorted(declared)}; "
                         "segment fields with the same channels into one store.")
    found = list(declared.pop())
    if channels and list(channels) != found:
        raise ValueError(f"--channels {list(channels)} differs from the channels the OME files name, {found}; "
                         "leave --channels out to use theirs.")
    ids = []
    for path in paths:
        name = str(path.relative_to(folder))
        suffix = next(end for end in (".ome.tiff", ".ome.tif", ".ome.zarr") if name.lower().endswith(end))
        ids.append(name[:-len(suffix)])
    return [str(path) for path in paths], ids, found


def _store_channel_names(store, channels):
    """Names for a store's channels: its own (``--channels`` may only repeat them), or ``--channels``."""
    if store.channel_names is None:
        if not channels or len(channels) != store.crop_shape[-1]:
            raise ValueError(f"The store's crops have {store.crop_shape[-1]} unnamed channels; name them in "
                             "order with --channels.")
        return list(channels)
    unknown = [name for name in channels or () if name not in store.channel_names]
    if unknown:
        raise ValueError(f"The store's channels are {store.channel_names}; it has no {unknown}.")
    return None  # the store's own names; roles and models find channels by them


def _check_model_output(output, overwrite):
    """Refuse, before any training, an output that exists, unless it is a model directory to overwrite."""
    output = Path(output)
    if not output.exists() and not output.is_symlink():
        return
    if not (output.is_dir() and (output / "model_card.json").is_file()):
        raise ValueError(f"{str(output)!r} exists and is not a model directory; skpci fit writes a new model "
                         "directory and replaces only an existing one. Choose another -o.")
    if not overwrite:
        raise ValueError(f"The model directory {str(output)!r} exists; pass --overwrite to replace it.")


def fit_command(crops, output, *, channels, protein, markers, group_by="folder", input_size=64, epochs=30,
                batch_size=64, seed=0, checkpoint_dir=None, start_from=None, devices=None, n_jobs=None,
                overwrite=False, min_group_size=2, recipe=None, verbose=1, echo=print):
    """Train on a crop store or folder and save a model directory; returns its path.

    ``recipe`` holds further featurizer parameters (``rotations``, ``protein_jitter``, ``mask_neighbours``).
    """
    for option, names in (("--protein", protein), ("--markers", markers)):
        if not names:
            raise ValueError(f"{option} needs at least one channel name.")
    _check_model_output(output, overwrite)
    store = _open_store(crops)
    if store is not None:
        channel_names = _store_channel_names(store, channels)
        n_cells, described = len(store), f"crop store {str(store.path.resolve())}: {len(store)} cells"
        echo(f"{n_cells} cells of {store.n_images} fields in {store.images['group'].nunique()} groups; "
             f"channels {channel_names or store.channel_names}")
        X, fit_params = store, {}
    else:
        if not channels:
            raise ValueError("A crop folder needs --channels (the channel file suffixes).")
        data = read_cell_crops(crops, channels, n_jobs=n_jobs)
        groups = data.cell_table[group_by].to_numpy() if group_by == "folder" else (
            data.cell_table["folder"] + "/" + data.cell_table["image"]).to_numpy()
        echo(f"{len(data.cells)} cells in {len(np.unique(groups))} groups ({group_by}); channels {list(channels)}")
        described = f"crop folder {str(Path(crops).resolve())}: {len(data.cells)} cells, groups by {group_by}"
        X, fit_params, channel_names = data.cells, {"groups": groups}, list(channels)
    featurizer = PairedInpaintingFeaturizer(
        protein_channels=tuple(protein), marker_channels=tuple(markers), channel_names=channel_names,
        input_size=input_size,
        epochs=epochs, batch_size=batch_size, random_state=seed, checkpoint_dir=checkpoint_dir,
        weights=start_from, devices=devices, n_jobs=n_jobs, min_group_size=min_group_size, verbose=verbose,
        **(recipe or {}),
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*left out of training")  # echoed below
        featurizer.fit(X, **fit_params)
    if featurizer.n_groups_left_out_:
        echo(f"{featurizer.n_groups_left_out_} groups with fewer than {min_group_size} cells "
             f"({featurizer.n_cells_left_out_} cells) were left out of training")
    path = featurizer.save_pretrained(output, overwrite=overwrite, training_data=described)
    losses = featurizer.history_["loss"]
    if losses:
        echo(f"loss {losses[0]:.4f} -> {losses[-1]:.4f} over {_epochs(len(losses))}")
    echo(f"model written to {path}")
    if len(losses) < epochs:
        resume = " with --overwrite" if checkpoint_dir is None else " with the same --checkpoint-dir and --overwrite"
        echo(f"Training was interrupted after {len(losses)} of {_epochs(epochs)}; the model holds the last "
             f"completed epoch. Run the same command{resume} to "
             f"{'resume' if checkpoint_dir is not None else 'start over'}.")
        raise KeyboardInterrupt
    return path


def _epochs(n):
    """``"1 epoch"``, ``"2 epochs"``."""
    return f"{n} epoch{'' if n == 1 else 's'}"


def features_command(crops, model, output, *, layer="conv3_1", per="cell", channels=None, style="skpci", n_jobs=None,
                     pooling=None, overwrite=False, verbose=1, echo=print):
    """Features of every cell (or mean per image or folder) of a crop store or folder: a table or an AnnData file.

    A crop folder's cells are labelled by their folder (``label``), as its layout implies (one protein
    or condition per folder). An existing output is replaced only with ``overwrite``.
    """
    store = _open_store(crops)
    into_store = store is not None and str(output) == "store"
    if not into_store:
        _check_feature_output(output)
        if Path(output).exists() and not overwrite:
            raise FileExistsError(f"{str(output)!r} exists; pass --overwrite to replace it.")
    chosen = {"pooling": pooling} if pooling else {}
    featurizer = PairedInpaintingFeaturizer.from_pretrained(model, layer=layer.split(","), n_jobs=n_jobs,
                                                            verbose=verbose, **chosen)
    if store is not None:
        if per == "folder":
            raise ValueError("A store gives features per cell or per image (--per cell or --per image).")
        featurizer.set_params(**_store_channels_for_model(store, model, channels))
        featurizer.fit(store)  # epochs=0: loads the weights and matches the channels; trains nothing
        try:
            path = featurizer.write_features(store, None if into_store else output, per=per, style=style,
                                             overwrite=overwrite)
        except FileExistsError as error:  # the store's own features file: say how to replace it from here
            raise FileExistsError(str(error).replace("overwrite=True", "--overwrite")) from None
        echo(f"features of {len(store) if per == 'cell' else store.n_images} {per}s written to {path}")
        return path
    data = _read_for_model(crops, model, channels, n_jobs)
    featurizer.set_params(channel_names=list(data.channel_names),
                          channel_map=_model_channel_map(model, channels) if channels else None)
    featurizer.fit(data.cells)
    records = data.cell_table.reset_index(drop=True)
    if per == "cell":
        features = featurizer.transform(data.cells)
    else:  # one bag per image (or folder): the featurizer aggregates each into one row
        keys = ["folder"] if per == "folder" else ["folder", "image"]
        bags, _ = bags_by(data.cells, records[keys].agg("/".join, axis=1).to_numpy())
        records = records.drop_duplicates(keys)[keys].reset_index(drop=True)
        records["n_cells"] = [len(bag) for bag in bags]
        features = featurizer.transform(bags)
    records["label"] = records["folder"]
    layers = tuple(featurizer.layer)
    write_features(Path(output), features, records, layers=layers, pooling=featurizer.pooling,
                   per="cell" if per == "cell" else "image", style=style)
    echo(f"{len(records)} rows x {features.shape[1]} features written to {output}")
    return Path(output)


def _check_feature_output(output):
    suffix = Path(output).suffix.lower()
    if suffix not in (".csv", ".parquet", ".h5ad"):
        raise ValueError(f"Output {str(output)!r} must end in .csv, .parquet (tables) or .h5ad (AnnData).")


def benchmark_command(crops, model, *, channels=None, labels="folder", folds="image", layers=None,
                      n_jobs=None, echo=print):
    """kNN localization benchmark of a model's layers against baselines on a crop store or folder.

    In a store, ``labels="folder"`` is each field's recorded label (``skpci
    segment --label-from folder``) and ``folds="folder"`` its pairing group.
    """
    store = _open_store(crops)
    if store is not None:
        featurizer = PairedInpaintingFeaturizer.from_pretrained(model, n_jobs=n_jobs)
        featurizer.set_params(**_store_channels_for_model(store, model, channels))
        X = store
        records = store.cells.assign(label=store.images["label"].to_numpy()[store.cells["image"].to_numpy()])
        if labels == "folder" and (records["label"] == "").any():
            raise ValueError(f"{store!r} records no label for some fields; segment with --label-from folder, or "
                             "benchmark by --labels image.")
        y = records["label" if labels == "folder" else "source"].to_numpy()
        groups = records["source" if folds == "image" else "group"].to_numpy()
    else:
        data = _read_for_model(crops, model, channels, n_jobs)
        featurizer = PairedInpaintingFeaturizer.from_pretrained(
            model, channel_names=list(data.channel_names), n_jobs=n_jobs,
            channel_map=_model_channel_map(model, channels) if channels else None)
        X, table = data.cells, data.cell_table
        y = table[labels].to_numpy()
        groups = (table["folder"] + "/" + table["image"]).to_numpy() if folds == "image" else table[folds].to_numpy()
    featurizer.fit(X)  # epochs=0: loads the weights and matches the channels; trains nothing
    chosen = {"layers": layers} if layers else {}
    features = layer_benchmark(featurizer, X, y, groups, name=Path(str(model)).name, retrieval=True, **chosen)
    # The same network untrained: what training added over random convolutional features.
    untrained = layer_benchmark(_untrained(featurizer, X), X, y, groups, name=UNTRAINED, retrieval=True, **chosen)
    cells = store.read() if store is not None else X  # the baselines work in memory
    protein, markers = featurizer.input_channels(X)
    if featurizer.mask_neighbours:  # compare like with like: the baselines see the central cells the model sees
        cells = mask_background(cells, markers[featurizer._fitted_mask_position()], n_jobs=n_jobs)
    result = pd.concat([features, untrained, pd.DataFrame([
        {"features": "hand-crafted", "layer": "-",
         **benchmark_scores(handcrafted_features(cells, protein, n_jobs=n_jobs), y, groups, retrieval=True)},
        {"features": "brightness", "layer": "-",
         **benchmark_scores(brightness_features(cells, protein), y, groups, retrieval=True)},
    ])], ignore_index=True)
    echo(f"{len(y)} cells, {len(np.unique(y))} classes ({labels}), folds by {folds}; "
         f"chance {1 / len(np.unique(y)):.3f}")
    echo(result.drop(columns="n_folds").round(3).to_string(index=False))
    echo(f"{UNTRAINED}: the model's architecture with random weights (seed {UNTRAINED_SEED}), not trained")
    if featurizer.mask_neighbours:
        echo("the model keeps only each crop's central cell (mask_neighbours); so do the baselines")
    warning = describe_shortfalls(training_shortfalls(result, Path(str(model)).name, UNTRAINED))
    if warning:
        echo(warning)
    if result["map"].isna().all():
        echo("map: install copairs (pip install 'skpci[evaluation]') for the mean average precision of retrieval")
    else:
        echo(f"map: mean average precision of retrieving same-{labels} cells from other "
             f"{'images' if folds == 'image' else 'folders'} (copairs)")
    return result


#: The benchmark's row of the untrained network, and the seed of its random weights.
UNTRAINED, UNTRAINED_SEED = "untrained", 0


def _untrained(featurizer, X):
    """A twin of a fitted featurizer, with the same architecture and channels, whose network has random weights."""
    from sklearn.base import clone

    from ..network import build_inpainting_model

    twin = clone(featurizer).fit(X)  # loads the weights and matches the channels as the featurizer did
    twin.model_.set_weights(build_inpainting_model(twin.architecture_, seed=UNTRAINED_SEED).get_weights())
    return twin


def _read_for_model(crops, model, channels, n_jobs):
    """Read a crop folder's channels: those named by ``--channels``, else the model's own."""
    if not channels:
        channels = pretrained.describe(model)["channel_names"]
        if not channels:
            raise ValueError("The model does not record its channel names; pass --channels (in the model's "
                             "channel order).")
    return read_cell_crops(crops, channels, n_jobs=n_jobs)


def _store_channels_for_model(store, model, channels):
    """Featurizer parameters that feed a store's channels to a model (see :func:`_model_channel_map`)."""
    if not channels:
        return {}  # names meet names; an unnamed side is taken by position
    channel_map = _model_channel_map(model, channels)
    return {"channel_names": _store_channel_names(store, channels), "channel_map": channel_map}


def _model_channel_map(model, channels):
    """``channel_map`` for ``--channels``: none where they include the model's names, else in the model's order.

    ``--channels blue,green,red`` feeds a model of ``green, blue, red`` by
    name; ``--channels F,R`` feeds a model of ``gfp, rfp`` (or an unnamed
    two-channel model) in order: gfp from F, rfp from R.
    """
    info = pretrained.describe(model)
    names, n_model = info["channel_names"], info["n_channels_in"]
    if names and set(names) <= set(channels):
        return None
    if names and set(names) & set(channels):
        raise ValueError(f"--channels {list(channels)} names some of the model's channels {list(names)} but not "
                         "all: list all of them (matched by name), or none (one per model channel, in order).")
    if len(channels) != n_model:
        model_side = list(names) if names else f"{n_model} unnamed channels"
        raise ValueError(f"--channels must give one channel per model channel ({model_side}), in the model's "
                         f"order; got {list(channels)}.")
    return dict(zip(names or range(n_model), channels))
