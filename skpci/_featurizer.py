"""`PairedInpaintingFeaturizer`: the scikit-learn estimator around the network.

The estimator speaks NumPy at its boundary; Keras stays inside
:mod:`skpci._network` and :mod:`skpci._training`.
"""

import numbers
import warnings
from pathlib import Path

import h5py
import joblib
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, check_memory
from tqdm.auto import tqdm

from . import pretrained
from ._crop_sources import MemoryCrops, StoreCrops
from ._devices import distribution_scope
from ._files import atomic_file, write_table
from ._inputs import parse_crop_input
from ._network import (
    FEATURE_LAYERS,
    SOURCE_INPUT,
    TARGET_MARKER_INPUT,
    build_feature_extractor,
    build_inpainting_model,
    build_with_weights,
    layer_width,
    predict,
)
from ._pairing import encode_groups
from ._preprocessing import check_channel_roles, check_crops, prepare_crop_stacks, prepare_crops
from ._training import Checkpoint, PairBatches, TrainingInterrupted, compile_for_training, train_epochs
from .store import CropStore

_POOLINGS = ("max", "mean")
#: Training precision -> Keras dtype policy of the hidden layers.
_PRECISIONS = {"float32": None, "bfloat16": "mixed_bfloat16"}
_AGGREGATES = {"mean": np.mean, "median": np.median}
#: Crops prepared and featurized at a time by ``transform``: bounds its memory.
_TRANSFORM_BLOCK = 2048
#: Crops per joblib task when preparing a block (several tasks per block keep n_jobs workers busy).
_PREPARE_CHUNK = 512


