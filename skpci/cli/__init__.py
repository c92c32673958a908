"""The ``skpci`` command line: ``demo``, ``segment``, ``fit``, ``features``, ``benchmark``.

* :mod:`._parser`: the arguments and :func:`main` (exit codes, one-line errors);
* :mod:`._commands`: what each data command does, on top of the public API;
* :mod:`._demo`: ``skpci demo``.
"""

from ._parser import main

__all__ = ["main"]
