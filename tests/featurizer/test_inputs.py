"""The input seam: a CropStore behaves like cells in memory, for fit, transform and write_features."""

import json
import os
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pandas as pd
import pytest

from skpci import CropStore, PairedInpaintingFeaturizer
from skpci.featurizer.training import StoreCrops, encode_groups
from skpci.preprocessing import resize_crops

from ..conftest import FAST, assert_same_features, assert_same_losses, assert_same_training


def test_fit_on_a_store_matches_fit_in_memory_and_transform_reads_either(tmp_path, synthetic_crops):
    # At the network's input size, the store (scaled batch by batch) and memory (scaled once) paths
    # give the same batches bit for bit.
    bags = [(resize_crops(bag, FAST["input_size"]) * 1000).astype(np.uint16) for bag in synthetic_crops.bags]
    store = CropStore.from_bags(tmp_path / "store", bags)
    params = dict(epochs=1, random_state=0, **FAST)
    from_store = PairedInpaintingFeaturizer(**params).fit(store)
    in_memory = PairedInpaintingFeaturizer(**params).fit(bags)
    assert from_store.n_cells_fit_ == len(store)
    assert_same_losses(from_store.history_["loss"], in_memory.history_["loss"], rtol=1e-6)
    cells = np.concatenate(bags)
    assert_same_features(from_store.transform(store), from_store.transform(cells))
    assert_same_training(from_store.transform(cells), in_memory.transform(cells), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="groups is not used with a CropStore"):
        PairedInpaintingFeaturizer(**params).fit(store, groups=np.zeros(len(store)))


def test_training_streams_several_blocks_of_a_store(tmp_path, synthetic_crops):
    bags = [(bag * 255).astype(np.uint8) for bag in synthetic_crops.bags]
    small_blocks = CropStore.from_bags(tmp_path / "store", bags)
    block_bytes = 40 * bags[0][0].nbytes
    codes = encode_groups(small_blocks.cells["group"].to_numpy(), len(small_blocks))
    assert StoreCrops(small_blocks, codes, 16, [0, 1, 2], block_bytes=block_bytes).n_blocks > 4
    featurizer = PairedInpaintingFeaturizer(epochs=2, random_state=1, block_bytes=block_bytes,
                                            **FAST).fit(small_blocks)
    losses = featurizer.history_["loss"]
    assert len(losses) == 2 and all(np.isfinite(losses))
    untrained = PairedInpaintingFeaturizer(epochs=0, random_state=1, **FAST).fit(small_blocks)
    assert not np.allclose(featurizer.transform(small_blocks), untrained.transform(small_blocks))


