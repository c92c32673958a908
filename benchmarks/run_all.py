"""Run every CPU benchmark in turn and collect their results in one JSON file.

    python benchmarks/run_all.py [--data ../shared/data] [--json benchmarks/results/cpu.json] [--quick]

Each script prints its own table; ``--quick`` shrinks them to a few minutes
in all (the published figures come from the defaults, about 25 minutes on
the 2-core development machine). ``gpu_training.py`` is separate: it needs
an accelerator and the JAX or PyTorch backend.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("SKPCI_DATA_DIR", "../shared/data"))
    parser.add_argument("--json", default=str(HERE / "results" / "cpu.json"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    quick = args.quick
    runs = [
        ["data_pipeline.py", "--data", args.data, *(["--input-size", "32", "--batches", "2"] if quick else [])],
        ["training_flops.py", *(["--input-size", "32", "--batches", "2"] if quick else [])],
        ["transform_cost.py", *(["--cells", "256", "--stream", "10000"] if quick else [])],
        ["fit_memory.py", *(["--cells", "20000", "--batches", "3"] if quick else [])],
        ["segmentation_speed.py", *(["--fields", "2", "--repeats", "1"] if quick else [])],
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
    for script, *options in runs:
        print(f"=== {script} {' '.join(options)}", flush=True)
        subprocess.run([sys.executable, str(HERE / script), *options, "--json", args.json], check=True, env=env)
    print(f"results: {args.json}")


if __name__ == "__main__":
    main()
