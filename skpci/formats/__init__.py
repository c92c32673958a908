"""The field's formats: AnnData for scverse, pycytominer-ready profiles, and more to come.

Written through :meth:`skpci.PairedInpaintingFeaturizer.write_features`
(``.h5ad``, or ``style="pycytominer"``) and ``skpci features``, or built
in memory with :meth:`~skpci.PairedInpaintingFeaturizer.to_anndata`.
"""

from ._anndata import to_anndata, write_h5ad
from ._profiles import COMPARTMENT, FEATURE_PREFIX, profile_feature_columns, pycytominer_table

__all__ = ["COMPARTMENT", "FEATURE_PREFIX", "profile_feature_columns", "pycytominer_table", "to_anndata",
           "write_h5ad"]
