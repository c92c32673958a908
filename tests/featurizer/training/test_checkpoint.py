"""Long runs survive faults: checkpoints, resume after a kill, Ctrl-C, diverging losses."""

import _thread
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from skpci import PairedInpaintingFeaturizer
from skpci.featurizer.training import Checkpoint

from ...conftest import FAST, assert_same_features, assert_same_losses, assert_same_training

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


def _interrupt_after_first_checkpoint(checkpoint_dir, delay):
    """From another thread: once epoch 1 is saved, wait ``delay`` seconds, then press Ctrl-C."""
    pressed = {}

    def press():
        checkpoint = Checkpoint(checkpoint_dir, fingerprint=None)
        deadline = time.monotonic() + 120
        while checkpoint.read_state() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(delay)
        pressed["at"] = time.monotonic()
        _thread.interrupt_main()

    thread = threading.Thread(target=press, daemon=True)
    thread.start()
    return thread, pressed


LARGE_CHILD = textwrap.dedent("""
    import _thread, sys, threading, time, warnings
    import numpy as np
    from skpci import PairedInpaintingFeaturizer
    n, delay = int(sys.argv[1]), float(sys.argv[2])
    # Over the 256 MiB a data set may take once scaled, so batches are scaled as they are read.
    crops = np.random.default_rng(0).integers(0, 255, (n, 64, 64, 3), dtype=np.uint8)
    featurizer = PairedInpaintingFeaturizer(marker_channels=(1, 2), epochs=1, random_state=0)
    threading.Timer(delay, _thread.interrupt_main).start()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        featurizer.fit(crops, groups=np.arange(n) // 50)
    print("INTERRUPTED", any("interrupted after 0 of 1" in str(w.message) for w in caught), flush=True)
""")


@pytest.mark.slow  # two training subprocesses, about 70 s
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
    assert_same_training(resumed.transform(synthetic_crops.cells), uninterrupted.transform(synthetic_crops.cells))
    assert_same_losses(resumed.history_["loss"], uninterrupted.history_["loss"], rtol=1e-6)


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
    assert_same_features(again.transform(synthetic_crops.cells[:4]), first.transform(synthetic_crops.cells[:4]))


def test_diverging_loss_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint(synthetic_crops, tmp_path):
    featurizer = PairedInpaintingFeaturizer(epochs=6, learning_rate=1e12, random_state=0,
                                            checkpoint_dir=str(tmp_path), **FAST)
    with pytest.raises(FloatingPointError, match="Training diverged.*last good state"):
        featurizer.fit(synthetic_crops.bags)
    state = Checkpoint(tmp_path, None).read_state()
    if state is not None:
        assert np.isfinite(state["losses"]).all()


@pytest.mark.parametrize("delay", [0.0, 0.41])
def test_ctrl_c_at_any_moment_of_training_stops_at_the_next_batch(synthetic_crops, tmp_path, delay):
    # Right after a checkpoint is written (while the next epoch's pairs are drawn), and
    # somewhere inside a later epoch. The slow test below covers a full-size epoch.
    featurizer = PairedInpaintingFeaturizer(epochs=300, random_state=0, checkpoint_dir=str(tmp_path), **FAST)
    thread, pressed = _interrupt_after_first_checkpoint(tmp_path, delay)
    with pytest.warns(UserWarning, match=r"Training interrupted after \d+ of 300 epochs"):
        featurizer.fit(synthetic_crops.bags)
    returned = time.monotonic()
    thread.join()
    assert returned - pressed["at"] < 20, "training went on long after Ctrl-C"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    saved = Checkpoint(tmp_path, None)
    completed = len(featurizer.history_["loss"])
    assert 1 <= completed == saved.read_state()["epoch"] < 300
    with np.load(saved.path) as checkpoint:
        for index, weight in enumerate(featurizer.model_.get_weights()):
            np.testing.assert_array_equal(weight, checkpoint[f"weight_{index}"])
    assert np.isfinite(featurizer.transform(synthetic_crops.cells[:3])).all()


@pytest.mark.slow
@pytest.mark.parametrize("delay", [9.0, 17.0, 26.0])
def test_ctrl_c_in_a_long_epoch_stops_and_the_process_exits(delay):
    # A full-size epoch (30,000 cells at 64 px), cut short at different moments: the fit must
    # return and the interpreter exit promptly, with no reading thread left to hang it.
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    start = time.monotonic()
    child = subprocess.run([sys.executable, "-c", LARGE_CHILD, "30000", str(delay)], env=env,
                           capture_output=True, text=True, timeout=delay + 180)
    took = time.monotonic() - start
    assert child.returncode == 0, child.stderr[-2000:]
    assert "INTERRUPTED True" in child.stdout
    assert took < delay + 90, f"the child needed {took:.0f} s to stop and exit"


def test_ctrl_c_before_the_first_epoch_completes_keeps_the_initial_weights(synthetic_crops, monkeypatch):
    from skpci.featurizer.training import PairBatches

    calls = []
    original = PairBatches.set_epoch

    def interrupted_at_epoch_start(self, epoch):
        calls.append(epoch)
        if len(calls) == 2:  # the first set_epoch runs when the batches are made; the second starts epoch 0
            raise KeyboardInterrupt
        return original(self, epoch)

    monkeypatch.setattr(PairBatches, "set_epoch", interrupted_at_epoch_start)
    untrained = PairedInpaintingFeaturizer(epochs=0, random_state=0, **FAST).fit(synthetic_crops.bags)
    with pytest.warns(UserWarning, match="interrupted after 0 of 3 epochs"):
        featurizer = PairedInpaintingFeaturizer(epochs=3, random_state=0, **FAST).fit(synthetic_crops.bags)
    assert featurizer.history_["loss"] == []
    for kept, initial in zip(featurizer.model_.get_weights(), untrained.model_.get_weights()):
        np.testing.assert_array_equal(kept, initial)
