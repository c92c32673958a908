"""download_hpa against records, files, lists and folders that are odd or wrong (from an adversarial review)."""

import functools
import json
import signal
import subprocess
import sys
import textwrap
import time

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest

from skpci.hpa import download_hpa, read_gene_list

from .site import Gene, fast_options

#: One retry is enough here, and keeps the fault tests short.
_fast = functools.partial(fast_options, retries=1)
GENES = ["ENSG00000000001", "ENSG00000000002", "ENSG00000000003", "ENSG00000000004"]






def test_an_image_shared_by_two_genes_is_a_field_of_each(site, tmp_path):
    site.genes["ENSG00000000005"] = Gene("ENSG00000000005", "SHARE", ("Cytosol",), ("101_A1_1",), "nucleus", "1001")
    result = download_hpa(["ENSG00000000001", "ENSG00000000005"], tmp_path, **_fast(site))
    shared = result.manifest[result.manifest["image_id"] == "1001_101_A1_1"]
    assert shared["gene"].tolist() == ["NUCA", "SHARE"]
    assert [path.split("/")[1] for path in shared["file_blue"]] == ["NUCA", "SHARE"]
    assert all((tmp_path / path).is_file() for path in shared["file_green"])


def test_a_record_naming_another_ensembl_id_is_kept_under_the_id_asked_for(site, tmp_path):
    gene = site.genes["ENSG00000000001"]
    site.bodies["/ENSG00000000001.xml"] = (site.gene_xml(gene).replace('id="ENSG00000000001"', 'id="ENSG00000999999"')
                                           .encode(), "application/xml")
    result = download_hpa(GENES[:2], tmp_path, **_fast(site))
    assert result.failures.empty and len(result.manifest) == 4
    assert result.manifest["ensembl_id"].tolist()[:2] == ["ENSG00000000001"] * 2


def test_non_ascii_addresses_and_very_long_gene_names_do_not_stop_the_others(site, tmp_path):
    site.genes["ENSG00000000006"] = Gene("ENSG00000000006", "X" * 300, ("Cytosol",), ("10\u00e9_A1_1",), "cytoplasm",
                                         "1006")
    result = download_hpa(["ENSG00000000006", "ENSG00000000003"], tmp_path, **_fast(site))
    assert result.failures.empty, result.failures["reason"].tolist()
    folders = set(result.manifest["folder_name"])
    assert folders == {"X" * 80, "CYTA"}
    assert any("%C3%A9" in path for path in site.requests) or any("\u00e9" in path for path in site.requests)


def test_gene_lists_saved_by_other_editors_lose_no_gene(tmp_path):
    bom = tmp_path / "bom.txt"
    bom.write_bytes("\ufeffENSG00000000001\tNUCA\nENSG00000000002\tNUCB\n".encode("utf-8"))
    assert read_gene_list(bom)["ensembl_id"].tolist() == ["ENSG00000000001", "ENSG00000000002"]
    one = tmp_path / "one.txt"
    one.write_bytes("\ufeffENSG00000000001\r\nENSG00000000002\r\n".encode("utf-8"))
    assert read_gene_list(one)["ensembl_id"].tolist() == ["ENSG00000000001", "ENSG00000000002"]
    utf16 = tmp_path / "utf16.txt"
    utf16.write_bytes("Gene\tGene name\nENSG00000000003\tCYTA\n".encode("utf-16"))
    assert read_gene_list(utf16).to_dict("records") == [{"ensembl_id": "ENSG00000000003", "gene": "CYTA"}]
    with pytest.raises(ValueError, match="line 1: two entries and neither is an Ensembl id"):
        read_gene_list(["NUCA NUCB", "CYTA"])
    assert read_gene_list(["ENSG\uff10\uff10\uff10\uff10\uff10\uff10\uff10\uff10\uff10\uff10\uff11"])[
        "ensembl_id"].isna().all()  # full-width digits are no Ensembl id
    with pytest.raises(ValueError, match=r"got 5000 entries: 'g g g.*\.\.\.'\.$"):
        read_gene_list([" ".join(["g"] * 5000)])


def test_a_deleted_file_that_cannot_be_fetched_again_leaves_the_manifest(site, tmp_path):
    first = download_hpa(GENES[:1], tmp_path, **_fast(site))
    lost = tmp_path / first.manifest.loc[0, "file_red"]
    lost.unlink()
    site.faults["/images/1001/101_A1_1_red.jpg"] = "500"
    again = download_hpa(GENES[:1], tmp_path, **_fast(site))
    assert again.manifest["image_id"].tolist() == ["1001_101_A1_2"]
    assert again.failures["image_id"].tolist() == ["1001_101_A1_1"] and again.failures["retry"].all()


def test_files_changed_on_disk_are_fetched_again_when_verified(site, tmp_path):
    first = download_hpa(GENES[:1], tmp_path, **_fast(site))
    changed = tmp_path / first.manifest.loc[0, "file_green"]
    original = changed.read_bytes()
    changed.write_bytes(bytes(len(original)))  # same size, other content
    download_hpa(GENES[:1], tmp_path, **_fast(site))
    assert changed.read_bytes() != original  # by size, it looks finished
    verified = download_hpa(GENES[:1], tmp_path, verify=True, **_fast(site))
    assert changed.read_bytes() == original
    pd.testing.assert_frame_equal(verified.manifest, first.manifest)


