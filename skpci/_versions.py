"""Pickled estimators record the skpci and Keras versions that made them, and warn when loaded under others.

scikit-learn already records its own version in every pickled estimator and
warns with :class:`sklearn.exceptions.InconsistentVersionWarning`; this adds
the libraries that shape skpci's fitted state (its own code and the Keras
that holds the network).
"""

import warnings


class InconsistentVersionWarning(UserWarning):
    """An estimator pickled under other skpci or Keras versions was loaded; results may differ.

    Attributes
    ----------
    recorded : dict
        Library name -> the version that pickled the estimator.
    current : dict
        Library name -> the version loading it.
    """

    def __init__(self, estimator_name, recorded, current):
        self.recorded, self.current = recorded, current
        differ = ", ".join(f"{name} {recorded[name]} (now {current.get(name)})"
                           for name in sorted(recorded) if recorded[name] != current.get(name))
        super().__init__(
            f"This {estimator_name} was pickled under {differ}. Loading it under other versions may break it "
            "or change its results: refit it, or save it with save_pretrained (a model directory), which "
            "other versions read."
        )


def current_versions(libraries=("skpci", "keras")):
    """The installed versions of ``libraries`` (of "skpci" and "keras")."""
    from . import __version__

    versions = {"skpci": __version__}
    if "keras" in libraries:
        import keras

        versions["keras"] = keras.__version__
    return {name: versions[name] for name in libraries}


class RecordsVersions:
    """Mixin for estimators: record :func:`current_versions` when pickled, warn on a mismatch when loaded.

    Goes before ``BaseEstimator`` in the bases, so that scikit-learn's own
    version check still runs. ``_versioned_libraries`` names what is recorded.
    """

    _versioned_libraries = ("skpci", "keras")

    def __getstate__(self):
        state = dict(super().__getstate__())
        state["_skpci_versions"] = current_versions(self._versioned_libraries)
        return state

    def __setstate__(self, state):
        recorded = state.pop("_skpci_versions", None)
        if recorded is not None:
            current = current_versions(tuple(recorded))
            if any(recorded.get(name) != version for name, version in current.items() if name in recorded):
                warnings.warn(InconsistentVersionWarning(type(self).__name__, recorded, current), stacklevel=2)
        super().__setstate__(state)
