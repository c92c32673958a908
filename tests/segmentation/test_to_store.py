"""CellSegmenter.to_store: fields straight into a crop store, resumable after a failure or a kill."""

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from skpci import CellSegmenter, CropStore

SEGMENTER = dict(nuclear_channel=1, scale=1, crop_size=32, min_nucleus_area=10)


def test_to_store_keeps_native_dtype_and_matches_transform(tmp_path, field_files):
    paths, labels = field_files
    segmenter = CellSegmenter(**SEGMENTER)
    store = segmenter.to_store(paths, tmp_path / "store", labels=labels, images_per_shard=3)
    assert store.dtype == np.uint16 and store.n_images == len(paths)
    assert len(list(store.path.glob("shard-*.h5"))) == 3
    assert store.images["name"].tolist() == paths and store.images["label"].tolist() == labels
    bags = segmenter.transform(paths)
    for index, bag in enumerate(bags):
        stored = store.read_image(index)
        assert stored.shape == bag.shape
        np.testing.assert_allclose(stored, bag, atol=0.5)  # rounded to the field's integers
    centroids = store.cells[["centroid_row", "centroid_col"]].to_numpy()
    assert np.isfinite(centroids).all() and centroids.max() < 128


def test_to_store_resumes_after_a_failed_field_without_redoing_finished_ones(tmp_path, field_files):
    paths, _ = field_files
    broken = list(paths)
    broken[5] = str(tmp_path / "corrupt.tif")
    Path(broken[5]).write_bytes(b"II*\x00 not really a tiff")
    segmenter = CellSegmenter(**SEGMENTER)
    with pytest.raises(Exception, match="corrupt.tif"):
        segmenter.to_store(broken, tmp_path / "store", names=[f"f{i}" for i in range(8)], images_per_shard=2)
    partial = CropStore(tmp_path / "store")
    assert partial.images["name"].tolist() == ["f0", "f1", "f2", "f3"]  # whole shards only
    finished = {p.name: p.stat().st_mtime_ns for p in partial.path.glob("shard-*.h5")}
    resumed = segmenter.to_store(paths, tmp_path / "store", names=[f"f{i}" for i in range(8)],
                                 images_per_shard=2)
    assert resumed.images["name"].tolist() == [f"f{i}" for i in range(8)]
    assert all(partial.path.joinpath(name).stat().st_mtime_ns == mtime for name, mtime in finished.items())
    fresh = segmenter.to_store(paths, tmp_path / "fresh", names=[f"f{i}" for i in range(8)])
    np.testing.assert_array_equal(resumed.read(), fresh.read())


@pytest.mark.slow
def test_killed_to_store_leaves_finished_fields_and_resumes_to_the_same_store(tmp_path, field_files):
    paths, _ = field_files
    script = textwrap.dedent(f"""
        import sys, time
        from skpci import CellSegmenter
        from skpci import segmentation
        original = segmentation.crop_field_for_store
        def slow(*args, **kwargs):
            time.sleep(0.4)
            return original(*args, **kwargs)
        import skpci.segmentation._estimator as module
        module.crop_field_for_store = slow
        CellSegmenter(**{SEGMENTER!r}).to_store({paths!r} * 4, sys.argv[1],
                                                names=[str(i) for i in range(32)], images_per_shard=1)
    """)
    target = tmp_path / "store"
    process = subprocess.Popen([sys.executable, "-c", script, str(target)])
    deadline = time.time() + 120
    while time.time() < deadline and len(list(target.glob("shard-*.h5"))) < 3:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = CropStore(target)
    n_done = partial.n_images
    assert 3 <= n_done < 32
    assert partial.images["name"].tolist() == [str(i) for i in range(n_done)]
    segmenter = CellSegmenter(**SEGMENTER)
    resumed = segmenter.to_store(paths * 4, target, names=[str(i) for i in range(32)], images_per_shard=8)
    fresh = segmenter.to_store(paths * 4, tmp_path / "fresh", names=[str(i) for i in range(32)])
    np.testing.assert_array_equal(resumed.read(), fresh.read())
    assert resumed.images["name"].tolist() == fresh.images["name"].tolist()
