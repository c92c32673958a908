"""Finding the weights a name or path refers to, and loading them into a network."""

import warnings
from dataclasses import dataclass
from pathlib import Path

from .._files import remove_stale_temporaries
from ..network import Architecture
from ._directory import CARD_FILE, WEIGHTS_FILE, read_card, sha256_of
from ._download import cache_dir, fetch
from ._errors import PretrainedModelError
from ._keras2 import legacy_architecture, load_legacy_h5
from ._registry import REGISTRY, BundledModel, PublishedModel, bundled_model_path


@dataclass(frozen=True)
class ResolvedWeights:
    """Where weights live and what network they fit.

    Attributes
    ----------
    kind : {"directory", "bioimageio", "keras", "legacy"}
    path : pathlib.Path
        The weights file.
    architecture : Architecture or None
        When known.
    card : dict or None
        The model card of a model directory.
    """

    kind: str
    path: Path
    architecture: Architecture = None
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
        path = fetch(entry.url, cache_dir() / entry.filename, sha256=entry.sha256, git_blob=entry.git_blob,
                     progress=progress)
        return ResolvedWeights("legacy", path, legacy_architecture(path, entry.architecture.input_size))
    path = Path(name_or_path).expanduser()
    if not path.exists() and path.parent.is_dir():
        remove_stale_temporaries(path)  # puts back a model directory a killed overwrite had moved aside
    package = _bioimageio_package(path)
    if package is not None:
        card, weights = package
        return ResolvedWeights("bioimageio", weights, Architecture.from_dict(card["architecture"]), card)
    if path.is_dir():
        card = read_card(path)
        entry = card.get("weights", {})
        name = entry.get("file", WEIGHTS_FILE) if isinstance(entry, dict) else None
        weights = path / name if isinstance(name, str) else None
        if weights is None or weights.resolve().parent != path.resolve():
            raise PretrainedModelError(
                f"The model card in {str(path)!r} names weights {name!r} outside its directory; a card may only "
                "name a file inside it."
            )
        if not weights.is_file():
            raise PretrainedModelError(f"Model directory {str(path)!r} has no weights file {weights.name!r}.")
        return ResolvedWeights("directory", weights, Architecture.from_dict(card["architecture"]), card)
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


def _bioimageio_package(path):
    """(card, weights) of a bioimage.io package exported by skpci (folder, zip or rdf file); None otherwise."""
    is_package = ((path.is_dir() and (path / "rdf.yaml").is_file() and not (path / CARD_FILE).is_file())
                  or (path.is_file() and path.suffix.lower() in (".zip", ".yaml", ".yml")))
    if not is_package:
        return None
    from ..formats._bioimageio import read_package_card

    try:
        package = read_package_card(path)
    except (ValueError, OSError, ImportError) as error:
        raise PretrainedModelError(f"Could not read the bioimage.io package {str(path)!r}: {error}") from error
    if package is None:
        raise PretrainedModelError(f"{str(path)!r} is not a bioimage.io model package exported by skpci (its "
                                   "rdf.yaml has no config.skpci card or keras_v3 weights).")
    return package


def describe(name_or_path):
    """Architecture and channel roles of a model, without loading (or fetching) its weights.

    Returns
    -------
    info : dict
        ``architecture`` (an :class:`~skpci.network.Architecture`),
        ``protein_channels`` and ``marker_channels`` (the recorded roles, or
        protein channels first for a file without a card), ``n_channels_in``
        (the channels of the crops it was trained on), ``channel_names``
        (their names, or None where they were not recorded), and
        ``mask_neighbours`` and ``mask_marker`` (whether training saw only
        central cells, and the model channel that outlined them).
    """
    key = str(name_or_path)
    entry = REGISTRY.get(key)
    names = None
    if isinstance(entry, PublishedModel):
        architecture, names = entry.architecture, entry.channel_names
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
    n_protein = architecture.n_protein_channels
    return {"architecture": architecture,
            "protein_channels": tuple(range(n_protein)),
            "marker_channels": tuple(range(n_protein, architecture.n_source_channels)),
            "n_channels_in": architecture.n_source_channels,
            "channel_names": names}


def _describe_card(card):
    channels = card["channels"]
    names = channels.get("names")
    return {"architecture": Architecture.from_dict(card["architecture"]),
            "protein_channels": tuple(channels["protein_channels"]),
            "marker_channels": tuple(channels["marker_channels"]),
            "n_channels_in": channels.get("n_channels_in", len(names) if names else None),
            "channel_names": tuple(names) if names else None,
            "mask_neighbours": bool((card.get("training") or {}).get("mask_neighbours", False)),
            "mask_marker": (card.get("training") or {}).get("mask_marker")}


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
    # A package's own checksum was checked when it was read; its card's names the original weights file.
    expected = None if resolved.kind == "bioimageio" else (resolved.card or {}).get("weights", {}).get("sha256")
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


def load_pretrained(model, name_or_path, *, progress=True):
    """Load a pretrained model's weights into ``model``, checking that they fit.

    Parameters
    ----------
    model : keras.Model
        Built by :func:`~skpci.network.build_inpainting_model`.
    name_or_path : str or path-like
        As :func:`resolve` takes it.
    progress : bool, default=True
        Progress bar while fetching.

    Returns
    -------
    card : dict or None
        The model card, when the weights come with one.

    Raises
    ------
    ValueError
        If the pretrained model has other channel counts; the message names both.

    Warns
    -----
    UserWarning
        If the model was trained at another input size (it loads, since the
        network is fully convolutional, but its features change meaning).
    """
    resolved = resolve(name_or_path, progress=progress)
    known, wanted = resolved.architecture, Architecture.of(model)
    if known is not None and (known.n_protein_channels, known.n_marker_channels) != (
            wanted.n_protein_channels, wanted.n_marker_channels):
        raise ValueError(
            f"The pretrained model {str(name_or_path)!r} has {known.describe()}, but this featurizer asks "
            f"for {wanted.describe()}. Set protein_channels and marker_channels to match, or use "
            "from_pretrained."
        )
    if resolved.card is not None and known.input_size != wanted.input_size:
        warnings.warn(
            f"The pretrained model {str(name_or_path)!r} was trained on {known.input_size} px "
            f"crops; this featurizer resizes to {wanted.input_size} px.",
            UserWarning, stacklevel=4,
        )
    load_weights_into(model, resolved)
    return resolved.card
