"""A loopback stand-in for the Human Protein Atlas: gene XML in the HPA's structure, images, and faults.

The XML follows the structure of the HPA's ``<ENSG>.xml`` records (entry,
identifier, antibody, cellExpression, subAssay type="human" with one
``data`` per cell line, ``assayImage/image/imageUrl`` composites), written
here from scratch. Images are synthetic fields (``skpci.datasets``) served
as the HPA serves them: one JPEG per stain in its display colour, and the
blue-red-green composite.
"""

import http.server
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

import imageio.v3 as iio
import numpy as np

from skpci.datasets import make_cell_images

#: Which plane of an RGB display image each stain lights up.
_DISPLAY = {"red": (0,), "green": (1,), "blue": (2,), "yellow": (0, 1)}


@dataclass
class Gene:
    ensembl_id: str
    name: str
    locations: tuple
    #: Field stems ``<plate>_<well>_<field>`` of the antibody's U-2 OS images; one synthetic field each.
    fields: tuple
    localization: str = "nucleus"
    folder: str = "1001"
    reliability: str = "Enhanced"
    mouse_fields: tuple = ()


@dataclass
class Site:
    """What the server serves, and how it misbehaves (paths -> fault)."""

    genes: dict
    #: path -> one of "404", "429-once", "500", "500-once", "truncate", "truncate-once", "html", "to-ftp",
    #: "to-other-host", "stall", "drip"
    faults: dict = field(default_factory=dict)
    requests: list = field(default_factory=list)
    images: dict = field(default_factory=dict)
    port: int = None
    #: Serve each stain as a single-plane (grey) JPEG instead of in its display colour.
    grey_stains: bool = False
    #: path -> (body, content type), served instead of what the path would give.
    bodies: dict = field(default_factory=dict)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def gene_xml(self, gene):
        antibody_data = _cell_line_data(self.url, gene, "U-2 OS", gene.fields)
        mouse = _cell_line_data(self.url, gene, "NIH 3T3", gene.mouse_fields) if gene.mouse_fields else ""
        locations = "".join(f'<location GOId="GO:{index:07d}">{escape(name)}</location>'
                            for index, name in enumerate(gene.locations))
        return f"""<?xml version="1.0" encoding="UTF-8"?>
<proteinAtlas schemaVersion="2.11">
  <entry version="18" url="{self.url}/{gene.ensembl_id}">
    <name>{escape(gene.name)}</name>
    <synonym>{escape(gene.name)}-like</synonym>
    <identifier id="{gene.ensembl_id}" db="Ensembl" version="88.38"/>
    <tissueExpression source="HPA" technology="IHC" assayType="tissue">
      <summary type="tissue">Not detected in tissues.</summary>
      <data><location>not an immunofluorescence location</location></data>
    </tissueExpression>
    <cellExpression source="HPA" technology="ICC/IF" assayType="subcellular">
      <summary>Localized to the {escape(gene.locations[0])}.</summary>
      <verification type="reliability" description="...">{gene.reliability}</verification>
      <data>{locations}</data>
    </cellExpression>
    <antibody id="HPA{int(gene.folder):06d}" releaseDate="2010-01-01" releaseVersion="6.0">
      <cellExpression source="HPA" technology="ICC/IF" assayType="subcellular">
        <verification type="validation">supported</verification>
        <subAssay type="human" subtype="common cell lines">
          <verification type="validation">supported</verification>
          {antibody_data}
        </subAssay>
        <subAssay type="mouse">{mouse}</subAssay>
      </cellExpression>
    </antibody>
  </entry>
</proteinAtlas>
"""


def _cell_line_data(url, gene, cell_line, stems):
    images = "".join(
        f"<image><channel>blue</channel><channel>red</channel><channel>green</channel>"
        f"<imageUrl>{url}/images/{gene.folder}/{stem}_blue_red_green.jpg</imageUrl></image>"
        for stem in stems
    )
    locations = "".join(f"<location>{escape(name)}</location>" for name in gene.locations)
    return (f'<data><cellLine cellosaurusID="CVCL_0042" organ="Bone">{cell_line}</cellLine>{locations}'
            f"<assayImage>{images}</assayImage></data>")


