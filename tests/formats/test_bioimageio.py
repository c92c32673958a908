"""bioimage.io model packages: exported, validated by the real bioimageio.spec, and read back by from_pretrained."""

import zipfile

import keras
import numpy as np
import pytest
import yaml

from skpci import PairedInpaintingFeaturizer
from skpci.cli import main
from skpci.datasets import make_cell_crops
from skpci.formats import export_bioimageio
from skpci.pretrained import PretrainedModelError

spec = pytest.importorskip("bioimageio.spec")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    data = make_cell_crops(n_images=4, crop_size=32, random_state=0)
    featurizer = PairedInpaintingFeaturizer(input_size=16, epochs=1, batch_size=16, random_state=0,
                                            channel_names=["gfp", "dapi", "actin"], protein_channels=("gfp",),
                                            marker_channels=("dapi", "actin")).fit(data.bags)
    path = tmp_path_factory.mktemp("bioimageio") / "model"
    featurizer.save_pretrained(path)
    return path, featurizer, data


def test_the_package_validates_and_its_test_tensors_reproduce(model, tmp_path):
    path, _, _ = model
    package = export_bioimageio(path, tmp_path / "package", authors=["Ada Lovelace"])
    description = spec.load_description(package / "rdf.yaml", perform_io_checks=True)
    assert description.validation_summary.status != "failed" and type(description).__name__ == "ModelDescr"
    rdf = yaml.safe_load((package / "rdf.yaml").read_text())
    assert [tensor["id"] for tensor in rdf["inputs"]] == ["x_in", "y_rfp"] and rdf["outputs"][0]["id"] == "y_gfp"
    assert rdf["inputs"][0]["axes"][3]["channel_names"] == ["gfp", "dapi", "actin"]
    assert rdf["inputs"][1]["axes"][3]["channel_names"] == ["dapi", "actin"]
    assert rdf["inputs"][0]["preprocessing"][0]["id"] == "scale_range"
    assert rdf["cite"][0]["doi"] == "10.1371/journal.pcbi.1007348" and "keras_v3" in rdf["weights"]
    assert rdf["config"]["skpci"]["card"]["channels"]["protein_channels"] == [0]

    network = keras.saving.load_model(package / "model.keras", compile=False)

    def scale_range(tensor):  # the rdf's preprocessing: per sample and channel, 0th to 100th percentile
        low = tensor.min(axis=(1, 2), keepdims=True)
        return (tensor - low) / (tensor.max(axis=(1, 2), keepdims=True) - low + 1e-6)

    x_in, y_rfp = np.load(package / "test_x_in.npy"), np.load(package / "test_y_rfp.npy")
    predicted = keras.ops.convert_to_numpy(network({"x_in": scale_range(x_in), "y_rfp": scale_range(y_rfp)}))
    np.testing.assert_allclose(predicted, np.load(package / "test_y_gfp.npy"), rtol=1e-3, atol=1e-4)


def test_a_package_folder_zip_or_rdf_loads_back_with_identical_features(model, tmp_path):
    path, featurizer, data = model
    folder = export_bioimageio(path, tmp_path / "package", authors=[{"name": "Ada"}])
    archive = export_bioimageio(path, tmp_path / "package.zip", authors=["Ada"])
    expected = featurizer.transform(data.cells[:12])
    for source in (folder, archive, folder / "rdf.yaml"):
        loaded = PairedInpaintingFeaturizer.from_pretrained(source).fit(data.bags[:2])
        assert loaded.channel_names_ == ("gfp", "dapi", "actin")
        np.testing.assert_array_equal(loaded.transform(data.cells[:12]), expected)


def test_a_changed_package_and_bad_requests_are_refused(model, tmp_path):
    path, _, data = model
    package = export_bioimageio(path, tmp_path / "package", authors=["Ada"])
    with open(package / "model.keras", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(PretrainedModelError, match="do not match the package's checksum"):
        PairedInpaintingFeaturizer.from_pretrained(package).fit(data.bags[:2])
    with pytest.raises(ValueError, match="at least one author"):
        export_bioimageio(path, tmp_path / "other", authors=[])
    (tmp_path / "results").mkdir()
    with pytest.raises(FileExistsError, match="not a bioimage.io package"):
        export_bioimageio(path, tmp_path / "results", authors=["Ada"], overwrite=True)
    hostile = tmp_path / "hostile.zip"
    with zipfile.ZipFile(hostile, "w") as archive:
        archive.writestr("rdf.yaml", "type: model\n")
        archive.writestr("../escape.txt", "x")
    with pytest.raises(PretrainedModelError, match="outside a flat package"):
        PairedInpaintingFeaturizer.from_pretrained(hostile).fit(data.bags[:2])
    assert not (tmp_path / "escape.txt").exists()


def test_the_command_line_exports_a_package(model, tmp_path, capsys):
    path, _, _ = model
    assert main(["export-bioimageio", str(path), "-o", str(tmp_path / "p.zip"), "--author", "Ada Lovelace",
                 "--name", "my yeast model"]) == 0
    assert "bioimage.io package written to" in capsys.readouterr().out
    with zipfile.ZipFile(tmp_path / "p.zip") as archive:
        rdf = yaml.safe_load(archive.read("rdf.yaml"))
    assert rdf["name"] == "my yeast model" and rdf["authors"] == [{"name": "Ada Lovelace"}]
