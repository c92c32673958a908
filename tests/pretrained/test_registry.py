"""Registered models: the bundled one, after a regular install too."""

import subprocess
import sys
from pathlib import Path

import pytest

from skpci import pretrained
from skpci.channels import match_channels


def test_bundled_model_card_matches_the_demo_layout():
    info = pretrained.describe("synthetic-32")
    assert info["architecture"].to_dict() == {"n_protein_channels": 1, "n_marker_channels": 2, "input_size": 32}
    assert info["marker_channels"] == (1, 2)


@pytest.mark.slow
def test_bundled_model_loads_after_a_regular_install_outside_the_source_tree(tmp_path):
    root = Path(__file__).resolve().parents[2]
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(root)],
        capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr
    assert (target / "skpci" / "_models" / "synthetic-32" / "model_card.json").is_file()
    script = ("import skpci, numpy as np; from skpci import PairedInpaintingFeaturizer as F;"
              "f = F.from_pretrained('synthetic-32').fit(np.random.rand(4, 32, 32, 3), groups=[0, 0, 1, 1]);"
              "print(skpci.__file__); print(f.transform(np.random.rand(2, 32, 32, 3)).shape)")
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300, env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin",
                                           "TF_CPP_MIN_LOG_LEVEL": "3", "HOME": str(tmp_path)})
    assert run.returncode == 0, run.stderr[-3000:]
    installed_from, shape = run.stdout.strip().splitlines()[-2:]
    assert installed_from.startswith(str(target))
    assert shape == "(2, 384)"


@pytest.mark.parametrize("name, channels", [
    ("lu2019-yeast", ("gfp", "rfp")),
    ("lu2019-human", ("green", "blue", "red")),
    ("lu2019-human-filtered", ("green", "blue", "red")),
    ("synthetic-32", ("protein", "nucleus", "cytosol")),
])
def test_registered_models_name_their_channels_without_fetching(name, channels, monkeypatch, tmp_path):
    monkeypatch.setenv("SKPCI_CACHE_DIR", str(tmp_path))  # an empty cache: nothing is downloaded
    info = pretrained.describe(name)
    assert info["channel_names"] == channels and info["n_channels_in"] == len(channels)
    # An HPA store segmented as blue, green, red, yellow feeds the human model by name
    if channels[0] == "green":
        order = match_channels(info["protein_channels"] + info["marker_channels"], model_names=channels,
                               n_model=3, data_names=("blue", "green", "red", "yellow"), n_data=4)
        assert order == (1, 0, 2)
    assert not any(tmp_path.iterdir())
