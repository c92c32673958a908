"""Long runs survive faults: checkpoints, resume after a kill, Ctrl-C, diverging losses."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from skpci import PairedInpaintingFeaturizer
from skpci._training import Checkpoint

from .conftest import FAST

CHILD = textwrap.dedent("""
    import sys, warnings
    import numpy as np
    from skpci import PairedInpaintingFeaturizer
    from skpci.datasets import make_cell_crops
    data = make_cell_crops(n_images=14, image_size=128, cell_radius=8, crop_size=32, random_state=0)
    featurizer = PairedInpaintingFeaturizer(marker_channels=(1, 2), input_size=16, batch_size=16,
                                            epochs=int(sys.argv[2]), random_state=0, checkpoint_dir=sys.argv[1])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        featurizer.fit(data.bags)
    print("WARNINGS", [str(w.message) for w in caught if "interrupted" in str(w.message)])
    print("EPOCHS", len(featurizer.history_["loss"]))
    print("FEATURES", featurizer.transform(data.cells[:3]).shape)
""")


def _start_child(checkpoint_dir, epochs):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen([sys.executable, "-c", CHILD, str(checkpoint_dir), str(epochs)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_epoch(checkpoint_dir, epoch, child, timeout=300):
    checkpoint = Checkpoint(checkpoint_dir, fingerprint=None)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = checkpoint.read_state()
        if state is not None and state["epoch"] >= epoch:
            return state["epoch"]
        if child.poll() is not None:
            raise AssertionError(f"child ended early: {child.stderr.read()[-2000:]}")
        time.sleep(0.05)
    raise AssertionError("no checkpoint appeared in time")


def test_killed_training_resumes_and_ends_like_an_uninterrupted_run(synthetic_crops, tmp_path):
    epochs = 6
    child = _start_child(tmp_path, epochs)
    reached = _wait_for_epoch(tmp_path, 2, child)
    child.kill()
    child.wait()
    saved = Checkpoint(tmp_path, None).read_state()["epoch"]
    assert 2 <= reached <= saved < epochs, "the child finished before it could be killed"

    params = dict(epochs=epochs, random_state=0, **FAST)
    resumed = PairedInpaintingFeaturizer(checkpoint_dir=str(tmp_path), **params).fit(synthetic_crops.bags)
    assert resumed.resumed_from_epoch_ == saved
    assert len(resumed.history_["loss"]) == epochs
    uninterrupted = PairedInpaintingFeaturizer(**params).fit(synthetic_crops.bags)
    np.testing.assert_array_equal(resumed.transform(synthetic_crops.cells),
                                  uninterrupted.transform(synthetic_crops.cells))
    np.testing.assert_allclose(resumed.history_["loss"], uninterrupted.history_["loss"], rtol=1e-6)


def test_ctrl_c_leaves_a_usable_featurizer_with_the_last_completed_epoch(tmp_path):
    child = _start_child(tmp_path, 200)
    _wait_for_epoch(tmp_path, 1, child)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0, err[-2000:]
    completed = int(out.split("EPOCHS")[1].split()[0])
    assert 1 <= completed < 200
    assert "usable; fit again with the same checkpoint_dir to resume" in out
    assert "FEATURES (3, 384)" in out


def test_a_checkpoint_of_another_run_is_refused(synthetic_crops, tmp_path):
    PairedInpaintingFeaturizer(epochs=1, random_state=0, checkpoint_dir=str(tmp_path), **FAST).fit(
        synthetic_crops.bags[:4])
    with pytest.raises(ValueError, match="checkpoint of a different training run"):
        PairedInpaintingFeaturizer(epochs=2, random_state=1, checkpoint_dir=str(tmp_path), **FAST).fit(
            synthetic_crops.bags[:4])


def test_a_finished_run_is_not_trained_again(synthetic_crops, tmp_path):
    params = dict(epochs=1, random_state=0, checkpoint_dir=str(tmp_path), **FAST)
    first = PairedInpaintingFeaturizer(**params).fit(synthetic_crops.bags[:4])
    again = PairedInpaintingFeaturizer(**params).fit(synthetic_crops.bags[:4])
    assert again.resumed_from_epoch_ == 1 and again.history_ == first.history_
    np.testing.assert_array_equal(again.transform(synthetic_crops.cells[:4]),
                                  first.transform(synthetic_crops.cells[:4]))


def test_diverging_loss_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint(synthetic_crops, tmp_path):
    featurizer = PairedInpaintingFeaturizer(epochs=6, learning_rate=1e12, random_state=0,
                                            checkpoint_dir=str(tmp_path), **FAST)
    with pytest.raises(FloatingPointError, match="Training diverged.*last good state"):
        featurizer.fit(synthetic_crops.bags)
    state = Checkpoint(tmp_path, None).read_state()
    if state is not None:
        assert np.isfinite(state["losses"]).all()
