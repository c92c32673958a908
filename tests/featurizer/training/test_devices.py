"""devices=: data-parallel training on several (logical) devices, and its errors."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from skpci import CropStore, PairedInpaintingFeaturizer

from ...conftest import FAST


def _run_with_two_devices(backend, tmp_path, synthetic_crops):
    store = CropStore.from_bags(tmp_path / "store", synthetic_crops.bags)
    script = textwrap.dedent(f"""
        import json, os, sys
        if os.environ["KERAS_BACKEND"] == "tensorflow":
            import tensorflow as tf
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from skpci import CropStore, PairedInpaintingFeaturizer
        store = CropStore(sys.argv[1])
        results = {{}}
        for devices in (None, "all"):
            featurizer = PairedInpaintingFeaturizer(epochs=2, random_state=0, devices=devices,
                                                    **{FAST!r}).fit(store)
            results[str(devices)] = {{"n_devices": featurizer.n_devices_, "loss": featurizer.history_["loss"]}}
        print(json.dumps(results))
    """)
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    result = subprocess.run([sys.executable, "-c", script, str(store.path)], capture_output=True, text=True,
                            env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_training_on_two_logical_devices_tracks_one_device(backend, tmp_path, synthetic_crops):
    if backend == "jax":
        pytest.importorskip("jax")
    results = _run_with_two_devices(backend, tmp_path, synthetic_crops)
    single, double = results["None"], results["all"]
    assert single["n_devices"] == 1 and double["n_devices"] == 2
    single_loss, double_loss = np.array(single["loss"]), np.array(double["loss"])
    assert double_loss[-1] < double_loss[0]  # it learns
    # BatchNorm sees half batches per device, so losses track rather than match.
    np.testing.assert_allclose(double_loss, single_loss, rtol=0.25)
    assert not np.array_equal(double_loss, single_loss)


def test_devices_beyond_what_the_backend_sees_are_refused(synthetic_crops):
    featurizer = PairedInpaintingFeaturizer(epochs=1, devices=64, **FAST)
    with pytest.raises(ValueError, match="sees only"):
        featurizer.fit(synthetic_crops.bags)
    with pytest.raises(ValueError, match="devices must be"):
        PairedInpaintingFeaturizer(epochs=1, devices="gpu0", **FAST).fit(synthetic_crops.bags)
