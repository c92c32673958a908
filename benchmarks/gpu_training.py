"""Training samples/s on a GPU with the JAX or PyTorch backend, against the GPU's bf16 matmul rate.

    KERAS_BACKEND=jax   python benchmarks/gpu_training.py [--json results.json]
    KERAS_BACKEND=torch python benchmarks/gpu_training.py [--json results.json]

For float32 and ``precision="bfloat16"`` (Keras's ``mixed_bfloat16``
policy), trains the 2 + 1-channel network at 64 px on one constant batch
held on the host (so only the model and the host-to-device copy are timed)
and reports samples/s and the fraction of the GPU's measured bfloat16
matrix-product FLOP/s that ~21.5 GFLOP per sample reaches. Run it on the
machine you report: the table names the device.

Variants: each batch size in ``--batch-sizes``; Keras's
``steps_per_execution`` (several training steps per call into the
compiled function) at the smallest batch; on PyTorch, cuDNN's autotuner
(``torch.backends.cudnn.benchmark``) at the largest.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _report import machine, print_table, write_json  # noqa: E402
from training_flops import forward_flops, matmul_flops_per_second, training_samples_per_second  # noqa: E402


def device_name():
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return str(jax.devices()[0].device_kind)
    if backend == "torch":
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-size", type=int, default=64)
    parser.add_argument("--batch-sizes", default="64,256")
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--steps-per-execution", default="1,8")
    parser.add_argument("--cudnn-benchmark", action="store_true", help="PyTorch: also try cuDNN's autotuner")
    parser.add_argument("--matmul-size", type=int, default=8192)
    parser.add_argument("--json")
    args = parser.parse_args()

    import keras

    from skpci.network import build_inpainting_model

    per_sample = 3 * forward_flops(build_inpainting_model(1, 1, args.input_size, seed=0))
    bf16 = matmul_flops_per_second(args.matmul_size, dtype="bfloat16")
    fp32 = matmul_flops_per_second(args.matmul_size, dtype="float32")
    # Printed first, so that a run stopped at its time limit still shows the rates its rows are compared with.
    print(f"matrix product ({args.matmul_size}^2): bf16 {bf16 / 1e12:.0f} TFLOP/s, float32 {fp32 / 1e12:.0f} TFLOP/s",
          flush=True)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    variants = [(batch, precision, 1, "") for batch in batch_sizes for precision in (None, "mixed_bfloat16")]
    variants += [(min(batch_sizes), precision, steps, "") for steps in map(int, args.steps_per_execution.split(","))
                 if steps > 1 for precision in (None, "mixed_bfloat16")]
    variants.sort(key=lambda variant: (variant[0], variant[2]))  # the paper's batch first
    if keras.backend.backend() == "torch" and args.cudnn_benchmark:
        variants += [(max(batch_sizes), precision, 1, "cudnn.benchmark") for precision in (None, "mixed_bfloat16")]
    rows = []
    for batch_size, precision, steps, option in variants:
        if option == "cudnn.benchmark":
            import torch

            torch.backends.cudnn.benchmark = True
        samples = training_samples_per_second(args.input_size, batch_size, args.batches * steps, jit_compile="auto",
                                              precision=precision, steps_per_execution=steps)
        rows.append({"precision": precision or "float32", "batch": batch_size, "steps/call": steps,
                     "option": option or "-", "samples/s": samples, "TFLOP/s": samples * per_sample / 1e12,
                     "of bf16 matmul": samples * per_sample / bf16})
        print(rows[-1], flush=True)
    print(f"{device_name()}; {machine()}")
    print(f"matrix product ({args.matmul_size}^2): bf16 {bf16 / 1e12:.0f} TFLOP/s, float32 {fp32 / 1e12:.0f} TFLOP/s; "
          f"training ~{per_sample / 1e9:.1f} GFLOP per sample")
    print_table(rows, {"precision": "", "batch": "d", "steps/call": "d", "option": "", "samples/s": ",.0f",
                       "TFLOP/s": ".1f",
                       "of bf16 matmul": ".0%"})
    write_json(args.json, f"gpu_training_{device_name()}", {
        "device": device_name(), "matmul_bf16_tflops": bf16 / 1e12, "matmul_fp32_tflops": fp32 / 1e12,
        "rows": rows})


if __name__ == "__main__":
    main()
