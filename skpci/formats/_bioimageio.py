"""bioimage.io model packages: export a model directory, validated by ``bioimageio.spec``; read one back.

A package is a folder (or its zip) holding:

* ``rdf.yaml``: the bioimage.io description (spec 0.5): the two inputs
  ``x_in`` (all channels of the source cell) and ``y_rfp`` (the marker
  channels of the target cell), the output ``y_gfp`` (the target's protein
  channels), each with its axes, channel names and test tensor; the
  preprocessing (``scale_range`` per sample and channel, 0 to 100th
  percentile: skpci's min-max scaling); ``keras_v3`` weights; the paper
  in ``cite``; skpci's model card under ``config.skpci``;
* ``model.keras``: the whole network (Keras 3 format);
* ``test_*.npy``: one input pair and the network's output for it;
* ``README.md`` and ``cover.png``.

:func:`skpci.pretrained.resolve` reads such a package (folder, zip or its
``rdf.yaml``), so ``from_pretrained`` and ``weights=`` take it like a model
directory.
"""

import json
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .._fetch import sha256_of
from .._files import atomic_directory, atomic_file
from .._optional import require

#: The description file of a package (the name the bioimage.io tools look for first).
RDF_FILE = "rdf.yaml"
KERAS_FILE = "model.keras"
PAPER = {
    "text": "Lu AX, Kraus OZ, Cooper S, Moses AM. Learning unsupervised feature representations for single cell "
            "microscopy images with paired cell inpainting. PLOS Computational Biology 15(9): e1007348 (2019).",
    "doi": "10.1371/journal.pcbi.1007348",
}


def export_bioimageio(model, path, *, authors, name=None, description=None, license="CC-BY-4.0",
                      test_crops=None, overwrite=False):
    """Export a model to a bioimage.io model package, validated with ``bioimageio.spec``.

    Parameters
    ----------
    model : str or path-like
        A model directory (``save_pretrained``), a registered name or
        anything :func:`skpci.pretrained.resolve` takes that has a model
        card.
    path : str or path-like
        The package: a folder, or a ``.zip`` file.
    authors : sequence of str or dict
        Who made the model (names, or bioimage.io author entries such as
        ``{"name": ..., "orcid": ...}``); the zoo requires at least one.
    name, description : str, optional
        Defaults from the model card.
    license : str, default="CC-BY-4.0"
        An SPDX identifier for the weights.
    test_crops : ndarray of shape (2, h, w, C), optional
        Two crops of the model's channels (source and target) for the test
        tensors. Default: synthetic cells from :mod:`skpci.datasets`.
    overwrite : bool, default=False

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    ValueError
        If ``bioimageio.spec`` finds the package invalid (the message holds
        its report); nothing is written then.
    """
    spec = require("bioimageio.spec", "bioimageio")
    from .. import pretrained
    from ..network import build_inpainting_model

    authors = [author if isinstance(author, dict) else {"name": str(author)} for author in authors or ()]
    if not authors:
        raise ValueError("authors must name at least one author of the model (bioimage.io requires it).")
    resolved = pretrained.resolve(model, progress=False)
    if resolved.card is None:
        raise ValueError(f"{str(model)!r} has no model card (channels, roles); save it with save_pretrained first.")
    card, architecture = resolved.card, pretrained.describe(model)["architecture"]
    network = build_inpainting_model(architecture, seed=0)
    pretrained.load_weights_into(network, resolved)
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{str(path)!r} exists; pass overwrite=True to replace it.")
    if path.exists() and not (path.is_dir() and (path / RDF_FILE).is_file() or path.suffix.lower() == ".zip"):
        raise FileExistsError(f"{str(path)!r} exists and is not a bioimage.io package; overwrite replaces only a "
                              "package folder or .zip.")
    with tempfile.TemporaryDirectory(prefix="skpci-bioimageio-") as scratch:
        folder = Path(scratch) / "package"
        folder.mkdir()
        _write_package(folder, network, card, architecture, authors=authors, license=license,
                       name=name or card.get("name") or "skpci paired cell inpainting model",
                       description=description or _description(card), test_crops=test_crops)
        summary = spec.load_description(folder / RDF_FILE, perform_io_checks=True).validation_summary
        if summary.status == "failed":
            errors = [f"  {'.'.join(map(str, error.loc))}: {error.msg}" for detail in summary.details
                      for error in detail.errors]
            raise ValueError("bioimage.io validation failed; nothing was written:\n" + "\n".join(errors))
        if path.suffix.lower() == ".zip":
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_file(path) as temporary:
                with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
                    for file in sorted(folder.iterdir()):
                        archive.write(file, file.name)
        else:
            with atomic_directory(path, overwrite=overwrite) as staging:
                for file in folder.iterdir():
                    shutil.copy2(file, staging / file.name)
    return path


