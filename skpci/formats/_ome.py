"""OME-TIFF and OME-Zarr (NGFF) fields: the channel axis and channel names from the OME metadata.

Both formats say which axis is which (``TCZYX`` and its subsets), so the
field is brought to skpci's ``(height, width, channels)`` without guessing:
the first time point is read, and a z-stack is reduced by its maximum
intensity projection (the usual view of a widefield or confocal stack).
"""

import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np


def is_ome_tiff(path):
    """Whether ``path`` is a TIFF file carrying OME metadata."""
    import tifffile

    path = Path(path)
    if path.suffix.lower() not in (".tif", ".tiff") or not path.is_file():
        return False
    try:
        with tifffile.TiffFile(path) as tiff:
            return bool(tiff.is_ome)
    except (OSError, ValueError, tifffile.TiffFileError):
        return False


def is_ome_zarr(path):
    """Whether ``path`` is an OME-Zarr image folder (``.zarr`` with multiscales metadata)."""
    path = Path(path)
    return path.is_dir() and ((path / ".zattrs").is_file() or (path / "zarr.json").is_file())


def read_tiff(path):
    """A TIFF as skpci reads fields, opened once: an OME-TIFF by its axes as ``(H, W, C)``, any other as stored."""
    import tifffile

    with tifffile.TiffFile(path) as tiff:
        if not tiff.is_ome:
            return tiff.asarray()
        series = tiff.series[0]
        return to_yxc(series.asarray(), series.axes, what=str(path))


def read_ome_tiff(path):
    """The first series of an OME-TIFF as ``(height, width, channels)``, with its channel names.

    Returns
    -------
    image : ndarray of shape (H, W, C)
    channel_names : tuple of str or None
    """
    import tifffile

    with tifffile.TiffFile(path) as tiff:
        series = tiff.series[0]
        image = to_yxc(series.asarray(), series.axes, what=str(path))
        names = _ome_xml_channel_names(tiff.ome_metadata)
    return image, _check_names(names, image.shape[-1])


def read_ome_zarr(path):
    """The full-resolution level of an OME-Zarr image as ``(height, width, channels)``, with its channel names.

    Returns
    -------
    image : ndarray of shape (H, W, C)
    channel_names : tuple of str or None
    """
    import zarr

    group = zarr.open_group(str(path), mode="r")
    attributes = dict(group.attrs)
    ome = attributes.get("ome", attributes)  # NGFF 0.5 nests its metadata under "ome"
    try:
        multiscale = ome["multiscales"][0]
        level = multiscale["datasets"][0]["path"]
        axes = "".join(axis["name"] if isinstance(axis, dict) else axis for axis in multiscale["axes"])
    except (KeyError, IndexError, TypeError) as error:
        raise OSError(f"{str(path)!r} is not an OME-Zarr image: its metadata has no multiscales "
                      f"({type(error).__name__}: {error}).") from None
    image = to_yxc(np.asarray(group[level]), axes.upper(), what=str(path))
    channels = (ome.get("omero") or {}).get("channels") or []
    names = [channel.get("label") for channel in channels if isinstance(channel, dict)]
    return image, _check_names(names, image.shape[-1])


def to_yxc(array, axes, *, what="image"):
    """Bring an array with named axes (a subset of ``TCZYX``, plus ``S`` for RGB samples) to ``(Y, X, C)``.

    The first time point is taken; z is reduced by its maximum; ``S``
    (the samples of an RGB plane) counts as channels.
    """
    axes = axes.upper()
    if len(axes) != array.ndim or not set(axes) <= set("TCZYXSQI") or {"Y", "X"} - set(axes):
        raise OSError(f"{what}: cannot read axes {axes!r} for an array of shape {array.shape}.")
    for axis in "TQI":  # time, and tifffile's unnamed extra dimensions: the first
        if axis in axes:
            array = np.take(array, 0, axis=axes.index(axis))
            axes = axes.replace(axis, "")
    if "Z" in axes:
        array = array.max(axis=axes.index("Z"))
        axes = axes.replace("Z", "")
    if "C" in axes and "S" in axes:
        array = np.transpose(array, [axes.index(axis) for axis in "YXCS"])
        return array.reshape(array.shape[0], array.shape[1], -1)
    channel = "C" if "C" in axes else "S" if "S" in axes else None
    if channel is None:
        return np.transpose(array, [axes.index("Y"), axes.index("X")])[..., np.newaxis]
    return np.transpose(array, [axes.index("Y"), axes.index("X"), axes.index(channel)])


def ome_channel_names(path):
    """Channel names an OME-TIFF or OME-Zarr field declares, or None."""
    if is_ome_zarr(path):
        return read_ome_zarr(path)[1]
    if is_ome_tiff(path):
        import tifffile

        with tifffile.TiffFile(path) as tiff:
            series = tiff.series[0]
            n_channels = 1
            for axis, size in zip(series.axes.upper(), series.shape):
                if axis in "CS":
                    n_channels *= size
            return _check_names(_ome_xml_channel_names(tiff.ome_metadata), n_channels)
    return None


def _ome_xml_channel_names(ome_xml):
    if not ome_xml:
        return None
    try:
        root = ElementTree.fromstring(ome_xml)
    except ElementTree.ParseError:
        return None
    image = next((element for element in root.iter() if element.tag.rsplit("}", 1)[-1] == "Image"), None)
    if image is None:
        return None
    return [channel.get("Name") for channel in image.iter() if channel.tag.rsplit("}", 1)[-1] == "Channel"]


def _check_names(names, n_channels):
    """The names as a tuple when each channel has a distinct, non-empty one; otherwise None."""
    if not names or len(names) != n_channels or not all(isinstance(name, str) and name.strip() for name in names):
        return None
    names = tuple(name.strip() for name in names)
    return names if len(set(names)) == len(names) else None
