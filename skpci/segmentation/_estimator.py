"""`CellSegmenter`: whole fields in, one bag of single-cell crops per field out."""

import warnings
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import delayed
from sklearn.base import BaseEstimator, TransformerMixin
from tqdm.auto import tqdm

from .._parallel import call_keeping_warnings, rewarn, workers
from .._validation import N_JOBS, NONE, VERBOSE, Interval, Options, Predicate, validate_params
from .._versions import RecordsVersions
from ..formats import is_loaddata, loaddata_fields, ome_channel_names
from ..store import CropStore, check_image_records, discard_if_empty
from ._fields import BORDERS, METHODS, crop_field, resolve_sizes, segment_field, try_crop_field_for_store
from ._nuclei import THRESHOLDS


class CellSegmenter(RecordsVersions, TransformerMixin, BaseEstimator):
    """Segment nuclei in whole fields and crop a square around each cell.

    Follows the authors' Human Protein Atlas recipe (downsample, smooth,
    Otsu threshold, clean up, clear the border, crop around nuclear
    centroids) and splits touching nuclei with a distance-transform
    watershed. Every size follows the nucleus diameter, given or estimated
    from the fields, so the defaults work on fields of any magnification.
    ``transform`` returns one bag of crops per field, so the segmenter slots
    before :class:`PairedInpaintingFeaturizer` in a Pipeline and
    cross-validation works on the list of raw fields.

    Parameters
    ----------
    nuclear_channel : int, default=0
        Channel holding the nuclear stain (DAPI, Hoechst).
    nucleus_diameter : float or None, default=None
        Typical nucleus diameter in pixels of the input fields. ``None``
        estimates it from the fields (the median over up to 8 of them; see
        :func:`~skpci.segmentation.estimate_nucleus_diameter`).
    scale : float or "auto", default="auto"
        Downsampling applied first. ``"auto"`` brings nuclei to about
        ``TARGET_DIAMETER`` (36) px, as in the authors' HPA crops at their
        scale 0.25, and never upsamples. Sizes below are in scaled pixels.
    sigma : float or None, default=None
        Gaussian smoothing of the nuclear channel before thresholding;
        ``None``: a twentieth of the nucleus diameter.
    threshold : str or float, default="otsu"
        ``"otsu"``, ``"li"``, ``"triangle"``, ``"yen"``, ``"isodata"``,
        ``"mean"`` (scikit-image methods), or an absolute intensity.
    min_nucleus_area : int or None, default=None
        Objects and holes smaller than this many pixels are removed;
        ``None``: a disc of a third of the nucleus diameter.
    crop_size : int or "auto", default="auto"
        Side of the square crops. ``"auto"``: 3.5 nucleus diameters, a
        multiple of 4 (128 at the authors' HPA setting); the featurizer
        resizes crops to its ``input_size``.
    method : {"watershed", "otsu"} or callable, default="watershed"
        How nuclei are labelled. ``"watershed"`` splits touching nuclei
        with a watershed on the distance transform; ``"otsu"`` is the
        authors' recipe (threshold and clean up, no splitting). A callable
        takes the nuclear image (after scaling: float32 ``(H, W)``, float64
        for integer fields beyond 2**24 or float fields far from zero) and returns a label image of the
        same shape (0 = background), so Cellpose, StarDist or any other
        segmenter plugs in; it must be picklable (a module-level function)
        to run in parallel workers.
        ``sigma``, ``threshold``, ``min_nucleus_area`` and ``min_distance``
        do not apply to it.
    min_distance : int or None, default=None
        Smallest distance between two nucleus centres when splitting;
        ``None``: a fifth of the nucleus diameter, so one large or lobed
        nucleus is not cut while small touching ones are separated.
    border : {"drop", "pad"}, default="drop"
        ``"drop"``: leave out cells whose crop would leave the field (the
        authors' choice); ``"pad"``: keep them, padding with zeros.
    n_jobs : int or None, default=None
        Fields segmented in parallel (joblib; a ``joblib.parallel_config``
        backend such as dask takes over when set).
    verbose : int, default=0
        ``> 0`` shows a progress bar.

    See Also
    --------
    skpci.segmentation.segment_field : The function behind ``segment``.

    Examples
    --------
    >>> from skpci import CellSegmenter
    >>> from skpci.datasets import make_cell_images
    >>> fields = make_cell_images(n_images=2, image_size=128, cell_radius=8, random_state=0)
    >>> segmenter = CellSegmenter(nuclear_channel=1, scale=1, crop_size=32)
    >>> bags = segmenter.fit_transform(list(fields.images))
    >>> len(bags), bags[0].shape[1:]
    (2, (32, 32, 3))
    """

    _versioned_libraries = ("skpci",)  # the segmenter holds no network
    _parameter_constraints = {
        "nuclear_channel": [Interval(Integral, 0, None)],
        "nucleus_diameter": [Interval(Real, 1, None), NONE],
        "scale": [Interval(Real, 0, 1, closed="right"), Options(("auto",))],
        "sigma": [Interval(Real, 0, None), NONE],
        "threshold": [Options(tuple(THRESHOLDS)), Interval(Real)],
        "min_nucleus_area": [Interval(Integral, 0, None), NONE],
        "crop_size": [Interval(Integral, 8, None), Options(("auto",))],
        "method": [Options(METHODS), Predicate(callable, "a function of the nuclear image that returns "
                                                            "a label image")],
        "min_distance": [Interval(Integral, 1, None), NONE],
        "border": [Options(BORDERS)],
        "n_jobs": [N_JOBS, NONE],
        "verbose": [VERBOSE],
    }
    _parameter_hints = {
        "nuclear_channel": "Give the index of the nuclear-stain channel (DAPI, Hoechst) in the fields.",
        "scale": "It is the downsampling applied first: 1 keeps full resolution, 0.25 (the authors' HPA "
                 "setting) shrinks each side 4 times.",
        "crop_size": "It is the side of the square crops in downsampled pixels.",
    }

    def __init__(self, *, nuclear_channel=0, nucleus_diameter=None, scale="auto", sigma=None, threshold="otsu",
                 min_nucleus_area=None, crop_size="auto", method="watershed", min_distance=None,
                 border="drop", n_jobs=None, verbose=0):
        self.nuclear_channel = nuclear_channel
        self.nucleus_diameter = nucleus_diameter
        self.scale = scale
        self.sigma = sigma
        self.threshold = threshold
        self.min_nucleus_area = min_nucleus_area
        self.crop_size = crop_size
        self.method = method
        self.min_distance = min_distance
        self.border = border
        self.n_jobs = n_jobs
        self.verbose = verbose

    def fit(self, X=None, y=None):
        """Check the parameters and, given fields, settle the sizes left to the data.

        With fields, ``nucleus_diameter_``, ``scale_`` and ``crop_size_`` are
        set from them (estimated where ``nucleus_diameter``, ``scale`` or
        ``crop_size`` leave it to the data), and ``transform`` then cuts every
        field at that size. Without fields (or before ``fit``), each call
        settles them from the fields it is given.

        Parameters
        ----------
        X : sequence of fields, optional
        y : ignored

        Returns
        -------
        self : CellSegmenter
        """
        params = self._segment_params()
        if X is not None:
            self.nucleus_diameter_, self.scale_, self.crop_size_ = _resolve(params, _as_field_list(X))
        return self

    def _field_params(self, fields, recorded=None):
        """What :func:`segment_field` gets: the parameters, with sizes settled (fitted, recorded, or now)."""
        params = self._segment_params()
        keys = ("nucleus_diameter", "scale", "crop_size")
        if hasattr(self, "scale_"):
            settled = dict(zip(keys, (self.nucleus_diameter_, self.scale_, self.crop_size_)))
        elif recorded is not None:  # a store keeps the sizes of its first run
            settled = recorded
        else:
            settled = dict(zip(keys, _resolve(params, fields)))
        # Sizes given explicitly win (also after fit); those left to the data take the settled ones.
        params.update({key: settled.get(key) for key in keys if params[key] in (None, "auto")})
        params["scale"], params["crop_size"] = float(params["scale"]), int(params["crop_size"])
        return params

    def transform(self, X, masks=None):
        """Crops of every field, one bag per field.

        Parameters
        ----------
        X : sequence of fields
            Arrays ``(H, W, C)`` (any integer or float dtype), paths to
            multi-channel files, or tuples of per-channel paths. Files are
            read inside the workers.
        masks : sequence of label images or paths, optional
            Fields that come with their own nucleus labels (one ``(H, W)``
            label image per field, 0 = background): they are cropped around
            those nuclei instead of segmented.

        Returns
        -------
        bags : 1-D object ndarray of length ``len(X)``
            Each entry is a ``(n_cells_i, crop_size, crop_size, C)`` float32
            array; a field without nuclei gives an empty bag and a warning.
        """
        fields = _as_field_list(X)
        params = self._field_params(fields)
        # Only loky gets a parent watchdog; a joblib.parallel_config(backend="dask") of the user's takes over.
        # Workers return their warnings, raised again here at the user's call (not at joblib's code).
        results = workers(n_jobs=self.n_jobs, return_as="generator")(
            delayed(call_keeping_warnings)(crop_field, field, index, mask=mask, **params)
            for index, (field, mask) in enumerate(zip(fields, _check_masks(masks, len(fields))))
        )
        bags = np.empty(len(fields), dtype=object)
        progress = tqdm(results, total=len(fields), disable=not self.verbose, desc="segmenting",
                        unit="field")
        for index, (crops, caught) in enumerate(progress):
            rewarn(caught)
            bags[index] = crops
        return bags

    def to_store(self, X, path, *, names=None, groups=None, labels=None, metadata=None,
                 channel_names=None, masks=None, images_per_shard=16, on_error="raise"):
        """Segment fields straight into a :class:`~skpci.CropStore`, resumably.

        Workers (joblib, so a ``joblib.parallel_config`` backend such as
        dask or ray takes over) each read and segment one field and return
        its crops; this process is the only writer. Every
        ``images_per_shard`` finished fields are written as one shard,
        atomically: after a crash or kill the store holds the finished
        shards and nothing of the rest, and running ``to_store`` again with
        the same ``path`` skips the fields already stored.

        Parameters
        ----------
        X : sequence of fields, or a CellProfiler LoadData DataFrame
            Paths to multi-channel files (TIFF, OME-TIFF, OME-Zarr, PNG,
            JPEG) or tuples of per-channel paths (the workers read them), or
            arrays (then ``names`` is required). A LoadData table
            (``FileName_<channel>`` / ``PathName_<channel>`` columns) gives
            the fields, their names (plate/well/site), their metadata (its
            ``Metadata_*`` columns) and the channel names.
        path : str or path-like
            The store folder; created if needed.
        names : sequence of str, optional
            Unique name of each field; defaults to its path(s).
        groups : sequence of str, optional
            Pairing group of each field (default: the field itself). Fields
            of a group given one after another are stored together, which
            training reads fastest.
        labels : sequence of str, optional
            A label per field (e.g. its localization class).
        metadata : sequence of dict, optional
            JSON-serializable record per field.
        channel_names : list of str, optional
        masks : sequence of label images or paths, optional
            The fields' own nucleus labels, as in :meth:`transform`.
        images_per_shard : int, default=16
        on_error : {"raise", "skip"}, default="raise"
            What to do with a field that cannot be read or segmented (a
            truncated file, say). ``"raise"`` stores the finished fields
            first, then raises, naming the field. ``"skip"`` goes on without
            it, records it in the store (:attr:`CropStore.skipped`, with the
            error) and warns; a later run tries it again. If every field
            fails, the run raises either way.

        Returns
        -------
        store : CropStore
            Crops keep the fields' pixel type (integers are rounded after
            downsampling). Each field's metadata records what segmenting it
            found under ``"segmentation"``: nuclei ``found``, ``kept``,
            ``dropped_border`` and ``dropped_small``.
        """
        if is_loaddata(X):
            table = loaddata_fields(X)
            names = table.names if names is None else names
            metadata = table.metadata if metadata is None else metadata
            channel_names = list(table.channel_names) if channel_names is None else channel_names
        fields = _as_field_list(X)
        if not fields:
            raise ValueError(f"No fields to segment into {str(path)!r}: X is empty. Give a list of images or paths, "
                             "or a LoadData table with rows.")
        if channel_names is None and isinstance(fields[0], (str, Path)):
            channel_names = ome_channel_names(fields[0])  # an OME field names its channels
            channel_names = list(channel_names) if channel_names else None
        masks = _check_masks(masks, len(fields))
        names, groups, labels, metadata = check_image_records(
            len(fields), names=_field_names(fields) if names is None else names, groups=groups, labels=labels,
            metadata=metadata, what="field")
        if len(set(names)) != len(names):
            raise ValueError("Field names must be unique; pass names= to tell repeated paths apart.")
        if not (isinstance(images_per_shard, Integral) and images_per_shard >= 1):
            raise ValueError(f"images_per_shard must be a positive int, got {images_per_shard!r}.")
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}.")
        existed = Path(path).exists()
        recorded = CropStore(path).settings if (Path(path) / "store.json").is_file() else None
        params = self._field_params(fields, recorded)
        store = CropStore.create(path, channel_names=channel_names, exist_ok=True,
                                 settings=self._store_settings(params))
        finished = set(store.images["name"])
        todo = [i for i, name in enumerate(names) if name not in finished]
        results = workers(n_jobs=self.n_jobs, return_as="generator")(
            delayed(call_keeping_warnings)(try_crop_field_for_store, fields[i], i, mask=masks[i], **params)
            for i in todo
        )
        pending, skipped = [], {}

        def write_pending():
            indices = [i for i, _ in pending]
            store.append(
                [crops for _, (crops, _, _) in pending], names=[names[i] for i in indices],
                centroids=[centroids for _, (_, centroids, _) in pending],
                groups=[groups[i] for i in indices], labels=[labels[i] for i in indices],
                # What segmentation found and dropped stays with each field.
                metadata=[{**metadata[i], "segmentation": counts} for i, (_, _, counts) in pending],
            )
            pending.clear()

        progress = tqdm(zip(todo, results), total=len(todo), disable=not self.verbose,
                        desc="segmenting to store", unit="field")
        try:
            for index, ((result, error), caught) in progress:
                rewarn(caught)
                if error is None and store.channel_names is not None and (
                        result[0].shape[-1] != len(store.channel_names)):
                    error = ValueError(
                        f"it has {result[0].shape[-1]} channels, but the store names {len(store.channel_names)} "
                        f"channels: {store.channel_names}. Give one name per channel")
                if error is not None:
                    if on_error == "raise":
                        if pending:
                            write_pending()  # never lose the finished fields waiting for their shard
                        raise ValueError(
                            f"Field {names[index]!r} could not be segmented: {str(error).rstrip('.')}. The fields "
                            "before it, if any, are stored; fix or remove this one, or pass on_error='skip' "
                            "(skpci segment --skip-bad-fields) to go on without it."
                        ) from error
                    skipped[names[index]] = f"{type(error).__name__}: {error}"
                    continue
                pending.append((index, result))
                if len(pending) >= images_per_shard:
                    write_pending()
            if pending:
                write_pending()
            store.record_skipped(skipped, retried=[names[i] for i in todo])
            if skipped and len(skipped) == len(todo):
                first = next(iter(skipped.items()))
                raise ValueError(f"None of the {len(todo)} fields could be segmented; the first, {first[0]!r}: "
                                 f"{first[1]}")
            if skipped:
                examples = "; ".join(f"{name!r} ({why})" for name, why in list(skipped.items())[:3])
                warnings.warn(f"{len(skipped)} of {len(todo)} fields could not be segmented and were skipped "
                              f"(listed in store.skipped; a later run tries them again): {examples}",
                              UserWarning, stacklevel=2)
        except BaseException:
            if not existed:
                store.close()
                discard_if_empty(path)  # a first run refused before any shard leaves nothing behind
            raise
        return store

    def segment(self, image, mask=None):
        """Segment one field and return everything found, for inspection.

        Parameters
        ----------
        image : ndarray of shape (H, W, C), path, or tuple of per-channel paths
        mask : ndarray of shape (H, W) or path, optional
            The field's own nucleus labels, used instead of segmenting.

        Returns
        -------
        Segmentation
            ``labels`` (at the input's resolution), ``centroids``, ``boxes``,
            ``crops``.
        """
        return segment_field(image, mask=mask, **self._field_params([image]))

    def set_output(self, *, transform=None):
        """Accept ``set_output`` so ``Pipeline.set_output`` works; bags stay bags.

        Parameters
        ----------
        transform : {"default", "pandas", "polars"} or None
            Ignored: crops are images, not a table.

        Returns
        -------
        self : CellSegmenter
        """
        return self

    def _segment_params(self):
        """The validated parameters, as :func:`~skpci.segmentation.segment_field` takes them."""
        validate_params(self)
        return {name: getattr(self, name) for name in (
            "nuclear_channel", "nucleus_diameter", "scale", "sigma", "threshold", "min_nucleus_area",
            "crop_size", "method", "min_distance", "border")}

    @staticmethod
    def _store_settings(params):
        """The settings that shape the crops, as a store records them (a callable by its name)."""
        settings = dict(params)
        if callable(settings["method"]):
            method = settings["method"]
            settings["method"] = f"{getattr(method, '__module__', '')}.{getattr(method, '__qualname__', method)}"
        return {"segmenter": "CellSegmenter", **settings}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        tags.target_tags.required = False
        return tags


