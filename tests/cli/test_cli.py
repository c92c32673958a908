"""The installed ``skpci`` entry point, run as a user would."""

import importlib.util
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest


def _skpci(*args, timeout=600):
    executable = shutil.which("skpci")
    command = [executable] if executable else [sys.executable, "-m", "skpci.cli"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=timeout)


def _table_rows(out):
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if parts.count("±") == 2:  # features, layer, accuracy ± std, balanced ± std (then the mAP, if shown)
            first = parts.index("±")
            rows[" ".join(parts[:first - 1])] = float(parts[first - 1])
    return rows


@pytest.fixture(scope="module")
def field_folder(tmp_path_factory):
    """Whole synthetic fields, one uint16 TIFF per channel, in one folder per class."""
    import tifffile

    from skpci.datasets import make_cell_images

    data = make_cell_images(n_images=4, image_size=128, cell_radius=8, random_state=1,
                            localizations=("nucleus", "plasma_membrane"))
    root = tmp_path_factory.mktemp("fields")
    for index, (image, label) in enumerate(zip(data.images, data.labels)):
        (root / label).mkdir(exist_ok=True)
        for channel, name in enumerate(data.channel_names):
            tifffile.imwrite(root / label / f"field{index}_{name}.tif", (image[..., channel] * 30000).astype(np.uint16))
    return root, list(data.labels)


def test_demo_with_the_bundled_model_prints_a_table_and_saves_figures(tmp_path):
    result = _skpci("demo", "--images", "21", "--quiet", "--output", str(tmp_path / "figures"))
    assert result.returncode == 0, result.stderr
    for name in ("inpainting.png", "embedding.png", "layers.png", "segmentation.png"):
        with open(tmp_path / "figures" / name, "rb") as figure:
            assert figure.read(8) == b"\x89PNG\r\n\x1a\n", name
    assert f"Figures written to {tmp_path / 'figures'}" in result.stdout
    assert "bundled model 'synthetic-32'" in result.stdout
    rows = _table_rows(result.stdout)
    for layer in ("conv1_1", "conv3_1", "conv5_1"):
        assert rows[f"paired inpainting {layer}"] > 2 / 7  # twice chance
    assert "brightness (mean, max) -" in rows
    assert "Traceback" not in result.stderr
    if importlib.util.find_spec("copairs") is not None:  # the table adds the retrieval mAP
        assert "mAP: mean average precision of retrieving same-class cells" in result.stdout


def test_demo_can_train_from_scratch():
    result = _skpci("demo", "--images", "14", "--epochs", "1", "--input-size", "16", "--quiet", "--no-figures")
    assert result.returncode == 0, result.stderr
    assert "Trained 1 epoch from scratch" in result.stdout
    assert "Figures written" not in result.stdout
    assert "untrained network conv3_1" in result.stdout


def test_help_lists_the_demo_command():
    result = _skpci("--help", timeout=60)
    assert result.returncode == 0
    assert "demo" in result.stdout


@pytest.mark.parametrize("args", [["demo", "--epochs", "many"], ["frobnicate"]])
def test_bad_arguments_exit_with_usage_error(args):
    result = _skpci(*args, timeout=60)
    assert result.returncode == 2
    assert "usage:" in result.stderr


def test_errors_are_one_line_without_traceback():
    result = _skpci("demo", "--images", "14", "--epochs", "1", "--input-size", "30", "--quiet")
    assert result.returncode == 1
    assert result.stderr.startswith("skpci: error:") and "multiple of 4" in result.stderr
    assert "Traceback" not in result.stderr
    too_few = _skpci("demo", "--images", "0", "--quiet")
    assert too_few.returncode == 1 and "needs at least 14 images (--images)" in too_few.stderr


