import h5py
import numpy as np
import pytest
import tifffile

from skpci.io import bags_by, list_fields, read_cell_crops, read_chong_hdf5, read_image


def _write_chong(path, n=6, names=(b"Actin", b"Spindle", b"Spindle Pole", b"Nucleus")):
    rng = np.random.default_rng(0)
    cells = rng.random((n, 2, 64, 64)).astype(np.float32)
    classes = np.arange(n) % len(names)
    with h5py.File(path, "w") as file:
        file["data1"] = cells.reshape(n, -1)
        file["Index1"] = np.eye(len(names))[classes]
        file["Index1_columns"] = np.array(names)
    return cells, classes


def test_chong_files_read_channels_last_and_merge_spindle_pole(tmp_path):
    cells, classes = _write_chong(tmp_path / "Chong_test_set.hdf5")
    data = read_chong_hdf5(tmp_path / "Chong_test_set.hdf5")
    assert data.cells.shape == (6, 64, 64, 2)
    np.testing.assert_array_equal(data.cells[3, ..., 0], cells[3, 0])  # GFP first
    np.testing.assert_array_equal(data.cells[3, ..., 1], cells[3, 1])
    assert list(data.labels) == ["Actin", "Spindle", "Spindle", "Nucleus", "Actin", "Spindle"]
    assert set(data.source) == {"Chong_test_set.hdf5"}


def test_chong_reader_rejects_other_files(tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as file:
        file["something"] = np.zeros(3)
    with pytest.raises(OSError, match="not a readable Chong"):
        read_chong_hdf5(tmp_path / "other.h5")


def test_crop_folders_read_in_natural_order_with_metadata(tmp_path):
    for folder in ("A", "B"):
        (tmp_path / folder).mkdir()
        for cell in (2, 10, 1):
            for channel, value in (("gfp", cell), ("rfp", 100 + cell)):
                tifffile.imwrite(tmp_path / folder / f"{folder}_1_rfp_{cell}_{channel}.tif",
                                 np.full((8, 8), value, dtype=np.uint16))
    data = read_cell_crops(tmp_path, ("gfp", "rfp"))
    assert data.cells.shape == (6, 8, 8, 2)
    assert list(data.cell_table["cell"][:3]) == ["1", "2", "10"]
    assert data.cells[2, 0, 0].tolist() == [10, 110]
    bags, keys = bags_by(data.cells, data.cell_table["folder"])
    assert list(keys) == ["A", "B"] and [len(b) for b in bags] == [3, 3]


def test_missing_channel_file_is_named(tmp_path):
    (tmp_path / "A").mkdir()
    tifffile.imwrite(tmp_path / "A" / "x_1_gfp.tif", np.zeros((8, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match="A/x_1 has no file for channel"):
        read_cell_crops(tmp_path, ("gfp", "rfp"))


def test_list_fields_groups_per_channel_files_and_reports_gaps(tmp_path):
    for field in ("a", "b"):
        for channel in ("blue", "green", "red", "yellow"):
            tifffile.imwrite(tmp_path / f"{field}_{channel}.tif", np.zeros((8, 8), dtype=np.uint8))
    fields, ids = list_fields(tmp_path, ("blue", "green", "red", "yellow"))
    assert ids == ["a", "b"] and fields[1][2].endswith("b_red.tif")
    (tmp_path / "b_yellow.tif").unlink()
    with pytest.raises(ValueError, match="'b' has no \\['yellow'\\]"):
        list_fields(tmp_path, ("blue", "green", "red", "yellow"))


def test_unreadable_images_raise_errors_naming_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.tif"):
        read_image(tmp_path / "missing.tif")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(OSError, match="bad.png"):
        read_image(tmp_path / "bad.png")
