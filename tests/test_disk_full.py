"""A disk that fills up mid-write is a clear error, never a crash, and a rerun after freeing space finishes the job.

Writes are made to fail in two ways: a per-process file-size limit
(``RLIMIT_FSIZE``, so ``write`` fails with EFBIG; works on any Linux), and a
real 3 MiB tmpfs where this machine lets the tests mount one (ENOSPC). Each
writer runs in a subprocess, since the crash this guards against (HDF5 after
a failed write) kills the interpreter.
"""

import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from skpci import CropStore

LIMIT = textwrap.dedent("""
    import resource, signal
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (2 * 2**20, resource.RLIM_INFINITY))
""")

APPEND = LIMIT + textwrap.dedent("""
    import sys, numpy as np
    from skpci import CropStore
    store = CropStore.create(sys.argv[1], exist_ok=True)
    rng = np.random.default_rng(0)
    try:
        for i in range(8):  # shards of 0.5, 1, 1.5, 2... MiB: the fourth passes the 2 MiB limit
            store.append([rng.integers(0, 2**16, (64 * (i + 1), 32, 32, 4), dtype=np.uint16)], names=[f"i{i}"])
    except OSError as error:
        print("refused:", error)
""")


def run(script, *args):
    result = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, f"exit code {result.returncode}\\n{result.stderr[-3000:]}"
    return result.stdout


def test_a_store_append_past_the_file_size_limit_is_a_clear_error(tmp_path):
    out = run(APPEND, tmp_path / "store")
    assert "refused: [Errno 27] No space left to write" in out and "Nothing was half-written" in out
    store = CropStore(tmp_path / "store")
    assert 0 < store.n_images < 8
    for index in range(store.n_images):
        assert store.read_image(index).shape == (64 * (index + 1), 32, 32, 4)
    assert [p.name for p in (tmp_path / "store").iterdir() if p.name.startswith(".")] == []


SAVE = LIMIT + textwrap.dedent("""
    import sys
    import numpy as np
    from skpci import PairedInpaintingFeaturizer
    from skpci.store import write_feature_file
    from skpci.datasets import make_cell_crops
    cells = make_cell_crops(n_images=4, image_size=96, cell_radius=8, crop_size=32, random_state=0).cells
    featurizer = PairedInpaintingFeaturizer.from_pretrained("synthetic-32").fit(cells)
    features = np.random.default_rng(0).random((1000, 1000), dtype=np.float32)  # 4 MB, incompressible
    for what, write in (("model", lambda: featurizer.save_pretrained(sys.argv[1])),
                        ("features", lambda: write_feature_file(sys.argv[2], features))):
        try:
            write()
        except OSError as error:
            print(what, "refused:", error)
""")


def test_saving_a_model_or_features_past_the_limit_is_a_clear_error(tmp_path):
    out = run(SAVE, tmp_path / "model", tmp_path / "features.h5")
    assert "model refused: [Errno 27] No space left to write" in out
    assert "features refused: [Errno 27] No space left to write" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MiB tmpfs, where this machine allows mounting one."""
    folder = tmp_path / "small"
    folder.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=False)


def test_segmenting_onto_a_full_disk_stops_cleanly_and_a_rerun_finishes_the_same_store(tmp_path, small_disk):
    import tifffile

    from skpci.datasets import make_cell_images

    fields = tmp_path / "fields"
    fields.mkdir()
    data = make_cell_images(n_images=40, image_size=192, cell_radius=10, random_state=2)
    for index, image in enumerate(data.images):
        for channel, name in enumerate(data.channel_names):
            tifffile.imwrite(fields / f"field{index:02d}_{name}.tif", (image[..., channel] * 30000).astype(np.uint16))
    command = [sys.executable, "-m", "skpci", "segment", str(fields), "--channels", "protein,nucleus,cytosol",
               "--nuclear", "nucleus", "--quiet", "--scale", "1", "--crop-size", "64"]
    full = subprocess.run(command + ["-o", str(small_disk / "store")], capture_output=True, text=True, timeout=600)
    assert full.returncode == 1, full.stderr[-3000:]
    assert "No space left" in full.stderr and "Traceback" not in full.stderr
    partial = CropStore(small_disk / "store")
    assert 0 < partial.n_images < 40
    # Free the space: move the finished store to a roomy disk and run again there.
    shutil.copytree(small_disk / "store", tmp_path / "store")
    resumed = subprocess.run(command + ["-o", str(tmp_path / "store")], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    fresh = subprocess.run(command + ["-o", str(tmp_path / "fresh")], capture_output=True, text=True, timeout=600)
    assert fresh.returncode == 0
    store, reference = CropStore(tmp_path / "store"), CropStore(tmp_path / "fresh")
    assert store.images["name"].tolist() == reference.images["name"].tolist()
    np.testing.assert_array_equal(store.read(), reference.read())
