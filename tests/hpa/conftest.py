"""A loopback stand-in of the Human Protein Atlas for every HPA test."""

import pytest

from .site import Site, serve, standard_genes


@pytest.fixture
def site():
    site = Site(standard_genes())
    server = serve(site)
    yield site
    server.shutdown()
    server.server_close()