def test_fit_features_and_benchmark_commands_on_a_crop_folder(crop_folder, tmp_path):
    import json

    import pandas as pd

    root, n_cells = crop_folder
    model = tmp_path / "model"
    fit = _skpci("fit", str(root), "-o", str(model), "--channels", "protein,nucleus,cytosol",
                 "--protein", "protein", "--markers", "nucleus,cytosol", "--group-by", "image",
                 "--input-size", "16", "--epochs", "1", "--batch-size", "16", "--quiet")
    assert fit.returncode == 0, fit.stderr
    card = json.loads((model / "model_card.json").read_text())
    assert card["channels"]["names"] == ["protein", "nucleus", "cytosol"]
    assert card["training"]["epochs"] == 1
    assert "over 1 epoch\n" in fit.stdout

    cells = _skpci("features", str(root), "--model", str(model), "-o", str(tmp_path / "cells.csv"), "--quiet")
    assert cells.returncode == 0, cells.stderr
    table = pd.read_csv(tmp_path / "cells.csv")
    assert len(table) == n_cells and list(table.columns[:3]) == ["folder", "image", "cell"]
    assert table.shape[1] == 4 + 384 and (table["label"] == table["folder"]).all()  # the layout's label

    images = _skpci("features", str(root), "--model", str(model), "--per", "image", "--layer", "conv1_1,conv2_1",
                    "-o", str(tmp_path / "images.csv"), "--quiet")
    assert images.returncode == 0, images.stderr
    per_image = pd.read_csv(tmp_path / "images.csv")
    assert len(per_image) == 8 and per_image["n_cells"].sum() == n_cells
    assert "conv2_1_255" in per_image.columns

    bench = _skpci("benchmark", str(root), "--model", str(model))
    assert bench.returncode == 0, bench.stderr
    assert "conv3_1" in bench.stdout and "hand-crafted" in bench.stdout and "brightness" in bench.stdout
    untrained = [line.split() for line in bench.stdout.splitlines() if line.split()[:1] == ["untrained"]]
    assert [row[1] for row in untrained] == ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]


