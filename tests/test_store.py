"""CropStore: HDF5 shards on disk, their records, single-file stores, readers in several processes."""

import os

import numpy as np
import pytest

from skpci import CropStore


def _bags(n_images=6, size=16, dtype=np.uint16, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 4000, (int(n), size, size, 3)).astype(dtype)
            for n in rng.integers(3, 9, n_images)]


def _read_image_in_worker(store, index):
    return os.getpid(), store.read_image(index)


def test_store_round_trip_keeps_crops_records_and_dtype(tmp_path):
    bags = _bags()
    store = CropStore.create(tmp_path / "store", channel_names=["protein", "nucleus", "cytosol"])
    store.append(bags[:4], names=[f"a{i}" for i in range(4)], labels=list("wxyz"),
                 metadata=[{"well": np.int64(i), "dose": np.float32(0.5), "xy": np.arange(2)} for i in range(4)])
    with pytest.raises(ValueError, match=r"metadata of image 1 cannot be stored: .*set.*Give str, number"):
        store.append(bags[4:], names=["b0", "b1"], metadata=[{}, {"tags": {"a"}}])
    store.append(bags[4:], names=["b0", "b1"], groups=["g", "g"])
    reopened = CropStore(tmp_path / "store")
    assert len(reopened) == sum(map(len, bags)) and reopened.n_images == 6
    assert reopened.dtype == np.uint16 and reopened.crop_shape == (16, 16, 3)
    assert reopened.channel_names == ["protein", "nucleus", "cytosol"]
    for index, bag in enumerate(bags):
        np.testing.assert_array_equal(reopened.read_image(index), bag)
    np.testing.assert_array_equal(reopened.read(2, 20), np.concatenate(bags)[2:20])  # across shards
    assert reopened.images["label"].tolist()[:4] == list("wxyz")
    assert reopened.images["metadata"][2] == {"well": 2, "dose": 0.5, "xy": [0, 1]}  # NumPy values as plain ones
    assert reopened.images["group"].tolist()[4:] == ["g", "g"]
    assert reopened.cells["source"].tolist() == np.repeat(reopened.images["name"], [len(b) for b in bags]).tolist()
    groups = reopened.cells["group"].tolist()
    assert groups[-len(bags[4]) - len(bags[5]):] == ["g"] * (len(bags[4]) + len(bags[5]))
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
    ("ndim", "expected crops of shape"),
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


def test_a_pickled_store_reopens_its_path_and_hashes_by_content(tmp_path):
    import pickle

    import joblib

    store = CropStore.create(tmp_path / "s")
    store.append(_bags(2), names=["a", "b"])
    copy = pickle.loads(pickle.dumps(store))
    assert copy.path == store.path and len(copy) == len(store)
    before = joblib.hash(store)
    assert joblib.hash(CropStore(tmp_path / "s")) == before  # same content, same key
    store.append(_bags(1, seed=1), names=["c"])
    assert joblib.hash(store) != before  # Pipeline(memory=...) must not serve a grown store stale results
