"""``skpci download-hpa``: kept apart from the other commands so that it never imports Keras."""

import sys


def download_hpa_command(genes, output, *, echo=print, **options):
    """Download HPA images of a gene list (resuming into ``output``); returns the exit code (1 if any failed)."""
    from ..hpa import download_hpa

    result = download_hpa(genes, output, **options)
    echo(result.summary())
    if len(result.failures):
        print(f"skpci: error: {len(result.failures)} downloads failed; run the same command again to retry them.",
              file=sys.stderr)
        return 1
    return 0
