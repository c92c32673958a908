"""Same weights, same features? One saved model's features on this backend and device against a reference.

    python benchmarks/backend_consistency.py make REFERENCE_DIR --data ../shared/data   # where the reference is made
    python benchmarks/backend_consistency.py check REFERENCE_DIR [--json results.json]  # on the machine to check

``make`` fits a featurizer on 256 of the yeast toy crops for one epoch at
64 px, saves it with ``save_pretrained`` and writes the features of those
cells (every layer, float32) beside it, with the backend that made them.
``check`` loads that model on the current Keras backend and device,
computes the same features and reports, per layer, the relative error
``||ours - reference|| / ||reference||`` and the largest absolute
difference. It then trains ``precision="bfloat16"`` for two epochs on those
cells and checks that the loss is finite and falls.

Set ``SKPCI_FULL_FLOAT32=1`` to turn off TensorFloat-32 in convolutions and
matrix products (JAX: ``jax_default_matmul_precision="highest"``; PyTorch:
``allow_tf32 = False``), to tell rounding of the GPU's fast float32 mode from
a real disagreement.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import machine, print_table, write_json  # noqa: E402

LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
N_CELLS = 256


def full_float32():
    """Turn TensorFloat-32 off on the current backend (no effect on a CPU)."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", "highest")
    elif keras.backend.backend() == "torch":
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False


def features(model_dir, cells):
    from skpci import PairedInpaintingFeaturizer

    return {layer: PairedInpaintingFeaturizer.from_pretrained(model_dir, layer=layer).fit(cells).transform(cells)
            for layer in LAYERS}


def make(reference_dir, data_dir):
    import keras

    from skpci import PairedInpaintingFeaturizer
    from skpci.io import read_yeast_crops

    yeast = read_yeast_crops(Path(data_dir) / "yeast_toy")
    keep = np.sort(np.random.default_rng(0).choice(len(yeast.cells), N_CELLS, replace=False))
    cells, groups = yeast.cells[keep], np.asarray(yeast.groups, dtype=str)[keep]
    model = PairedInpaintingFeaturizer(protein_channels=(0,), marker_channels=(1,), channel_names=["gfp", "rfp"],
                                       input_size=64, epochs=1, random_state=0).fit(cells, groups=groups)
    reference_dir = Path(reference_dir)
    # float16 halves what travels to the machine to check; both sides read the same stored weights.
    model.save_pretrained(reference_dir / "model", overwrite=True, dtype="float16")
    reference = features(reference_dir / "model", cells)
    np.savez_compressed(reference_dir / "reference.npz", cells=cells, groups=groups, **reference)
    (reference_dir / "reference.json").write_text(json.dumps({"backend": keras.backend.backend(),
                                                              "machine": machine()}))
    print(f"reference features of {N_CELLS} cells written to {reference_dir}")


def bfloat16_training(cells, groups):
    from skpci import PairedInpaintingFeaturizer

    model = PairedInpaintingFeaturizer(protein_channels=(0,), marker_channels=(1,), input_size=64, epochs=2,
                                       precision="bfloat16", random_state=0).fit(cells, groups=groups)
    losses = model.history_["loss"]
    result = model.transform(cells)
    return {"losses": losses, "finite": bool(np.isfinite(losses).all() and np.isfinite(result).all()),
            "falls": losses[-1] < losses[0]}


def check(reference_dir, json_path, training=True):
    import keras
    from gpu_training import device_name

    reference_dir = Path(reference_dir)
    if os.environ.get("SKPCI_FULL_FLOAT32") == "1":
        full_float32()
    stored = np.load(reference_dir / "reference.npz")
    made_by = json.loads((reference_dir / "reference.json").read_text())
    ours = features(reference_dir / "model", stored["cells"])
    rows = []
    for layer in LAYERS:
        expected, got = stored[layer], ours[layer]
        rows.append({"layer": layer, "relative error": float(np.linalg.norm(got - expected) / np.linalg.norm(expected)),
                     "max abs diff": float(np.abs(got - expected).max()), "finite": bool(np.isfinite(got).all())})
    bf16 = bfloat16_training(stored["cells"], stored["groups"]) if training else None
    mode = "TF32 off" if os.environ.get("SKPCI_FULL_FLOAT32") == "1" else "backend default"
    print(f"{device_name()} ({keras.backend.backend()}, {mode}) against {made_by['backend']} on "
          f"{made_by['machine']}; {machine()}")
    print_table(rows, {"layer": "", "relative error": ".2e", "max abs diff": ".2e", "finite": ""},
                title=f"Features of {len(stored['cells'])} yeast cells, same weights")
    if bf16 is not None:
        print(f"bfloat16 training, 2 epochs: losses {[round(loss, 5) for loss in bf16['losses']]}, "
              f"finite {bf16['finite']}, falls {bf16['falls']}")
    write_json(json_path, f"backend_consistency_{keras.backend.backend()}_{mode}", {
        "device": device_name(), "reference": made_by, "rows": rows, "bfloat16": bf16})
    worst = max(row["relative error"] for row in rows)
    trained = bf16 is None or (bf16["finite"] and bf16["falls"])
    return 0 if trained and all(row["finite"] for row in rows) and worst < 1e-2 else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["make", "check"])
    parser.add_argument("reference_dir")
    parser.add_argument("--data", default=os.environ.get("SKPCI_DATA_DIR", "../shared/data"))
    parser.add_argument("--no-training", action="store_true", help="check features only")
    parser.add_argument("--json")
    args = parser.parse_args()
    if args.action == "make":
        make(args.reference_dir, args.data)
    else:
        sys.exit(check(args.reference_dir, args.json, training=not args.no_training))


if __name__ == "__main__":
    main()
