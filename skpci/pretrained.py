"""Pretrained models: saving, finding, fetching and loading network weights.

A *model directory*, written by
:meth:`PairedInpaintingFeaturizer.save_pretrained`, holds

* ``model.weights.h5``: the network's weights in Keras 3's format;
* ``model_card.json``: architecture, channel roles, normalization, how it
  was trained, and versions.

``weights=`` (and :meth:`PairedInpaintingFeaturizer.from_pretrained`) accept

* a name from :data:`REGISTRY`: models bundled with skpci, and the three
  Keras 2 files the paper's authors published, fetched on first use into
  the user cache (``SKPCI_CACHE_DIR``, default ``~/.cache/skpci``);
* a path to a model directory, a Keras 3 ``.weights.h5`` file, or a
  legacy Keras 2 ``.h5`` file written by ``model.save``.
"""

import hashlib
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np

from ._files import atomic_directory, atomic_file
from ._network import (
    DECODER_LAYERS,
    OUTPUT,
    SOURCE_ENCODER_LAYERS,
    TARGET_ENCODER_LAYERS,
    batch_norm_name,
)

CARD_FILE = "model_card.json"
WEIGHTS_FILE = "model.weights.h5"
CARD_FORMAT = "skpci-pretrained"
CARD_VERSION = 1

ENCODER_CONVS = tuple(name for name, _ in SOURCE_ENCODER_LAYERS + TARGET_ENCODER_LAYERS)
ALL_CONVS = ENCODER_CONVS + tuple(name for name, _ in DECODER_LAYERS) + (OUTPUT,)
#: Order in which the authors' code created the BatchNormalization layers, so
#: ``batch_normalization_<k>`` (counting from the file's smallest k) follows the k-th of these.
AUTHORS_BN_ORDER = ("conv1_1", "conv2_1", "rfpconv1_1", "rfpconv2_1", "conv3_1", "conv4_1", "conv5_1",
                    "rfpconv3_1")


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
    architecture: dict
    sha256: str = None


_AUTHORS = "https://raw.githubusercontent.com/alexxijielu/paired_cell_inpainting/master"

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
        {"n_protein_channels": 1, "n_marker_channels": 1, "input_size": 64},
    ),
    "lu2019-human": PublishedModel(
        f"{_AUTHORS}/human_model/pretrained_weights/model_weights.h5", "lu2019-human.h5",
        "The authors' Human Protein Atlas model (3 + 2 channels, 64 px).",
        {"n_protein_channels": 1, "n_marker_channels": 2, "input_size": 64},
    ),
    "lu2019-human-filtered": PublishedModel(
        f"{_AUTHORS}/human_model/pretrained_weights/filtered_model_weights.h5", "lu2019-human-filtered.h5",
        "The authors' HPA model trained with variable proteins filtered out; better features.",
        {"n_protein_channels": 1, "n_marker_channels": 2, "input_size": 64},
    ),
}


class PretrainedModelError(ValueError):
    """A weight file or model directory cannot be used."""


# ------------------------------------------------------------------ resolving


@dataclass(frozen=True)
class ResolvedWeights:
    """Where weights live and what network they fit.

    Attributes
    ----------
    kind : {"directory", "keras", "legacy"}
    path : pathlib.Path
        The weights file.
    architecture : dict or None
        ``n_protein_channels``, ``n_marker_channels``, ``input_size`` when known.
    card : dict or None
        The model card of a model directory.
    """

    kind: str
    path: Path
    architecture: dict = None
    card: dict = None


def resolve(name_or_path, *, progress=True):
    """Find the weights a name or path refers to, fetching published files.

    Parameters
    ----------
    name_or_path : str or path-like
    progress : bool, default=True
        Progress bar while fetching.

    Returns
    -------
    ResolvedWeights
    """
    key = str(name_or_path)
    if key in REGISTRY:
        entry = REGISTRY[key]
        if isinstance(entry, BundledModel):
            return resolve(bundled_model_path(entry.directory))
        path = fetch(entry.url, cache_dir() / entry.filename, sha256=entry.sha256, progress=progress)
        return ResolvedWeights("legacy", path, legacy_architecture(path, entry.architecture["input_size"]))
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        card = read_card(path)
        weights = path / card.get("weights", {}).get("file", WEIGHTS_FILE)
        if not weights.is_file():
            raise PretrainedModelError(f"Model directory {str(path)!r} has no weights file {weights.name!r}.")
        return ResolvedWeights("directory", weights, card["architecture"], card)
    if path.is_file():
        if path.name.endswith(".weights.h5"):
            return ResolvedWeights("keras", path)
        if path.suffix in (".h5", ".hdf5"):
            return ResolvedWeights("legacy", path, legacy_architecture(path))
        raise PretrainedModelError(f"{str(path)!r} is not a weights file (.weights.h5, .h5) or model directory.")
    raise PretrainedModelError(
        f"Unknown pretrained model {key!r}: not a registered name ({', '.join(REGISTRY)}) "
        "and no such file or directory."
    )


