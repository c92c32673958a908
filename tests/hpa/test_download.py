"""download_hpa against a loopback stand-in of the Human Protein Atlas: files, manifest, faults, resume."""

import hashlib
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import urlsplit

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest

from skpci.hpa import download_hpa
from skpci.io import list_fields
from skpci.segmentation._fields import load_field

from .site import fast_options, render

GENES = ["ENSG00000000001", "ENSG00000000002", "ENSG00000000003", "ENSG00000000004"]






def _leftovers(folder):
    return [path for path in Path(folder).rglob("*") if path.name.endswith(".part") or ".part" in path.name]


def _image_requests(site):
    return [path for path in site.requests if path.startswith("/images/")]


def test_download_writes_single_channel_images_a_manifest_and_labels(site, tmp_path):
    result = download_hpa(GENES, tmp_path, **fast_options(site))
    manifest = result.manifest
    assert len(manifest) == 8 and result.failures.empty
    assert manifest["gene"].tolist() == ["NUCA"] * 2 + ["NUCB"] * 2 + ["CYTA"] * 2 + ["CYTB"] * 2
    assert manifest.loc[2, "gene_locations"] == "Nucleoplasm;Nucleoli" and manifest.loc[4, "reliability"] == "Enhanced"
    assert set(manifest["cell_line"]) == {"U-2 OS"} and set(manifest["antibody"]) >= {"HPA001001"}
    assert not any("900_H12_1" in path for path in site.requests), "a mouse field was fetched"
    for row in manifest.itertuples(index=False):
        for color in ("blue", "red", "green"):
            stored = tmp_path / getattr(row, f"file_{color}")
            served = render(site, urlsplit(getattr(row, f"url_{color}")).path)
            plane = iio.imread(stored)
            assert plane.ndim == 2 and plane.dtype == np.uint8
            np.testing.assert_array_equal(plane, iio.imread(served).max(axis=-1))
            assert getattr(row, f"bytes_{color}") == len(served)
            assert getattr(row, f"sha256_{color}") == hashlib.sha256(stored.read_bytes()).hexdigest()
    on_disk = pd.read_parquet(tmp_path / "manifest.parquet")
    pd.testing.assert_frame_equal(on_disk, manifest)
    fields, names = list_fields(tmp_path / "images", ["blue", "red", "green"], recursive=True)
    assert sorted(names) == sorted(result.fields()[1])
    assert sorted(map(tuple, fields)) == sorted(result.fields()[0])
    assert not (tmp_path / "failures.csv").exists() and _leftovers(tmp_path) == []


def test_stains_served_as_single_planes_are_kept_as_served(site, tmp_path):
    site.grey_stains = True
    result = download_hpa(GENES[:1], tmp_path, **fast_options(site))
    row = result.manifest.iloc[0]
    for color in ("blue", "red", "green"):
        stored = tmp_path / row[f"file_{color}"]
        assert stored.suffix == ".jpg"
        assert stored.read_bytes() == render(site, urlsplit(row[f"url_{color}"]).path)
    fields, _ = list_fields(tmp_path / "images", ["blue", "red", "green"], recursive=True)
    assert load_field(fields[0]).shape == (160, 160, 3)


def test_a_rerun_requests_nothing_and_gives_the_same_manifest(site, tmp_path):
    first = download_hpa(GENES, tmp_path, **fast_options(site))
    before = len(site.requests)
    again = download_hpa(GENES, tmp_path, **fast_options(site))
    assert len(site.requests) == before
    pd.testing.assert_frame_equal(again.manifest, first.manifest)


