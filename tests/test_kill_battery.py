"""Writers killed at random moments leave every output whole or absent, and a rerun finishes the same.

Each writing operation runs in a subprocess that repeats it until it is
killed (SIGKILL, no cleanup) at 5 random moments. After each kill the output
must read back complete (or be absent where nothing finished yet), and a
rerun must clean up what the kill left and give the same output as an
uninterrupted run.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from skpci import CropStore, PairedInpaintingFeaturizer
from skpci.datasets import make_cell_crops

pytestmark = pytest.mark.slow
KILLS = 5


def run_until_killed(script, *args, seed):
    """Start ``script``, wait until it prints "ready", let it work a random while, then SIGKILL it."""
    process = subprocess.Popen([sys.executable, "-c", script, *map(str, args)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready", process.stderr.read()
    time.sleep(np.random.default_rng(seed).uniform(0.0, 1.5))
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def read_h5_features(path):
    import h5py

    with h5py.File(path, "r") as handle:
        return pd.DataFrame(handle["features"][:])


def crops():
    return make_cell_crops(n_images=4, image_size=96, cell_radius=8, crop_size=32, random_state=0)


FEATURES = textwrap.dedent("""
    import sys
    from skpci import PairedInpaintingFeaturizer
    from skpci.datasets import make_cell_crops
    cells = make_cell_crops(n_images=4, image_size=96, cell_radius=8, crop_size=32, random_state=0).cells
    featurizer = PairedInpaintingFeaturizer.from_pretrained("synthetic-32").fit(cells)
    print("ready", flush=True)
    while True:
        featurizer.write_features(cells, sys.argv[1], overwrite=True)
""")


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".h5"])
def test_killed_feature_writes_leave_a_whole_table_or_none(tmp_path, suffix):
    cells = crops().cells
    featurizer = PairedInpaintingFeaturizer.from_pretrained("synthetic-32").fit(cells)
    expected = featurizer.write_features(cells, tmp_path / f"expected{suffix}")
    reader = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".h5": read_h5_features}[suffix]
    target = tmp_path / f"features{suffix}"
    for kill in range(KILLS):
        run_until_killed(FEATURES, target, seed=kill)
        if target.exists():
            pd.testing.assert_frame_equal(reader(target), reader(expected))
    featurizer.write_features(cells, target, overwrite=True)
    pd.testing.assert_frame_equal(reader(target), reader(expected))
    assert leftovers(tmp_path) == []


SAVE = textwrap.dedent("""
    import sys
    from skpci import PairedInpaintingFeaturizer
    from skpci.datasets import make_cell_crops
    cells = make_cell_crops(n_images=4, image_size=96, cell_radius=8, crop_size=32, random_state=0).cells
    featurizer = PairedInpaintingFeaturizer.from_pretrained("synthetic-32").fit(cells)
    print("ready", flush=True)
    while True:
        featurizer.save_pretrained(sys.argv[1], overwrite=True)
""")


def test_killed_overwrites_of_a_model_always_leave_a_loadable_model(tmp_path):
    cells = crops().cells
    featurizer = PairedInpaintingFeaturizer.from_pretrained("synthetic-32").fit(cells)
    expected = featurizer.transform(cells)
    model = featurizer.save_pretrained(tmp_path / "model")
    for kill in range(KILLS):
        run_until_killed(SAVE, model, seed=10 + kill)
        loaded = PairedInpaintingFeaturizer.from_pretrained(model).fit(cells)  # puts back a model moved aside
        np.testing.assert_allclose(loaded.transform(cells), expected, rtol=1e-6)
    featurizer.save_pretrained(model, overwrite=True)
    assert leftovers(tmp_path) == []


APPEND = textwrap.dedent("""
    import sys, numpy as np
    from skpci import CropStore
    store = CropStore(sys.argv[1])
    print("ready", flush=True)
    for i in range(store.n_images // 4, 10**6):
        store.append([np.full((3, 16, 16, 2), i % 251, np.uint8)] * 4, names=[f"{i}-{j}" for j in range(4)])
""")


def test_killed_appends_leave_whole_shards_and_a_rerun_continues_the_same_store(tmp_path):
    CropStore.create(tmp_path / "store")
    for kill in range(KILLS):
        run_until_killed(APPEND, tmp_path / "store", seed=20 + kill)
        store = CropStore(tmp_path / "store")
        assert store.n_images % 4 == 0  # whole shards only
        for index in range(0, store.n_images, 4):
            i = int(store.images["name"][index].split("-")[0])
            assert (store.read_image(index) == i % 251).all()
    store = CropStore(tmp_path / "store")
    store.append([np.zeros((1, 16, 16, 2), np.uint8)], names=["last"])  # the next write cleans up
    assert leftovers(tmp_path / "store") == []
    names = CropStore(tmp_path / "store").images["name"].tolist()
    assert names[:-1] == [f"{i // 4}-{i % 4}" for i in range(0, len(names) - 1)]
