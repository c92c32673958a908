"""`CellSegmenter`: whole fields in, one bag of single-cell crops per field out."""

import numbers

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin
from tqdm.auto import tqdm

from .segmentation import BORDERS, THRESHOLDS, crop_field, segment_field


class CellSegmenter(TransformerMixin, BaseEstimator):
    """Segment nuclei in whole fields and crop a square around each cell.

    Follows the authors' Human Protein Atlas recipe (downsample, smooth,
    Otsu threshold, clean up, clear the border, crop around nuclear
    centroids) and splits touching nuclei with a distance-transform
    watershed. ``transform`` returns one bag of crops per field, so the
    segmenter slots before :class:`PairedInpaintingFeaturizer` in a Pipeline
    and cross-validation works on the list of raw fields.

    Parameters
    ----------
    nuclear_channel : int, default=0
        Channel holding the nuclear stain (DAPI, Hoechst).
    scale : float, default=0.25
        Downsampling factor applied first; the authors use 0.25 for HPA
        fields. All sizes below are in downsampled pixels.
    sigma : float, default=1.0
        Gaussian smoothing of the nuclear channel before thresholding.
    threshold : str or float, default="otsu"
        ``"otsu"``, ``"li"``, ``"triangle"``, ``"yen"``, ``"isodata"``,
        ``"mean"`` (scikit-image methods), or an absolute intensity.
    min_nucleus_area : int, default=30
        Objects and holes smaller than this many pixels are removed.
    crop_size : int, default=128
        Side of the square crops (the authors: 128, then resized to 64 for
        the network, which the featurizer does).
    split_touching : bool, default=True
        Separate touching nuclei (plain Otsu merges them).
    min_distance : int, default=4
        Smallest distance between two nucleus centres when splitting.
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

    def __init__(self, nuclear_channel=0, scale=0.25, sigma=1.0, threshold="otsu",
                 min_nucleus_area=30, crop_size=128, split_touching=True, min_distance=4,
                 border="drop", n_jobs=None, verbose=0):
        self.nuclear_channel = nuclear_channel
        self.scale = scale
        self.sigma = sigma
        self.threshold = threshold
        self.min_nucleus_area = min_nucleus_area
        self.crop_size = crop_size
        self.split_touching = split_touching
        self.min_distance = min_distance
        self.border = border
        self.n_jobs = n_jobs
        self.verbose = verbose

    def fit(self, X=None, y=None):
        """Check the parameters; segmentation learns nothing.

        Parameters
        ----------
        X : ignored
        y : ignored

        Returns
        -------
        self : CellSegmenter
        """
        self._segment_params()
        return self

    def transform(self, X):
        """Crops of every field, one bag per field.

        Parameters
        ----------
        X : sequence of fields
            Arrays ``(H, W, C)`` (any integer or float dtype), paths to
            multi-channel files, or tuples of per-channel paths. Files are
            read inside the workers.

        Returns
        -------
        bags : 1-D object ndarray of length ``len(X)``
            Each entry is a ``(n_cells_i, crop_size, crop_size, C)`` float32
            array; a field without nuclei gives an empty bag and a warning.
        """
        params = self._segment_params()
        fields = _as_field_list(X)
        # No backend is named, so a joblib.parallel_config(backend="dask") of the user's takes over.
        results = Parallel(n_jobs=self.n_jobs, return_as="generator")(
            delayed(crop_field)(field, index, **params) for index, field in enumerate(fields)
        )
        bags = np.empty(len(fields), dtype=object)
        progress = tqdm(results, total=len(fields), disable=not self.verbose, desc="segmenting",
                        unit="field")
        for index, crops in enumerate(progress):
            bags[index] = crops
        return bags

    def segment(self, image):
        """Segment one field and return everything found, for inspection.

        Parameters
        ----------
        image : ndarray of shape (H, W, C), path, or tuple of per-channel paths

        Returns
        -------
        Segmentation
            ``labels`` (at the input's resolution), ``centroids``, ``boxes``,
            ``crops``.
        """
        return segment_field(image, **self._segment_params())

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
        if not isinstance(self.nuclear_channel, numbers.Integral) or self.nuclear_channel < 0:
            raise ValueError(f"nuclear_channel must be a channel index (int >= 0), got {self.nuclear_channel!r}.")
        if not (isinstance(self.scale, numbers.Real) and 0 < self.scale <= 1):
            raise ValueError(f"scale must be in (0, 1], got {self.scale!r}.")
        if not (isinstance(self.crop_size, numbers.Integral) and self.crop_size >= 8):
            raise ValueError(f"crop_size must be an integer >= 8, got {self.crop_size!r}.")
        if not (isinstance(self.threshold, numbers.Real) or self.threshold in THRESHOLDS):
            raise ValueError(f"threshold must be a number or one of {tuple(THRESHOLDS)}, got {self.threshold!r}.")
        if self.border not in BORDERS:
            raise ValueError(f"border must be one of {BORDERS}, got {self.border!r}.")
        if not (isinstance(self.sigma, numbers.Real) and self.sigma >= 0):
            raise ValueError(f"sigma must be a number >= 0, got {self.sigma!r}.")
        return dict(
            nuclear_channel=int(self.nuclear_channel), scale=float(self.scale), sigma=float(self.sigma),
            threshold=self.threshold, min_nucleus_area=int(self.min_nucleus_area),
            crop_size=int(self.crop_size), split_touching=bool(self.split_touching),
            min_distance=int(self.min_distance), border=self.border,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        tags.target_tags.required = False
        return tags


def _as_field_list(X):
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
