"""Model cards that are broken or hostile are refused with PretrainedModelError, before anything is read."""

import json
import shutil

import pytest

from skpci import pretrained
from skpci.pretrained import PretrainedModelError


def _with_card(tmp_path, edit):
    folder = tmp_path / "model"
    shutil.copytree(pretrained._registry.bundled_model_path("synthetic-32"), folder)
    card = json.loads((folder / "model_card.json").read_text())
    card = edit(card)
    (folder / "model_card.json").write_text(card if isinstance(card, str) else json.dumps(card))
    return folder


@pytest.mark.parametrize("edit, message", [
    (lambda c: {**c, "weights": {**c["weights"], "file": "../elsewhere/x.weights.h5"}}, "outside its directory"),
    (lambda c: {**c, "weights": {**c["weights"], "file": "/etc/passwd"}}, "outside its directory"),
    (lambda c: {**c, "weights": ["x"]}, "outside its directory"),
    (lambda c: {k: v for k, v in c.items() if k != "channels"}, "malformed \\(no entry 'channels'\\)"),
    (lambda c: {**c, "channels": {**c["channels"], "protein_channels": ["a"]}}, "malformed"),
    (lambda c: {**c, "architecture": {**c["architecture"], "input_size": 2**20}}, "input_size=1048576 is out"),
    (lambda c: {**c, "architecture": {**c["architecture"], "input_size": 30}}, "positive multiple of 4"),
    (lambda c: {**c, "architecture": [1, 2, 32]}, "malformed"),
    (lambda c: '{"a":' * 200_000 + "1" + "}" * 200_000, "Cannot read the model card"),
    (lambda c: [c], "not an skpci model card"),
])
def test_broken_or_hostile_cards_are_refused(tmp_path, edit, message):
    folder = _with_card(tmp_path, edit)
    with pytest.raises(PretrainedModelError, match=message):
        pretrained.resolve(folder)
    with pytest.raises(PretrainedModelError, match=message):
        pretrained.describe(folder)


def test_an_intact_copy_still_resolves(tmp_path):
    resolved = pretrained.resolve(_with_card(tmp_path, lambda card: card))
    assert resolved.kind == "directory" and resolved.path.name == "model.weights.h5"


def _keras2_file_with_a_huge_dataset(path, layer):
    """A small legacy file whose ``layer`` holds a (32768, 32768) float32 dataset: 4 GiB once read, ~KB on disk."""
    import h5py

    from .keras2_files import random_model, write_keras2_file

    def as_bytes(names):
        return [name if isinstance(name, bytes) else str(name).encode() for name in names]

    write_keras2_file(path, random_model(seed=0))
    with h5py.File(path, "a") as file:
        group = file["model_weights"]
        if layer not in group:
            group.attrs["layer_names"] = [*as_bytes(group.attrs["layer_names"]), layer.encode()]
            group.create_group(layer).create_group(layer)
        group[layer][layer].create_dataset("huge:0", shape=(32768, 32768), dtype="float32", chunks=(1024, 1024),
                                           compression="gzip")
        group[layer].attrs["weight_names"] = [*as_bytes(group[layer].attrs.get("weight_names", [])),
                                              f"{layer}/huge:0".encode()]
    return path


def test_an_extra_huge_dataset_in_a_legacy_file_is_never_read(tmp_path):
    import subprocess
    import sys

    path = _keras2_file_with_a_huge_dataset(tmp_path / "model.h5", "lambda_1")
    script = ("import resource, sys; from skpci import pretrained; info = pretrained.describe(sys.argv[1]); "
              "print(info['architecture'].n_marker_channels, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    n_marker, peak_kib = map(int, result.stdout.split())
    assert n_marker == 1
    assert peak_kib < 3.5 * 2**20  # the 4 GiB dataset, read, would add to the ~2 GiB of importing Keras


def test_a_huge_dataset_among_a_layers_weights_is_refused(tmp_path):
    path = _keras2_file_with_a_huge_dataset(tmp_path / "model.h5", "conv1_1")
    with pytest.raises(PretrainedModelError, match=r"has shape \(32768, 32768\), not a weight"):
        pretrained.describe(path)