def _field_planes(gene, stem):
    """The synthetic field behind a stem: (height, width) uint8 planes per stain, the same on every call."""
    seed = int.from_bytes(f"{gene.ensembl_id}{stem}".encode()[-8:], "little") % 2**31
    data = make_cell_images(n_images=1, image_size=160, cell_radius=9, cells_per_image=(8, 12),
                            localizations=(gene.localization,), random_state=seed)
    image = data.images[0]  # protein, nucleus, cytosol
    scaled = (np.clip(image / max(float(image.max()), 1e-6), 0, 1) * 255).astype(np.uint8)
    return {"green": scaled[..., 0], "blue": scaled[..., 1], "red": scaled[..., 2], "yellow": scaled[..., 2] // 2}


def _jpeg(rgb):
    return iio.imwrite("<bytes>", rgb, extension=".jpg", quality=95)


def render(site, path):
    """The bytes the HPA would serve for an image path, or None."""
    parts = path.strip("/").split("/")
    if len(parts) != 3 or parts[0] != "images":
        return None
    folder, name = parts[1], parts[2]
    for gene in site.genes.values():
        if gene.folder != folder:
            continue
        for stem in gene.fields + gene.mouse_fields:
            if not name.startswith(stem + "_"):
                continue
            colors = name[len(stem) + 1:].rsplit(".", 1)[0]
            key = (gene.ensembl_id, stem)
            if key not in site.images:
                site.images[key] = _field_planes(gene, stem)
            planes = site.images[key]
            if colors == "blue_red_green":
                return _jpeg(np.stack([planes["red"], planes["green"], planes["blue"]], axis=-1))
            if colors in _DISPLAY and site.grey_stains:
                return _jpeg(planes[colors])
            if colors in _DISPLAY:
                rgb = np.zeros(planes[colors].shape + (3,), np.uint8)
                for plane in _DISPLAY[colors]:
                    rgb[..., plane] = planes[colors]
                return _jpeg(rgb)
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    site = None

    def do_GET(self):  # noqa: N802 (http.server's name)
        site = self.site
        parsed = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(parsed.path)
        site.requests.append(path)
        fault = site.faults.get(path)
        count = site.requests.count(path)
        if fault == "429-once" and count == 1:
            self.send_response(429)
            self.send_header("Retry-After", "1")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if fault == "404":
            return self.send(404, b"<html>Not found</html>", "text/html")
        if fault == "500" or (fault == "500-once" and count == 1):
            return self.send(500, b"<html>Internal error</html>", "text/html")
        if fault in ("to-ftp", "to-other-host"):
            target = "ftp://127.0.0.1/x.jpg" if fault == "to-ftp" else f"http://localhost:{site.port}{path}"
            if fault == "to-other-host":
                site.faults.pop(path)  # the other host serves it normally
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if fault == "html":
            return self.send(200, b"<!DOCTYPE html><html><body>Please wait, the site is busy</body></html>",
                             "text/html; charset=utf-8")
        if fault == "stall":
            time.sleep(3)
            return self.send(200, b"late", "image/jpeg")
        body, kind = self.body_for(path, parsed.query)
        if body is None:
            return self.send(404, b"<html>Not found</html>", "text/html")
        if fault == "truncate" or (fault == "truncate-once" and count == 1):
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 3])
            self.close_connection = True
            return None
        if fault == "drip":
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for start in range(0, len(body), 512):
                self.wfile.write(body[start:start + 512])
                self.wfile.flush()
                time.sleep(0.2)
            return None
        return self.send(200, body, kind)

    def body_for(self, path, query):
        site = self.site
        if path in site.bodies:
            return site.bodies[path]
        if path.endswith(".xml"):
            gene = site.genes.get(path.strip("/")[:-4])
            return (site.gene_xml(gene).encode(), "application/xml") if gene else (None, None)
        if path == "/api/search_download.php":
            term = urllib.parse.parse_qs(query).get("search", [""])[0].upper()
            hits = [{"Gene": gene.name, "Ensembl": gene.ensembl_id} for gene in site.genes.values()
                    if term in gene.name.upper()]
            return json.dumps(hits).encode(), "application/json"
        body = render(site, path)
        return (body, "image/jpeg") if body is not None else (None, None)

    def send(self, status, body, kind):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve(site):
    """Start serving ``site`` on a free loopback port; returns the server (call ``shutdown()``)."""
    handler = type("SiteHandler", (Handler,), {"site": site})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    site.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def standard_genes():
    """Four genes in two localizations, two fields each, plus one mouse-only field that must be ignored."""
    return {gene.ensembl_id: gene for gene in [
        Gene("ENSG00000000001", "NUCA", ("Nucleoplasm",), ("101_A1_1", "101_A1_2"), "nucleus", "1001"),
        Gene("ENSG00000000002", "NUCB", ("Nucleoplasm", "Nucleoli"), ("102_B2_1", "102_B2_2"), "nucleus", "1002",
             mouse_fields=("900_H12_1",)),
        Gene("ENSG00000000003", "CYTA", ("Cytosol",), ("103_C3_1", "103_C3_2"), "cytoplasm", "1003"),
        Gene("ENSG00000000004", "CYTB", ("Cytosol",), ("104_D4_1", "104_D4_2"), "cytoplasm", "1004"),
    ]}


def fast_options(site, **overrides):
    """download_hpa options for tests: this site, no rate limit, short time-outs and back-off."""
    return dict(base_url=site.url, progress=False, requests_per_second=0, timeout=1, deadline=6, retries=2,
                backoff=0.05) | overrides
