"""train_weights and its settings: what keys a cache and a checkpoint."""

import joblib
import numpy as np

from skpci.featurizer.training import TrainingSettings


def test_settings_are_plain_numbers_so_numpy_scalars_give_the_same_key():
    plain = TrainingSettings(epochs=3, batch_size=64, learning_rate=1e-4, beta_1=0.5, block_bytes=2**20)
    numpy = TrainingSettings(epochs=np.int64(3), batch_size=np.int32(64), learning_rate=np.float64(1e-4),
                             beta_1=np.float64(0.5), rotations=np.bool_(False), block_bytes=np.int64(2**20))
    assert type(numpy.epochs) is int and type(numpy.beta_1) is float and type(numpy.rotations) is bool
    assert joblib.hash(plain) == joblib.hash(numpy)
    assert TrainingSettings(block_bytes=None).block_bytes is None  # data in memory: blocks change nothing


def test_a_reused_training_network_trains_exactly_like_a_new_one(synthetic_crops):
    from skpci import PairedInpaintingFeaturizer
    from skpci.featurizer.training import _reuse

    from ...conftest import FAST, assert_same_losses, assert_same_training

    def fit(seed):
        return PairedInpaintingFeaturizer(epochs=2, random_state=seed, **FAST).fit(synthetic_crops.bags)

    _reuse.forget_training_networks()
    new = fit(0)  # builds and compiles a network, kept afterwards
    assert len(_reuse._idle) == 1
    kept_model = next(iter(_reuse._idle.values()))[0]
    fit(1)  # trains the kept network from other weights
    reused = fit(0)
    assert next(iter(_reuse._idle.values()))[0] is kept_model  # the same network, three times
    assert_same_training(reused.transform(synthetic_crops.cells), new.transform(synthetic_crops.cells))
    assert_same_losses(reused.history_["loss"], new.history_["loss"], rtol=0)
    _reuse.forget_training_networks()
    assert not _reuse._idle
