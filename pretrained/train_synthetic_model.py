"""Train the bundled ``synthetic-32`` model on the built-in synthetic generator.

Run from the repository root (about 30 minutes on a 2-core CPU):

    python pretrained/train_synthetic_model.py pretrained/synthetic-32

The fields use ``random_state=1``; the demo draws its own with seed 0, so it
scores the model on fields it was not trained on.
"""

import sys
import time

from skpci import PairedInpaintingFeaturizer
from skpci.datasets import CHANNELS, make_cell_crops

TRAINING_DATA = dict(n_images=140, image_size=160, cell_radius=8, crop_size=32, random_state=1)
MODEL = dict(protein_channels=(0,), marker_channels=(1, 2), input_size=32, epochs=16,
             batch_size=32, random_state=1, verbose=1)


def main(output):
    data = make_cell_crops(**TRAINING_DATA)
    started = time.perf_counter()
    featurizer = PairedInpaintingFeaturizer(**MODEL).fit(data.bags)
    minutes = (time.perf_counter() - started) / 60
    print(f"{len(data.cells)} cells, {minutes:.1f} min, losses {featurizer.history_['loss']}")
    featurizer.save_pretrained(
        output,
        channel_names=list(CHANNELS),
        training_data=f"skpci.datasets.make_cell_crops({TRAINING_DATA}): {len(data.cells)} cells "
                      f"in {TRAINING_DATA['n_images']} synthetic fields, 7 localization classes",
    )


if __name__ == "__main__":
    main(sys.argv[1])
