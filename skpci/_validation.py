"""Declarative parameter validation for the estimators.

Each estimator lists, under its docstring, a ``_parameter_constraints`` table:
parameter name to a list of accepted forms, any one of which may match (as in
scikit-learn's estimators; its own helper is private API, so skpci keeps this
small one). :func:`validate_params` checks the table at ``fit`` and raises a
``ValueError`` that names the parameter, what it accepts, what it got and,
where one is given, how to fix it.

>>> from numbers import Integral
>>> class Example:
...     _parameter_constraints = {"epochs": [Interval(Integral, 0, None)]}
...     epochs = -1
>>> validate_params(Example())
Traceback (most recent call last):
ValueError: epochs must be an integer >= 0, got -1.
"""

import numbers
import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Interval:
    """Numbers of one kind between two bounds; ``None`` leaves a side open.

    Parameters
    ----------
    kind : numbers.Integral or numbers.Real
        ``Integral`` accepts Python and NumPy integers but not ``bool`` and
        not floats (``30.5`` is never silently truncated); ``Real`` accepts
        integers and floats.
    low, high : number or None
    closed : {"both", "left", "right", "neither"}, default="both"
    multiple_of : int, optional
    """

    kind: type
    low: float = None
    high: float = None
    closed: str = "both"
    multiple_of: int = None

    def accepts(self, value):
        if isinstance(value, bool) or not isinstance(value, self.kind):
            return False
        if self.kind is numbers.Real and not np.isfinite(value):
            return False
        if self.low is not None:
            if value < self.low or (value == self.low and self.closed in ("right", "neither")):
                return False
        if self.high is not None:
            if value > self.high or (value == self.high and self.closed in ("left", "neither")):
                return False
        return self.multiple_of is None or value % self.multiple_of == 0

    def __str__(self):
        noun = "an integer" if self.kind is numbers.Integral else "a number"
        if self.multiple_of is not None:
            noun = f"a multiple of {self.multiple_of}"
        open_at_zero = self.low == 0 and self.high is None and self.closed in ("right", "neither")
        if self.kind is numbers.Real and open_at_zero:
            return "a positive number"
        low_sign = ">=" if self.closed in ("both", "left") else ">"
        high_sign = "<=" if self.closed in ("both", "right") else "<"
        if self.low is not None and self.high is not None:
            opening = "[" if low_sign == ">=" else "("
            closing = "]" if high_sign == "<=" else ")"
            return f"{noun} in {opening}{self.low}, {self.high}{closing}"
        if self.low is not None:
            return f"{noun} {low_sign} {self.low}"
        if self.high is not None:
            return f"{noun} {high_sign} {self.high}"
        return noun


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values (compared with ``==``, never by type coercion)."""

    values: tuple

    def accepts(self, value):
        return any(value is option or (isinstance(option, str) and isinstance(value, str) and value == option)
                   for option in self.values)

    def __str__(self):
        return f"one of {tuple(self.values)}"


@dataclass(frozen=True)
class Predicate:
    """Any value for which ``test(value)`` is true, described in words."""

    test: object
    description: str

    def accepts(self, value):
        try:
            return bool(self.test(value))
        except Exception:  # a test that cannot judge a value rejects it
            return False

    def __str__(self):
        return self.description


def _is_path(value):
    return isinstance(value, (str, os.PathLike))


def _is_channel(value):
    return isinstance(value, str) or (isinstance(value, numbers.Integral) and not isinstance(value, bool))


def _is_channel_list(value):
    if _is_channel(value):
        return True
    return isinstance(value, Iterable) and not isinstance(value, bytes) and all(map(_is_channel, value))


#: Forms shared by several estimators.
NONE = Options((None,))
BOOLEAN = Predicate(lambda value: isinstance(value, (bool, np.bool_)), "True or False")
VERBOSE = Predicate(lambda value: isinstance(value, numbers.Integral) and value >= 0,
                    "an integer >= 0 (or a bool)")
N_JOBS = Predicate(lambda value: isinstance(value, numbers.Integral) and not isinstance(value, bool)
                   and value != 0, "a nonzero integer (-1: all cores)")
RANDOM_STATE = Predicate(
    lambda value: isinstance(value, np.random.RandomState)
    or (isinstance(value, numbers.Integral) and not isinstance(value, bool) and 0 <= value < 2**32),
    "an integer in [0, 2**32) or a numpy RandomState")
PATH = Predicate(_is_path, "a path")
MEMORY = Predicate(lambda value: _is_path(value) or callable(getattr(value, "cache", None)),
                   "a folder path or a joblib.Memory")
CHANNEL = Predicate(lambda value: _is_channel(value) and (isinstance(value, str) or value >= 0),
                    "a channel index (int >= 0) or name (str)")
CHANNELS = Predicate(_is_channel_list, "a channel index (int) or name (str), or a tuple of them")
CHANNEL_NAMES = Predicate(lambda value: isinstance(value, (list, tuple, np.ndarray))
                          and all(isinstance(v, str) for v in value),
                          "a list of channel names (str), in channel order")
CHANNEL_MAP = Predicate(lambda value: all(_is_channel(k) and _is_channel(v) for k, v in value.items()),
                        "a dict {model channel: data channel}, each a name (str) or index (int)")


def validate_params(estimator, names=None):
    """Check the estimator's parameters against its ``_parameter_constraints``.

    Parameters
    ----------
    estimator : object
        Has ``_parameter_constraints`` and, optionally, ``_parameter_hints``
        (parameter name to a sentence on how to fix a bad value).
    names : iterable of str, optional
        Check only these parameters (e.g. those ``transform`` reads).

    Raises
    ------
    ValueError
        For the first parameter that matches none of its forms.
    """
    constraints = estimator._parameter_constraints
    hints = getattr(estimator, "_parameter_hints", {})
    for name in constraints if names is None else names:
        value = getattr(estimator, name)
        forms = constraints[name]
        if any(form.accepts(value) for form in forms):
            continue
        accepted = [str(form) for form in forms if form is not NONE]
        if NONE in forms:
            accepted.append("None")
        hint = f" {hints[name]}" if name in hints else ""
        raise ValueError(f"{name} must be {' or '.join(accepted)}, got {value!r}.{hint}")
