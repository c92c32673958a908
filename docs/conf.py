"""Sphinx configuration for skpci's documentation."""

import os
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import skpci  # noqa: E402

project = "skpci"
author = "skpci developers"
copyright = "2026, skpci developers"
release = skpci.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py", "auto_examples/*.zip",
                    "auto_examples/*.md5", "auto_examples/*.json", "**/*.codeobj.json"]

autosummary_generate = True
autodoc_default_options = {
    "members": True,
    "inherited-members": False,
    # scikit-learn generates these for metadata routing; their docstrings point into its docs.
    "exclude-members": "set_fit_request, set_score_request, set_transform_request, get_metadata_routing",
}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

myst_heading_anchors = 4

html_theme = "pydata_sphinx_theme"
html_title = f"skpci {release}"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}

# The gallery runs the examples at build time (fast mode, synthetic data), so its
# figures are real. The yeast benchmark needs the real data folder: shown, not run.
sphinx_gallery_conf = {
    "examples_dirs": str(Path(__file__).parent.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/(quickstart|grid_search_layers|hpa_pipeline|plot_network|anndata_umap|loaddata_profiles)\.py",
    "ignore_pattern": r"__init__\.py",
    "download_all_examples": False,
    "plot_gallery": "True",
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
}

warnings.filterwarnings("ignore", message="Matplotlib is currently using agg")