def test_ctrl_c_during_fit_saves_the_last_completed_epoch_and_exits_130(crop_folder, tmp_path):
    import json
    import signal
    import time

    from skpci.featurizer.training import Checkpoint

    root, _ = crop_folder
    model, checkpoints = tmp_path / "model", tmp_path / "checkpoints"
    executable = shutil.which("skpci")
    command = [executable] if executable else [sys.executable, "-m", "skpci.cli"]
    child = subprocess.Popen(
        [*command, "fit", str(root), "-o", str(model), "--channels", "protein,nucleus,cytosol",
         "--protein", "protein", "--markers", "nucleus,cytosol", "--input-size", "16", "--batch-size", "16",
         "--epochs", "500", "--checkpoint-dir", str(checkpoints), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while Checkpoint(checkpoints, None).read_state() is None:
        assert child.poll() is None and time.monotonic() < deadline, child.stderr.read()[-2000:]
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 130, err[-2000:]
    training = json.loads((model / "model_card.json").read_text())["training"]
    assert 1 <= training["epochs"] == len(training["loss_history"]) < training["epochs_requested"] == 500
    assert f"interrupted after {training['epochs']} of 500 epochs" in out
    assert "same --checkpoint-dir and --overwrite to resume" in out and "Traceback" not in err


def test_command_errors_are_clear_and_debug_shows_the_traceback(crop_folder, tmp_path):
    root, _ = crop_folder
    wrong = _skpci("fit", str(root), "-o", str(tmp_path / "m"), "--channels", "protein,nucleus",
                   "--protein", "protein", "--markers", "cytosol", "--epochs", "1")
    assert wrong.returncode == 1
    assert wrong.stderr.strip() == ("skpci: error: marker_channels names channel 'cytosol', which is not "
                                    "among ['protein', 'nucleus'].")
    missing = _skpci("--debug", "features", str(tmp_path / "nowhere"), "--model", "synthetic-32",
                     "-o", str(tmp_path / "x.csv"))
    assert missing.returncode == 1 and "Traceback" in missing.stderr and "No such folder" in missing.stderr
    after = _skpci("features", str(tmp_path / "nowhere"), "--model", "synthetic-32", "-o", str(tmp_path / "x.csv"),
                   "--debug")
    assert after.returncode == 1 and "Traceback" in after.stderr and "No such folder" in after.stderr
    bad_table = _skpci("features", str(root), "--model", "synthetic-32", "-o", str(tmp_path / "x.txt"))
    assert bad_table.returncode == 1 and "must end in .csv, .parquet (tables) or .h5ad" in bad_table.stderr


def test_segment_fit_and_features_on_a_crop_store(field_folder, tmp_path):
    import pandas as pd

    from skpci import CropStore

    root, labels = field_folder
    store_path = tmp_path / "store"
    segment_args = ("segment", str(root), "-o", str(store_path), "--channels", "protein,nucleus,cytosol",
                    "--nuclear", "nucleus", "--recursive", "--label-from", "folder", "--scale", "1",
                    "--crop-size", "32", "--min-area", "10", "--quiet")
    first = _skpci(*segment_args)
    assert first.returncode == 0, first.stderr
    store = CropStore(store_path)
    assert store.n_images == 4 and store.dtype == np.uint16 and store.channel_names == ["protein", "nucleus", "cytosol"]
    assert sorted(store.images["label"]) == sorted(labels) and len(store) > 20
    again = _skpci(*segment_args)
    assert again.returncode == 0 and "(0 new)" in again.stdout

    model = tmp_path / "model"
    fit = _skpci("fit", str(store_path), "-o", str(model), "--protein", "protein", "--markers", "nucleus,cytosol",
                 "--input-size", "16", "--epochs", "1", "--batch-size", "16", "--rotations", "--protein-jitter", "0.3",
                 "--mask-neighbours", "--mask-marker", "cytosol", "--quiet")
    assert fit.returncode == 0, fit.stderr
    assert f"{len(store)} cells of 4 fields" in fit.stdout
    card = json.loads((model / "model_card.json").read_text())
    assert card["training"]["rotations"] is True and card["training"]["protein_jitter"] == 0.3
    assert card["training"]["mask_neighbours"] is True and card["training"]["mask_marker"] == 2  # cytosol

    features = _skpci("features", str(store_path), "--model", str(model), "-o", str(tmp_path / "cells.parquet"),
                      "--pooling", "meanmax", "--quiet")
    assert features.returncode == 0, features.stderr
    table = pd.read_parquet(tmp_path / "cells.parquet")
    assert len(table) == len(store) and {"conv3_1_max_383", "conv3_1_mean_0"} <= set(table.columns)
    assert set(table["label"]) == set(labels)
    inside = _skpci("features", str(store_path), "--model", str(model), "-o", "store", "--per", "image", "--quiet")
    assert inside.returncode == 0, inside.stderr
    assert (store_path / "features-conv3_1-central-cell-cytosol.h5").is_file()  # the model masks: a name of its own
    again = _skpci("features", str(store_path), "--model", str(model), "-o", "store", "--per", "image", "--quiet")
    assert again.returncode == 1
    assert "features-conv3_1-central-cell-cytosol.h5' exists; pass --overwrite" in again.stderr
    clash = _skpci("fit", str(store_path), "-o", str(tmp_path / "m2"), "--protein", "protein", "--markers",
                   "nucleus,cytosol", "--mask-marker", "cytosol", "--no-mask-neighbours", "--quiet")
    assert clash.returncode == 1 and "drop --no-mask-neighbours" in clash.stderr

    wrong = _skpci("segment", str(root), "-o", str(tmp_path / "s2"), "--channels", "protein,nucleus",
                   "--nuclear", "dapi", "--recursive")
    assert wrong.returncode == 1 and "--nuclear 'dapi' is not among" in wrong.stderr
