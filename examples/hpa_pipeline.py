"""
HPA-style pipeline: per-channel field files to per-field profiles
=================================================================

The Human Protein Atlas stores each field as one file per channel
(``<id>_blue.png``, ``<id>_green.png``, ``<id>_red.png``, ``<id>_yellow.png``).
``skpci.io.list_fields`` finds them without reading them, the segmenter reads
each field inside its own worker (downsampling by ``scale`` first, as the
authors did with 0.25), and the featurizer averages its cells' features into one
profile per field.

By default the example writes a few synthetic fields in that layout to a
temporary folder; point ``--fields`` at a real HPA download instead (and set
``--scale 0.25 --crop-size 128``).

Run ``python examples/hpa_pipeline.py``.
"""

import argparse
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import tifffile

from skpci import CellSegmenter, PairedInpaintingFeaturizer, plots
from skpci.datasets import make_cell_images
from skpci.io import list_fields
from skpci.segmentation import load_field

HPA_CHANNELS = ("blue", "green", "red", "yellow")


def write_synthetic_hpa_folder(folder, n_images=6, random_state=0):
    """Synthetic fields at twice the demo's resolution, saved as HPA-named 8-bit TIFFs."""
    fields = make_cell_images(n_images=n_images, image_size=320, cell_radius=16, random_state=random_state)
    # Synthetic channels are (protein, nucleus, cytosol); HPA's are blue nucleus,
    # green protein, red microtubules, yellow ER.
    planes = {"blue": 1, "green": 0, "red": 2, "yellow": 2}
    for i, image in enumerate(fields.images):
        for channel, index in planes.items():
            tifffile.imwrite(Path(folder) / f"field{i:02d}_{channel}.tif", (image[..., index] * 255).astype(np.uint8))
    return dict(zip([f"field{i:02d}" for i in range(n_images)], fields.labels))


def main(fields_folder=None, scale=0.5, crop_size=32, n_jobs=2):
    with tempfile.TemporaryDirectory() as scratch:
        labels = {}
        if fields_folder is None:
            fields_folder = scratch
            labels = write_synthetic_hpa_folder(scratch)
        fields, field_ids = list_fields(fields_folder, HPA_CHANNELS)
        print(f"{len(fields)} fields found in {fields_folder}")
        segmenter = CellSegmenter(nuclear_channel=0, scale=scale, crop_size=crop_size, min_nucleus_area=12,
                                  border="pad", n_jobs=n_jobs, verbose=1)
        bags = segmenter.fit_transform(fields)  # each worker reads its own files
        print("cells per field:", [len(bag) for bag in bags])
        # The bundled model's channels are protein, nucleus and cytosol; HPA names them green, blue and
        # red (yellow, the ER, stays unused). Named channels are matched by name, never by position.
        featurizer = PairedInpaintingFeaturizer.from_pretrained(
            "synthetic-32", channel_names=list(HPA_CHANNELS), layer="conv3_1",
            channel_map={"protein": "green", "nucleus": "blue", "cytosol": "red"})
        profiles = featurizer.set_output(transform="pandas").fit_transform(bags)
        profiles.index = field_ids
        if labels:
            profiles.insert(0, "localization", [labels[f] for f in field_ids])
        print(profiles.iloc[:, :5].round(3).to_string())
        # The first field as the segmenter saw it (read from its files, downsampled).
        first = segmenter.segment(fields[0])
        plots.plot_segmentation(load_field(fields[0]), first, channel=0, title=f"{field_ids[0]}: nuclei and crops")
        plt.show()
        return profiles


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").strip().split("\n")[0])
    parser.add_argument("--fields", help="folder of <id>_{blue,green,red,yellow} files (default: synthetic)")
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--crop-size", type=int, default=32)
    args = parser.parse_args()
    main(args.fields, scale=args.scale, crop_size=args.crop_size)
