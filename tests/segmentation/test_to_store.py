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
    with pytest.raises(ValueError, match=r"Field 'f5' could not be segmented: .*corrupt.tif.*on_error='skip'"):
        segmenter.to_store(broken, tmp_path / "store", names=[f"f{i}" for i in range(8)], images_per_shard=2)
    partial = CropStore(tmp_path / "store")
    # Whole shards, and the finished field that was waiting for its shard is written before the error.
    assert partial.images["name"].tolist() == ["f0", "f1", "f2", "f3", "f4"]
    finished = {p.name: p.stat().st_mtime_ns for p in partial.path.glob("shard-*.h5")}
    resumed = segmenter.to_store(paths, tmp_path / "store", names=[f"f{i}" for i in range(8)],
                                 images_per_shard=2)
    assert resumed.images["name"].tolist() == [f"f{i}" for i in range(8)]
    assert all(partial.path.joinpath(name).stat().st_mtime_ns == mtime for name, mtime in finished.items())
    fresh = segmenter.to_store(paths, tmp_path / "fresh", names=[f"f{i}" for i in range(8)])
    np.testing.assert_array_equal(resumed.read(), fresh.read())


def test_unreadable_fields_can_be_skipped_recorded_and_retried(tmp_path, field_files):
    paths, _ = field_files
    names = [f"f{i}" for i in range(8)]
    broken = list(paths)
    for index in (2, 6):
        broken[index] = str(tmp_path / f"truncated-{index}.tif")
        Path(broken[index]).write_bytes(Path(paths[index]).read_bytes()[:3000])  # a copy cut short
    segmenter = CellSegmenter(**SEGMENTER)
    with pytest.warns(UserWarning, match=r"2 of 8 fields could not be segmented and were skipped.*'f2'"):
        store = segmenter.to_store(broken, tmp_path / "store", names=names, images_per_shard=3, on_error="skip")
    assert store.images["name"].tolist() == ["f0", "f1", "f3", "f4", "f5", "f7"]
    assert sorted(store.skipped) == ["f2", "f6"] and "truncated-2.tif" in store.skipped["f2"]
    assert CropStore(tmp_path / "store").skipped == store.skipped  # kept in the store
    fixed = segmenter.to_store(paths, tmp_path / "store", names=names, on_error="skip")  # the files repaired
    assert sorted(fixed.images["name"]) == names and fixed.skipped == {}
    fresh = segmenter.to_store(paths, tmp_path / "fresh", names=names)
    order = np.argsort(fixed.images["name"].to_numpy())
    for mine, theirs in zip(order, range(8)):
        np.testing.assert_array_equal(fixed.read_image(int(mine)), fresh.read_image(theirs))


def test_a_run_where_every_field_fails_raises_even_when_skipping(tmp_path):
    bad = [tmp_path / f"bad-{i}.tif" for i in range(3)]
    for path in bad:
        path.write_bytes(b"II*\x00 not really a tiff")
    with pytest.raises(ValueError, match="None of the 3 fields could be segmented"):
        CellSegmenter(**SEGMENTER).to_store([str(p) for p in bad], tmp_path / "store", on_error="skip")
    with pytest.raises(ValueError, match="on_error must be"):
        CellSegmenter(**SEGMENTER).to_store([str(p) for p in bad], tmp_path / "store", on_error="ignore")
    with pytest.raises(ValueError, match="No fields to segment"):
        CellSegmenter(**SEGMENTER).to_store([], tmp_path / "empty")
    assert not (tmp_path / "empty").exists()  # nothing half-made


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