def read_package_card(path):
    """The skpci model card and weights file of a bioimage.io package (folder, zip or rdf file), or None.

    A zip is unpacked once into the cache, next to fetched weights.
    """
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".zip" and zipfile.is_zipfile(path):
        path = _unpacked(path)
    if path.is_file() and path.name.endswith((".yaml", ".yml")):
        rdf, folder = path, path.parent
    elif path.is_dir() and (path / RDF_FILE).is_file():
        rdf, folder = path / RDF_FILE, path
    else:
        return None
    yaml = require("yaml", "bioimageio")
    description = yaml.safe_load(rdf.read_text(encoding="utf-8"))
    if not isinstance(description, dict) or description.get("type") != "model":
        return None
    card = ((description.get("config") or {}).get("skpci") or {}).get("card")
    weights = (description.get("weights") or {}).get("keras_v3") or {}
    source = weights.get("source")
    if not isinstance(card, dict) or not isinstance(source, str):
        return None
    file = folder / source
    if file.resolve().parent != folder.resolve():
        raise ValueError(f"The package {str(path)!r} names weights {source!r} outside its folder.")
    expected = weights.get("sha256")
    if expected and sha256_of(file) != expected:
        raise ValueError(f"The weights {str(file)!r} do not match the package's checksum: corrupt or changed.")
    return card, file