class PairedInpaintingFeaturizer(TransformerMixin, BaseEstimator):
    """Self-supervised single-cell features by paired cell inpainting.

    ``fit`` trains the paired cell inpainting network of Lu et al. (2019):
    given every channel of a source cell and the marker channels of another
    cell of the same image, predict that cell's protein channels.
    ``transform`` returns the spatially pooled activations of one or more
    source-encoder convolutions as features, per cell or averaged per image.

    Parameters
    ----------
    protein_channels : int or tuple of int, default=(0,)
        Channels of the input crops that hold the tagged protein. The
        network predicts these for the target cell.
    marker_channels : int or tuple of int, default=(1,)
        Structural marker channels (nucleus, cytosol, microtubules), given
        for both cells. Channels in neither role are ignored.
    input_size : int, default=64
        Crops are resized to ``input_size`` x ``input_size``; a multiple of 4.
    layer : str or list of str, default="conv3_1"
        Source-encoder convolution(s) whose features ``transform`` returns,
        among ``conv1_1`` ... ``conv5_1``; several are concatenated.
    pooling : {"max", "mean"}, default="max"
        Pooling over space of the layer's ReLU output (before BatchNorm).
        The paper uses max.
    aggregate : {"mean", "median"}, default="mean"
        How single-cell features of a bag are combined into its profile.
    epochs : int, default=30
        Training epochs; each pairs every cell once with a random partner.
        ``0`` builds the network (or loads ``weights``) without training.
    batch_size : int, default=64
    learning_rate : float, default=1e-4
        Adam's learning rate.
    beta_1 : float, default=0.5
        Adam's first-moment decay.
    rotations : bool, default=False
        Augment with 90-degree rotations on top of the random flips.
    weights : str, path or None, default=None
        Pretrained weights to start from: a registered model name (see
        :data:`skpci.pretrained.REGISTRY`), a model directory written by
        :meth:`save_pretrained`, a Keras 3 ``.weights.h5`` file, or the
        authors' Keras 2 ``.h5`` files. Channel counts and input size must
        match; :meth:`from_pretrained` sets them for you.
    memory : str, joblib.Memory or None, default=None
        Cache for trained weights (as ``Pipeline(memory=...)``). The key is
        everything that shapes the weights (data, channel roles, input size,
        training parameters, seed), not ``layer``, ``pooling`` or
        ``aggregate``, so a grid search over those trains once per split.
    checkpoint_dir : str, path or None, default=None
        Folder for a checkpoint written (atomically) after every epoch. Fitting
        again with the same folder after a crash, kill or Ctrl-C resumes from
        the last completed epoch and ends in the same state as an
        uninterrupted run; a checkpoint of a different run is refused.
    precision : {"float32", "bfloat16"}, default="float32"
        Arithmetic of training. ``"bfloat16"`` trains with Keras's
        ``mixed_bfloat16`` policy (bfloat16 compute, float32 weights and
        output), which is about twice as fast on GPUs with bfloat16 tensor
        cores; the fitted model and ``transform`` stay float32.
    devices : None, "all" or int, default=None
        Data-parallel training: ``None`` trains on Keras's default device
        (a GPU when there is one); ``"all"`` on every visible accelerator
        (or every logical CPU device when there is none); ``n`` on the first
        ``n``. Uses ``tf.distribute.MirroredStrategy`` on TensorFlow and
        ``keras.distribution.DataParallel`` on JAX; each batch of
        ``batch_size`` is split across the devices.
    n_jobs : int or None, default=None
        Parallel workers (joblib) for crop preprocessing. The network runs
        in the main process (on a GPU when Keras finds one).
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialization, pairing and flips. Global random
        state is not touched.
    verbose : int, default=0
        ``> 0`` shows progress bars.

    Attributes
    ----------
    model_ : keras.Model
        The trained network (inputs ``x_in``, ``y_rfp``; output ``y_gfp``).
    history_ : dict
        ``{"loss": [...]}``: mean training loss per epoch.
    n_channels_in_ : int
        Channels of the crops seen in ``fit``.
    protein_channels_, marker_channels_ : tuple of int
        The validated channel roles.
    n_cells_fit_ : int
        Number of cells used in ``fit``.
    pretrained_card_ : dict or None
        Model card of the pretrained model loaded from ``weights``, if any.
    resumed_from_epoch_ : int
        Epochs restored from ``checkpoint_dir`` instead of trained (0 if none).
    n_devices_ : int
        Devices training ran on (1 without ``devices`` or without training).

    See Also
    --------
    skpci.datasets.make_cell_crops : Synthetic bags of crops to try it on.

    Notes
    -----
    Input comes in two forms. *Bags*: a list with one
    ``(n_cells_i, h, w, C)`` array per image; cells are paired within a bag
    and ``transform`` returns one row per bag. *Cells*: one
    ``(n_cells, h, w, C)`` array with ``fit(X, groups=...)``; ``transform``
    returns one row per cell. An empty bag gets a row of NaN (and a warning).
    A :class:`~skpci.CropStore` is read like cells with their groups: ``fit``
    streams blocks of whole groups from disk, ``transform`` returns one row per
    stored cell, and :meth:`write_features` writes them to a table or the store.

    Small data sets are min-max scaled once; larger ones are kept in their
    own dtype and scaled batch by batch, so a uint8 data set takes one byte
    per pixel while training (crops that need resizing are prepared ahead as
    float16).

    The source network input holds the protein channels first, then the
    markers, in the order given.

    Ctrl-C during training (in the main thread) stops after the current
    batch: ``fit`` returns with the weights of the last completed epoch and
    a warning, and with ``checkpoint_dir`` a second ``fit`` resumes. A
    second Ctrl-C interrupts at once. Before training starts, Ctrl-C
    interrupts as usual and leaves the estimator as it was.

    References
    ----------
    Lu AX, Kraus OZ, Cooper S, Moses AM (2019). Learning unsupervised feature
    representations for single cell microscopy images with paired cell
    inpainting. PLOS Computational Biology 15(9): e1007348.

    Examples
    --------
    >>> from skpci import PairedInpaintingFeaturizer
    >>> from skpci.datasets import make_cell_crops
    >>> data = make_cell_crops(n_images=4, crop_size=16, random_state=0)
    >>> featurizer = PairedInpaintingFeaturizer(
    ...     marker_channels=(1, 2), input_size=16, epochs=1, random_state=0)
    >>> featurizer.fit_transform(data.bags).shape
    (4, 384)
    """

    def __init__(
        self,
        protein_channels=(0,),
        marker_channels=(1,),
        input_size=64,
        layer="conv3_1",
        pooling="max",
        aggregate="mean",
        epochs=30,
        batch_size=64,
        learning_rate=1e-4,
        beta_1=0.5,
        rotations=False,
        weights=None,
        memory=None,
        checkpoint_dir=None,
        precision="float32",
        devices=None,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.protein_channels = protein_channels
        self.marker_channels = marker_channels
        self.input_size = input_size
        self.layer = layer
        self.pooling = pooling
        self.aggregate = aggregate
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.beta_1 = beta_1
        self.rotations = rotations
        self.weights = weights
        self.memory = memory
        self.checkpoint_dir = checkpoint_dir
        self.precision = precision
        self.devices = devices
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit

    def fit(self, X, y=None, groups=None):
        """Train the inpainting network on pairs of cells from the same group.

        Parameters
        ----------
        X : list of ndarray, ndarray of shape (n_cells, h, w, C), or CropStore
            Bags of crops (one per image), one stack of cells, or a store
            (streamed from disk, pairing within the stored groups).
        y : None
            Ignored; training is self-supervised.
        groups : array-like of shape (n_cells,), optional
            With a stack of cells, the image (or strain, well...) of each
            cell; partners are drawn within a group. Required for that form
            when training (``epochs > 0``), not allowed with bags (a bag is
            its own group) or a store (which records groups).

        Returns
        -------
        self : PairedInpaintingFeaturizer
        """
        self._check_params()
        if isinstance(X, CropStore):
            crops, codes, n_cells = X, None, len(_check_store(X, groups))
            n_channels = X.crop_shape[-1]
        else:
            data = parse_crop_input(X)
            crops, n_cells, n_channels = data.stacks, data.n_cells, data.stacks[0].shape[-1]
            # Pairs are only needed for training; loading pretrained weights needs no groups.
            codes = self._group_codes(data, groups) if self.epochs > 0 else None
        protein, marker = check_channel_roles(self.protein_channels, self.marker_channels, n_channels)

        rng = check_random_state(self.random_state)
        init_seed, pair_seed = (int(s) for s in rng.randint(0, 2**31 - 1, size=2))
        architecture = {"n_protein_channels": len(protein), "n_marker_channels": len(marker),
                        "input_size": self.input_size}
        model = build_inpainting_model(**architecture, seed=init_seed)
        card = None
        if self.weights is not None:
            card = self._load_pretrained(model, architecture)

        losses, initial_epoch, n_devices = [], 0, 1
        if self.epochs > 0:
            train = _train_weights
            if self.memory is not None:
                # Everything that shapes the weights is an argument; layer, pooling and
                # aggregate are not, so a grid over them trains once per data split.
                train = check_memory(self.memory).cache(
                    _train_weights, ignore=["n_jobs", "verbose", "checkpoint_dir"])
            try:
                trained, losses, initial_epoch, n_devices = train(
                    crops, codes, protein + marker, len(protein), model.get_weights(), architecture,
                    seed=pair_seed, epochs=self.epochs, batch_size=self.batch_size,
                    learning_rate=self.learning_rate, beta_1=self.beta_1, rotations=self.rotations,
                    precision=self.precision, devices=self.devices, n_jobs=self.n_jobs, verbose=self.verbose,
                    checkpoint_dir=self.checkpoint_dir,
                )
            except TrainingInterrupted as stop:
                trained, losses = stop.weights, stop.losses
                resume = ("; fit again with the same checkpoint_dir to resume"
                          if self.checkpoint_dir is not None else "")
                warnings.warn(
                    f"Training interrupted after {len(losses)} of {self.epochs} epochs; the featurizer "
                    f"keeps the weights of the last completed epoch and is usable{resume}.",
                    UserWarning, stacklevel=2,
                )
            model.set_weights(trained)

        self.model_ = model
        self.history_ = {"loss": losses}
        self.n_channels_in_ = n_channels
        self.protein_channels_ = protein
        self.marker_channels_ = marker
        self.n_cells_fit_ = n_cells
        self.pretrained_card_ = card
        self.resumed_from_epoch_ = initial_epoch
        self.n_devices_ = n_devices
        self._extractors = {}
        return self

    def _load_pretrained(self, model, architecture):
        resolved = pretrained.resolve(self.weights, progress=bool(self.verbose))
        known = resolved.architecture
        channels = ("n_protein_channels", "n_marker_channels")
        if known is not None and any(known[key] != architecture[key] for key in channels):
            raise ValueError(
                f"The pretrained model {str(self.weights)!r} has {_describe_architecture(known)}, "
                f"but this featurizer asks for {_describe_architecture(architecture)}. Set "
                "protein_channels and marker_channels to match, or use from_pretrained."
            )
        if resolved.card is not None and known["input_size"] != architecture["input_size"]:
            # The network is fully convolutional: any size loads, but features change meaning.
            warnings.warn(
                f"The pretrained model {str(self.weights)!r} was trained on {known['input_size']} px "
                f"crops; this featurizer resizes to {architecture['input_size']} px.",
                UserWarning, stacklevel=3,
            )
        pretrained.load_weights_into(model, resolved)
        return resolved.card

    @classmethod
    def from_pretrained(cls, name_or_path, **params):
        """A featurizer that starts from pretrained weights and, by default, does not train.

        The model is kept as the ``weights`` parameter, so ``clone``,
        ``cross_val_score`` and ``GridSearchCV`` keep it; ``fit`` loads and
        checks the weights (``epochs > 0`` fine-tunes).

        Parameters
        ----------
        name_or_path : str or path-like
            A name from :data:`skpci.pretrained.REGISTRY` (``"synthetic-32"``,
            ``"lu2019-yeast"``, ``"lu2019-human"``, ``"lu2019-human-filtered"``),
            a model directory, or a Keras 2 ``.h5`` file.
        **params
            Override any constructor parameter (``layer``, channel roles...).

        Returns
        -------
        featurizer : PairedInpaintingFeaturizer
            Unfitted; call ``fit`` (which trains nothing with ``epochs=0``).

        Examples
        --------
        >>> featurizer = PairedInpaintingFeaturizer.from_pretrained("synthetic-32", layer="conv4_1")
        >>> featurizer.weights, featurizer.input_size, featurizer.marker_channels, featurizer.epochs
        ('synthetic-32', 32, (1, 2), 0)
        """
        info = pretrained.describe(name_or_path)
        defaults = {
            "protein_channels": info["protein_channels"],
            "marker_channels": info["marker_channels"],
            "input_size": info["architecture"]["input_size"],
            "epochs": 0,
            "weights": str(name_or_path),
        }
        return cls(**{**defaults, **params})

    def save_pretrained(self, path, *, training_data=None, channel_names=None, dtype="float16",
                        overwrite=False):
        """Write the fitted network as a model directory (weights + model card).

        The directory appears complete or not at all.

        Parameters
        ----------
        path : str or path-like
        training_data : str, optional
            What the model was trained on, for the model card.
        channel_names : list of str, optional
            Names of the input channels (e.g. ``["gfp", "rfp"]``), recorded so
            that readers can find the same channels again.
        dtype : {"float16", "float32"}, default="float16"
            Storage precision; float16 halves the size and changes features by
            about 1e-3 relative.
        overwrite : bool, default=False

        Returns
        -------
        path : pathlib.Path
        """
        check_is_fitted(self, "model_")
        losses = self.history_["loss"]
        previous = (self.pretrained_card_ or {}).get("training")
        card = pretrained.make_card(
            architecture=_ModelSnapshot.architecture_of(self.model_),
            protein_channels=self.protein_channels_,
            marker_channels=self.marker_channels_,
            n_channels_in=self.n_channels_in_,
            channel_names=channel_names,
            training={
                "data": training_data or "not described",
                "cells": self.n_cells_fit_,
                "epochs": len(losses),
                "epochs_requested": self.epochs,
                "final_loss": losses[-1] if losses else None,
                "loss_history": losses,
                "batch_size": self.batch_size,
                "learning_rate": self.learning_rate,
                "beta_1": self.beta_1,
                "rotations": self.rotations,
                "random_state": self.random_state if isinstance(self.random_state, int) else None,
                "started_from": str(self.weights) if self.weights is not None else None,
                "previous_training": previous,
            },
        )
        return pretrained.save_model_directory(self.model_, path, card, dtype=dtype, overwrite=overwrite)

    def _group_codes(self, data, groups):
        if data.is_bags:
            if groups is not None:
                raise ValueError(
                    "groups is for a stack of cells; with bags, the cells of one bag form a "
                    "group. Pass either bags without groups, or one array of cells with groups."
                )
            return data.bag_codes()
        if groups is None:
            raise ValueError(
                "Fitting on a stack of cells needs groups: one image (or group) id per cell, "
                "so that each cell is paired with another cell of its image. Call "
                "fit(X, groups=image_ids), or pass a list of per-image bags instead."
            )
        return encode_groups(groups, data.n_cells)

    def _check_params(self):
        def check_int(name, low):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")

        check_int("input_size", 8)
        if self.input_size % 4:
            raise ValueError(
                f"input_size must be a multiple of 4 (the encoders pool twice), got {self.input_size}."
            )
        check_int("epochs", 0)
        check_int("batch_size", 1)
        check_int("verbose", 0)
        if not (isinstance(self.learning_rate, numbers.Real) and self.learning_rate > 0):
            raise ValueError(f"learning_rate must be a positive number, got {self.learning_rate!r}.")
        if not (isinstance(self.beta_1, numbers.Real) and 0 <= self.beta_1 < 1):
            raise ValueError(f"beta_1 must be in [0, 1), got {self.beta_1!r}.")
        if self.pooling not in _POOLINGS:
            raise ValueError(f"pooling must be one of {_POOLINGS}, got {self.pooling!r}.")
        if self.precision not in _PRECISIONS:
            raise ValueError(f"precision must be one of {tuple(_PRECISIONS)}, got {self.precision!r}.")
        if self.aggregate not in _AGGREGATES:
            raise ValueError(f"aggregate must be one of {tuple(_AGGREGATES)}, got {self.aggregate!r}.")
        self._feature_layers()

    # ------------------------------------------------------------ transform

    def transform(self, X):
        """Features of ``layer`` for every cell, or aggregated per bag.

        Only the source encoder up to the deepest requested layer runs.
        Crops are prepared and featurized in blocks, so memory stays bounded
        for any number of cells.

        Parameters
        ----------
        X : list of ndarray, ndarray of shape (n_cells, h, w, C), or CropStore
            Bags of crops, one stack of cells, or a store, with
            ``n_channels_in_`` channels.

        Returns
        -------
        features : ndarray of float32, shape (n_bags or n_cells, n_features)
            One row per bag; per cell for a stack of cells or a store.
        """
        check_is_fitted(self, "model_")
        self._check_params()
        if isinstance(X, CropStore):
            return self._cell_features(_check_store(X, n_channels=self.n_channels_in_))
        data = parse_crop_input(X, n_channels=self.n_channels_in_)
        cell_features = self._cell_features(data.stacks)
        if not data.is_bags:
            return cell_features
        return self._aggregate_bags(cell_features, data.bag_sizes)

    def _cell_features(self, stacks):
        """Features of every cell of ``stacks`` (a list of crop stacks, or a store), block by block."""
        extractor = self._extractor(self._feature_layers(), self.pooling)
        channel_order = self.protein_channels_ + self.marker_channels_
        if isinstance(stacks, CropStore):
            n_cells = len(stacks)
            blocks = ([stacks.read(start, start + _TRANSFORM_BLOCK)] for start in range(0, n_cells, _TRANSFORM_BLOCK))
        else:
            n_cells = sum(len(stack) for stack in stacks)
            blocks = _blocks_of_cells(stacks, _TRANSFORM_BLOCK)
        features = np.zeros((n_cells, self._n_features()), dtype=np.float32)
        n_blocks = -(-n_cells // _TRANSFORM_BLOCK)
        for index, block in enumerate(tqdm(blocks, total=n_blocks, disable=not self.verbose or n_blocks < 2,
                                           desc="features", unit="block")):
            crops = prepare_crop_stacks(block, self.input_size, channel_order, n_jobs=self.n_jobs,
                                        chunk_size=_PREPARE_CHUNK)
            start = index * _TRANSFORM_BLOCK
            features[start:start + len(crops)] = predict(extractor, crops, self.batch_size)
        return features

    def write_features(self, store, path=None, *, per="cell", overwrite=False):
        """Stream the features of a store's cells into a table or back into the store.

        Parameters
        ----------
        store : CropStore
        path : str or path-like, optional
            ``.parquet`` or ``.csv``: a table with the cell (or image) records
            and one column per feature. ``None``: an HDF5 file
            ``features-<layers>.h5`` inside the store folder, aligned with its
            cells. Written atomically.
        per : {"cell", "image"}, default="cell"
            One row per cell, or per image (aggregated with ``aggregate``).
        overwrite : bool, default=False

        Returns
        -------
        path : pathlib.Path
        """
        check_is_fitted(self, "model_")
        if not isinstance(store, CropStore):
            raise TypeError(f"write_features reads a CropStore, got {type(store).__name__}.")
        if per not in ("cell", "image"):
            raise ValueError(f"per must be 'cell' or 'image', got {per!r}.")
        layers = "+".join(self._feature_layers())
        if path is None:
            if not store.path.is_dir():
                raise ValueError("Features can be written into a store folder, not a single-file store; give a path.")
            path = store.path / f"features-{layers}.h5"
        path = Path(path)
        if path.suffix.lower() not in (".parquet", ".csv", ".h5", ".hdf5"):
            raise ValueError(f"Features are written as .parquet, .csv or .h5; got {path.name!r}.")
        if path.exists() and not overwrite:
            raise FileExistsError(f"{str(path)!r} exists; pass overwrite=True to replace it.")
        features = self.transform(store)
        if per == "image":
            features = self._aggregate_bags(features, store.images["n_cells"].to_numpy())
            records = store.images[["name", "group", "label", "n_cells"]].copy()
        else:
            records = store.cells[["image", "source", "group", "centroid_row", "centroid_col"]].copy()
            records["label"] = store.images["label"].to_numpy()[records["image"].to_numpy()]
        if path.suffix.lower() not in (".h5", ".hdf5"):
            columns = pd.DataFrame(features, columns=list(self.get_feature_names_out()))
            write_table(pd.concat([records.reset_index(drop=True), columns], axis=1), path)
            return path
        with atomic_file(path) as temporary, h5py.File(temporary, "w") as out:
            out.create_dataset("features", data=features, chunks=True, compression="lzf")
            out.attrs["layers"] = layers
            out.attrs["pooling"] = self.pooling
            out.attrs["per"] = per
            out.attrs["store_fingerprint"] = store.fingerprint()
        return path

    def _aggregate_bags(self, cell_features, bag_sizes):
        combine = _AGGREGATES[self.aggregate]
        bounds = np.concatenate([[0], np.cumsum(bag_sizes)])
        rows = np.full((len(bag_sizes), cell_features.shape[1]), np.nan, dtype=np.float32)
        for i, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
            if stop > start:
                rows[i] = combine(cell_features[start:stop], axis=0)
        empty = np.flatnonzero(bag_sizes == 0)
        if len(empty):
            warnings.warn(
                f"{len(empty)} bag(s) hold no cells (first: bag {empty[0]}); their feature rows "
                "are NaN. Drop them, or impute, before a classifier.",
                UserWarning,
                stacklevel=3,
            )
        return rows

    def _feature_layers(self):
        layers = [self.layer] if isinstance(self.layer, str) else list(self.layer)
        unknown = [name for name in layers if name not in FEATURE_LAYERS]
        if not layers or unknown:
            raise ValueError(
                f"Unknown layer {unknown or self.layer!r}: features come from the source "
                f"encoder's convolutions {', '.join(FEATURE_LAYERS)}."
            )
        return tuple(layers)

    def _n_features(self):
        return sum(layer_width(name) for name in self._feature_layers())

    def _extractor(self, layers, pooling):
        cache = self.__dict__.setdefault("_extractors", {})
        if (layers, pooling) not in cache:
            cache[layers, pooling] = build_feature_extractor(self.model_, layers, pooling)
        return cache[layers, pooling]

    def get_feature_names_out(self, input_features=None):
        """Names of the output features, such as ``conv4_1_17``.

        Parameters
        ----------
        input_features : None
            Ignored; the input is images, not named columns.

        Returns
        -------
        names : ndarray of str
        """
        check_is_fitted(self, "model_")
        return np.asarray(
            [f"{name}_{i}" for name in self._feature_layers() for i in range(layer_width(name))],
            dtype=object,
        )

    # --------------------------------------------------- inspection, scoring

    def inpaint(self, source_cells, target_cells):
        """Predict the protein channels of ``target_cells`` from paired sources.

        Parameters
        ----------
        source_cells : ndarray of shape (n, h, w, C)
            Cells whose every channel is shown to the network.
        target_cells : ndarray of shape (n, h, w, C)
            Cells of the same images; only their marker channels are shown.

        Returns
        -------
        predicted : ndarray of float32, shape (n, input_size, input_size, n_protein)
            The predicted protein channels, on the scale of min-max scaled crops.
        """
        check_is_fitted(self, "model_")
        source = check_crops(source_cells, name="source_cells", n_channels=self.n_channels_in_)
        target = check_crops(target_cells, name="target_cells", n_channels=self.n_channels_in_)
        if len(source) != len(target):
            raise ValueError(
                f"source_cells and target_cells must pair up: got {len(source)} and {len(target)} cells."
            )
        source = prepare_crops(source, self.input_size, self.protein_channels_ + self.marker_channels_)
        target = prepare_crops(target, self.input_size, self.marker_channels_)
        return predict(self.model_, {SOURCE_INPUT: source, TARGET_MARKER_INPUT: target}, self.batch_size)

    def score(self, X, y=None, groups=None):
        """Negative inpainting MSE on freshly sampled pairs (higher is better).

        Pairs are drawn with a fixed seed (from ``random_state``, or 0) and no
        flips, so two models can be compared on the same pairs without labels.

        Parameters
        ----------
        X : list of ndarray, or ndarray of shape (n_cells, h, w, C)
        y : None
            Ignored.
        groups : array-like of shape (n_cells,), optional
            As in :meth:`fit`.

        Returns
        -------
        score : float
        """
        check_is_fitted(self, "model_")
        data = parse_crop_input(X, n_channels=self.n_channels_in_)
        codes = self._group_codes(data, groups)
        source = MemoryCrops(data.stacks, codes, self.input_size, self.protein_channels_ + self.marker_channels_,
                             n_jobs=self.n_jobs)
        seed = self.random_state if isinstance(self.random_state, numbers.Integral) else 0
        batches = PairBatches(source, len(self.protein_channels_), self.batch_size, seed, augment=False)
        squared_error, count = 0.0, 0
        for index in range(batches.num_batches):
            inputs, truth = batches[index]
            predicted = predict(self.model_, inputs, self.batch_size)
            squared_error += float(np.sum((predicted - truth) ** 2))
            count += truth.size
        return -squared_error / count

    # ------------------------------------------------------ sklearn plumbing

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.requires_fit = True
        tags.target_tags.required = False
        return tags

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never alter the live estimator
        state.pop("_extractors", None)
        if "model_" in state:
            state["model_"] = _ModelSnapshot.of(self.model_)
        return state

    def __setstate__(self, state):
        if isinstance(state.get("model_"), _ModelSnapshot):
            state["model_"] = state["model_"].restore()
        super().__setstate__(state)


class _ModelSnapshot:
    """Picklable stand-in for the network: its architecture and weights."""

    def __init__(self, architecture, weights):
        self.architecture = architecture
        self.weights = weights

    @staticmethod
    def architecture_of(model):
        source = model.get_layer(SOURCE_INPUT).output.shape
        markers = model.get_layer(TARGET_MARKER_INPUT).output.shape
        return {
            "n_protein_channels": int(source[-1] - markers[-1]),
            "n_marker_channels": int(markers[-1]),
            "input_size": int(source[1]),
        }

    @classmethod
    def of(cls, model):
        return cls(cls.architecture_of(model), model.get_weights())

    def restore(self):
        return build_with_weights(self.architecture, self.weights)


def _train_weights(crops, codes, channel_order, n_protein_channels, initial_weights, architecture, *,
                   seed, epochs, batch_size, learning_rate, beta_1, rotations, precision="float32",
                   devices=None, n_jobs=None, verbose=0, checkpoint_dir=None):
    """Train a network from ``initial_weights``; a pure function, so joblib.Memory can cache it.

    ``crops`` is a list of crop stacks with their group ``codes``, or a
    :class:`CropStore` (``codes=None``; the store has them).

    With ``checkpoint_dir``, the state after every epoch is saved there and a
    saved state of the same run is resumed.

    Returns
    -------
    weights : list of ndarray
    losses : list of float
        Loss of every epoch, those of a resumed checkpoint included.
    initial_epoch : int
        Epochs taken from the checkpoint (0 without one).
    n_devices : int

    Raises
    ------
    TrainingInterrupted
        On Ctrl-C, with the weights and losses of the last completed epoch.
    """
    size = architecture["input_size"]
    if isinstance(crops, CropStore):
        source = StoreCrops(crops, size, channel_order, n_jobs=n_jobs)
    else:
        source = MemoryCrops(crops, codes, size, channel_order, n_jobs=n_jobs)
    scope, n_devices = distribution_scope(devices)
    batches = PairBatches(source, n_protein_channels, batch_size, seed, rotations=rotations,
                          drop_remainder=n_devices > 1)
    with scope():
        model = build_with_weights(architecture, initial_weights, dtype=_PRECISIONS[precision])
        compile_for_training(model, learning_rate, beta_1)
        checkpoint, initial_epoch, losses = None, 0, []
        if checkpoint_dir is not None:
            fingerprint = joblib.hash((crops, codes, channel_order, n_protein_channels, initial_weights,
                                       architecture, seed, batch_size, learning_rate, beta_1, rotations,
                                       n_devices, precision))
            checkpoint = Checkpoint(checkpoint_dir, fingerprint)
            resumed = checkpoint.load(model)
            if resumed is not None:
                initial_epoch, losses = resumed
    last_completed = [model.get_weights()]

    def completed(epoch, loss):
        losses.append(loss)
        last_completed[0] = model.get_weights()
        if checkpoint is not None:
            checkpoint.save(model, epoch + 1, losses)

    try:
        with scope():
            train_epochs(model, batches, epochs, initial_epoch=min(initial_epoch, epochs), verbose=verbose,
                         on_epoch_end=completed)
    except KeyboardInterrupt:
        raise TrainingInterrupted(last_completed[0], list(losses)) from None
    except FloatingPointError as error:
        if checkpoint is not None:
            raise FloatingPointError(
                f"{error} The last good state (epoch {len(losses)}) is kept in {str(checkpoint_dir)!r}."
            ) from error
        raise
    finally:
        source.close()
    return model.get_weights(), losses, initial_epoch, n_devices


def _describe_architecture(architecture):
    return (f"{architecture['n_protein_channels']} protein + {architecture['n_marker_channels']} marker "
            f"channel(s) at {architecture['input_size']} px")


def _check_store(store, groups=None, *, n_channels=None):
    if groups is not None:
        raise ValueError("groups is not used with a CropStore: the store records each cell's group.")
    if len(store) == 0:
        raise ValueError(f"{store!r} holds no cells.")
    if n_channels is not None and store.crop_shape[-1] != n_channels:
        raise ValueError(
            f"{store!r}: expected {n_channels} channels, got {store.crop_shape[-1]} "
            f"(crops of shape {store.crop_shape})."
        )
    return store


def _blocks_of_cells(stacks, block_size):
    """Split crop stacks into lists of sub-stacks holding ``block_size`` cells each."""
    bounds = np.concatenate([[0], np.cumsum([len(stack) for stack in stacks])])
    for block_start in range(0, bounds[-1], block_size):
        block_stop = min(block_start + block_size, bounds[-1])
        yield [
            stack[max(block_start, low) - low:min(block_stop, high) - low]
            for stack, low, high in zip(stacks, bounds[:-1], bounds[1:])
            if low < block_stop and high > block_start
        ]
