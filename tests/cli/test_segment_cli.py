"""``skpci segment`` with its defaults: sizes settled from the fields, and a report of every run."""

import numpy as np
import tifffile

from skpci import CropStore
from skpci.cli import main
from skpci.datasets import make_cell_images


def test_segment_reports_what_it_found_and_refuses_other_settings(tmp_path, capsys):
    data = make_cell_images(n_images=3, image_size=160, cell_radius=10, random_state=2)
    for index, image in enumerate(data.images):
        for channel, name in enumerate(data.channel_names):
            tifffile.imwrite(tmp_path / f"field{index}_{name}.tif", (image[..., channel] * 30000).astype(np.uint16))
    args = ["segment", str(tmp_path), "-o", str(tmp_path / "store"), "--channels", "protein,nucleus,cytosol",
            "--nuclear", "nucleus", "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    store = CropStore(tmp_path / "store")
    found = sum(row["segmentation"]["found"] for row in store.images["metadata"])
    assert f"this run: 3 fields, {found} nuclei found, {len(store)} kept" in out
    assert f"scale 1.0, {store.crop_shape[0]} px crops, nuclei about" in out
    assert store.settings["crop_size"] == store.crop_shape[0] and store.settings["scale"] == 1.0
    assert main(args) == 0  # a rerun finds nothing new, with the same settings
    assert "this run: 0 fields" in capsys.readouterr().out
    assert main(args + ["--crop-size", "24"]) == 1
    assert "this run asks for crop_size=24" in capsys.readouterr().err


def test_segment_skips_bad_fields_when_asked_and_says_which(tmp_path, capsys):
    data = make_cell_images(n_images=3, image_size=160, cell_radius=10, random_state=2)
    fields = tmp_path / "fields"
    fields.mkdir()
    for index, image in enumerate(data.images):
        for channel, name in enumerate(data.channel_names):
            tifffile.imwrite(fields / f"field{index}_{name}.tif", (image[..., channel] * 30000).astype(np.uint16))
    good = (fields / "field1_nucleus.tif").read_bytes()
    (fields / "field1_nucleus.tif").write_bytes(good[:2000])  # truncated
    args = ["segment", str(fields), "-o", str(tmp_path / "store"), "--channels", "protein,nucleus,cytosol",
            "--nuclear", "nucleus", "--quiet"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "field1" in err and "--skip-bad-fields" in err
    assert CropStore(tmp_path / "store").images["name"].str.contains("field0").tolist() == [True]
    assert main(args + ["--skip-bad-fields"]) == 0
    out = capsys.readouterr().out
    assert "1 field(s) could not be segmented and were skipped" in out and "field1" in out
    store = CropStore(tmp_path / "store")
    assert store.n_images == 2 and len(store.skipped) == 1
    (fields / "field1_nucleus.tif").write_bytes(good)
    assert main(args) == 0
    assert CropStore(tmp_path / "store").n_images == 3 and CropStore(tmp_path / "store").skipped == {}
