"""Reading gene lists and the HPA's gene XML, including lists and documents that are wrong."""

import pytest

from skpci.hpa import GeneRecordError, channel_url, describe_image_url, parse_gene_xml, read_gene_list

from .site import Site, standard_genes


@pytest.fixture
def site():
    site = Site(standard_genes())
    site.port = 8000
    return site


def test_gene_xml_gives_the_human_cell_line_fields_with_their_annotations(site):
    gene, images = parse_gene_xml(site.gene_xml(site.genes["ENSG00000000002"]))
    assert gene == {"ensembl_id": "ENSG00000000002", "gene": "NUCB", "reliability": "Enhanced",
                    "gene_locations": ["Nucleoplasm", "Nucleoli"]}
    assert [image["image_id"] for image in images] == ["1002_102_B2_1", "1002_102_B2_2"]  # not the mouse field
    first = images[0]
    assert first["antibody"] == "HPA001002" and first["cell_line"] == "U-2 OS"
    assert first["subtype"] == "common cell lines" and first["cell_line_locations"] == ["Nucleoplasm", "Nucleoli"]
    assert (first["plate"], first["well"], first["field"], first["folder"]) == ("102", "B2", "1", "1002")
    assert first["url"] == "http://127.0.0.1:8000/images/1002/102_B2_1_blue_red_green.jpg"


def test_tissue_locations_are_not_taken_for_subcellular_ones(site):
    gene, _ = parse_gene_xml(site.gene_xml(site.genes["ENSG00000000001"]))
    assert "not an immunofluorescence location" not in gene["gene_locations"]


def test_a_record_with_namespaces_and_extra_wrappers_is_still_read(site):
    document = site.gene_xml(site.genes["ENSG00000000003"])
    document = document.replace('<proteinAtlas schemaVersion="2.11">',
                                '<proteinAtlas xmlns="http://www.proteinatlas.org/ns" schemaVersion="3">')
    document = document.replace("<assayImage>", "<assayImage><imageSet>").replace("</assayImage>",
                                                                                  "</imageSet></assayImage>")
    gene, images = parse_gene_xml(document)
    assert gene["gene"] == "CYTA" and len(images) == 2


def test_a_gene_without_immunofluorescence_has_no_images():
    gene, images = parse_gene_xml('<proteinAtlas><entry><name>X</name></entry></proteinAtlas>',
                                  ensembl_id="ENSG00000000042")
    assert images == [] and gene["ensembl_id"] == "ENSG00000000042" and gene["gene_locations"] == []


@pytest.mark.parametrize("document, message", [
    (b"<!DOCTYPE html><html><body>Busy</body></html>", "DTD"),
    (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><lolz>&lol2;</lolz>',
     "DTD or entities"),
    (b"Service temporarily unavailable", "not XML .*Service temporarily"),
    (b"<proteinAtlas><something/></proteinAtlas>", "no <entry>"),
    (b"<proteinAtlas><entry><name>truncated", "not XML"),
])
def test_documents_that_are_not_hpa_records_are_refused_with_the_reason(document, message):
    with pytest.raises(GeneRecordError, match=message):
        parse_gene_xml(document)


def test_image_addresses_name_their_plate_well_and_field():
    described = describe_image_url("https://images.proteinatlas.org/38585/2146_D7_42_blue_red_green.jpg")
    assert described["image_id"] == "38585_2146_D7_42"
    assert (described["plate"], described["well"], described["field"]) == ("2146", "D7", "42")
    assert channel_url(described["url"], "green") == "https://images.proteinatlas.org/38585/2146_D7_42_green.jpg"
    for other in ("https://images.proteinatlas.org/38585/thumbnail.jpg", "file:///etc/38585/2146_D7_42_blue.jpg",
                  "https://www.proteinatlas.org/images/logo_blue.png"):
        assert describe_image_url(other) is None


def test_the_authors_protein_list_format_is_read(tmp_path):
    path = tmp_path / "proteinlist.txt"
    path.write_text("Gene\tGene name\nENSG00000000003\tTSPAN6\nENSG00000000457\tSCYL3\n")
    genes = read_gene_list(path)
    assert genes.to_dict("records") == [{"ensembl_id": "ENSG00000000003", "gene": "TSPAN6"},
                                        {"ensembl_id": "ENSG00000000457", "gene": "SCYL3"}]


def test_one_entry_per_line_ids_names_comments_versions_and_repeats(tmp_path):
    path = tmp_path / "genes.txt"
    path.write_text("# my genes\n\nENSG00000134057.15\nccnb1  # a name\nTP53\nENSG00000134057\n  \n")
    genes = read_gene_list(path)
    assert genes["ensembl_id"].tolist()[0] == "ENSG00000134057"
    assert genes["gene"].tolist()[1:] == ["ccnb1", "TP53"] and len(genes) == 3
    assert read_gene_list(["TP53", "ENSG00000141510,TP53"])["ensembl_id"].tolist()[1] == "ENSG00000141510"


def test_wrong_gene_lists_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="No such gene list"):
        read_gene_list(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="holds no genes"):
        read_gene_list(["# nothing", ""])
    with pytest.raises(ValueError, match="line 2: expected an Ensembl id, a gene name, or both, got 3"):
        read_gene_list(["TP53", "ENSG00000141510 TP53 extra"])
