"""The installed ``skpci`` entry point, run as a user would."""

import shutil
import subprocess
import sys

import pytest


def _skpci(*args, timeout=600):
    executable = shutil.which("skpci")
    command = [executable] if executable else [sys.executable, "-m", "skpci._cli"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=timeout)


def _table_rows(out):
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 7 and parts[-2] == parts[-5] == "±":
            rows[" ".join(parts[:-6])] = float(parts[-6])
    return rows


def test_demo_with_the_bundled_model_prints_a_table_and_saves_figures(tmp_path):
    result = _skpci("demo", "--images", "21", "--quiet", "--output", str(tmp_path / "figures"))
    assert result.returncode == 0, result.stderr
    for name in ("inpainting.png", "embedding.png", "layers.png", "segmentation.png"):
        with open(tmp_path / "figures" / name, "rb") as figure:
            assert figure.read(8) == b"\x89PNG\r\n\x1a\n", name
    assert f"Figures written to {tmp_path / 'figures'}" in result.stdout
    assert "bundled model 'synthetic-32'" in result.stdout
    rows = _table_rows(result.stdout)
    for layer in ("conv1_1", "conv3_1", "conv5_1"):
        assert rows[f"paired inpainting {layer}"] > 2 / 7  # twice chance
    assert "brightness (mean, max) -" in rows
    assert "Traceback" not in result.stderr


def test_demo_can_train_from_scratch():
    result = _skpci("demo", "--images", "14", "--epochs", "1", "--input-size", "16", "--quiet", "--no-figures")
    assert result.returncode == 0, result.stderr
    assert "Trained 1 epochs from scratch" in result.stdout
    assert "Figures written" not in result.stdout
    assert "untrained network conv3_1" in result.stdout


def test_help_lists_the_demo_command():
    result = _skpci("--help", timeout=60)
    assert result.returncode == 0
    assert "demo" in result.stdout


@pytest.mark.parametrize("args", [["demo", "--epochs", "many"], ["frobnicate"]])
def test_bad_arguments_exit_with_usage_error(args):
    result = _skpci(*args, timeout=60)
    assert result.returncode == 2
    assert "usage:" in result.stderr


def test_errors_are_one_line_without_traceback():
    result = _skpci("demo", "--images", "3", "--epochs", "1", "--input-size", "30", "--quiet")
    assert result.returncode == 1
    assert result.stderr.startswith("skpci: error:") and "multiple of 4" in result.stderr
    assert "Traceback" not in result.stderr