def _write_package(folder, network, card, architecture, *, authors, license, name, description, test_crops):
    import keras

    from .. import __version__
    from ..network import predict
    from ..preprocessing import minmax_scale_crops, resize_crops

    network.save(folder / KERAS_FILE)
    channels = card["channels"]
    names = channels.get("names") or [f"channel{index}" for index in range(channels["n_channels_in"])]
    order = list(channels["protein_channels"]) + list(channels["marker_channels"])
    n_protein = architecture.n_protein_channels
    size = architecture.input_size
    crops = _test_crops(test_crops, size, len(names))
    raw = resize_crops(crops[..., order], size).astype(np.float32)  # what a user feeds; rdf preprocessing scales
    source_raw, target_raw = raw[:1], raw[1:2, ..., n_protein:]
    scaled = minmax_scale_crops(raw)
    output = predict(network, {"x_in": scaled[:1], "y_rfp": scaled[1:2, ..., n_protein:]}, batch_size=1)
    import tifffile

    for tensor, values in (("x_in", source_raw), ("y_rfp", target_raw), ("y_gfp", output)):
        np.save(folder / f"test_{tensor}.npy", values.astype(np.float32))
        tifffile.imwrite(folder / f"sample_{tensor}.tif", np.moveaxis(values[0], -1, 0).astype(np.float32),
                         photometric="minisblack")
    ordered = [names[index] for index in order]
    _cover(folder / "cover.png", scaled[0], scaled[1], output[0], n_protein)
    (folder / "README.md").write_text(_readme(name, ordered, n_protein, architecture, card), encoding="utf-8")

    def axes(channel_names):
        return [{"type": "batch"},
                {"type": "space", "id": "y", "size": size},
                {"type": "space", "id": "x", "size": size},
                {"type": "channel", "channel_names": [_identifier(n) for n in channel_names]}]

    # Per sample and channel (reduced over y and x only): skpci's per-crop, per-channel min-max scaling.
    scale_range = {"id": "scale_range", "kwargs": {"axes": ["y", "x"], "min_percentile": 0.0, "max_percentile": 100.0}}
    backend = keras.config.backend()
    rdf = {
        "format_version": "0.5.4",
        "type": "model",
        "name": name,
        "description": description,
        "authors": authors,
        "cite": [PAPER],
        "license": license,
        "tags": ["paired-cell-inpainting", "self-supervised", "fluorescence-light-microscopy", "single-cell",
                 "2d", "skpci", "keras"],
        "documentation": "README.md",
        "covers": ["cover.png"],
        "inputs": [
            {"id": "x_in", "description": "all channels of the source cell, protein first: " + ", ".join(ordered),
             "axes": axes(ordered), **_tensors(folder, "x_in"),
             "data": {"type": "float32"}, "preprocessing": [scale_range]},
            {"id": "y_rfp", "description": "the marker channels of another cell of the same image: "
                                           + ", ".join(ordered[n_protein:]),
             "axes": axes(ordered[n_protein:]), **_tensors(folder, "y_rfp"),
             "data": {"type": "float32"}, "preprocessing": [scale_range]},
        ],
        "outputs": [
            {"id": "y_gfp", "description": "the predicted protein channels of that cell: "
                                           + ", ".join(ordered[:n_protein]),
             "axes": axes(ordered[:n_protein]), **_tensors(folder, "y_gfp"),
             "data": {"type": "float32"}},
        ],
        "weights": {"keras_v3": {"source": KERAS_FILE, "sha256": sha256_of(folder / KERAS_FILE),
                                 "keras_version": keras.__version__,
                                 "backend": [backend, _backend_version(backend)]}},
        "config": {
            # Float32 runs on other backends and devices agree to about 1e-6 relative (skpci's backend checks).
            "bioimageio": {"reproducibility_tolerance": [{
                "relative_tolerance": 1e-3, "absolute_tolerance": float(5e-3 * max(np.abs(output).max(), 1e-6)),
                "mismatched_elements_per_million": 100}]},
            "skpci": {"version": __version__, "card": json.loads(json.dumps(card)),
                      "features": "global max pool of a source-encoder convolution's ReLU output "
                                  "(conv3_1, conv4_1 work best); use skpci to extract them"}},
    }
    yaml = require("yaml", "bioimageio")
    (folder / RDF_FILE).write_text(yaml.safe_dump(rdf, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _tensors(folder, tensor):
    return {"test_tensor": {"source": f"test_{tensor}.npy", "sha256": sha256_of(folder / f"test_{tensor}.npy")},
            "sample_tensor": {"source": f"sample_{tensor}.tif", "sha256": sha256_of(folder / f"sample_{tensor}.tif")}}


def _test_crops(test_crops, size, n_channels):
    if test_crops is not None:
        crops = np.asarray(test_crops, dtype=np.float32)
        if crops.ndim != 4 or len(crops) < 2 or crops.shape[-1] != n_channels:
            raise ValueError(f"test_crops must be two crops of shape (h, w, {n_channels}), got {crops.shape}.")
        return crops[:2]
    from ..datasets import make_cell_crops

    data = make_cell_crops(n_images=1, image_size=max(96, 3 * size), cell_radius=size / 6, crop_size=size,
                           random_state=0)
    cells = data.bags[0][:2]
    # Synthetic cells have 3 channels (protein, nucleus, cytosol); repeat or cut them to the model's channels.
    picked = [cells[..., min(index, cells.shape[-1] - 1)] for index in range(n_channels)]
    return np.stack(picked, axis=-1).astype(np.float32)


def _cover(path, source, target, prediction, n_protein):
    """A 2:1 cover: the source cell and, beside it, the target's markers with the predicted protein."""
    import imageio.v3 as iio

    def rgb(protein, markers):
        image = np.zeros(protein.shape[:2] + (3,), np.float32)
        image[..., 1] = protein
        image[..., 2] = markers[..., 0] if markers.shape[-1] else 0
        image[..., 0] = markers[..., 1] if markers.shape[-1] > 1 else 0
        return image

    left = rgb(source[..., 0], source[..., n_protein:])
    right = rgb(prediction[..., 0], target[..., n_protein:])
    cover = np.concatenate([left, right], axis=1)
    scale = max(1, 256 // cover.shape[0])
    cover = np.repeat(np.repeat(cover, scale, axis=0), scale, axis=1)
    iio.imwrite(path, (np.clip(cover, 0, 1) * 255).astype(np.uint8), extension=".png")


def _readme(name, ordered, n_protein, architecture, card):
    training = card.get("training") or {}
    return f"""# {name}

A paired cell inpainting network (Lu, Kraus, Cooper & Moses, PLOS Comput Biol 2019), exported by
[skpci](https://github.com/skpci/skpci).

Given all channels of a source cell (`x_in`: {", ".join(ordered)}) and the marker channels of another
cell of the same image (`y_rfp`: {", ".join(ordered[n_protein:])}), it predicts that cell's protein
channels (`y_gfp`: {", ".join(ordered[:n_protein])}). Inputs are {architecture.input_size} x
{architecture.input_size} px crops centred on one cell, each channel min-max scaled to [0, 1] per crop.

The point of the network is its source encoder: the global maximum of a convolution's ReLU output
(conv3_1 or conv4_1 work best) is a single-cell feature vector of the protein's localization. Extract
features with skpci:

```python
from skpci import PairedInpaintingFeaturizer
featurizer = PairedInpaintingFeaturizer.from_pretrained("path/to/this/package").fit(crops)
features = featurizer.transform(crops)
```

## Training

{training.get("epochs", "?")} epochs on {training.get("data", "data not described")}: Adam, mean squared error of
the predicted protein channels.

## Validation

The test tensors (`test_*.npy`) are one input pair and the network's output for it, computed by skpci at
export. The features' quality is measured by skpci's benchmarks (kNN classification of localization per
held-out image, against hand-crafted features); see skpci's documentation.

Cite: {PAPER["text"]} doi:{PAPER["doi"]}
"""


def _description(card):
    names = card["channels"].get("names")
    return ("Paired cell inpainting (Lu et al. 2019): predicts a cell's protein channel from its markers and "
            "another cell of the same image; its encoder gives single-cell features"
            + (f" (channels {', '.join(names)})." if names else "."))


def _identifier(name):
    """A bioimage.io channel name (letters, digits, - and _)."""
    cleaned = "".join(character if character.isalnum() or character in "-_" else "_" for character in str(name))
    return cleaned or "channel"


def _backend_version(backend):
    import importlib.metadata

    package = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend]
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "0"


def _unpacked(archive):
    """Unpack a package zip once into the cache (keyed by its checksum); return the folder."""
    from ..pretrained import cache_dir

    folder = cache_dir() / "bioimageio" / sha256_of(archive)[:16]
    if not (folder / RDF_FILE).is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        with atomic_directory(folder, overwrite=True) as staging:
            with zipfile.ZipFile(archive) as zipped:
                for member in zipped.infolist():
                    target = (staging / member.filename).resolve()
                    if target.parent != staging.resolve() or member.is_dir():
                        raise ValueError(f"The package {str(archive)!r} holds {member.filename!r}, outside a "
                                         "flat package: refused.")
                    with zipped.open(member) as source, open(target, "wb") as out:
                        shutil.copyfileobj(source, out)
    return folder
