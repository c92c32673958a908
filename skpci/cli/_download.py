"""``skpci download-hpa``: kept apart from the other commands so that it never imports Keras."""

import sys


def download_hpa_command(genes, output, *, echo=print, **options):
    """Download HPA images of a gene list (resuming into ``output``); returns the exit code.

    1 when some downloads failed that a rerun may fetch (server errors,
    time-outs); 0 otherwise, also when genes the HPA does not know were
    listed as failed (a rerun cannot fix those).
    """
    from ..hpa import download_hpa

    result = download_hpa(genes, output, **options)
    echo(result.summary())
    if not result.complete:
        retry = int(result.failures["retry"].sum())
        print(f"skpci: error: {retry} downloads failed that a rerun may fetch; run the same command again.",
              file=sys.stderr)
        return 1
    return 0
