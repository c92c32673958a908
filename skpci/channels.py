"""Channel roles and channel matching: which channel of the data feeds which input of the network.

A fitted featurizer has *model channels*: the channels of the crops it was
fitted on, or of the pretrained model it loaded, with their names when they
are known. Its protein and marker roles index into them. Data given later
(a :class:`~skpci.CropStore`, or arrays described by the featurizer's
``channel_names``) is matched to the model channels in this order:

1. ``channel_map``: ``{model channel: data channel}``, each by name or index,
   for data whose names differ (and to feed one marker to two inputs);
2. by name, when both the model and the data name their channels;
3. by position, when either side is unnamed and the data has exactly the
   model's number of channels.

Anything else is an error that lists both sides, so a model never reads the
DNA stain as its protein because channels came in another order.

Examples
--------
>>> match_channels((0, 1), model_names=("gfp", "rfp"), n_model=2,
...                data_names=("rfp", "dapi", "gfp"), n_data=3)
(2, 0)
>>> match_channels((0, 1), model_names=("gfp", "rfp"), n_model=2,
...                data_names=("D", "F", "R"), n_data=3, channel_map={"gfp": "F", "rfp": "R"})
(1, 2)
"""

import numbers

import numpy as np


def _is_index(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_channel_names(names, n_channels=None, *, what="channel_names"):
    """Validate channel names: unique, non-empty strings, one per channel.

    Parameters
    ----------
    names : sequence of str or None
    n_channels : int, optional
        How many channels they must name.
    what : str, default="channel_names"
        How to call them in error messages.

    Returns
    -------
    names : tuple of str or None
    """
    if names is None:
        return None
    if isinstance(names, (str, bytes)):
        raise ValueError(f"{what} must be a list of names, one per channel; got the string {names!r}.")
    if isinstance(names, (set, frozenset, dict)) or not hasattr(names, "__len__"):
        raise ValueError(f"{what} must be a list of names in channel order; a {type(names).__name__} has no order.")
    names = tuple(names)
    bad = [name for name in names if not isinstance(name, str) or not name.strip()]
    if bad:
        raise ValueError(f"{what} must be non-empty strings; got {bad[:3]} among {list(names)}.")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"{what} repeats {repeated}: each channel needs its own name.")
    if n_channels is not None and len(names) != n_channels:
        raise ValueError(
            f"{what} has {len(names)} names {list(names)} for {n_channels} channels: give one name per channel."
        )
    return names


def check_channel_roles(protein_channels, marker_channels, n_channels=None, names=None):
    """Validate the channel roles and return them as tuples of indices.

    Parameters
    ----------
    protein_channels, marker_channels : int, str or sequence of them
        Channel indices, or names among ``names``.
    n_channels : int, optional
        The number of channels the indices refer to.
    names : sequence of str, optional
        Names of those channels, for roles given by name.

    Returns
    -------
    protein_channels, marker_channels : tuple of int

    Raises
    ------
    ValueError
        If a role is empty, names an unknown channel, an index is out of
        range, or a channel has both roles.
    """
    roles = {}
    for role, channels in (("protein_channels", protein_channels), ("marker_channels", marker_channels)):
        channels = (channels,) if _is_index(channels) or isinstance(channels, str) else tuple(channels)
        if not channels:
            raise ValueError(f"{role} must name at least one channel.")
        indices = []
        for channel in channels:
            if isinstance(channel, str):
                if names is None:
                    raise ValueError(
                        f"{role} names channel {channel!r}, but the channels have no names. Give indices, "
                        "or name the channels: a CropStore records them, and arrays are named with "
                        "channel_names=[...]."
                    )
                if channel not in names:
                    raise ValueError(f"{role} names channel {channel!r}, which is not among {list(names)}.")
                channel = list(names).index(channel)
            elif not _is_index(channel):
                raise ValueError(f"{role} must hold channel indices (int) or names (str), got {channel!r}.")
            if channel < 0 or (n_channels is not None and channel >= n_channels):
                valid = f"0..{n_channels - 1}" if n_channels is not None else "non-negative"
                raise ValueError(
                    f"{role} names channel {channel}, but the crops have "
                    f"{n_channels} channels (valid indices: {valid})."
                )
            indices.append(int(channel))
        if len(set(indices)) != len(indices):
            raise ValueError(f"{role} lists a channel twice: {channels}.")
        roles[role] = tuple(indices)
    both = set(roles["protein_channels"]) & set(roles["marker_channels"])
    if both:
        shown = sorted(names[i] for i in both) if names is not None else sorted(both)
        raise ValueError(
            f"Channels {shown} are listed as both protein and marker channels; each channel has one role."
        )
    return roles["protein_channels"], roles["marker_channels"]


