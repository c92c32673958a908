"""The models ``weights=`` and ``from_pretrained`` know by name: data, not code."""

from dataclasses import dataclass
from pathlib import Path

from ..network import Architecture
from ._directory import CARD_FILE
from ._errors import PretrainedModelError


@dataclass(frozen=True)
class BundledModel:
    """A model directory shipped inside the skpci package."""

    directory: str
    description: str


@dataclass(frozen=True)
class PublishedModel:
    """A Keras 2 weight file published by the paper's authors."""

    url: str
    filename: str
    description: str
    architecture: Architecture
    sha256: str = None
    #: The file's git blob id in the authors' repository at ``_AUTHORS_COMMIT`` (``git ls-tree``).
    git_blob: str = None
    #: Names of the input channels in the network's order, where the authors' data says them.
    channel_names: tuple = None


#: The authors' repository at its last commit (2019-09-16), so that the files cannot change under their pins.
_AUTHORS_COMMIT = "f9d758315f99b1d680718ad186c26a41fbd7922b"
_AUTHORS = f"https://raw.githubusercontent.com/alexxijielu/paired_cell_inpainting/{_AUTHORS_COMMIT}"
#: The authors' HPA loader stacks the antibody (green), nucleus (blue) and microtubule (red) images.
HPA_CHANNELS = ("green", "blue", "red")

#: Model names that ``weights=`` and ``from_pretrained`` resolve.
REGISTRY = {
    "synthetic-32": BundledModel(
        "synthetic-32",
        "skpci's own model, trained on skpci.datasets synthetic fields (protein, nucleus, cytosol), "
        "32 px input. Used by `skpci demo`.",
    ),
    "lu2019-yeast": PublishedModel(
        f"{_AUTHORS}/yeast_model/pretrained_weights/model_weights.h5", "lu2019-yeast.h5",
        "The authors' yeast model (GFP protein + RFP cytosol, 2 + 1 channels, 64 px).",
        Architecture(n_protein_channels=1, n_marker_channels=1, input_size=64),
        git_blob="21029d9a1187f7199b0a89df95093f9656c01240", channel_names=("gfp", "rfp"),
    ),
    "lu2019-human": PublishedModel(
        f"{_AUTHORS}/human_model/pretrained_weights/model_weights.h5", "lu2019-human.h5",
        "The authors' Human Protein Atlas model (3 + 2 channels, 64 px).",
        Architecture(n_protein_channels=1, n_marker_channels=2, input_size=64),
        git_blob="6bcdc197d56ed36d491e12430dc91f88d1bcc91e", channel_names=HPA_CHANNELS,
    ),
    "lu2019-human-filtered": PublishedModel(
        f"{_AUTHORS}/human_model/pretrained_weights/filtered_model_weights.h5", "lu2019-human-filtered.h5",
        "The authors' HPA model trained with variable proteins filtered out; better features.",
        Architecture(n_protein_channels=1, n_marker_channels=2, input_size=64),
        git_blob="0d3bf36baf7708f4ac0ba290108cc79dda696503", channel_names=HPA_CHANNELS,
    ),
}


def bundled_model_path(directory):
    """Folder of a bundled model: inside the installed package, or the source tree's ``pretrained/``."""
    package = Path(__file__).resolve().parents[1]
    # Wheels carry the models in skpci/_models; a source checkout keeps them in pretrained/.
    for candidate in (package / "_models" / directory, package.parent / "pretrained" / directory):
        if (candidate / CARD_FILE).is_file():
            return candidate
    raise PretrainedModelError(
        f"The bundled model {directory!r} is missing from this installation (looked in "
        f"{package / '_models'}). Reinstall skpci."
    )
