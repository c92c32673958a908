"""The network code is backend-neutral: the same estimator runs on JAX and PyTorch.

Keras reads KERAS_BACKEND once at import, so each backend runs in its own
subprocess. A backend that is not installed is skipped.
"""

import importlib.util
import os
import subprocess
import sys

import pytest

SCRIPT = """
import numpy as np, keras, pickle
from skpci import PairedInpaintingFeaturizer
from skpci.datasets import make_cell_crops
assert keras.config.backend() == "{backend}", keras.config.backend()
data = make_cell_crops(6, image_size=128, cell_radius=8, crop_size=32, random_state=0)
params = dict(marker_channels=(1, 2), input_size=16, epochs=2, batch_size=16, random_state=0)
first = PairedInpaintingFeaturizer(**params).fit(data.bags)
features = first.transform(data.cells)
again = PairedInpaintingFeaturizer(**params).fit(data.bags)
assert features.shape == (len(data.cells), 384) and np.isfinite(features).all()
assert np.array_equal(again.transform(data.cells), features)
assert np.array_equal(pickle.loads(pickle.dumps(first)).transform(data.cells), features)
assert first.history_["loss"][1] < first.history_["loss"][0]
print("ok", first.history_["loss"])
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_featurizer_trains_reproducibly_on_other_backends(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    env = dict(os.environ, KERAS_BACKEND=backend)
    result = subprocess.run([sys.executable, "-c", SCRIPT.format(backend=backend)], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("ok")
