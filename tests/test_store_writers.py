"""A store survives two writers, thousands of shards and damaged shard files."""

import os
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from skpci import CropStore


def bag(value, n=2):
    return np.full((n, 8, 8, 2), value, dtype=np.uint8)


def test_two_handles_appending_in_turn_keep_every_shard(tmp_path):
    CropStore.create(tmp_path / "store")
    first, second = CropStore(tmp_path / "store"), CropStore(tmp_path / "store")
    for i in range(3):
        first.append([bag(i)], names=[f"first-{i}"])
        second.append([bag(10 + i)], names=[f"second-{i}"])
    reopened = CropStore(tmp_path / "store")
    assert reopened.n_images == 6 and len(reopened) == 12
    assert sorted(reopened.images["name"]) == sorted([f"first-{i}" for i in range(3)] +
                                                     [f"second-{i}" for i in range(3)])
    for name, value in [(f"first-{i}", i) for i in range(3)] + [(f"second-{i}", 10 + i) for i in range(3)]:
        index = int(np.flatnonzero(reopened.images["name"] == name)[0])
        assert (reopened.read_image(index) == value).all()


def test_a_name_another_handle_stored_is_refused(tmp_path):
    CropStore.create(tmp_path / "store")
    first, second = CropStore(tmp_path / "store"), CropStore(tmp_path / "store")
    first.append([bag(1)], names=["a.tif"])
    with pytest.raises(ValueError, match="unique"):
        second.append([bag(2)], names=["a.tif"])


WRITER = textwrap.dedent("""
    import sys, numpy as np
    from skpci import CropStore
    store = CropStore(sys.argv[1])
    for i in range(int(sys.argv[3])):
        store.append([np.full((3, 8, 8, 2), i, np.uint8)], names=[f"{sys.argv[2]}-{i}"])
""")


def test_processes_appending_at_once_lose_nothing(tmp_path):
    CropStore.create(tmp_path / "store")
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path / "store"), name, "15"],
                                stderr=subprocess.PIPE, text=True) for name in ("a", "b", "c")]
    for writer in writers:
        assert writer.wait(timeout=300) == 0, writer.stderr.read()
    store = CropStore(tmp_path / "store")
    assert store.n_images == 45 and len(store) == 135
    assert sorted(store.images["name"]) == sorted(f"{name}-{i}" for name in "abc" for i in range(15))
    assert len(list((tmp_path / "store").glob("shard-*.h5"))) == 45
    assert not list((tmp_path / "store").glob(".*.part"))


def test_without_hard_links_a_reserved_name_is_used_and_skipped_until_filled(tmp_path, monkeypatch):
    store = CropStore.create(tmp_path / "store")
    store.append([bag(1)], names=["a"])

    def no_links(source, target):
        raise PermissionError("this file system has no hard links")

    monkeypatch.setattr(os, "link", no_links)
    store.append([bag(2)], names=["b"])
    assert CropStore(tmp_path / "store").n_images == 2
    # A writer that reserved the next name but has not moved its shard in yet: readers skip it.
    (tmp_path / "store" / "shard-000002.h5").touch()
    assert CropStore(tmp_path / "store").n_images == 2
    store.append([bag(3)], names=["c"])
    assert (tmp_path / "store" / "shard-000003.h5").stat().st_size > 0
    assert sorted(CropStore(tmp_path / "store").images["name"]) == ["a", "b", "c"]


def test_appending_reads_only_the_new_shard(tmp_path, monkeypatch):
    store = CropStore.create(tmp_path / "store")
    for i in range(5):
        store.append([bag(i)], names=[f"image-{i}"])
    read = []
    original = CropStore._read_records
    monkeypatch.setattr(CropStore, "_read_records", lambda self, path: read.append(path.name) or original(self, path))
    for i in range(5, 25):
        store.append([bag(i)], names=[f"image-{i}"])
    assert read == [f"shard-{i:06d}.h5" for i in range(5, 25)]
    assert store.images["start"].tolist() == list(range(0, 50, 2))
    assert store.cells["image"].tolist() == np.repeat(np.arange(25), 2).tolist()
    assert (store.read(48, 50) == 24).all()


OPEN_FILES = textwrap.dedent("""
    import resource, sys, numpy as np
    from skpci import CropStore
    resource.setrlimit(resource.RLIMIT_NOFILE, (96, 96))
    store = CropStore.create(sys.argv[1])
    for i in range(300):
        store.append([np.full((1, 8, 8, 1), i % 250, np.uint8)], names=[f"image-{i}"])
    reopened = CropStore(sys.argv[1])
    crops = reopened.read()
    assert crops.shape == (300, 8, 8, 1), crops.shape
    assert (crops[:, 0, 0, 0] == np.arange(300) % 250).all()
    print("ok", len(reopened._handles))
""")


def test_a_store_of_many_shards_stays_under_a_low_open_file_limit(tmp_path):
    result = subprocess.run([sys.executable, "-c", OPEN_FILES, str(tmp_path / "store")], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("ok")
    assert int(result.stdout.split()[1]) <= 32


def damage(shard, name, data):
    with h5py.File(shard, "a") as handle:
        del handle[name]
        handle[name] = data


@pytest.mark.parametrize("name, data, match", [
    ("cell_image", np.array([0, 2**33], dtype=np.int64), "number the 1 images"),
    ("cell_image", np.array([0], dtype=np.int64), "cell_image has shape"),
    ("cell_centroid", np.zeros((5, 2), np.float32), "cell_centroid has shape"),
    ("image_group", np.array([b"a", b"b"]), "image_group holds"),
])
def test_a_damaged_shard_is_refused_without_allocating(tmp_path, name, data, match):
    store = CropStore.create(tmp_path / "store")
    shard = store.append([bag(1)], names=["a"])
    store.close()
    damage(shard, name, data)
    with pytest.raises(ValueError, match=match):
        CropStore(tmp_path / "store")