def _field_names(fields):
    names = []
    for index, field in enumerate(fields):
        if isinstance(field, (str, bytes)) or hasattr(field, "__fspath__"):
            names.append(str(field))
        elif isinstance(field, (tuple, list)) and all(isinstance(p, str) or hasattr(p, "__fspath__") for p in field):
            names.append("|".join(str(p) for p in field))
        else:
            raise ValueError(
                f"Field {index} is an array, which has no name to record in the store; pass names=[...]."
            )
    return names


def _resolve(params, fields):
    """Sizes for these parameters and fields; the diameter is estimated once when any size follows it."""
    follows = params["method"] in METHODS and None in (params[key] for key in
                                                       ("sigma", "min_nucleus_area", "min_distance"))
    return resolve_sizes(fields, nuclear_channel=params["nuclear_channel"],
                         nucleus_diameter=params["nucleus_diameter"], scale=params["scale"],
                         crop_size=params["crop_size"], need_diameter=follows)


def _check_masks(masks, n_fields):
    """One mask (or None) per field."""
    if masks is None:
        return [None] * n_fields
    if isinstance(masks, (str, bytes)) or not hasattr(masks, "__len__") or len(masks) != n_fields:
        raise ValueError(f"masks must hold one label image (or path) per field: {n_fields} fields, got "
                         f"{len(masks) if hasattr(masks, '__len__') else type(masks).__name__}.")
    return list(masks)


def _as_field_list(X):
    if is_loaddata(X):
        return loaddata_fields(X).fields
    if isinstance(X, pd.DataFrame):
        raise TypeError("A DataFrame of fields must be a CellProfiler LoadData table with FileName_<channel> "
                        f"(and PathName_<channel>) columns; this one has {list(X.columns)[:6]}.")
    if isinstance(X, np.ndarray) and X.dtype != object:
        if X.ndim == 3:
            raise ValueError(
                "Expected a collection of fields; got one array of shape "
                f"{X.shape}. Pass [image] for a single field."
            )
        if X.ndim != 4:
            raise ValueError(f"Expected fields of shape (n_fields, H, W, C), got {X.shape}.")
    if isinstance(X, (str, bytes)) or not hasattr(X, "__len__"):
        raise TypeError("X must be a sequence of fields (arrays, paths, or tuples of per-channel paths).")
    return list(X)
