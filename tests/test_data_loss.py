"""Writes that would destroy data, or fail late, are refused up front."""

import numpy as np
import pytest

from skpci import CropStore, PairedInpaintingFeaturizer

from .conftest import FAST


def test_save_pretrained_overwrites_only_a_model_directory(tmp_path, fitted_featurizer):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "table.csv").write_text("keep me")
    (tmp_path / "file.txt").write_text("keep me too")
    for target in ("results", "file.txt"):
        with pytest.raises(FileExistsError, match="not a model directory"):
            fitted_featurizer.save_pretrained(tmp_path / target, overwrite=True)
    assert (tmp_path / "results" / "table.csv").read_text() == "keep me"
    assert (tmp_path / "file.txt").read_text() == "keep me too"
    model = fitted_featurizer.save_pretrained(tmp_path / "model")
    assert fitted_featurizer.save_pretrained(model, overwrite=True) == model


def test_a_checkpoint_dir_that_cannot_be_made_fails_before_training(tmp_path, synthetic_crops):
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(ValueError, match="cannot be written"):
        PairedInpaintingFeaturizer(epochs=1, checkpoint_dir=tmp_path / "notes.txt" / "run", **FAST).fit(
            synthetic_crops.bags)


def test_a_checkpoint_dir_that_is_a_file_fails_before_training(tmp_path, synthetic_crops, monkeypatch):
    (tmp_path / "run").write_text("")
    trained = []
    monkeypatch.setattr("skpci.featurizer._estimator.train_weights", lambda *a, **k: trained.append(1))
    with pytest.raises(ValueError, match="is a file, not a folder"):
        PairedInpaintingFeaturizer(epochs=1, checkpoint_dir=tmp_path / "run", **FAST).fit(synthetic_crops.bags)
    assert not trained


def test_a_killed_single_file_from_bags_does_not_block_the_retry(tmp_path, synthetic_crops):
    staging = CropStore.create(tmp_path / "crops.h5.staging")  # what a kill mid-write leaves
    (staging.path / ".shard-000000.h5.abc.part").write_bytes(b"half a shard")
    store = CropStore.from_bags(tmp_path / "crops.h5", synthetic_crops.bags[:2])
    assert len(store) == sum(map(len, synthetic_crops.bags[:2]))
    assert not (tmp_path / "crops.h5.staging").exists()
    foreign = CropStore.create(tmp_path / "other.h5.staging")
    (foreign.path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="did not write"):
        CropStore.from_bags(tmp_path / "other.h5", synthetic_crops.bags[:1])
    assert (foreign.path / "notes.txt").exists()
    np.testing.assert_array_equal(store.read(0, 3), synthetic_crops.bags[0][:3])


@pytest.mark.parametrize("make", ["featurizer", "segmenter"])
def test_an_estimator_pickled_under_other_versions_warns_when_loaded(make, fitted_featurizer):
    import pickle
    import warnings

    from skpci import CellSegmenter
    from skpci._versions import InconsistentVersionWarning

    estimator = fitted_featurizer if make == "featurizer" else CellSegmenter(nuclear_channel=1).fit([])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = pickle.loads(pickle.dumps(estimator))  # same versions: silent
    assert again.get_params() == estimator.get_params()
    state = estimator.__getstate__()
    assert set(state["_skpci_versions"]) == ({"skpci", "keras"} if make == "featurizer" else {"skpci"})
    state["_skpci_versions"]["skpci"] = "0.0.1"
    restored = type(estimator).__new__(type(estimator))
    with pytest.warns(InconsistentVersionWarning, match=r"skpci 0\.0\.1 \(now 0\.1\.0\)") as record:
        restored.__setstate__(state)
    assert record[0].message.recorded["skpci"] == "0.0.1"
    assert "_skpci_versions" not in restored.__dict__


def ended_process_tag():
    """The ``host-pid`` tag of a process that has ended, as temporaries of a killed write carry it."""
    import subprocess
    import sys

    from skpci._files import _owner_tag

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return f"{_owner_tag().rpartition('-')[0]}-{child.pid}"


def test_the_next_write_removes_what_killed_writes_left(tmp_path):
    import pandas as pd

    from skpci._files import _owner_tag, write_table

    dead, alive = ended_process_tag(), _owner_tag()
    (tmp_path / f".table.csv.{dead}.k1l2e3d4.part").write_text("half a table")
    (tmp_path / f".table.csv.{alive}.busy1234.part").write_text("another write, still running")
    (tmp_path / f".other.csv.{dead}.k1l2e3d4.part").write_text("not this target's")
    write_table(pd.DataFrame({"a": [1, 2]}), tmp_path / "table.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["table.csv", f".table.csv.{alive}.busy1234.part", f".other.csv.{dead}.k1l2e3d4.part"])


def test_a_model_moved_aside_by_a_killed_overwrite_is_put_back(tmp_path, fitted_featurizer, synthetic_crops):
    import os

    model = fitted_featurizer.save_pretrained(tmp_path / "model")
    expected = fitted_featurizer.transform(synthetic_crops.cells[:5])
    # The state a kill between the two renames of save_pretrained(overwrite=True) leaves behind.
    tag = ended_process_tag()
    retired = tmp_path / f".model.{tag}.old.a1b2c3d4"
    retired.mkdir()
    os.replace(model, retired / "model")
    (tmp_path / f".model.{tag}.staging.e5f6g7h8").mkdir()
    loaded = PairedInpaintingFeaturizer.from_pretrained(tmp_path / "model").fit(synthetic_crops.cells[:5])
    np.testing.assert_allclose(loaded.transform(synthetic_crops.cells[:5]), expected, rtol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
