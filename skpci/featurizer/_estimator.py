"""`PairedInpaintingFeaturizer`: the scikit-learn shell around the network.

The estimator validates its parameters, brings the input into one form
(:mod:`._inputs`), calls plain functions (:mod:`.training`,
:mod:`._features`, :mod:`skpci.pretrained`) and stores what they return as
fitted attributes. It speaks NumPy at its boundary; Keras stays inside
:mod:`skpci.network` and :mod:`.training`.
"""

import os
import warnings
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, check_memory

from .. import pretrained
from .._optional import require
from .._validation import (
    BOOLEAN,
    CHANNEL,
    CHANNEL_MAP,
    CHANNEL_NAMES,
    CHANNELS,
    MEMORY,
    N_JOBS,
    NONE,
    PATH,
    RANDOM_STATE,
    VERBOSE,
    Interval,
    Options,
    Predicate,
    validate_params,
)
from .._versions import RecordsVersions
from ..channels import check_channel_names, check_channel_roles, check_roles_fed_apart, match_channels
from ..formats import to_anndata
from ..network import (
    FEATURE_LAYERS,
    SOURCE_INPUT,
    TARGET_MARKER_INPUT,
    Architecture,
    build_feature_extractor,
    build_inpainting_model,
    build_with_weights,
    predict,
)
from ..preprocessing import prepare_crop_stacks
from ._features import (
    AGGREGATES,
    FEATURE_FILE_SUFFIXES,
    POOLINGS,
    TABLE_STYLES,
    aggregate,
    cell_features,
    feature_layers,
    feature_names,
    valid_layers,
    write_features,
)
from ._inputs import as_crop_input
from .training import (
    PRECISIONS,
    STORE_BLOCK_BYTES,
    PairBatches,
    TrainingInterrupted,
    TrainingSettings,
    inpainting_error,
    resolve_devices,
    train_weights,
)


