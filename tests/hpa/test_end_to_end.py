"""From a gene list to a localization benchmark: download-hpa, segment, fit, features, kNN by gene."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from skpci import CropStore, PairedInpaintingFeaturizer
from skpci.cli import main
from skpci.evaluation import knn_scores
from skpci.hpa import location_labels

from .site import Gene, Site, serve, standard_genes


@pytest.fixture
def site():
    genes = standard_genes()
    # A second single-location nuclear gene, so that folds by gene can test every class.
    genes["ENSG00000000005"] = Gene("ENSG00000000005", "NUCC", ("Nucleoplasm",), ("105_E5_1", "105_E5_2"),
                                    "nucleus", "1005")
    site = Site(genes)
    server = serve(site)
    yield site
    server.shutdown()
    server.server_close()


def test_download_segment_fit_and_benchmark_against_hpa_labels(site, tmp_path, capsys):
    genes = tmp_path / "proteinlist.txt"
    genes.write_text("Gene\tGene name\n" + "".join(f"{gene.ensembl_id}\t{gene.name}\n"
                                                    for gene in site.genes.values()))
    download = ["download-hpa", str(genes), "-o", str(tmp_path / "hpa"), "--base-url", site.url, "--rate", "0",
                "--quiet"]
    assert main(download) == 0
    assert "10 fields of 5 genes" in capsys.readouterr().out
    assert main(["segment", str(tmp_path / "hpa" / "images"), "-o", str(tmp_path / "store"),
                 "--channels", "blue,red,green", "--nuclear", "blue", "--recursive", "--label-from", "folder",
                 "--group-by", "folder", "--quiet"]) == 0
    store = CropStore(tmp_path / "store")
    assert store.n_images == 10 and len(store) >= 40
    assert sorted(store.images["label"].unique()) == ["CYTA", "CYTB", "NUCA", "NUCB", "NUCC"]

    labels = location_labels(tmp_path / "hpa" / "manifest.parquet", store.images["name"])
    assert labels["gene"].tolist() == store.images["label"].tolist()
    assert labels.loc[labels["gene"] == "NUCB", "location"].isna().all()  # two locations: no single label
    featurizer = PairedInpaintingFeaturizer(protein_channels=("green",), marker_channels=("blue", "red"),
                                            input_size=16, batch_size=16, epochs=1, random_state=0)
    features = featurizer.fit(store).transform(store)
    cell_labels = labels.iloc[store.cells["image"].to_numpy()]
    keep = cell_labels["location"].notna().to_numpy()
    assert 0 < keep.sum() < len(store)
    scores = knn_scores(features[keep], cell_labels["location"][keep], cell_labels["gene"][keep],
                        n_neighbors=3, cv=None)
    assert scores["n_folds"] >= 2 and 0.0 <= scores["accuracy"] <= 1.0


def test_the_command_exits_with_1_only_when_a_rerun_may_fetch_what_failed(site, tmp_path, capsys):
    genes = tmp_path / "genes.txt"
    genes.write_text("ENSG00000000001\nENSG00000000099\nNOSUCHGENE\n")
    args = ["download-hpa", str(genes), "-o", str(tmp_path / "hpa"), "--base-url", site.url, "--rate", "0",
            "--retries", "0", "--timeout", "1", "--quiet"]
    assert main(args) == 0  # unknown genes: listed, but no rerun can fetch them
    captured = capsys.readouterr()
    assert "2 fields of 1 genes" in captured.out and "2 downloads failed" in captured.out
    assert "a rerun will not fix them" in captured.out
    assert "HTTP 404" in captured.out and "knows no gene of that name" in captured.out
    failures = pd.read_csv(tmp_path / "hpa" / "failures.csv")
    assert sorted(failures["gene"].fillna(failures["ensembl_id"])) == ["ENSG00000000099", "NOSUCHGENE"]
    assert not failures["retry"].any()

    site.faults["/images/1003/103_C3_1_green.jpg"] = "500"
    genes.write_text("ENSG00000000003\n")
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "run the same command again to retry the 1 that may succeed later" in captured.out
    assert "1 downloads failed that a rerun may fetch" in captured.err
    site.faults.clear()
    assert main(args) == 0 and "2 fields of 1 genes" in capsys.readouterr().out


def test_download_hpa_does_not_import_keras(site, tmp_path):
    code = ("import sys; from skpci.cli import main; "
            f"rc = main(['download-hpa', 'ENSG00000000003', '-o', {str(tmp_path)!r}, '--base-url', {site.url!r}, "
            "'--quiet']); print('keras' in sys.modules, 'tensorflow' in sys.modules); sys.exit(rc)")
    genes_file = tmp_path.parent / "one-gene.txt"
    genes_file.write_text("ENSG00000000003\n")
    code = code.replace("'ENSG00000000003'", repr(str(genes_file)))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[-1] == "False False"
    assert np.isclose(len(pd.read_parquet(tmp_path / "manifest.parquet")), 2)
