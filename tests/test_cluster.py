"""Runs on a dask cluster (loopback) give the same results as local runs."""

import joblib
import numpy as np
import pytest

from skpci import CellSegmenter

distributed = pytest.importorskip("distributed")


SEGMENTER = dict(nuclear_channel=1, scale=1, crop_size=32, min_nucleus_area=10)


@pytest.fixture(scope="module")
def cluster():
    """A real dask.distributed cluster on loopback: two worker processes."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as local, distributed.Client(local) as client:
        yield client


@pytest.fixture(scope="module")
def field_paths(field_files):
    return field_files[0]


def test_segmentation_on_dask_workers_matches_a_local_run(cluster, field_paths, tmp_path):
    segmenter = CellSegmenter(n_jobs=-1, **SEGMENTER)
    local = CellSegmenter(n_jobs=1, **SEGMENTER).transform(field_paths)
    with distributed.get_task_stream(cluster) as tasks, joblib.parallel_config(backend="dask"):
        remote = segmenter.transform(field_paths)  # workers get paths and read the files themselves
        store = segmenter.to_store(field_paths, tmp_path / "store", images_per_shard=2)
    assert len(tasks.data) >= 2 * len(field_paths)
    assert {task["worker"] for task in tasks.data} == set(cluster.scheduler_info()["workers"])
    for mine, theirs in zip(local, remote):
        np.testing.assert_array_equal(mine, theirs)
    np.testing.assert_allclose(store.read(), np.concatenate(local), atol=0.5)


def test_feature_extraction_with_dask_preprocessing_matches_a_local_run(cluster, fitted_featurizer,
                                                                        synthetic_crops):
    cells = np.concatenate(synthetic_crops.bags)
    cells = np.concatenate([cells] * 4)  # more than one preparation task
    local = fitted_featurizer.set_params(n_jobs=None).transform(cells)
    with distributed.get_task_stream(cluster) as tasks, joblib.parallel_config(backend="dask"):
        remote = fitted_featurizer.set_params(n_jobs=-1).transform(cells)
    fitted_featurizer.set_params(n_jobs=None)
    assert len(tasks.data) >= 2
    np.testing.assert_array_equal(local, remote)