def check_channel_map(channel_map):
    """Validate a ``{model channel: data channel}`` mapping (names or indices); return it as a dict."""
    if channel_map is None:
        return None
    if not hasattr(channel_map, "items"):
        raise ValueError(
            f"channel_map must be a dict {{model channel: data channel}}, got {type(channel_map).__name__}."
        )
    for key, value in channel_map.items():
        for side, item in (("model", key), ("data", value)):
            if not (isinstance(item, str) or _is_index(item)):
                raise ValueError(
                    f"channel_map maps channels by name (str) or index (int); its {side} channel {item!r} "
                    "is neither."
                )
    return dict(channel_map)


def _describe(names, n_channels):
    return f"{list(names)}" if names is not None else f"{n_channels} unnamed channels"


def check_roles_fed_apart(order, n_protein, *, data_names=None, data="X"):
    """Refuse a data channel that would feed both a protein and a marker input of the network.

    The network would then predict a channel from itself, and learn nothing
    about localization. Two marker inputs may share a channel.

    Parameters
    ----------
    order : sequence of int
        Data channel of each network input: protein channels first, then markers.
    n_protein : int
    data_names : sequence of str, optional
    data : str, default="X"
        How to call the data in error messages.
    """
    shared = sorted(set(order[:n_protein]) & set(order[n_protein:]))
    if shared:
        shown = [data_names[index] if data_names is not None else index for index in shared]
        raise ValueError(f"{data}'s channel(s) {shown} would feed both a protein and a marker input, so the "
                         "network would predict a channel from itself; give the protein its own channel "
                         "(check channel_map).")


def match_channels(wanted, *, model_names, n_model, data_names, n_data, channel_map=None, data="X"):
    """The data channel that feeds each of the ``wanted`` model channels.

    Parameters
    ----------
    wanted : sequence of int
        Model channels (indices) the network reads, in its input order.
    model_names : sequence of str or None
        Names of the model channels.
    n_model : int
        Number of model channels.
    data_names : sequence of str or None
        Names of the data's channels.
    n_data : int
        Number of the data's channels.
    channel_map : dict, optional
        ``{model channel: data channel}``, each by name or index; applied
        first, for the channels it lists.
    data : str, default="X"
        How to call the data in error messages.

    Returns
    -------
    indices : tuple of int
        One data channel index per entry of ``wanted``.

    Raises
    ------
    ValueError
        If a model channel has no match; the message lists both sides and
        how to map them.
    """
    channel_map = check_channel_map(channel_map) or {}
    model_side, data_side = _describe(model_names, n_model), _describe(data_names, n_data)
    mapped = {}
    for key, value in channel_map.items():
        if isinstance(key, str):
            if model_names is None or key not in model_names:
                raise ValueError(f"channel_map maps {key!r}, which is not a model channel; the model's channels "
                                 f"are {model_side}.")
            key = list(model_names).index(key)
        elif not 0 <= key < n_model:
            raise ValueError(f"channel_map maps model channel {key}; the model has {model_side}.")
        if isinstance(value, str):
            if data_names is None or value not in data_names:
                raise ValueError(f"channel_map maps to {value!r}, but {data}'s channels are {data_side}.")
            value = list(data_names).index(value)
        elif not 0 <= value < n_data:
            raise ValueError(f"channel_map maps to channel {value}, but {data} has {data_side}.")
        mapped[int(key)] = int(value)

    indices = []
    for channel in wanted:
        if channel in mapped:
            indices.append(mapped[channel])
        elif model_names is not None and data_names is not None:
            name = model_names[channel]
            if name not in data_names:
                raise ValueError(
                    f"{data} has no channel {name!r}: the model's channels are {model_side}, {data}'s are "
                    f"{data_side}. Map them explicitly, e.g. channel_map={{{name!r}: {data_names[0]!r}}}."
                )
            indices.append(list(data_names).index(name))
        elif n_data == n_model:
            indices.append(channel)
        else:
            unnamed = "the model's channels are unnamed" if model_names is None else f"{data}'s channels are unnamed"
            raise ValueError(
                f"{data}: expected {n_model} channels ({model_side}), got {n_data} ({data_side}); "
                f"{unnamed}, so they cannot be matched by name. Name them (channel_names=) or map "
                "them (channel_map=)."
            )
    return tuple(indices)
