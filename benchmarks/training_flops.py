"""Training FLOP/s against the machine's float32 matrix-product FLOP/s, side by side.

    python benchmarks/training_flops.py [--input-size 64] [--batches 6] [--json results.json]

FLOPs per training sample are derived from the model: each convolution costs
2 * H * W * k * k * C_in * C_out multiply-adds forward, and a training step
about three times the forward pass (forward, gradients of the inputs and of
the weights). The reference is one large float32 matrix product on the same
backend, timed in the same run. Training runs on one constant batch held in
memory, so only the model is timed; ``data_pipeline.py`` shows real pairs
keep up with it. Variants: Keras's default ``jit_compile="auto"`` (what skpci
uses; no XLA on a CPU-only TensorFlow machine) and forced XLA.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import machine, print_table, write_json  # noqa: E402


def forward_flops(model):
    """Multiply-add FLOPs (x2) of every convolution of one sample's forward pass."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            height, width, out_channels = layer.output.shape[1:]
            kernel_h, kernel_w, in_channels, _ = layer.kernel.shape
            total += 2 * height * width * kernel_h * kernel_w * in_channels * out_channels
    return total


def matmul_flops_per_second(n=4096, repeats=5, dtype="float32", products=10):
    """FLOP/s of an n x n matrix product on the Keras backend (best of ``repeats`` runs of ``products``)."""
    import keras

    a = keras.random.normal((n, n), dtype=dtype, seed=0)
    b = keras.random.normal((n, n), dtype=dtype, seed=1)

    def wait(product):
        keras.ops.convert_to_numpy(keras.ops.cast(product[0, 0], "float32"))

    wait(keras.ops.matmul(a, b))  # warm up
    best = np.inf
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(products):
            product = keras.ops.matmul(a, b)
        wait(product)
        best = min(best, time.perf_counter() - started)
    return 2 * n**3 * products / best


def batch_dataset(get_batch, n_batches, workers=1):
    """A Keras PyDataset of ``n_batches`` batches, batch ``i`` being ``get_batch(i)``."""
    import keras

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return n_batches

        def __getitem__(self, index):
            return get_batch(index)

    return Batches(workers=workers, use_multiprocessing=False)


def training_samples_per_second(input_size, batch_size, n_batches, jit_compile, precision=None,
                                steps_per_execution=1):
    """Samples/s of model.fit on one constant in-memory batch (best of two timings)."""
    import keras

    from skpci.network import build_inpainting_model

    model = build_inpainting_model(1, 1, input_size, seed=0, dtype=precision)
    model.compile(optimizer=keras.optimizers.Adam(1e-4, beta_1=0.5), loss="mse", jit_compile=jit_compile,
                  steps_per_execution=steps_per_execution)
    rng = np.random.default_rng(0)
    inputs = {"x_in": rng.random((batch_size, input_size, input_size, 2), dtype=np.float32),
              "y_rfp": rng.random((batch_size, input_size, input_size, 1), dtype=np.float32)}
    target = rng.random((batch_size, input_size, input_size, 1), dtype=np.float32)

    model.fit(batch_dataset(lambda index: (inputs, target), 2 * steps_per_execution), epochs=1, verbose=0)  # compile
    best = np.inf
    for _ in range(2):
        started = time.perf_counter()
        model.fit(batch_dataset(lambda index: (inputs, target), n_batches), epochs=1, verbose=0)
        best = min(best, time.perf_counter() - started)
    return n_batches * batch_size / best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--json")
    args = parser.parse_args()

    import keras

    from skpci.network import build_inpainting_model

    flops = forward_flops(build_inpainting_model(1, 1, args.input_size, seed=0))
    per_sample = 3 * flops
    matmul = matmul_flops_per_second()
    rows = []
    # "auto" is Keras's default and skpci's: on TensorFlow it leaves XLA off on a CPU-only machine.
    for jit in ("auto", True):
        samples = training_samples_per_second(args.input_size, args.batch_size, args.batches, jit)
        rows.append({"variant": f"jit_compile={jit!r}", "samples/s": samples,
                     "GFLOP/s": samples * per_sample / 1e9, "of matmul": samples * per_sample / matmul})
    print(f"2 + 1 channels, {args.input_size} px, batch {args.batch_size}; {machine()}")
    print(f"forward {flops / 1e9:.2f} GFLOP per sample, training ~{per_sample / 1e9:.1f} GFLOP per sample")
    print(f"float32 matrix product (4096^2) on {keras.backend.backend()}: {matmul / 1e9:.0f} GFLOP/s\n")
    print_table(rows, {"variant": "", "samples/s": ".2f", "GFLOP/s": ".0f", "of matmul": ".0%"},
                title="Training on one constant batch (best of 2)")
    write_json(args.json, "training_flops", {
        "input_size": args.input_size, "batch_size": args.batch_size, "forward_gflop": flops / 1e9,
        "training_gflop_per_sample": per_sample / 1e9, "matmul_gflops": matmul / 1e9, "variants": rows})


if __name__ == "__main__":
    main()