def _check_writable_folder(path, name):
    """Fail before training when ``path`` is a file, or a folder (or the place for one) that cannot be written."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name} {str(path)!r} is a file, not a folder; give a folder for the checkpoint.")
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{name} {str(path)!r} cannot be written (no write permission on {str(existing)!r}); "
                         "give a folder you can write to.")


def mask_marker_position(mask_marker, markers, names, *, what="mask_marker"):
    """Where the marker that outlines the central cell sits among ``markers``.

    Parameters
    ----------
    mask_marker : int, str or None
        A model channel index or name; None is the first marker.
    markers : sequence of int
        The model's marker channels.
    names : sequence of str or None
        The model's channel names, for a marker given by name.
    what : str
        How errors name the setting.

    Returns
    -------
    position : int
    """
    markers = list(markers)
    if mask_marker is None:
        return 0
    channel = mask_marker
    if isinstance(channel, str):
        if names is None or channel not in names:
            raise ValueError(
                f"{what}={channel!r} names a channel, but "
                + ("the channels have no names" if names is None else f"the channels are {list(names)}")
                + ": give one of marker_channels by index or by name.")
        channel = list(names).index(channel)
    elif not isinstance(channel, Integral) or isinstance(channel, (bool, np.bool_)):
        raise ValueError(f"{what} must be a channel index (int) or name (str), or None; got {channel!r}.")
    if channel not in markers:
        named = names is not None and all(0 <= marker < len(names) for marker in markers)
        # Index and name side by side: either may be passed.
        listed = ", ".join(f"{marker} ({names[marker]!r})" if named else str(marker) for marker in markers)
        raise ValueError(
            f"{what}={mask_marker!r} is not one of the marker channels ({listed}): the central cell is "
            "outlined in a marker channel. Give a marker that shows whole cells (cytosol, membrane, ER), "
            "or add the channel to marker_channels.")
    return markers.index(channel)


class PairedInpaintingFeaturizer(RecordsVersions, TransformerMixin, BaseEstimator):
    """Self-supervised single-cell features by paired cell inpainting.

    ``fit`` trains the paired cell inpainting network of Lu et al. (2019):
    given every channel of a source cell and the marker channels of another
    cell of the same image, predict that cell's protein channels.
    ``transform`` returns the spatially pooled activations of one or more
    source-encoder convolutions as features, per cell or averaged per image.

    Parameters
    ----------
    protein_channels : int, str or tuple of them, default=(0,)
        Channels of the input crops that hold the tagged protein, by index
        or by name. The network predicts these for the target cell.
    marker_channels : int, str or tuple of them, default=(1,)
        Structural marker channels (nucleus, cytosol, microtubules), given
        for both cells. Channels in neither role are ignored.
    channel_names : list of str or None, default=None
        Names of the channels of array input, in order (a
        :class:`~skpci.CropStore` names its own). With names, channels are
        matched to the model's by name rather than by position.
    channel_map : dict or None, default=None
        ``{model channel: data channel}`` (names or indices) for data whose
        channels are named differently from the model's, e.g.
        ``{"gfp": "F", "rfp": "R"}``; two model channels may read the same
        data channel. See Notes.
    input_size : int, default=64
        Crops are resized to ``input_size`` x ``input_size``; a multiple of 4.
    layer : str or list of str, default="conv3_1"
        Source-encoder convolution(s) whose features ``transform`` returns,
        among ``conv1_1`` ... ``conv5_1``; several are concatenated.
    pooling : {"max", "mean", "meanmax"}, default="max"
        Pooling over space of the layer's ReLU output (before BatchNorm).
        The paper uses max; ``"meanmax"`` returns each layer's max-pooled
        units, then its mean-pooled ones (twice the features).
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
    mask_neighbours : bool, default=False
        Keep only the central cell of every crop, in training, features and
        inpainting alike: everything outside it is set to the crop's
        minimum. The cell is outlined in the marker channel ``mask_marker``.
        Features then describe the cell itself, not its neighbours (see
        :func:`skpci.evaluation.background_probe`).
    mask_marker : int, str or None, default=None
        The marker channel (one of ``marker_channels``, by index or name)
        that outlines the central cell when ``mask_neighbours`` is on. It
        must show whole cells (cytosol, membrane, ER), not only nuclei.
        ``None`` takes the first marker; for the Human Protein Atlas order
        (nucleus, microtubules, ER) name the microtubules or ER channel.
    protein_jitter : float in [0, 1), default=0.0
        Augment the brightness of the protein: each protein channel of each
        source crop is multiplied by its own random factor in
        ``[1 - protein_jitter, 1]`` (after min-max scaling), as DINO4Cells
        and SubCell do, so features cannot lean on how bright the protein is.
    min_group_size : int, default=2
        Groups (images) with fewer cells are left out of training, with a
        warning that counts them. Two is the least that can be paired; the
        authors left out HPA images of fewer than 5 cells.
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
    block_bytes : int, default=256 MiB
        Training from a :class:`~skpci.CropStore` reads blocks of whole
        pairing groups of about this size (the next one is prefetched), which
        bounds the crop memory of ``fit``.
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
        state is not touched. On a CPU the same seed gives bit-identical
        weights and features; on a GPU, which computes float32
        convolutions in TensorFloat-32 and sums in no fixed order, they
        agree closely but not bit for bit (on an H200: the same weights
        to about 3e-4 of the features' norm, two trainings with one seed
        to a few percent).
    verbose : int, default=0
        ``> 0`` shows progress bars.

    Attributes
    ----------
    model_ : keras.Model
        The trained network (inputs ``x_in``, ``y_rfp``; output ``y_gfp``).
    history_ : dict
        ``{"loss": [...]}``: mean training loss per epoch.
    n_channels_in_ : int
        The model's channels: those of the pretrained model, or of the
        crops seen in ``fit``.
    channel_names_ : tuple of str or None
        Their names, where known (from the pretrained model card, a store
        or ``channel_names``).
    protein_channels_, marker_channels_ : tuple of int
        The channel roles, as indices into the model's channels.
    crop_shape_ : tuple of int
        ``(height, width)`` of the crops seen in ``fit``; later input must
        share it (another crop size shows cells at another magnification).
    n_cells_fit_ : int
        Number of cells used in ``fit``.
    n_groups_left_out_, n_cells_left_out_ : int
        Groups smaller than ``min_group_size``, and their cells, that
        training left out (0 without training).
    pretrained_card_ : dict or None
        Model card of the pretrained model loaded from ``weights``, if any.
    resumed_from_epoch_ : int
        Epochs restored from ``checkpoint_dir`` instead of trained (0 if none).
    n_devices_ : int
        Devices training ran on (1 without ``devices`` or without training).
    architecture_ : skpci.network.Architecture
        Channel counts and input size of the network.

    See Also
    --------
    skpci.datasets.make_cell_crops : Synthetic bags of crops to try it on.

    Notes
    -----
    Input comes in three forms, and every method takes each of them. *Bags*:
    a list with one ``(n_cells_i, h, w, C)`` array per image; cells are
    paired within a bag and ``transform`` returns one row per bag. *Cells*:
    one ``(n_cells, h, w, C)`` array with ``fit(X, groups=...)``;
    ``transform`` returns one row per cell. An empty bag gets a row of NaN
    (and a warning). A :class:`~skpci.CropStore` is read like cells with
    their groups: ``fit`` streams blocks of whole groups from disk,
    ``transform`` returns one row per stored cell, and
    :meth:`write_features` writes them to a table or the store.

    Small data sets are min-max scaled once; larger ones are kept in their
    own dtype and scaled batch by batch, so a uint8 data set takes one byte
    per pixel while training (crops that need resizing are prepared ahead as
    float16).

    The source network input holds the protein channels first, then the
    markers, in the order given.

    *Channels are matched by name wherever both sides have names.* The
    model's channels are named by the pretrained model card, else by the
    data ``fit`` sees (a store's names, or ``channel_names``). Every method
    then finds each model channel in its input by ``channel_map`` first,
    then by name; only when a side is unnamed are channels taken by
    position, and then the channel counts must agree. A mismatch is an
    error that lists both sides. See :mod:`skpci.channels`.

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

    _parameter_constraints = {
        "protein_channels": [CHANNELS],
        "marker_channels": [CHANNELS],
        "channel_names": [CHANNEL_NAMES, NONE],
        "channel_map": [CHANNEL_MAP, NONE],
        "input_size": [Interval(Integral, 8, None, multiple_of=4)],
        "layer": [Predicate(valid_layers, f"one of {', '.join(FEATURE_LAYERS)} (the source encoder's "
                                          "convolutions) or a list of them without repeats")],
        "pooling": [Options(POOLINGS)],
        "aggregate": [Options(tuple(AGGREGATES))],
        "epochs": [Interval(Integral, 0, None)],
        "batch_size": [Interval(Integral, 1, None)],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "rotations": [BOOLEAN],
        "protein_jitter": [Interval(Real, 0, 1, closed="left")],
        "mask_neighbours": [BOOLEAN],
        "mask_marker": [CHANNEL, NONE],
        "min_group_size": [Interval(Integral, 2, None)],
        "weights": [PATH, NONE],
        "memory": [MEMORY, NONE],
        "checkpoint_dir": [PATH, NONE],
        "block_bytes": [Interval(Integral, 1, None)],
        "precision": [Options(tuple(PRECISIONS))],
        "devices": [Options(("all",)), Interval(Integral, 1, None), NONE],
        "n_jobs": [N_JOBS, NONE],
        "random_state": [RANDOM_STATE, NONE],
        "verbose": [VERBOSE],
    }
    _parameter_hints = {
        "input_size": "The encoders pool twice, so crops are resized to a multiple of 4 (64 in the paper).",
        "weights": "Give a registered name (skpci.pretrained.REGISTRY), a model directory or a .h5 file.",
        "epochs": "0 loads weights (or builds an untrained network) without training.",
        "devices": "None trains on Keras's default device, 'all' on every accelerator, n on the first n.",
        "random_state": "Pass an int seed: scikit-learn's check_random_state takes no numpy Generator.",
    }
    #: What ``transform`` reads; the rest shape training only.
    _transform_params = ("layer", "pooling", "mask_neighbours", "mask_marker", "aggregate", "batch_size",
                         "channel_names", "channel_map", "n_jobs", "verbose")

    def __init__(
        self,
        *,
        protein_channels=(0,),
        marker_channels=(1,),
        channel_names=None,
        channel_map=None,
        input_size=64,
        layer="conv3_1",
        pooling="max",
        aggregate="mean",
        epochs=30,
        batch_size=64,
        learning_rate=1e-4,
        beta_1=0.5,
        rotations=False,
        protein_jitter=0.0,
        mask_neighbours=False,
        mask_marker=None,
        min_group_size=2,
        weights=None,
        memory=None,
        checkpoint_dir=None,
        block_bytes=STORE_BLOCK_BYTES,
        precision="float32",
        devices=None,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.protein_channels = protein_channels
        self.marker_channels = marker_channels
        self.channel_names = channel_names
        self.channel_map = channel_map
        self.input_size = input_size
        self.layer = layer
        self.pooling = pooling
        self.aggregate = aggregate
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.beta_1 = beta_1
        self.rotations = rotations
        self.protein_jitter = protein_jitter
        self.mask_neighbours = mask_neighbours
        self.mask_marker = mask_marker
        self.min_group_size = min_group_size
        self.weights = weights
        self.memory = memory
        self.checkpoint_dir = checkpoint_dir
        self.block_bytes = block_bytes
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
        validate_params(self)
        if self.epochs > 0:
            resolve_devices(self.devices)  # fails before any data is read
            if self.checkpoint_dir is not None:
                _check_writable_folder(self.checkpoint_dir, "checkpoint_dir")
        data = as_crop_input(X, groups, channel_names=self.channel_names)
        if self.epochs > 0:
            data.group_codes()  # fails (e.g. cells without groups) before the network is built
        return self._fit(data)

    def _fit(self, data):
        model_names, n_model = self._model_channels(data)
        protein, marker = check_channel_roles(self.protein_channels, self.marker_channels, n_model, model_names)
        channel_order = match_channels(protein + marker, model_names=model_names, n_model=n_model,
                                       data_names=data.channel_names, n_data=data.n_channels,
                                       channel_map=self.channel_map)
        check_roles_fed_apart(channel_order, len(protein), data_names=data.channel_names)
        architecture = Architecture(len(protein), len(marker), self.input_size)
        mask_channel = self._mask_channel(architecture, marker, model_names)  # a wrong mask_marker fails here
        rng = check_random_state(self.random_state)
        init_seed, pair_seed = (int(s) for s in rng.randint(0, 2**31 - 1, size=2))
        model = build_inpainting_model(architecture, seed=init_seed)
        card, trained_mask_channel = None, None
        if self.weights is not None:
            card = pretrained.load_pretrained(model, self.weights, progress=bool(self.verbose))
            trained_mask_channel = self._warn_if_masked_unlike_training(card, mask_channel, architecture, marker,
                                                                        model_names)
        losses, initial_epoch, n_devices = [], 0, 1
        left_out = np.zeros(0, dtype=np.int64)
        if self.epochs > 0:
            sizes = np.bincount(data.group_codes())
            left_out = sizes[(sizes > 0) & (sizes < self.min_group_size)]
            losses, initial_epoch, n_devices = self._train(model, data, channel_order, architecture, mask_channel,
                                                           pair_seed)

        self.model_ = model
        self.architecture_ = architecture
        self.history_ = {"loss": losses}
        self.n_channels_in_ = n_model
        self.channel_names_ = model_names
        self.protein_channels_ = protein
        self.marker_channels_ = marker
        self.crop_shape_ = data.crop_shape
        self.n_cells_fit_ = data.n_cells
        self.n_groups_left_out_ = int(len(left_out))
        self.n_cells_left_out_ = int(left_out.sum())
        self.pretrained_card_ = card
        # What the weights were trained on (written into saved model cards), not today's transform setting.
        self._training_mask_channel = (mask_channel if self.epochs > 0
                                       else trained_mask_channel if self.weights is not None else None)
        self.resumed_from_epoch_ = initial_epoch
        self.n_devices_ = n_devices
        self._extractors = {}
        return self

    def _model_channels(self, data):
        """Names and number of the model's channels: the pretrained card's, else the data's."""
        if self.weights is not None:
            try:
                info = pretrained.describe(self.weights)
            except pretrained.PretrainedModelError:
                info = {}  # a bare weights file names nothing; loading it reports real problems
            if info.get("channel_names"):
                names = check_channel_names(info["channel_names"], info.get("n_channels_in"),
                                            what=f"the channel names of {str(self.weights)!r}")
                return names, len(names)
        return data.channel_names, data.n_channels

    def _data_channels(self, data, name="X"):
        """The channels of ``data`` that feed the network: (source input order, target markers)."""
        crop_shape = getattr(self, "crop_shape_", None)
        if crop_shape is not None and data.crop_shape != crop_shape:
            raise ValueError(
                f"{name}: crops are {data.crop_shape[0]}x{data.crop_shape[1]} px, but the featurizer was fitted "
                f"on {crop_shape[0]}x{crop_shape[1]} px crops; crops of another size show cells at another "
                "magnification. Crop at the fitted size, or fit on these crops."
            )
        order = match_channels(self.protein_channels_ + self.marker_channels_,
                               model_names=getattr(self, "channel_names_", None), n_model=self.n_channels_in_,
                               data_names=data.channel_names, n_data=data.n_channels,
                               channel_map=self.channel_map, data=name)
        check_roles_fed_apart(order, len(self.protein_channels_), data_names=data.channel_names, data=name)
        return order, order[len(self.protein_channels_):]

    def _warn_if_masked_unlike_training(self, card, mask_channel, architecture, markers, names):
        """Warn when the pretrained model saw its crops masked otherwise (or not at all) in training.

        Returns the network channel that outlined the cells in training (None: whole crops).
        """
        training = (card or {}).get("training") or {}
        trained_channel = None
        if training.get("mask_neighbours", False):
            try:
                trained_channel = architecture.n_protein_channels + mask_marker_position(
                    training.get("mask_marker"), markers, names, what="the model card's mask_marker")
            except ValueError as error:
                warnings.warn(f"{error} The model {str(self.weights)!r} was trained on central cells, outlined by "
                              "a marker this featurizer cannot find; it masks as its own parameters say.",
                              UserWarning, stacklevel=4)
                return mask_channel
        if trained_channel == mask_channel:
            return trained_channel

        def described(channel):
            if channel is None:
                return "whole crops"
            marker = markers[channel - architecture.n_protein_channels]
            return f"only central cells, outlined by marker {names[marker] if names else marker!r}"

        warnings.warn(
            f"The model {str(self.weights)!r} was trained on {described(trained_channel)}, but this featurizer "
            f"gives it {described(mask_channel)}. Set mask_neighbours={trained_channel is not None} and "
            "mask_marker as in training (from_pretrained does) unless this is what you want.",
            UserWarning, stacklevel=4,
        )
        return trained_channel

    def _train(self, model, data, channel_order, architecture, mask_channel, seed):
        """Train ``model`` in place; return the losses, the epochs resumed and the device count."""
        settings = TrainingSettings(
            epochs=self.epochs, batch_size=self.batch_size, learning_rate=self.learning_rate,
            beta_1=self.beta_1, rotations=self.rotations, protein_jitter=self.protein_jitter,
            mask_channel=mask_channel,
            min_group_size=self.min_group_size, precision=self.precision,
            block_bytes=self.block_bytes if data.streamed else None,  # blocks matter only on disk
        )
        train = train_weights
        if self.memory is not None:
            # Everything that shapes the weights is an argument (the data by its digest); layer,
            # pooling and aggregate are not, so a grid over them trains once per data split.
            memory = str(self.memory) if isinstance(self.memory, os.PathLike) else self.memory
            train = check_memory(memory).cache(
                train_weights, ignore=["crops", "n_jobs", "verbose", "checkpoint_dir"])
        data_key = data.fingerprint() if self.memory is not None or self.checkpoint_dir is not None else None
        try:
            weights, losses, initial_epoch, n_devices = train(
                data, channel_order, model.get_weights(), architecture, settings, seed=seed,
                data_key=data_key, devices=self.devices, n_jobs=self.n_jobs, verbose=self.verbose,
                checkpoint_dir=self.checkpoint_dir,
            )
        except TrainingInterrupted as stop:
            weights, losses, initial_epoch, n_devices = stop.weights, stop.losses, 0, 1
            resume = "" if self.checkpoint_dir is None else "; fit again with the same checkpoint_dir to resume"
            warnings.warn(
                f"Training interrupted after {len(losses)} of {self.epochs} epoch{'' if self.epochs == 1 else 's'}; "
                f"the featurizer keeps the weights of the last completed epoch and is usable{resume}.",
                UserWarning, stacklevel=4,
            )
        model.set_weights(weights)
        return losses, initial_epoch, n_devices

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
            ``mask_neighbours`` and ``mask_marker`` default to what the model
            was trained with.

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
            "input_size": info["architecture"].input_size,
            "epochs": 0,
            "weights": str(name_or_path),
            # A model that saw only central cells in training is given only central cells.
            "mask_neighbours": info.get("mask_neighbours", False),
            "mask_marker": info.get("mask_marker"),
        }
        return cls(**{**defaults, **params})

    def save_pretrained(self, path, *, training_data=None, channel_names=None, dtype="float32",
                        overwrite=False):
        """Write the fitted network as a model directory (weights + model card).

        The directory appears complete or not at all.

        Parameters
        ----------
        path : str or path-like
        training_data : str, optional
            What the model was trained on, for the model card.
        channel_names : list of str, optional
            Names of the model's ``n_channels_in_`` channels (e.g.
            ``["gfp", "rfp"]``), recorded so that every reader finds the same
            channels by name. Defaults to ``channel_names_``.
        dtype : {"float32", "float16"}, default="float32"
            Storage precision. float32 loads back bit-identical; float16 halves
            the size and changes features by about 1e-3 relative.
        overwrite : bool, default=False
            Replace an existing model directory at ``path`` (never anything
            else: a folder without a model card or a file is refused).

        Returns
        -------
        path : pathlib.Path
        """
        check_is_fitted(self, "model_")
        if dtype not in ("float32", "float16"):
            raise ValueError(f"dtype must be 'float32' or 'float16', got {dtype!r}.")
        channel_names = check_channel_names(
            getattr(self, "channel_names_", None) if channel_names is None else channel_names,
            self.n_channels_in_)
        losses = self.history_["loss"]
        mask_channel = getattr(self, "_training_mask_channel", None)
        previous = (self.pretrained_card_ or {}).get("training")
        card = pretrained.make_card(
            architecture=self.architecture_,
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
                # Plain Python numbers: NumPy scalars pass validation but not json.dumps.
                "learning_rate": float(self.learning_rate),
                "beta_1": float(self.beta_1),
                "rotations": bool(self.rotations),
                "protein_jitter": float(self.protein_jitter),
                # What training saw: only central cells, outlined by this model channel, or whole crops.
                "mask_neighbours": mask_channel is not None,
                "mask_marker": None if mask_channel is None
                else self.marker_channels_[mask_channel - self.architecture_.n_protein_channels],
                "min_group_size": self.min_group_size,
                "random_state": self.random_state if isinstance(self.random_state, int) else None,
                "started_from": str(self.weights) if self.weights is not None else None,
                "previous_training": previous,
            },
        )
        return pretrained.save_model_directory(self.model_, path, card, dtype=dtype, overwrite=overwrite)

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
        validate_params(self, self._transform_params)
        data = as_crop_input(X, channel_names=self.channel_names)
        features = self._cell_features(data)
        if not data.per_bag:
            return features
        return aggregate(features, data.image_of_cell(), len(data.bag_sizes), self.aggregate)

    def _cell_features(self, data):
        layers = feature_layers(self.layer)
        cache = self.__dict__.setdefault("_extractors", {})
        if (layers, self.pooling) not in cache:
            cache[layers, self.pooling] = build_feature_extractor(self.model_, layers, self.pooling)
        return cell_features(cache[layers, self.pooling], data, self._data_channels(data)[0],
                             self.architecture_.input_size, batch_size=self.batch_size,
                             mask_channel=self._fitted_mask_channel(), n_jobs=self.n_jobs, verbose=self.verbose)

    def _mask_channel(self, architecture, markers, names):
        """The network channel that outlines the central cell (``mask_marker``), or None without masking.

        ``markers`` are the model's marker channels (indices), ``names`` its channel names or None.
        """
        if not self.mask_neighbours:
            return None
        return architecture.n_protein_channels + mask_marker_position(self.mask_marker, markers, names)

    def _fitted_mask_position(self):
        """Where the outlining marker sits among the fitted model's markers, or None without masking."""
        if not self.mask_neighbours:
            return None
        return mask_marker_position(self.mask_marker, self.marker_channels_, getattr(self, "channel_names_", None))

    def _fitted_mask_channel(self):
        """:meth:`_mask_channel` of the fitted model."""
        position = self._fitted_mask_position()
        return None if position is None else self.architecture_.n_protein_channels + position

    def _central_cell_label(self):
        """For feature file names: False, True (outlined by the first marker) or the outlining marker's name."""
        position = self._fitted_mask_position()
        if not position:  # None (no masking) or 0 (the first marker)
            return position is not None
        marker = self.marker_channels_[position]
        names = getattr(self, "channel_names_", None)
        return str(names[marker]) if names is not None else f"channel{marker}"

    def write_features(self, X, path=None, *, groups=None, per="cell", style="skpci", overwrite=False):
        """Write the features of every cell (or image) with their records: a table, AnnData or HDF5.

        Parameters
        ----------
        X : CropStore, list of ndarray, or ndarray of shape (n_cells, h, w, C)
            A store is read block by block; bags and cells come from memory.
        path : str or path-like, optional
            ``.parquet`` or ``.csv``: a table with the cell (or image) records
            (for a store: image, source, group, centroid, name, label and the
            images' scalar metadata) and one column per feature. ``.h5ad``:
            an AnnData file (see :meth:`to_anndata`). ``.h5``: an HDF5 file of
            the features alone. ``None`` (a store only):
            ``features-<layers>.h5`` inside the store folder, aligned with its
            cells (``features-conv3_1-meanmax-central-cell.h5`` for another
            pooling or ``mask_neighbours``; ``...-central-cell-<marker>.h5``
            when ``mask_marker`` is not the first marker). Written atomically.
        groups : array-like of shape (n_cells,), optional
            With a stack of cells, the image of each cell (recorded, and used
            for ``per="image"``).
        per : {"cell", "image"}, default="cell"
            One row per cell, or per image (bag, group or stored image),
            aggregated with ``aggregate``.
        style : {"skpci", "pycytominer"}, default="skpci"
            For tables: records and ``conv4_1_17`` features as they are, or
            ``Metadata_*`` records and ``Cells_skpci_conv4_1_17`` features,
            which pycytominer's ``aggregate``, ``normalize`` and
            ``feature_select`` read unchanged.
        overwrite : bool, default=False

        Returns
        -------
        path : pathlib.Path

        Examples
        --------
        >>> featurizer.write_features(store, "cells.h5ad")  # doctest: +SKIP
        >>> featurizer.write_features(store, "cells.parquet", style="pycytominer")  # doctest: +SKIP
        """
        check_is_fitted(self, "model_")
        validate_params(self, self._transform_params)
        if style not in TABLE_STYLES:
            raise ValueError(f"style must be one of {TABLE_STYLES}, got {style!r}.")
        data = as_crop_input(X, groups, channel_names=self.channel_names)
        layers = feature_layers(self.layer)
        path = Path(data.feature_path(layers, self.pooling, self._central_cell_label()) if path is None else path)
        if path.suffix.lower() not in FEATURE_FILE_SUFFIXES:
            raise ValueError("Features are written as .parquet or .csv (tables), .h5ad (AnnData) or .h5 (HDF5); "
                             f"got {path.name!r}.")
        if path.exists() and not overwrite:
            raise FileExistsError(f"{str(path)!r} exists; pass overwrite=True to replace it.")
        if path.suffix.lower() == ".h5ad":
            require("anndata", "anndata")  # before the features are computed
        features, records = self._features_and_records(data, per)
        return write_features(path, features, records, layers=layers, pooling=self.pooling, per=per, style=style,
                              **data.feature_file_attributes())

    def to_anndata(self, X, *, groups=None, per="cell"):
        """The features of every cell (or image) as an :class:`anndata.AnnData`, for scanpy and scverse.

        Parameters
        ----------
        X : CropStore, list of ndarray, or ndarray of shape (n_cells, h, w, C)
        groups : array-like of shape (n_cells,), optional
            With a stack of cells, the image of each cell.
        per : {"cell", "image"}, default="cell"

        Returns
        -------
        anndata.AnnData
            ``X``: the features (float32). ``obs``: the records of each row
            (image, group, label, centroid, source, name and the images'
            scalar metadata, as :meth:`write_features` writes them).
            ``var``: one row per feature, with its ``layer``, ``unit`` and ``pooling``;
            with several layers, ``adata[:, adata.var["layer"] == "conv4_1"]``
            is one of them. ``uns["skpci"]``: layers, pooling, rows and each
            layer's column range.

        Examples
        --------
        >>> import scanpy as sc  # doctest: +SKIP
        >>> adata = featurizer.to_anndata(store)  # doctest: +SKIP
        >>> sc.pp.neighbors(adata, use_rep="X"); sc.tl.umap(adata); sc.tl.leiden(adata)  # doctest: +SKIP
        """
        check_is_fitted(self, "model_")
        validate_params(self, self._transform_params)
        require("anndata", "anndata")
        data = as_crop_input(X, groups, channel_names=self.channel_names)
        layers = feature_layers(self.layer)
        features, records = self._features_and_records(data, per)
        return to_anndata(features, records, feature_names=feature_names(layers, self.pooling), layers=layers,
                          pooling=self.pooling, per=per)

    def _features_and_records(self, data, per):
        if per not in ("cell", "image"):
            raise ValueError(f"per must be 'cell' or 'image', got {per!r}.")
        self._data_channels(data)  # a mismatch fails before anything is computed
        features, records = self._cell_features(data), data.cell_records()
        if per == "image":
            records = data.image_records()
            features = aggregate(features, data.image_of_cell(), len(records), self.aggregate)
        return features, records

    def input_channels(self, X):
        """Which channels of ``X`` the network reads, as matched by ``channel_map``, name or position.

        Parameters
        ----------
        X : list of ndarray, ndarray of shape (n_cells, h, w, C), or CropStore

        Returns
        -------
        protein, markers : tuple of int
            Indices into the channels of ``X``: the protein channels (the
            target the network predicts) and the markers, in the network's order.

        Examples
        --------
        >>> import numpy as np
        >>> featurizer = PairedInpaintingFeaturizer.from_pretrained(
        ...     "synthetic-32", channel_names=["cytosol", "protein", "dna"], channel_map={"nucleus": "dna"})
        >>> featurizer.fit(np.zeros((2, 32, 32, 3))).input_channels(np.zeros((2, 32, 32, 3)))
        ((1,), (2, 0))
        """
        check_is_fitted(self, "model_")
        validate_params(self, ("channel_names", "channel_map"))
        order, markers = self._data_channels(as_crop_input(X, channel_names=self.channel_names))
        return order[:len(self.protein_channels_)], markers

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
        validate_params(self, ("layer", "pooling"))
        return feature_names(feature_layers(self.layer), self.pooling)

    # --------------------------------------------------- inspection, scoring

    def inpaint(self, source_cells, target_cells):
        """Predict the protein channels of ``target_cells`` from paired sources.

        Parameters
        ----------
        source_cells : ndarray of shape (n, h, w, C), list of bags, or CropStore
            Cells whose every channel is shown to the network.
        target_cells : same forms, with as many cells
            Cells of the same images; only their marker channels are shown.

        Returns
        -------
        predicted : ndarray of float32, shape (n, input_size, input_size, n_protein)
            The predicted protein channels, on the scale of min-max scaled crops.
        """
        check_is_fitted(self, "model_")
        validate_params(self, self._transform_params)
        source = as_crop_input(source_cells, channel_names=self.channel_names, name="source_cells")
        target = as_crop_input(target_cells, channel_names=self.channel_names, name="target_cells")
        if source.n_cells != target.n_cells:
            raise ValueError(
                "source_cells and target_cells must pair up: "
                f"got {source.n_cells} and {target.n_cells} cells."
            )
        inputs = {
            SOURCE_INPUT: prepare_crop_stacks(source.stacks(), self.architecture_.input_size,
                                              self._data_channels(source, "source_cells")[0],
                                              mask_channel=self._fitted_mask_channel()),
            TARGET_MARKER_INPUT: prepare_crop_stacks(target.stacks(), self.architecture_.input_size,
                                                     self._data_channels(target, "target_cells")[1],
                                                     mask_channel=self._fitted_mask_position()),
        }
        return predict(self.model_, inputs, self.batch_size)

    def score(self, X, y=None, groups=None):
        """Negative inpainting MSE on freshly sampled pairs (higher is better).

        Pairs are drawn with a fixed seed (from ``random_state``, or 0) and no
        flips, so two models can be compared on the same pairs without labels.

        Parameters
        ----------
        X : list of ndarray, ndarray of shape (n_cells, h, w, C), or CropStore
        y : None
            Ignored.
        groups : array-like of shape (n_cells,), optional
            As in :meth:`fit`.

        Returns
        -------
        score : float
        """
        check_is_fitted(self, "model_")
        validate_params(self, (*self._transform_params, "block_bytes", "random_state"))
        data = as_crop_input(X, groups, channel_names=self.channel_names)
        seed = self.random_state if isinstance(self.random_state, Integral) else 0
        source = data.training_crops(self.architecture_.input_size, self._data_channels(data)[0],
                                     mask_channel=self._fitted_mask_channel(),
                                     block_bytes=self.block_bytes, n_jobs=self.n_jobs)
        try:
            batches = PairBatches(source, len(self.protein_channels_), self.batch_size, seed, augment=False)
            return -inpainting_error(self.model_, batches)
        finally:
            source.close()

    # ------------------------------------------------------ sklearn plumbing

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.requires_fit = True
        tags.target_tags.required = False
        return tags

    # A fitted featurizer pickles as its architecture and weights; Keras models never travel.
    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never alter the live estimator
        state.pop("_extractors", None)
        if "model_" in state:
            state["model_"] = state["model_"].get_weights()
        return state

    def __setstate__(self, state):
        if "model_" in state:
            state["model_"] = build_with_weights(state["architecture_"], state["model_"])
        super().__setstate__(state)