def test_a_store_with_split_groups_trains_as_the_same_cells_stored_group_by_group(tmp_path, synthetic_crops):
    # A field appended late (a retried read, a second to_store run) splits its group. Training numbers
    # the cells group by group, so it sees exactly the store written in group order.
    bags = [(resize_crops(bag, FAST["input_size"]) * 1000).astype(np.uint16) for bag in synthetic_crops.bags[:6]]
    groups = ["A", "B", "A", "C", "B", "A"]
    split = CropStore.from_bags(tmp_path / "split", bags, groups=groups)
    in_group_order = [0, 2, 5, 1, 4, 3]
    grouped = CropStore.from_bags(tmp_path / "grouped", [bags[i] for i in in_group_order],
                                  groups=[groups[i] for i in in_group_order])
    block_bytes = 30 * bags[0][0].nbytes
    codes = encode_groups(split.cells["group"].to_numpy(), len(split))
    source = StoreCrops(split, codes, FAST["input_size"], [0, 1, 2], block_bytes=block_bytes)
    assert source.n_blocks > 1 and source.stored_cells is not None
    np.testing.assert_array_equal(source.codes, np.sort(codes))
    sizes = np.cumsum([0] + [len(bag) for bag in bags])
    expected = np.concatenate([np.arange(sizes[i], sizes[i + 1]) for i in in_group_order])
    np.testing.assert_array_equal(source.stored_cells, expected)
    np.testing.assert_array_equal(source._read_cells(0, len(split)), split.read()[expected])
    source.close()
    params = dict(epochs=1, random_state=0, block_bytes=block_bytes, **FAST)
    from_split = PairedInpaintingFeaturizer(**params).fit(split)
    from_grouped = PairedInpaintingFeaturizer(**params).fit(grouped)
    assert_same_losses(from_split.history_["loss"], from_grouped.history_["loss"], rtol=1e-6)
    cells = np.concatenate(bags)
    assert_same_training(from_split.transform(cells), from_grouped.transform(cells), rtol=1e-5, atol=1e-6)
    assert from_split.score(split) == pytest.approx(from_grouped.score(grouped), rel=1e-5)


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
    # Another read-out gets a file of its own instead of replacing (or refusing) the default's.
    fitted_featurizer.set_params(pooling="meanmax")
    try:
        other = fitted_featurizer.write_features(store)
    finally:
        fitted_featurizer.set_params(pooling="max")
    assert other.name == "features-conv3_1-meanmax.h5" and inside.is_file()
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
        store = CropStore(sys.argv[1])
        featurizer = PairedInpaintingFeaturizer(marker_channels=(1, 2), input_size=8, batch_size=64,
                                                epochs=1, random_state=0, block_bytes=8 * 2**20).fit(store)
        print(json.dumps({"peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                          "loss": featurizer.history_["loss"], "cells": featurizer.n_cells_fit_}))
    """)

    def peak_rss(store):
        result = subprocess.run([sys.executable, "-c", script, str(store.path)], capture_output=True, text=True,
                                # glibc gives each thread its own malloc arena, so peak RSS otherwise
                                # moves by tens of MiB with thread timing (77-130 MiB growth seen here).
                                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MALLOC_ARENA_MAX": "2"},
                                timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        measured = json.loads(result.stdout.strip().splitlines()[-1])
        assert np.isfinite(measured["loss"]).all() and measured["cells"] == len(store)
        return measured["peak"]

    growth = peak_rss(big) - peak_rss(small)
    assert growth < budget, f"peak RSS grew by {growth / 2**20:.0f} MiB for a {big.nbytes / 2**20:.0f} MiB store"


@pytest.fixture(scope="module")
def three_forms(synthetic_crops, tmp_path_factory):
    """The same cells as bags, as cells with groups, and as a store."""
    bags = [(resize_crops(bag, FAST["input_size"]) * 1000).astype(np.uint16) for bag in synthetic_crops.bags]
    cells = np.concatenate(bags)
    groups = np.repeat([f"image-{i}" for i in range(len(bags))], [len(bag) for bag in bags])
    store = CropStore.from_bags(tmp_path_factory.mktemp("forms") / "store", bags)
    return bags, cells, groups, store


@pytest.fixture(scope="module")
def forms_featurizer(three_forms):
    """Fitted on the crop size of ``three_forms`` (another size would be refused)."""
    return PairedInpaintingFeaturizer(epochs=1, random_state=0, **FAST).fit(three_forms[0])


def test_score_and_inpaint_take_every_form_and_agree(forms_featurizer, three_forms):
    bags, cells, groups, store = three_forms
    on_bags = forms_featurizer.score(bags)
    assert on_bags < 0
    assert forms_featurizer.score(cells, groups=groups) == pytest.approx(on_bags, rel=1e-6)
    assert forms_featurizer.score(store) == pytest.approx(on_bags, rel=1e-6)
    expected = forms_featurizer.inpaint(cells, cells[::-1])
    np.testing.assert_array_equal(forms_featurizer.inpaint(bags, cells[::-1]), expected)
    np.testing.assert_allclose(forms_featurizer.inpaint(store, cells[::-1]), expected, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="needs groups"):
        forms_featurizer.score(cells)


def test_write_features_takes_every_form_with_its_records(forms_featurizer, three_forms, tmp_path):
    bags, cells, groups, store = three_forms
    per_bag = forms_featurizer.transform(bags)
    names = list(forms_featurizer.get_feature_names_out())
    from_bags = pd.read_csv(forms_featurizer.write_features(bags, tmp_path / "bags.csv", per="image"))
    assert from_bags["image"].tolist() == list(range(len(bags)))
    assert from_bags["n_cells"].tolist() == [len(bag) for bag in bags]
    np.testing.assert_allclose(from_bags[names].to_numpy(), per_bag, rtol=1e-5)
    from_cells = pd.read_parquet(forms_featurizer.write_features(cells, tmp_path / "cells.parquet", groups=groups,
                                                                  per="image"))
    assert from_cells["group"].tolist() == sorted(set(groups))
    order = np.argsort([f"image-{i}" for i in range(len(bags))])
    np.testing.assert_allclose(from_cells[names].to_numpy(), per_bag[order], rtol=1e-5)
    per_cell = pd.read_csv(forms_featurizer.write_features(cells, tmp_path / "per-cell.csv", groups=groups))
    assert per_cell["group"].tolist() == groups.tolist()
    np.testing.assert_allclose(per_cell[names].to_numpy(), forms_featurizer.transform(store), rtol=1e-5)
    with h5py.File(forms_featurizer.write_features(bags, tmp_path / "bags.h5")) as saved:
        assert saved["features"].shape == (len(cells), len(names)) and saved.attrs["per"] == "cell"
    with pytest.raises(ValueError, match="only a CropStore folder keeps them"):
        forms_featurizer.write_features(bags)
    with pytest.raises(ValueError, match="need groups"):
        forms_featurizer.write_features(cells, tmp_path / "x.csv", per="image")
    with pytest.raises(ValueError, match="groups is for a stack of cells"):
        forms_featurizer.write_features(bags, tmp_path / "y.csv", groups=groups)