def describe(name_or_path):
    """Architecture and channel roles of a model, without loading (or fetching) its weights.

    Returns
    -------
    info : dict
        ``architecture`` and, when the model records them, ``protein_channels``
        and ``marker_channels``.
    """
    key = str(name_or_path)
    entry = REGISTRY.get(key)
    if isinstance(entry, PublishedModel):
        architecture = entry.architecture
    elif isinstance(entry, BundledModel):
        return _describe_card(read_card(bundled_model_path(entry.directory)))
    else:
        resolved = resolve(name_or_path)
        if resolved.card is not None:
            return _describe_card(resolved.card)
        if resolved.architecture is None:
            raise PretrainedModelError(
                f"{key!r} is a bare weights file without a model card: build the featurizer with "
                "matching channels and input_size and pass weights= instead."
            )
        architecture = resolved.architecture
    n_protein = architecture["n_protein_channels"]
    return {"architecture": architecture,
            "protein_channels": tuple(range(n_protein)),
            "marker_channels": tuple(range(n_protein, n_protein + architecture["n_marker_channels"]))}


def _describe_card(card):
    return {"architecture": card["architecture"],
            "protein_channels": tuple(card["channels"]["protein_channels"]),
            "marker_channels": tuple(card["channels"]["marker_channels"])}


def bundled_model_path(directory):
    """Folder of a bundled model: inside the installed package, or the source tree's ``pretrained/``."""
    package = Path(__file__).resolve().parent
    # Wheels carry the models in skpci/_models; a source checkout keeps them in pretrained/.
    for candidate in (package / "_models" / directory, package.parent / "pretrained" / directory):
        if (candidate / CARD_FILE).is_file():
            return candidate
    raise PretrainedModelError(
        f"The bundled model {directory!r} is missing from this installation (looked in "
        f"{package / '_models'}). Reinstall skpci."
    )


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
    except (OSError, json.JSONDecodeError) as error:
        raise PretrainedModelError(f"Cannot read the model card {str(path)!r}: {error}") from error
    if card.get("format") != CARD_FORMAT or "architecture" not in card:
        raise PretrainedModelError(f"{str(path)!r} is not an skpci model card.")
    return card


