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
