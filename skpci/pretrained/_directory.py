"""Model directories: the weights and a model card, written complete or not at all.

A model directory, written by
:meth:`~skpci.PairedInpaintingFeaturizer.save_pretrained`, holds

* ``model.weights.h5``: the network's weights in Keras 3's format;
* ``model_card.json``: architecture, channel roles, normalization, how it
  was trained, and versions.
"""

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .._fetch import sha256_of  # noqa: F401 (re-exported by skpci.pretrained)
from .._files import atomic_directory, check_free_space, no_space_message
from ..network import Architecture, build_with_weights
from ._errors import PretrainedModelError

CARD_FILE = "model_card.json"
WEIGHTS_FILE = "model.weights.h5"
CARD_FORMAT = "skpci-pretrained"
CARD_VERSION = 1


def read_card(directory):
    """Read and check a model directory's ``model_card.json``.

    Raises
    ------
    PretrainedModelError
        If the card is missing, unreadable or not an skpci model card.
    """
    path = Path(directory) / CARD_FILE
    if not path.is_file():
        raise PretrainedModelError(
            f"{str(directory)!r} is not a model directory: it has no {CARD_FILE} "
            "(write one with PairedInpaintingFeaturizer.save_pretrained)."
        )
    try:
        card = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as error:
        raise PretrainedModelError(f"Cannot read the model card {str(path)!r}: {error}") from error
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT or "architecture" not in card:
        raise PretrainedModelError(f"{str(path)!r} is not an skpci model card.")
    try:
        Architecture.from_dict(card["architecture"])
        channels = card["channels"]
        for key in ("protein_channels", "marker_channels"):
            if not all(isinstance(c, int) and not isinstance(c, bool) for c in channels[key]):
                raise ValueError(f"{key} holds {channels[key]!r}")
    except (KeyError, TypeError, ValueError) as error:
        problem = f"no entry {error}" if isinstance(error, KeyError) else str(error)
        raise PretrainedModelError(f"The model card {str(path)!r} is malformed ({problem}); write it again with "
                                   "save_pretrained.") from error
    return card


def save_model_directory(model, path, card, *, dtype="float16", overwrite=False):
    """Write weights and card into ``path``, which appears complete or not at all.

    Parameters
    ----------
    model : keras.Model
    path : str or path-like
    card : dict
        Model card; the weights entry (file, dtype, sha256) is added here.
    dtype : {"float16", "float32"}, default="float16"
        Storage precision of the weights; they are loaded back as float32.
    overwrite : bool, default=False

    Returns
    -------
    path : pathlib.Path
    """
    existing = Path(path)
    if overwrite and (existing.exists() or existing.is_symlink()) and not (existing / CARD_FILE).is_file():
        raise FileExistsError(f"{str(path)!r} exists and is not a model directory; overwrite=True replaces only "
                              "a model directory. Choose another path.")
    # Keras writes the weights through HDF5, which crashes the interpreter when the disk fills during a
    # write; refuse up front instead (the weights are stored uncompressed, so their size is known).
    n_bytes = sum(int(np.prod(w.shape)) for w in model.weights) * np.dtype(dtype).itemsize
    parent = existing.parent if existing.parent.exists() else Path.cwd()
    check_free_space(parent, int(n_bytes * 1.05) + 2**20, "the model")
    with atomic_directory(path, overwrite=overwrite) as staging:
        stored = model
        if dtype != "float32":
            stored = build_with_weights(Architecture.from_dict(card["architecture"]),
                                        [w.astype(dtype) for w in model.get_weights()], dtype=dtype)
        try:
            stored.save_weights(staging / WEIGHTS_FILE)
        except OSError as error:
            raise no_space_message(error, path) from error
        card = dict(card, weights={"file": WEIGHTS_FILE, "dtype": dtype,
                                   "sha256": sha256_of(staging / WEIGHTS_FILE)})
        (staging / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
    return Path(path)


def make_card(*, architecture, protein_channels, marker_channels, n_channels_in, training, channel_names=None):
    """A model card for :func:`save_model_directory`; ``architecture`` is an :class:`Architecture`."""
    import keras

    from .. import __version__

    return {
        "format": CARD_FORMAT,
        "format_version": CARD_VERSION,
        "architecture": architecture.to_dict(),
        "channels": {
            "n_channels_in": n_channels_in,
            "protein_channels": list(protein_channels),
            "marker_channels": list(marker_channels),
            "network_input_order": "protein channels first, then markers",
            **({"names": list(channel_names)} if channel_names is not None else {}),
        },
        "normalization": "crops resized to input_size, then each channel of each crop min-max scaled to [0, 1]",
        "training": training,
        "versions": {"skpci": __version__, "keras": keras.__version__, "backend": keras.config.backend()},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