def test_gene_folders_stay_put_across_reruns(site, tmp_path):
    site.genes["ENSG00000000007"] = Gene("ENSG00000000007", "NUCA", ("Cytosol",), ("107_G7_1",), "cytoplasm", "1007")
    site.faults["/ENSG00000000001.xml"] = "404"
    first = download_hpa(["ENSG00000000001", "ENSG00000000007"], tmp_path, **_fast(site))
    assert first.manifest["folder_name"].tolist() == ["NUCA"]
    site.faults.clear()
    again = download_hpa(["ENSG00000000007", "ENSG00000000001"], tmp_path, **_fast(site))
    folders = dict(zip(again.manifest["ensembl_id"], again.manifest["folder_name"]))
    assert folders == {"ENSG00000000007": "NUCA", "ENSG00000000001": "NUCA_ENSG00000000001"}
    assert json.loads((tmp_path / "folders.json").read_text()) == folders


def test_a_hostile_journal_is_not_trusted(site, tmp_path):
    (tmp_path / ".journal.jsonl").write_text("\n".join([
        json.dumps({"key": "images/NUCA/1001_101_A1_1_blue", "file": "../../../../etc/passwd", "url": "x",
                    "served_bytes": 1, "sha256": "0", "bytes": 0}),
        json.dumps({"key": "images/NUCA/1001_101_A1_1_red"}),
        "not json", "[1, 2]",
    ]))
    result = download_hpa(GENES[:1], tmp_path, **_fast(site))
    assert len(result.manifest) == 2 and result.failures.empty
    assert all(path.startswith("images/NUCA/") for path in result.manifest["file_blue"])


def test_images_that_are_not_single_stains_fail_cleanly(site, tmp_path):
    gif = iio.imwrite("<bytes>", np.zeros((3, 20, 20), np.uint8), extension=".gif")
    wide = iio.imwrite("<bytes>", (np.arange(160 * 160).reshape(160, 160) % 60000).astype(np.uint16),
                       extension=".png")
    site.bodies["/images/1001/101_A1_1_blue.jpg"] = (gif, "image/gif")
    site.bodies["/images/1001/101_A1_2_blue.jpg"] = (wide, "image/jpeg")  # a 16-bit PNG at a .jpg address
    result = download_hpa(GENES[:1], tmp_path, **_fast(site))
    assert "is a GIF image" in result.failures["reason"].iloc[0]
    stored = tmp_path / result.manifest.loc[0, "file_blue"]
    assert stored.suffix == ".png" and iio.imread(stored).dtype == np.uint16


def test_odd_answers_and_arguments_give_clear_messages(site, tmp_path):
    site.bodies["/api/search_download.php"] = (b"null", "application/json")
    site.bodies["/ENSG00000000002.xml"] = (b"<!DOCTYPE html><html>Too many requests</html>", "text/html")
    result = download_hpa(["NUCA", "ENSG00000000002", "ENSG00000000003"], tmp_path, **_fast(site))
    reasons = dict(zip(result.failures["gene"].fillna(result.failures["ensembl_id"]), result.failures["reason"]))
    assert "unexpected answer" in reasons["NUCA"] and "web page (text/html)" in reasons["ENSG00000000002"]
    assert len(result.manifest) == 2
    assert len(download_hpa(GENES[:1], tmp_path / "b", cell_lines="u-2 os", **_fast(site)).manifest) == 2
    file = tmp_path / "a-file"
    file.write_text("x")
    for kwargs, message in [({"max_connections": 0}, "max_connections must be an integer of at least 1"),
                            ({"requests_per_second": -1}, "requests_per_second must be at least 0"),
                            ({"timeout": 0}, "timeout must be above 0"),
                            ({"base_url": "www.proteinatlas.org"}, "base_url must be an http"),
                            ({"channels": None}, "channels must be distinct HPA stains")]:
        with pytest.raises(ValueError, match=message):
            download_hpa(GENES[:1], tmp_path / "c", **(_fast(site) | kwargs))
    with pytest.raises(NotADirectoryError, match="is a file"):
        download_hpa(GENES[:1], file, **_fast(site))


def test_retry_after_is_honoured(site, tmp_path):
    site.faults["/ENSG00000000001.xml"] = "429-once"
    started = time.monotonic()
    result = download_hpa(GENES[:1], tmp_path, **_fast(site, deadline=10))
    assert result.failures.empty and time.monotonic() - started >= 1.0


def test_ctrl_c_while_reading_gene_records_stops_at_once(site, tmp_path):
    genes = [f"ENSG{index:011d}" for index in range(100, 160)]  # unknown: each a quick 404
    script = f"""
        from skpci.hpa import download_hpa
        download_hpa({genes!r}, {str(tmp_path)!r}, base_url={site.url!r}, progress=False,
                     requests_per_second=4, max_connections=2, retries=0)
    """
    process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while sum(path.endswith(".xml") for path in site.requests) < 3:
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stopped = time.monotonic()
    process.wait(timeout=30)
    process.stderr.close()
    assert time.monotonic() - stopped < 5
    assert sum(path.endswith(".xml") for path in site.requests) < 20