# --------------------------------------------------------------------- saving


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
    from ._network import build_with_weights

    with atomic_directory(path, overwrite=overwrite) as staging:
        stored = model
        if dtype != "float32":
            stored = build_with_weights(card["architecture"], [w.astype(dtype) for w in model.get_weights()],
                                        dtype=dtype)
        stored.save_weights(staging / WEIGHTS_FILE)
        card = dict(card, weights={"file": WEIGHTS_FILE, "dtype": dtype,
                                   "sha256": sha256_of(staging / WEIGHTS_FILE)})
        (staging / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
    return Path(path)


def make_card(*, architecture, protein_channels, marker_channels, n_channels_in, training, channel_names=None):
    """A model card for :func:`save_model_directory`."""
    import keras

    from . import __version__

    return {
        "format": CARD_FORMAT,
        "format_version": CARD_VERSION,
        "architecture": architecture,
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


# -------------------------------------------------------------------- loading


def load_weights_into(model, resolved):
    """Load resolved weights into a network built with the matching architecture.

    Raises
    ------
    PretrainedModelError
        If the file is corrupt or does not fit the network; the message
        names the layer.
    """
    if resolved.kind == "legacy":
        load_legacy_h5(model, resolved.path)
        return model
    expected = (resolved.card or {}).get("weights", {}).get("sha256")
    if expected and sha256_of(resolved.path) != expected:
        raise PretrainedModelError(
            f"Weights file {str(resolved.path)!r} does not match the checksum in its model card: "
            "it is corrupt or was changed."
        )
    try:
        model.load_weights(resolved.path)
    except Exception as error:  # Keras raises several types for bad files
        raise PretrainedModelError(
            f"Could not load weights from {str(resolved.path)!r}: {error}"
        ) from error
    return model


def legacy_architecture(path, input_size=64):
    """Channel counts of a Keras 2 weight file, read from its kernels."""
    with _open_h5(path) as file:
        weights = _legacy_layer_weights(file, path)
    for name in ("conv1_1", "rfpconv1_1", OUTPUT):
        if name not in weights:
            raise PretrainedModelError(f"{str(path)!r} has no layer {name!r}: not a paired cell inpainting model.")
    n_source = weights["conv1_1"][0].shape[2]
    n_marker = weights["rfpconv1_1"][0].shape[2]
    return {"n_protein_channels": int(n_source - n_marker), "n_marker_channels": int(n_marker),
            "input_size": int(input_size)}


def load_legacy_h5(model, path):
    """Load a Keras 2 (``model.save`` or ``save_weights``) HDF5 file into ``model``.

    Convolutions are matched by name. The file's BatchNormalization layers
    are unnamed (``batch_normalization_<k>``), so each is matched to the
    convolution it follows: read from the file's model graph when present,
    else from the order in which the authors' code created them.
    """
    with _open_h5(path) as file:
        weights = _legacy_layer_weights(file, path)
        follows = _legacy_batch_norm_owners(file, weights)
    for conv in ALL_CONVS:
        if conv not in weights:
            raise PretrainedModelError(f"{str(path)!r} has no weights for layer {conv!r}.")
        _assign(model.get_layer(conv), weights[conv], conv, path)
    for conv in ENCODER_CONVS:
        if conv not in follows:
            raise PretrainedModelError(f"{str(path)!r} has no BatchNormalization after {conv!r}.")
        _assign(model.get_layer(batch_norm_name(conv)), weights[follows[conv]],
                f"{follows[conv]} (BatchNormalization after {conv})", path)


def _assign(layer, arrays, label, path):
    expected = [tuple(w.shape) for w in layer.weights]
    found = [tuple(a.shape) for a in arrays]
    if expected != found:
        raise PretrainedModelError(
            f"Layer {label} in {str(path)!r} has weights of shapes {found}, but the network expects "
            f"{expected}: the file is for other channel counts or another architecture."
        )
    layer.set_weights(list(arrays))


def _open_h5(path):
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise PretrainedModelError(f"Cannot open {str(path)!r} as HDF5 (corrupt or truncated?): {error}") from error


def _decode(values):
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _legacy_layer_weights(file, path):
    group = file["model_weights"] if "model_weights" in file else file
    if "layer_names" not in group.attrs:
        raise PretrainedModelError(f"{str(path)!r} is not a Keras 2 weight file (no layer_names attribute).")
    weights = {}
    try:
        for name in _decode(group.attrs["layer_names"]):
            names = _decode(group[name].attrs.get("weight_names", []))
            if names:
                weights[name] = [np.asarray(group[name][w]) for w in names]
    except (KeyError, OSError) as error:
        raise PretrainedModelError(f"{str(path)!r} is damaged: {error}") from error
    return weights


def _legacy_batch_norm_owners(file, weights):
    """Map each encoder convolution to the name of the BatchNormalization after it."""
    batch_norms = [name for name in weights if name.startswith("batch_normalization")]
    config = file.attrs.get("model_config")
    if config is not None:
        config = json.loads(config.decode() if isinstance(config, bytes) else config)
        owners = {}
        for layer in config.get("config", {}).get("layers", []):
            if layer.get("class_name") == "BatchNormalization" and layer.get("inbound_nodes"):
                inbound = layer["inbound_nodes"][0][0][0]
                owners[inbound] = layer["config"]["name"]
        if owners:
            return owners
    # No graph in the file: the k-th BN (by its number, not its position) follows
    # the k-th convolution in the authors' creation order.
    numbered = sorted(batch_norms, key=lambda n: int(n.rsplit("_", 1)[1]) if n[-1].isdigit() else 0)
    return dict(zip(AUTHORS_BN_ORDER, numbered))


# ------------------------------------------------------------------- fetching


def cache_dir():
    """Where fetched weights are kept: ``$SKPCI_CACHE_DIR`` or ``~/.cache/skpci``."""
    return Path(os.environ.get("SKPCI_CACHE_DIR", Path.home() / ".cache" / "skpci"))


def sha256_of(path, chunk_size=1 << 20):
    """Hex SHA-256 digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(url, destination, *, sha256=None, progress=True, timeout=30):
    """Download ``url`` to ``destination`` once, verifying it; later calls use the cache.

    The file is written to a temporary name and renamed when complete and
    verified, so an interrupted download never leaves a partial file.

    Parameters
    ----------
    url : str
    destination : path-like
    sha256 : str, optional
        Expected digest. Without one, the file must at least open as HDF5.
    progress : bool, default=True
    timeout : float, default=30
        Seconds to wait for the server.

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    ConnectionError
        When the server cannot be reached (offline?).
    PretrainedModelError
        When the downloaded file fails verification.
    """
    from tqdm.auto import tqdm

    destination = Path(destination)
    if destination.is_file() and (sha256 is None or sha256_of(destination) == sha256):
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(destination) as partial:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, disable=not progress,
                          desc=f"fetching {destination.name}") as bar:
                    for chunk in iter(lambda: response.read(1 << 20), b""):
                        out.write(chunk)
                        bar.update(len(chunk))
        except (urllib.error.URLError, OSError) as error:
            raise ConnectionError(
                f"Could not download {url} ({error}). Check the network connection (offline?), "
                f"or download the file yourself and pass its path as weights=."
            ) from error
        if sha256 is not None and sha256_of(partial) != sha256:
            raise PretrainedModelError(f"The file downloaded from {url} fails its checksum; not kept.")
        if sha256 is None:
            _open_h5(partial).close()
    return destination
