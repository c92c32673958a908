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