def test_faults_end_as_documented_and_a_rerun_fixes_them(site, tmp_path):
    image = "/images/{folder}/{stem}_{color}.jpg".format
    faults = {
        "/ENSG00000000002.xml": "500-once",  # retried
        image(folder="1001", stem="101_A1_1", color="blue"): "truncate",  # fails: short body every time
        image(folder="1001", stem="101_A1_2", color="red"): "truncate-once",  # retried
        image(folder="1002", stem="102_B2_1", color="green"): "html",  # fails: a web page, not an image
        image(folder="1003", stem="103_C3_1", color="blue"): "to-ftp",  # fails: scheme change refused
        image(folder="1003", stem="103_C3_2", color="red"): "to-other-host",  # followed
        image(folder="1004", stem="104_D4_1", color="green"): "stall",  # fails: times out
    }
    site.faults.update(faults)
    started = time.monotonic()
    result = download_hpa(GENES + ["ENSG00000000099"], tmp_path, **fast_options(site))
    assert time.monotonic() - started < 30
    reasons = dict(zip(result.failures["image_id"].fillna(result.failures["ensembl_id"]), result.failures["reason"]))
    assert set(reasons) == {"ENSG00000000099", "1001_101_A1_1", "1002_102_B2_1", "1003_103_C3_1", "1004_104_D4_1"}
    assert "HTTP 404" in reasons["ENSG00000000099"]
    assert "IncompleteRead" in reasons["1001_101_A1_1"]
    assert "text/html page, not an image" in reasons["1002_102_B2_1"]
    assert "refused a redirect from http:// to ftp://" in reasons["1003_103_C3_1"]
    assert "timed out" in reasons["1004_104_D4_1"]
    assert sorted(result.manifest["image_id"]) == ["1001_101_A1_2", "1002_102_B2_2", "1003_103_C3_2", "1004_104_D4_2"]
    assert _leftovers(tmp_path) == []
    assert not (tmp_path / "images" / "NUCA" / "1001_101_A1_1_blue.png").exists()
    assert pd.read_csv(tmp_path / "failures.csv")["image_id"].notna().sum() == 4
    assert "5 downloads failed" in result.summary() and "run the same command again" in result.summary()

    site.faults.clear()
    site.requests.clear()
    fixed = download_hpa(GENES, tmp_path, **fast_options(site))
    assert fixed.failures.empty and len(fixed.manifest) == 8 and not (tmp_path / "failures.csv").exists()
    assert sorted(_image_requests(site)) == sorted(path for path in faults if path.startswith("/images/")
                                                   and site.faults.get(path) is None
                                                   and faults[path] in ("truncate", "html", "to-ftp", "stall"))
    clean = download_hpa(GENES, tmp_path / "clean", **fast_options(site))
    pd.testing.assert_frame_equal(fixed.manifest, clean.manifest)


def test_gene_names_are_looked_up_and_unknown_names_reported(site, tmp_path):
    result = download_hpa(["nuca", "ENSG00000000003", "NOSUCHGENE"], tmp_path, **fast_options(site))
    assert sorted(result.manifest["gene"].unique()) == ["CYTA", "NUCA"]
    assert result.failures["gene"].tolist() == ["NOSUCHGENE"]
    assert "knows no gene of that name" in result.failures["reason"].iloc[0]


def test_the_composite_option_keeps_the_authors_rgb_files(site, tmp_path):
    result = download_hpa(GENES[:1], tmp_path, composite=True, **fast_options(site))
    assert list(result.channels) == ["blue_red_green"] and len(result.manifest) == 2
    fields, _ = result.fields()
    first = Path(fields[0])
    assert first.read_bytes() == render(site, "/images/1001/101_A1_1_blue_red_green.jpg")
    assert load_field(fields[0]).shape == (160, 160, 3)


def test_cell_lines_filter_and_bad_channels(site, tmp_path):
    assert download_hpa(GENES[:1], tmp_path / "a", cell_lines=["HeLa"], **fast_options(site)).manifest.empty
    assert len(download_hpa(GENES[:1], tmp_path / "b", cell_lines=["u-2 os"], **fast_options(site)).manifest) == 2
    with pytest.raises(ValueError, match="distinct HPA stains"):
        download_hpa(GENES, tmp_path, channels=("blue", "purple"), **fast_options(site))


def test_a_download_killed_mid_file_resumes_to_the_same_files_and_manifest(site, tmp_path):
    dripping = "/images/1002/102_B2_1_red.jpg"
    site.faults[dripping] = "drip"
    script = f"""
        from skpci.hpa import download_hpa
        download_hpa({GENES!r}, {str(tmp_path / "killed")!r}, base_url={site.url!r}, progress=False,
                     requests_per_second=0, max_connections=1, timeout=5, deadline=60)
    """
    process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while dripping not in site.requests:
        assert process.poll() is None, process.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)  # part of the body is in
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stderr.close()
    killed = tmp_path / "killed"
    assert (killed / ".journal.jsonl").is_file() and not (killed / "manifest.parquet").exists()
    assert not (killed / "images" / "NUCB" / "1002_102_B2_1_red.png").exists()

    site.faults.clear()
    resumed = download_hpa(GENES, killed, **fast_options(site))
    clean = download_hpa(GENES, tmp_path / "clean", **fast_options(site))
    pd.testing.assert_frame_equal(resumed.manifest, clean.manifest)
    for column in [name for name in clean.manifest if name.startswith("file_")]:
        for relative in clean.manifest[column]:
            assert (killed / relative).read_bytes() == (tmp_path / "clean" / relative).read_bytes()
    assert _leftovers(killed) == []
