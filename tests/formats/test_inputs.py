"""Fields as microscopists store them: OME-TIFF, OME-Zarr and CellProfiler LoadData tables."""

import numpy as np
import pandas as pd
import pytest
import tifffile

from skpci import CellSegmenter, CropStore
from skpci.cli import main
from skpci.datasets import make_cell_images
from skpci.formats import loaddata_fields, ome_channel_names, read_ome_tiff, to_yxc
from skpci.io import read_image

SEGMENTER = dict(nuclear_channel=1, scale=1, crop_size=32, min_nucleus_area=10)
NAMES = ["GFP", "DNA", "Actin"]


@pytest.fixture(scope="module")
def fields():
    data = make_cell_images(n_images=4, image_size=128, cell_radius=8, random_state=5)
    return [(image * 30000).astype(np.uint16) for image in data.images]


def test_ome_tiff_fields_are_read_by_their_axes_with_their_channel_names(fields, tmp_path):
    path = tmp_path / "field.ome.tif"
    tifffile.imwrite(path, np.moveaxis(fields[0], -1, 0), ome=True,
                     metadata={"axes": "CYX", "Channel": {"Name": NAMES}})
    np.testing.assert_array_equal(read_image(path), fields[0])
    assert ome_channel_names(path) == tuple(NAMES)
    stack = np.stack([np.moveaxis(fields[0], -1, 0) // 2, np.moveaxis(fields[0], -1, 0)], axis=1)  # C, Z, Y, X
    tifffile.imwrite(tmp_path / "stack.ome.tif", stack[np.newaxis], ome=True, metadata={"axes": "TCZYX"})
    image, names = read_ome_tiff(tmp_path / "stack.ome.tif")
    np.testing.assert_array_equal(image, fields[0])  # the maximum over z
    assert names is None  # the file names no channels


def test_to_store_takes_channel_names_from_ome_tiff_fields(fields, tmp_path):
    paths = []
    for index, field in enumerate(fields):
        paths.append(str(tmp_path / f"f{index}.ome.tif"))
        tifffile.imwrite(paths[-1], np.moveaxis(field, -1, 0), ome=True,
                         metadata={"axes": "CYX", "Channel": {"Name": NAMES}})
    store = CellSegmenter(**SEGMENTER).to_store(paths, tmp_path / "store")
    assert store.channel_names == NAMES and store.n_images == 4 and len(store) > 10
    direct = CellSegmenter(**SEGMENTER).transform(fields)
    np.testing.assert_allclose(store.read_image(0), direct[0], atol=0.5)


def test_ome_zarr_fields_are_read_with_their_channel_names(fields, tmp_path):
    pytest.importorskip("ome_zarr")
    import zarr
    from ome_zarr.writer import write_image

    group = zarr.open_group(str(tmp_path / "field.ome.zarr"), mode="w")
    write_image(np.moveaxis(fields[1], -1, 0), group, axes="cyx", scale_factors=[2],
                omero={"channels": [{"label": name, "color": "FFFFFF", "active": True,
                                     "window": {"start": 0, "end": 30000, "min": 0, "max": 65535}}
                                    for name in NAMES]})
    np.testing.assert_array_equal(read_image(tmp_path / "field.ome.zarr"), fields[1])
    assert ome_channel_names(tmp_path / "field.ome.zarr") == tuple(NAMES)
    bags = CellSegmenter(**SEGMENTER).transform([str(tmp_path / "field.ome.zarr")])
    assert bags[0].shape[1:] == (32, 32, 3)


def test_axes_are_checked():
    with pytest.raises(OSError, match="cannot read axes 'QYX'"):
        to_yxc(np.zeros((2, 3)), "QYX")
    assert to_yxc(np.zeros((4, 5, 3)), "YXS").shape == (4, 5, 3)
    assert to_yxc(np.zeros((2, 4, 5, 3)), "CYXS").shape == (4, 5, 6)


@pytest.fixture
def loaddata(fields, tmp_path):
    rows = []
    for index, field in enumerate(fields):
        row = {"Metadata_Plate": "P1", "Metadata_Well": f"A0{index // 2 + 1}", "Metadata_Site": index % 2 + 1,
               "Metadata_Treatment": "drug" if index % 2 else "dmso"}
        for channel, name in enumerate(NAMES):
            folder = tmp_path / "images" / row["Metadata_Well"]
            folder.mkdir(parents=True, exist_ok=True)
            tifffile.imwrite(folder / f"s{row['Metadata_Site']}_{name}.tif", field[..., channel])
            row[f"FileName_{name}"] = f"s{row['Metadata_Site']}_{name}.tif"
            row[f"PathName_{name}"] = f"images/{row['Metadata_Well']}"  # relative to the CSV
        rows.append(row)
    table = pd.DataFrame(rows)
    table.to_csv(tmp_path / "load_data.csv", index=False)
    return table, tmp_path / "load_data.csv"


def test_a_loaddata_table_is_a_field_list_with_names_metadata_and_channels(loaddata, fields, tmp_path):
    table, csv = loaddata
    read = loaddata_fields(csv, ["DNA", "GFP"])
    assert read.channel_names == ("DNA", "GFP") and read.names[1] == "P1/A01/2"
    assert read.metadata[1]["Metadata_Treatment"] == "drug" and read.fields[0][0].endswith("A01/s1_DNA.tif")
    store = CellSegmenter(**SEGMENTER).to_store(loaddata_fields(csv).fields, tmp_path / "a",
                                                names=read.names, channel_names=NAMES)
    assert store.n_images == 4
    with pytest.raises(FileNotFoundError):  # a DataFrame's relative paths are relative to the working directory
        CellSegmenter(**SEGMENTER).transform(table)
    absolute = table.assign(**{f"PathName_{name}": str(tmp_path) + "/" + table[f"PathName_{name}"] for name in NAMES})
    bags = CellSegmenter(**SEGMENTER).transform(absolute)
    reference = CellSegmenter(**SEGMENTER).transform(fields)
    assert [len(bag) for bag in bags] == [len(bag) for bag in reference]
    stored = CellSegmenter(**SEGMENTER).to_store(absolute, tmp_path / "b")
    assert stored.channel_names == NAMES and list(stored.images["name"]) == ["P1/A01/1", "P1/A01/2", "P1/A02/1",
                                                                              "P1/A02/2"]
    assert stored.images["metadata"][3]["Metadata_Treatment"] == "drug"


def test_skpci_segment_reads_a_loaddata_csv(loaddata, tmp_path, capsys):
    _, csv = loaddata
    assert main(["segment", str(csv), "-o", str(tmp_path / "store"), "--nuclear", "DNA", "--scale", "1",
                 "--crop-size", "32", "--quiet"]) == 0
    store = CropStore(tmp_path / "store")
    assert store.channel_names == NAMES and store.n_images == 4
    assert {m["Metadata_Well"] for m in store.images["metadata"]} == {"A01", "A02"}
    assert main(["segment", str(csv), "-o", str(tmp_path / "x"), "--nuclear", "Hoechst", "--quiet"]) == 1
    assert "--nuclear 'Hoechst' is not among the channels ['GFP', 'DNA', 'Actin']" in capsys.readouterr().err


def test_tables_that_are_not_loaddata_are_refused_clearly(loaddata):
    table, _ = loaddata
    with pytest.raises(TypeError, match="must be a CellProfiler LoadData table with FileName_<channel>"):
        CellSegmenter(**SEGMENTER).transform(pd.DataFrame({"path": ["a.tif"]}))
    with pytest.raises(ValueError, match=r"no FileName_ column for channel\(s\) \['Mito'\]"):
        loaddata_fields(table, ["DNA", "Mito"])
    with pytest.raises(ValueError, match="row 0: FileName_DNA is empty"):
        loaddata_fields(table.assign(FileName_DNA=""))


def test_skpci_segment_reads_a_folder_of_ome_tiff_fields(fields, tmp_path, capsys):
    folder = tmp_path / "ome"
    (folder / "plate1").mkdir(parents=True)
    for index, field in enumerate(fields):
        tifffile.imwrite(folder / "plate1" / f"well{index}.ome.tif", np.moveaxis(field, -1, 0), ome=True,
                         metadata={"axes": "CYX", "Channel": {"Name": NAMES}})
    args = ["segment", str(folder), "-o", str(tmp_path / "store"), "--nuclear", "DNA", "--recursive",
            "--label-from", "folder", "--scale", "1", "--crop-size", "32", "--quiet"]
    assert main(args) == 0
    store = CropStore(tmp_path / "store")
    assert store.channel_names == NAMES and list(store.images["name"]) == [f"plate1/well{i}" for i in range(4)]
    assert set(store.images["label"]) == {"plate1"}
    assert main(args[:-1] + ["--channels", "DNA,GFP,Actin", "--quiet"]) == 1
    assert "differs from the channels the OME files name" in capsys.readouterr().err
    tifffile.imwrite(folder / "plate1" / "other.ome.tif", np.moveaxis(fields[0][..., :2], -1, 0), ome=True,
                     metadata={"axes": "CYX", "Channel": {"Name": ["GFP", "DNA"]}})
    assert main(args) == 1 and "name different channels" in capsys.readouterr().err
