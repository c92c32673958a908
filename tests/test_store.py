"""CropStore: HDF5 shards on disk, segmenting into them, training and featurizing from them."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from skpci import CellSegmenter, CropStore, PairedInpaintingFeaturizer
from skpci._preprocessing import resize_crops

from .conftest import FAST

SEGMENTER = dict(nuclear_channel=1, scale=1, crop_size=32, min_nucleus_area=10)


def _bags(n_images=6, size=16, dtype=np.uint16, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 4000, (int(n), size, size, 3)).astype(dtype)
            for n in rng.integers(3, 9, n_images)]


def test_store_round_trip_keeps_crops_records_and_dtype(tmp_path):
    bags = _bags()
    store = CropStore.create(tmp_path / "store", channel_names=["protein", "nucleus", "cytosol"])
    store.append(bags[:4], names=[f"a{i}" for i in range(4)], labels=list("wxyz"),
                 metadata=[{"well": i} for i in range(4)])
    store.append(bags[4:], names=["b0", "b1"], groups=["g", "g"])
    reopened = CropStore(tmp_path / "store")
    assert len(reopened) == sum(map(len, bags)) and reopened.n_images == 6
    assert reopened.dtype == np.uint16 and reopened.crop_shape == (16, 16, 3)
    assert reopened.channel_names == ["protein", "nucleus", "cytosol"]
    for index, bag in enumerate(bags):
        np.testing.assert_array_equal(reopened.read_image(index), bag)
    np.testing.assert_array_equal(reopened.read(2, 20), np.concatenate(bags)[2:20])  # across shards
    assert reopened.images["label"].tolist()[:4] == list("wxyz")
    assert reopened.images["metadata"][2] == {"well": 2}
    assert reopened.images["group"].tolist()[4:] == ["g", "g"]
    assert reopened.cells["source"].tolist() == np.repeat(reopened.images["name"], [len(b) for b in bags]).tolist()
    codes = reopened.group_codes()
    assert codes[-len(bags[4]) - len(bags[5]):].tolist() == [codes[-1]] * (len(bags[4]) + len(bags[5]))
    assert reopened.nbytes == sum(b.nbytes for b in bags)


def test_single_file_store_reads_the_same_and_is_read_only(tmp_path):
    bags = _bags(dtype=np.uint8)
    single = CropStore.from_bags(tmp_path / "crops.h5", bags, labels=["x"] * len(bags))
    assert single.path.is_file() and not (tmp_path / "crops.h5.staging").exists()
    np.testing.assert_array_equal(single.read(), np.concatenate(bags))
    assert single.dtype == np.uint8
    with pytest.raises(ValueError, match="read-only"):
        single.append(bags, names=[f"n{i}" for i in range(len(bags))])


@pytest.mark.parametrize("problem, match", [
    ("shape", "share one shape and dtype"),
    ("dtype", "share one shape and dtype"),
    ("name", "unique"),
    ("channels", "channels"),
    ("labels", "one entry per image"),
    ("ndim", r"\(n_cells, h, w, C\)"),
])
def test_bad_appends_are_refused_and_write_nothing(tmp_path, problem, match):
    store = CropStore.create(tmp_path / "s", channel_names=["a", "b", "c"])
    store.append(_bags(2), names=["x", "y"])
    bag = _bags(1)[0]
    bad = {
        "shape": dict(bags=[bag[:, :8]], names=["z"]),
        "dtype": dict(bags=[bag.astype(np.float32)], names=["z"]),
        "name": dict(bags=[bag], names=["x"]),
        "channels": dict(bags=[bag[..., :2]], names=["z"]),
        "labels": dict(bags=[bag], names=["z"], labels=["p", "q"]),
        "ndim": dict(bags=[bag[0]], names=["z"]),
    }[problem]
    with pytest.raises(ValueError, match=match):
        store.append(**bad)
    assert len(list(store.path.glob("*.h5"))) == 1 and not list(store.path.glob(".*"))


def test_opening_something_that_is_not_a_store_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="No crop store"):
        CropStore(tmp_path / "missing")
    (tmp_path / "folder").mkdir()
    with pytest.raises(ValueError, match="not a crop store"):
        CropStore(tmp_path / "folder")
    store = CropStore.create(tmp_path / "s")
    store.append(_bags(2), names=["x", "y"])
    store.close()
    shard = next(store.path.glob("shard-*.h5"))
    shard.write_bytes(shard.read_bytes()[:300])  # truncated
    with pytest.raises(ValueError, match="Cannot read the crop store shard"):
        CropStore(tmp_path / "s")


def test_blocks_hold_whole_groups_and_split_groups_are_refused(tmp_path):
    bags = _bags(8, size=16)
    store = CropStore.create(tmp_path / "s", block_bytes=3 * 16 * 16 * 3 * 2 * 4)
    store.append(bags, names=[f"i{i}" for i in range(8)], groups=list("aabbccdd"))
    bounds = store.blocks()
    assert bounds[0] == 0 and bounds[-1] == len(store) and len(bounds) > 2
    groups = store.cells["group"].to_numpy()
    for low, high in zip(bounds[:-1], bounds[1:]):
        inside = set(groups[low:high])
        assert not inside & set(groups[:low]) and not inside & set(groups[high:])
    split = CropStore.create(tmp_path / "split")
    split.append(bags[:3], names=["p", "q", "r"], groups=["a", "b", "a"])
    with pytest.raises(ValueError, match="not contiguous"):
        split.blocks()


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
        import skpci._segmenter as module
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


def test_fit_on_a_store_matches_fit_in_memory_and_transform_reads_either(tmp_path, synthetic_crops):
    # At the network's input size, the store (scaled batch by batch) and memory (scaled once) paths
    # give the same batches bit for bit.
    bags = [(resize_crops(bag, FAST["input_size"]) * 1000).astype(np.uint16) for bag in synthetic_crops.bags]
    store = CropStore.from_bags(tmp_path / "store", bags)
    params = dict(epochs=1, random_state=0, **FAST)
    from_store = PairedInpaintingFeaturizer(**params).fit(store)
    in_memory = PairedInpaintingFeaturizer(**params).fit(bags)
    assert from_store.n_cells_fit_ == len(store)
    np.testing.assert_allclose(from_store.history_["loss"], in_memory.history_["loss"], rtol=1e-6)
    cells = np.concatenate(bags)
    np.testing.assert_array_equal(from_store.transform(store), from_store.transform(cells))
    np.testing.assert_allclose(from_store.transform(cells), in_memory.transform(cells), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="groups is not used with a CropStore"):
        PairedInpaintingFeaturizer(**params).fit(store, groups=np.zeros(len(store)))


def test_training_streams_several_blocks_of_a_store(tmp_path, synthetic_crops):
    bags = [(bag * 255).astype(np.uint8) for bag in synthetic_crops.bags]
    small_blocks = CropStore.from_bags(tmp_path / "store", bags)
    small_blocks.block_bytes = 40 * bags[0][0].nbytes
    assert len(small_blocks.blocks()) > 4
    featurizer = PairedInpaintingFeaturizer(epochs=2, random_state=1, **FAST).fit(small_blocks)
    losses = featurizer.history_["loss"]
    assert len(losses) == 2 and all(np.isfinite(losses))
    untrained = PairedInpaintingFeaturizer(epochs=0, random_state=1, **FAST).fit(small_blocks)
    assert not np.allclose(featurizer.transform(small_blocks), untrained.transform(small_blocks))


def test_write_features_to_tables_and_into_the_store(tmp_path, fitted_featurizer, synthetic_crops):
    labels = list(synthetic_crops.labels)
    store = CropStore.from_bags(tmp_path / "store", synthetic_crops.bags, labels=labels)
    expected_cells = fitted_featurizer.transform(np.concatenate(synthetic_crops.bags))
    cell_table = pd.read_parquet(fitted_featurizer.write_features(store, tmp_path / "cells.parquet"))
    names = list(fitted_featurizer.get_feature_names_out())
    np.testing.assert_allclose(cell_table[names].to_numpy(), expected_cells, rtol=1e-6)
    assert cell_table["label"].tolist() == np.repeat(labels, [len(b) for b in synthetic_crops.bags]).tolist()
    image_table = pd.read_csv(fitted_featurizer.write_features(store, tmp_path / "images.csv", per="image"))
    np.testing.assert_allclose(image_table[names].to_numpy(), fitted_featurizer.transform(synthetic_crops.bags),
                               rtol=1e-5)
    inside = fitted_featurizer.write_features(store)
    assert inside.parent == store.path
    with h5py.File(inside) as saved:
        np.testing.assert_allclose(saved["features"][:], expected_cells, rtol=1e-6)
        assert saved.attrs["layers"] == "conv3_1"
    with pytest.raises(FileExistsError):
        fitted_featurizer.write_features(store)
    assert CropStore(store.path).n_images == len(labels)  # a features file is not a shard


@pytest.mark.slow
def test_fit_from_a_store_larger_than_its_memory_budget(tmp_path):
    """Fitting on a 375 MiB store peaks at most 128 MiB above fitting on a 100-cell one.

    Both fits run the same steps in fresh processes, so the difference in peak
    RSS is the memory that grows with the data (TensorFlow's own cost of a
    fit, about 150 MB on CPU, is the same in both).
    """
    rng = np.random.default_rng(0)
    big = CropStore.create(tmp_path / "big")
    for shard in range(4):  # 4 x 1,000 cells of 128 x 128 x 3 uint16
        bags = [rng.integers(0, 60000, (50, 128, 128, 3), dtype=np.uint16) for _ in range(20)]
        big.append(bags, names=[f"s{shard}-{i}" for i in range(20)], compression=None)
    small = CropStore.from_bags(tmp_path / "small", [big.read(0, 50), big.read(50, 100)])
    budget = 128 * 2**20
    assert big.nbytes > 2.9 * budget
    script = textwrap.dedent("""
        import json, resource, sys
        from skpci import CropStore, PairedInpaintingFeaturizer
        store = CropStore(sys.argv[1], block_bytes=8 * 2**20)
        featurizer = PairedInpaintingFeaturizer(marker_channels=(1, 2), input_size=8, batch_size=64,
                                                epochs=1, random_state=0).fit(store)
        print(json.dumps({"peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                          "loss": featurizer.history_["loss"], "cells": featurizer.n_cells_fit_}))
    """)

    def peak_rss(store):
        result = subprocess.run([sys.executable, "-c", script, str(store.path)], capture_output=True, text=True,
                                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        measured = json.loads(result.stdout.strip().splitlines()[-1])
        assert np.isfinite(measured["loss"]).all() and measured["cells"] == len(store)
        return measured["peak"]

    growth = peak_rss(big) - peak_rss(small)
    assert growth < budget, f"peak RSS grew by {growth / 2**20:.0f} MiB for a {big.nbytes / 2**20:.0f} MiB store"


def _read_image_in_worker(store, index):
    return os.getpid(), store.read_image(index)


def test_several_processes_read_one_store_while_it_grows(tmp_path):
    from joblib import Parallel, delayed

    bags = _bags(6)
    store = CropStore.create(tmp_path / "s")
    store.append(bags[:3], names=["a", "b", "c"])
    results = Parallel(n_jobs=2, backend="loky")(delayed(_read_image_in_worker)(store, i % 3) for i in range(8))
    readers = {pid for pid, _ in results}
    assert os.getpid() not in readers and len(readers) >= 2  # other processes, each opening its own files
    for i, (_, crops) in enumerate(results):
        np.testing.assert_array_equal(crops, bags[i % 3])
    reader = CropStore(tmp_path / "s")  # opened before the next append
    store.append(bags[3:], names=["d", "e", "f"])
    assert reader.n_images == 3 and reader.refresh().n_images == 6
    np.testing.assert_array_equal(reader.read_image(5), bags[5])
