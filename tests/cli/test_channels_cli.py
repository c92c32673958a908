"""The command line finds a model's channels by name, in stores and crop folders, in any order.

These run ``skpci.cli.main`` in-process (the entry point itself is tested in
test_cli.py), so each costs no TensorFlow start-up.
"""

import numpy as np
import pandas as pd
import pytest
import tifffile

from skpci import CropStore, PairedInpaintingFeaturizer
from skpci.cli import main
from skpci.datasets import make_cell_crops
from skpci.io import read_human_crops

HPA_ORDER = ("green", "blue", "red")  # read_human_crops: protein first


@pytest.fixture(scope="module")
def hpa_like(tmp_path_factory):
    """Crops written as the authors' HPA set (green protein, blue nuclei, red microtubules), and a model
    trained in Python on what read_human_crops returns."""
    root = tmp_path_factory.mktemp("hpa")
    data = make_cell_crops(n_images=4, image_size=96, cell_radius=8, crop_size=32, random_state=0)
    for index, bag in enumerate(data.bags):
        folder = root / "crops" / f"GENE{index % 2}_x"
        folder.mkdir(parents=True, exist_ok=True)
        for cell, crop in enumerate(bag):
            for channel, name in enumerate(HPA_ORDER):
                tifffile.imwrite(folder / f"image{index}_{cell}_{name}.tif", crop[..., channel])
    cells = read_human_crops(root / "crops")
    featurizer = PairedInpaintingFeaturizer(marker_channels=("blue", "red"), protein_channels="green",
                                            channel_names=list(cells.channel_names), input_size=16,
                                            epochs=0, random_state=0).fit(cells.cells)
    model = featurizer.save_pretrained(root / "model")
    return root, model, featurizer.transform(cells.cells), len(cells.cells)


def _features(path):
    table = pd.read_csv(path)
    return table.filter(like="conv3_1_").to_numpy()


@pytest.mark.parametrize("channels", [None, "blue,green,red", "red,blue,green"])
def test_python_and_cli_read_the_same_channels_whatever_the_order(hpa_like, tmp_path, channels):
    root, model, expected, n_cells = hpa_like
    args = ["features", str(root / "crops"), "--model", str(model), "-o", str(tmp_path / "f.csv")]
    assert main(args + (["--channels", channels] if channels else [])) == 0
    features = _features(tmp_path / "f.csv")
    assert features.shape == (n_cells, 384)
    # read_cell_crops sorts cells the same way in both readers
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-5)


def test_stores_segmented_in_two_channel_orders_give_the_same_features(hpa_like, tmp_path, capsys):
    root, model, expected, _ = hpa_like
    cells = read_human_crops(root / "crops")
    bags = [cells.cells[:10], cells.cells[10:]]
    results = []
    for order in ((0, 1, 2), (1, 2, 0)):
        names = [HPA_ORDER[i] for i in order]
        store = CropStore.from_bags(tmp_path / "-".join(names), [bag[..., list(order)] for bag in bags],
                                    channel_names=names)
        assert main(["features", str(store.path), "--model", str(model), "-o", str(tmp_path / f"{order}.csv")]) == 0
        results.append(_features(tmp_path / f"{order}.csv"))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(results[0], expected, rtol=1e-4, atol=1e-5)


def test_channels_on_a_store_select_or_are_refused(hpa_like, tmp_path, capsys):
    root, model, _, _ = hpa_like
    cells = read_human_crops(root / "crops").cells
    store = CropStore.from_bags(tmp_path / "dfr", [cells[:10, ..., [1, 0, 2]], cells[10:, ..., [1, 0, 2]]],
                                channel_names=["D", "F", "R"])
    out = str(tmp_path / "x.csv")
    # Names the model does not know: refused, listing both sides
    assert main(["features", str(store.path), "--model", str(model), "-o", out]) == 1
    assert "no channel 'green'" in capsys.readouterr().err
    # The model's channels fed from F, D, R in its order (green, blue, red)
    assert main(["features", str(store.path), "--model", str(model), "-o", out, "--channels", "F,D,R"]) == 0
    mapped = _features(out)
    assert main(["features", str(store.path), "--model", str(model), "-o", out, "--channels", "D,F,R"]) == 1
    assert "exists; pass --overwrite" in capsys.readouterr().err  # never replaced silently
    assert main(["features", str(store.path), "--model", str(model), "-o", out, "--channels", "D,F,R",
                 "--overwrite"]) == 0
    assert not np.allclose(mapped, _features(out))  # another order is another mapping, not ignored
    for bad, message in [("nonsense,foo,bar", "has no ['nonsense', 'foo', 'bar']"),
                         ("F,D", "one channel per model channel"),
                         ("green,D,R", "names some of the model's channels")]:
        assert main(["features", str(store.path), "--model", str(model), "-o", out + ".new.csv", "--channels",
                     bad]) == 1
        assert message in capsys.readouterr().err


def test_fit_on_a_store_takes_roles_by_the_store_names(hpa_like, tmp_path, capsys):
    root, _, _, _ = hpa_like
    cells = read_human_crops(root / "crops").cells
    store = CropStore.from_bags(tmp_path / "dfr", [cells[:10, ..., [1, 0, 2]], cells[10:, ..., [1, 0, 2]]],
                                channel_names=["D", "F", "R"])
    common = ["fit", str(store.path), "--protein", "F", "--markers", "D,R", "--epochs", "0", "--input-size", "16"]
    assert main(common + ["-o", str(tmp_path / "model")]) == 0
    card = PairedInpaintingFeaturizer.from_pretrained(tmp_path / "model")
    assert (card.protein_channels, card.marker_channels) == ((1,), (0, 2))
    assert main(common + ["-o", str(tmp_path / "other"), "--channels", "x,y,z"]) == 1
    assert "it has no ['x', 'y', 'z']" in capsys.readouterr().err


def test_benchmark_refuses_a_single_class(hpa_like, tmp_path, capsys):
    root, model, _, _ = hpa_like
    single = tmp_path / "single"
    (single / "GENE0_x").mkdir(parents=True)
    for path in (root / "crops" / "GENE0_x").iterdir():
        (single / "GENE0_x" / path.name).write_bytes(path.read_bytes())
    assert main(["benchmark", str(single), "--model", str(model)]) == 1
    assert "at least two classes" in capsys.readouterr().err
    assert main(["benchmark", str(root / "crops"), "--model", str(model), "--labels", "image"]) == 1
    assert "training part has no sample of them" in capsys.readouterr().err
