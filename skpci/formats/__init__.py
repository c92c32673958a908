"""The field's formats: AnnData, pycytominer profiles and bioimage.io packages out; OME and LoadData in.

Outputs are written through :meth:`skpci.PairedInpaintingFeaturizer.write_features`
(``.h5ad``, or ``style="pycytominer"``) and ``skpci features``, or built in
memory with :meth:`~skpci.PairedInpaintingFeaturizer.to_anndata`. Inputs are
read wherever fields are: :func:`skpci.io.read_image` reads OME-TIFF and
OME-Zarr by their axes, and :class:`skpci.CellSegmenter`, ``to_store`` and
``skpci segment`` take a LoadData table as the field list.
"""

from ._anndata import to_anndata, write_h5ad
from ._bioimageio import export_bioimageio
from ._loaddata import LoadDataFields, is_loaddata, loaddata_fields
from ._ome import is_ome_tiff, is_ome_zarr, ome_channel_names, read_ome_tiff, read_ome_zarr, read_tiff, to_yxc
from ._profiles import COMPARTMENT, FEATURE_PREFIX, profile_feature_columns, pycytominer_table

__all__ = [
    "COMPARTMENT",
    "FEATURE_PREFIX",
    "LoadDataFields",
    "export_bioimageio",
    "is_loaddata",
    "is_ome_tiff",
    "is_ome_zarr",
    "loaddata_fields",
    "ome_channel_names",
    "profile_feature_columns",
    "pycytominer_table",
    "read_ome_tiff",
    "read_ome_zarr",
    "read_tiff",
    "to_anndata",
    "to_yxc",
    "write_h5ad",
]
