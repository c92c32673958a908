"""`CropStore`: single-cell crops on disk, in HDF5, for data that does not fit in memory.

A store is a folder of *shards*. Each shard is one HDF5 file holding the
crops of a few whole images (chunked, compressed, in their native dtype) with
their per-cell and per-image records, and is written under a temporary name
and renamed when complete. So a crash never leaves a half-written image
behind, finished shards are never modified (any number of processes may read
them), and appending is writing one more shard. A single shard file is also
a valid, read-only store.

Layout of a shard::

    crops            (n_cells, h, w, C)   native dtype, chunks of whole crops
    cell_image       (n_cells,)           image of each cell, 0-based within the shard
    cell_centroid    (n_cells, 2)         (row, col) in the source image's pixels
    image_name       (n_images,)          source path or name; unique in a store
    image_group      (n_images,)          pairing group (default: the image itself)
    image_label      (n_images,)          e.g. the localization class ("" if none)
    image_metadata   (n_images,)          JSON object per image

Besides its shards, a store folder holds ``store.json`` (format, version,
channel names, segmentation settings), ``skipped.json`` when a segmentation
run skipped fields it could not read (name -> error), and may hold feature
files, one per set of layers::

    features-<layers>.h5
        features     (n_cells or n_images, n_features)   float32, stored cell order
        attrs        layers, pooling, per ("cell" or "image"), store_fingerprint

(:meth:`CropStore.feature_path` names it, :func:`write_feature_file` writes it).
"""

import json
import numbers
import os
import re
from pathlib import Path

import h5py
import joblib
import numpy as np
import pandas as pd

from ._arrays import ranges_in_stacks
from ._files import atomic_file, decode_strings, hdf5_written_in_memory
from .channels import check_channel_names
from .preprocessing import check_crops

FORMAT = "skpci-crop-store"
VERSION = 1
_SHARD_NAME = "shard-{:06d}.h5"
_SHARD_PATTERN = re.compile(r"^shard-(\d{6})\.h5$")
_MANIFEST = "store.json"
_SKIPPED = "skipped.json"
#: Shard files kept open at once by one handle (least recently used closed first).
_OPEN_SHARDS = 32
_STRING = h5py.string_dtype("utf-8")


class CropStore:
    """Read (and append to) a store of single-cell crops in HDF5.

    Parameters
    ----------
    path : str or path-like
        A store folder (see :meth:`create`) or a single shard file.

    Attributes
    ----------
    path : pathlib.Path
    channel_names : list of str or None
    settings : dict or None
        How the crops were made (``CellSegmenter.to_store`` records its
        segmentation settings).

    See Also
    --------
    skpci.CellSegmenter.to_store : Segment fields straight into a store.

    Notes
    -----
    Training reads blocks of whole pairing groups, fastest when each group's
    cells are stored consecutively (append whole groups, or images in group
    order). A group split by later appends still trains: its cells are read
    from each stored run.

    A store pickles as its path (the copy reopens the files in its own
    process) and its :meth:`fingerprint`, so that ``joblib.hash`` of a store,
    which keys ``Pipeline(memory=...)``, changes when the store grows.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from skpci import CropStore
    >>> folder = tempfile.mkdtemp()
    >>> store = CropStore.create(folder + "/crops", channel_names=["protein", "nucleus"])
    >>> bag = np.zeros((3, 16, 16, 2), dtype=np.uint16)
    >>> shard = store.append([bag, bag[:2]], names=["a.tif", "b.tif"], labels=["nucleus", "cytosol"])
    >>> len(store), store.n_images, store.crop_shape, store.dtype
    (5, 2, (16, 16, 2), dtype('uint16'))
    >>> store.images[["name", "label", "n_cells"]].to_dict("list")
    {'name': ['a.tif', 'b.tif'], 'label': ['nucleus', 'cytosol'], 'n_cells': [3, 2]}
    """

    def __init__(self, path):
        self.path = Path(path)
        if self.path.is_dir():
            manifest = self.path / _MANIFEST
            if not manifest.is_file():
                raise ValueError(
                    f"{str(self.path)!r} is not a crop store: it has no {_MANIFEST}. Create one with "
                    "CropStore.create(path) or CellSegmenter.to_store(images, path)."
                )
            try:
                info = json.loads(manifest.read_text())
            except (OSError, ValueError) as error:
                raise ValueError(f"Cannot read the crop store manifest {str(manifest)!r}: {error}") from error
            if not isinstance(info, dict) or info.get("format") != FORMAT:
                raise ValueError(f"{str(manifest)!r} does not describe a crop store.")
            self.channel_names = info.get("channel_names")
            self.settings = info.get("settings")
        elif self.path.is_file():
            self.channel_names = self.settings = None
        else:
            raise FileNotFoundError(f"No crop store at {str(self.path)!r}.")
        self._handles = {}
        self._pid = os.getpid()
        self.refresh()

    # ------------------------------------------------------------ creating

    @classmethod
    def create(cls, path, *, channel_names=None, exist_ok=False, settings=None):
        """Create an empty store folder (or open it when ``exist_ok``).

        Parameters
        ----------
        path : str or path-like
        channel_names : list of str, optional
        exist_ok : bool, default=False
            Open an existing store instead of failing; its channel names and
            settings must agree.
        settings : dict, optional
            How the crops were made (the segmentation settings), recorded so
            that a later run with other settings (another magnification or
            crop size) cannot add to the store. JSON-serializable.

        Returns
        -------
        store : CropStore
        """
        path = Path(path)
        channel_names = check_channel_names(channel_names)
        settings = None if settings is None else json.loads(json.dumps(settings))  # as the manifest keeps it
        manifest = path / _MANIFEST
        if manifest.is_file():
            if not exist_ok:
                raise FileExistsError(f"A crop store exists at {str(path)!r}; pass exist_ok=True to add to it.")
            store = cls(path)
            if channel_names is not None and store.channel_names not in (None, list(channel_names)):
                raise ValueError(
                    f"The store at {str(path)!r} has channels {store.channel_names}, not {list(channel_names)}: "
                    "channels are stored by position, so one store keeps one channel order."
                )
            if settings is not None and store.settings is not None and store.settings != settings:
                differ = sorted(key for key in {*settings, *store.settings}
                                if settings.get(key) != store.settings.get(key))
                made = ", ".join(f"{key}={store.settings.get(key)!r}" for key in differ)
                asked = ", ".join(f"{key}={settings.get(key)!r}" for key in differ)
                raise ValueError(
                    f"The store at {str(path)!r} was made with {made}; this run asks for {asked}. Crops made "
                    "with other settings would mix in one store: use the same settings, or another store."
                )
            return store
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise FileExistsError(f"{str(path)!r} exists and is not a crop store.")
        path.mkdir(parents=True, exist_ok=True)
        info = {"format": FORMAT, "version": VERSION,
                "channel_names": None if channel_names is None else list(channel_names), "settings": settings}
        with atomic_file(manifest) as temporary:
            temporary.write_text(json.dumps(info, indent=2))
        return cls(path)

    def append(self, bags, *, names, groups=None, labels=None, centroids=None, metadata=None,
               compression="lzf"):
        """Write the crops of some images as one new shard (atomically).

        Parameters
        ----------
        bags : sequence of ndarray
            One ``(n_cells_i, h, w, C)`` array per image; all share ``h, w, C``
            and the dtype, which is kept.
        names : sequence of str
            One unique name (source path) per image.
        groups, labels : sequence of str, optional
            Pairing group and label of each image. Groups default to the
            image names (cells pair within their image).
        centroids : sequence of ndarray of shape (n_cells_i, 2), optional
        metadata : sequence of dict, optional
            JSON-serializable per-image records (plate, well, condition...).
        compression : str or None, default="lzf"
            An h5py filter; ``"gzip"`` is smaller, ``"lzf"`` faster.

        Returns
        -------
        shard : pathlib.Path
        """
        if not self.path.is_dir():
            raise ValueError(
                f"{str(self.path)!r} is a single-file store, which is read-only; append to a store folder."
            )
        bags = [check_crops(bag, name=f"bag {i}") for i, bag in enumerate(bags)]
        n_images = len(bags)
        if n_images == 0:
            raise ValueError("Nothing to append: no images given.")
        names, groups, labels, metadata = check_image_records(n_images, names=names, groups=groups,
                                                              labels=labels, metadata=metadata)
        self.refresh()  # another handle or process may have appended since this one last looked
        if len(set(names)) != n_images or set(names) & set(self.images["name"]):
            raise ValueError("Image names must be unique in a store; some are repeated or already stored.")
        self._check_bags(bags)
        counts = np.array([len(bag) for bag in bags], dtype=np.int64)
        if centroids is None:
            centroid = np.full((counts.sum(), 2), np.nan, dtype=np.float32)
        else:
            centroids = [np.asarray(c, dtype=np.float32) for c in centroids]
            if len(centroids) != n_images or any(c.shape != (n, 2) for c, n in zip(centroids, counts)):
                raise ValueError(
                    "centroids must hold one (n_cells, 2) array of (row, col) per image; got shapes "
                    f"{[c.shape for c in centroids][:5]} for images of {counts[:5].tolist()} cells."
                )
            centroid = np.concatenate(centroids) if n_images else np.zeros((0, 2), np.float32)
        crops = np.concatenate(bags)
        published = []
        with atomic_file(self.path / "shard.h5",
                         publish=lambda temporary: published.append(self._claim_shard_name(temporary))) as temporary:
            with hdf5_written_in_memory(temporary) as shard:
                shard.attrs["format"] = FORMAT
                shard.attrs["version"] = VERSION
                shard.attrs["channel_names"] = json.dumps(self.channel_names)
                chunk = (max(1, min(len(crops), 16)),) + crops.shape[1:]
                shard.create_dataset("crops", data=crops, chunks=chunk if len(crops) else None,
                                     compression=compression if len(crops) else None,
                                     shuffle=compression is not None and len(crops) > 0)
                shard.create_dataset("cell_image", data=np.repeat(np.arange(n_images), counts))
                shard.create_dataset("cell_centroid", data=centroid)
                shard.create_dataset("image_name", data=names, dtype=_STRING)
                shard.create_dataset("image_group", data=groups, dtype=_STRING)
                shard.create_dataset("image_label", data=labels, dtype=_STRING)
                shard.create_dataset("image_metadata", data=[json.dumps(m) for m in metadata], dtype=_STRING)
        self.refresh()
        return published[0]

    def _claim_shard_name(self, temporary):
        """Give the finished shard ``temporary`` the next free shard name, atomically.

        A hard link fails when the name exists, so two writers (handles or
        processes) appending at once each get their own shard and neither
        overwrites the other's. Where the file system has no hard links, the
        name is reserved with ``O_EXCL`` first (readers skip such an empty,
        reserved shard until it is filled).
        """
        number = self._next_shard_number()
        while True:
            shard_path = self.path / _SHARD_NAME.format(number)
            try:
                try:
                    os.link(temporary, shard_path)
                    os.remove(temporary)
                except FileExistsError:
                    raise
                except OSError:  # no hard links here: reserve the name, then move the shard onto it
                    os.close(os.open(shard_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                    os.replace(temporary, shard_path)
            except FileExistsError:
                number = max(number + 1, self._next_shard_number())
                continue
            return shard_path

    @classmethod
    def from_bags(cls, path, bags, *, names=None, channel_names=None, **records):
        """Write bags of crops as a new store: a folder, or one ``.h5`` file.

        Parameters
        ----------
        path : str or path-like
            Ending in ``.h5``/``.hdf5``: one self-contained HDF5 file;
            otherwise a store folder.
        bags : sequence of ndarray
        names : sequence of str, optional
            Defaults to ``image-0``, ``image-1``...
        channel_names : list of str, optional
        **records
            ``groups``, ``labels``, ``centroids``, ``metadata`` as in :meth:`append`.

        Returns
        -------
        store : CropStore
        """
        path = Path(path)
        names = [f"image-{i}" for i in range(len(bags))] if names is None else names
        if path.suffix.lower() not in (".h5", ".hdf5"):
            existed = path.exists()
            store = cls.create(path, channel_names=channel_names)
            try:
                store.append(bags, names=names, **records)
            except BaseException:
                store.close()
                if not existed:
                    discard_if_empty(path)  # a refused write leaves nothing, so a retry can succeed
                raise
            return store
        if path.exists():
            raise FileExistsError(f"{str(path)!r} exists.")
        staging_path = Path(str(path) + ".staging")
        _remove_stale_staging(staging_path)  # left by a killed from_bags; the file itself was never written
        staging = cls.create(staging_path, channel_names=channel_names)
        try:
            shard = staging.append(bags, names=names, **records)
            os.replace(shard, path)
        finally:
            for leftover in staging.path.iterdir():
                leftover.unlink()
            staging.path.rmdir()
        return cls(path)

    # ------------------------------------------------------------- reading

    def refresh(self):
        """Rescan the folder for shards written since the store was opened.

        Shards never change once written, so only new ones are read, and when
        the known shards are still the first ones (appends only add) the
        tables grow by the new shards' rows instead of being rebuilt.
        """
        known = getattr(self, "_shards", [])
        if self.path.is_dir():
            names = self._list_shards()
            if known and names[:len(known)] == [shard.name for shard in known]:
                new = self._filled([self.path / name for name in names[len(known):]])
                if new:
                    self._add_shards(new, first_index=len(known))
                return self
            shards = self._filled([self.path / name for name in names])
        else:
            shards = [self.path]
        self._records, self._shards = {}, []
        self._offsets = np.zeros(1, dtype=np.int64)
        self._shape = self._dtype = None
        self.images = pd.DataFrame({"name": [], "group": [], "label": [], "n_cells": [], "start": [],
                                    "shard": [], "metadata": []}).astype(
            {"n_cells": np.int64, "start": np.int64, "shard": np.int64})
        self.cells = pd.DataFrame({"image": np.zeros(0, np.int64), "centroid_row": [], "centroid_col": [],
                                   "source": [], "group": []})
        if shards:
            self._add_shards(shards, first_index=0)
        return self

    def _add_shards(self, shards, first_index):
        """Read the records of ``shards`` (numbered from ``first_index``) and append them to the tables."""
        images, cells, offsets, shapes = [], [], [int(self._offsets[-1])], set()
        n_images = len(self.images)
        if self._shape is not None:
            shapes.add((self._shape, self._dtype))
        for index, shard_path in enumerate(shards, start=first_index):
            try:
                records = self._read_records(shard_path)
            except _UnreadableShard:
                raise
            except (OSError, KeyError, ValueError) as error:
                raise _UnreadableShard(f"Cannot read the crop store shard {str(shard_path)!r}: {error}") from error
            image_frame, cell_frame, n_cells, shape = self._records[shard_path] = records
            images.append(image_frame.assign(start=image_frame["start"] + offsets[-1], shard=index))
            cells.append(cell_frame.assign(image=cell_frame["image"] + n_images))
            n_images += len(image_frame)
            if shape is not None:
                shapes.add(shape)
            offsets.append(offsets[-1] + n_cells)
        if len(shapes) > 1:
            raise ValueError(f"The shards of {str(self.path)!r} hold crops of different shapes or dtypes: "
                             f"{sorted(map(str, shapes))}.")
        new_images = pd.concat(images, ignore_index=True).astype(
            {"n_cells": np.int64, "start": np.int64, "shard": np.int64})
        new_cells = pd.concat(cells, ignore_index=True)
        image_of_cell = new_cells["image"].to_numpy() - len(self.images)
        new_cells["source"] = new_images["name"].to_numpy()[image_of_cell] if len(new_cells) else []
        new_cells["group"] = new_images["group"].to_numpy()[image_of_cell] if len(new_cells) else []
        self.images = new_images if not len(self.images) else pd.concat([self.images, new_images],
                                                                         ignore_index=True)
        self.cells = new_cells if not len(self.cells) else pd.concat([self.cells, new_cells], ignore_index=True)
        self._shards = self._shards + list(shards)
        self._offsets = np.concatenate([self._offsets, np.array(offsets[1:], dtype=np.int64)])
        self._shape, self._dtype = next(iter(shapes)) if shapes else (None, None)

    def _read_records(self, shard_path):
        """Image and cell records of one shard, numbered within the shard."""
        shard = self._open(shard_path)
        if shard.attrs.get("format") != FORMAT:
            raise ValueError("not a shard of a crop store")
        if self.channel_names is None:
            self.channel_names = json.loads(shard.attrs.get("channel_names", "null"))
        crops = shard["crops"]
        n_images, n_cells = len(shard["image_name"]), len(crops)
        # Sizes are checked before anything is read, so a damaged shard cannot make this allocate much.
        for name in ("image_group", "image_label", "image_metadata"):
            if shard[name].shape != (n_images,):
                raise ValueError(f"{name} holds {shard[name].shape} entries for {n_images} images")
        for name, shape in (("cell_image", (n_cells,)), ("cell_centroid", (n_cells, 2))):
            if shard[name].shape != shape:
                raise ValueError(f"{name} has shape {shard[name].shape}; {n_cells} crops need {shape}")
        image_of_cell = shard["cell_image"][:]
        if n_cells and (image_of_cell.min() < 0 or image_of_cell.max() >= n_images
                        or np.any(np.diff(image_of_cell) < 0)):
            raise ValueError(f"cell_image must number the {n_images} images in order, from 0")
        counts = np.bincount(image_of_cell, minlength=n_images).astype(np.int64)
        image_frame = pd.DataFrame({
            "name": decode_strings(shard["image_name"][:]),
            "group": decode_strings(shard["image_group"][:]),
            "label": decode_strings(shard["image_label"][:]),
            "n_cells": counts,
            "start": np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64),
            "shard": 0,
            "metadata": [json.loads(m) for m in decode_strings(shard["image_metadata"][:])],
        })
        centroid = shard["cell_centroid"][:]
        cell_frame = pd.DataFrame({"image": image_of_cell.astype(np.int64),
                                   "centroid_row": centroid[:, 0], "centroid_col": centroid[:, 1]})
        shape = (crops.shape[1:], crops.dtype) if len(crops) else None
        return image_frame, cell_frame, len(crops), shape

    def __len__(self):
        return int(self._offsets[-1])

    @property
    def n_images(self):
        """Number of images stored."""
        return len(self.images)

    @property
    def crop_shape(self):
        """``(h, w, C)`` of every crop (None for an empty store)."""
        return None if self._shape is None else tuple(int(s) for s in self._shape)

    @property
    def dtype(self):
        """The crops' stored dtype (None for an empty store)."""
        return self._dtype

    @property
    def nbytes(self):
        """Size of all crops, uncompressed, in bytes."""
        return 0 if self._shape is None else len(self) * int(np.prod(self._shape)) * self._dtype.itemsize

    def read(self, start=0, stop=None):
        """The crops of cells ``start`` to ``stop`` (stored order), in their stored dtype."""
        for name, value in (("start", start), ("stop", stop)):
            if value is not None and (not isinstance(value, numbers.Integral) or value < 0):
                raise ValueError(f"{name} must be a cell index (an int >= 0), got {value!r}.")
        stop = len(self) if stop is None else min(int(stop), len(self))
        start = int(start)
        parts = [self._open(self._shards[index])["crops"][low:high]
                 for index, low, high in ranges_in_stacks(self._offsets, start, stop)]
        if not parts:
            shape = (0,) + (self.crop_shape or (0, 0, 0))
            return np.zeros(shape, dtype=self._dtype or np.float32)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def read_image(self, index):
        """The bag of crops of image ``index``."""
        if not isinstance(index, numbers.Integral) or not -self.n_images <= index < self.n_images:
            raise IndexError(f"Image {index!r} is not in {self!r}: give an int in 0..{self.n_images - 1}.")
        row = self.images.iloc[index]
        return self.read(row["start"], row["start"] + row["n_cells"])

    @property
    def skipped(self):
        """Fields that a segmentation run could not read or segment: name -> the error (``skipped.json``).

        ``CellSegmenter.to_store(on_error="skip")`` records them; a later run
        tries them again and removes those that then succeed.
        """
        path = self.path / _SKIPPED if self.path.is_dir() else None
        if path is None or not path.is_file():
            return {}
        try:
            skipped = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise ValueError(f"Cannot read {str(path)!r}: {error}. Delete it to start the record afresh.") from error
        return skipped if isinstance(skipped, dict) else {}

    def record_skipped(self, skipped, *, retried=()):
        """Update the record of skipped fields: add ``skipped``, drop the ``retried`` that now succeeded.

        Parameters
        ----------
        skipped : dict
            Field name -> why it was skipped.
        retried : iterable of str
            Every field the run tried.
        """
        current = self.skipped
        updated = {name: why for name, why in current.items() if name not in set(retried)} | dict(skipped)
        if updated == current:
            return
        with atomic_file(self.path / _SKIPPED) as temporary:
            temporary.write_text(json.dumps(updated, indent=2))

    def feature_path(self, layers, pooling="max", central_cell=False):
        """Where this store keeps features: ``<store>/features-<layers>[-<pooling>][-central-cell[-<marker>]].h5``.

        Max pooling of whole crops (the defaults) adds nothing to the name, so
        other read-outs never replace those features. ``central_cell`` is
        False, True (cells outlined by the first marker) or the name of the
        marker that outlined them.
        """
        if not self.path.is_dir():
            raise ValueError("Features can be written into a store folder, not a single-file store; give a path.")
        suffix = "" if pooling == "max" else f"-{pooling}"
        if central_cell:
            suffix += "-central-cell" + ("" if central_cell is True else f"-{_file_name_part(central_cell)}")
        return self.path / f"features-{'+'.join(layers)}{suffix}.h5"

    def fingerprint(self):
        """A digest of the store's content: its shard files (name, size, modification time) and records.

        Cheap (no crop is read), and it changes whenever a shard is added or
        replaced; it keys ``memory=`` caches and training checkpoints.
        """
        files = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in self._shards]
        return joblib.hash((files, self.images[["name", "group", "n_cells"]].to_numpy().tolist()))

    def __repr__(self):
        return f"CropStore({str(self.path)!r}: {self.n_images} images, {len(self)} cells)"

    # A pickled store reopens its path in the new process (handles never travel). The state also
    # carries the content's fingerprint, which unpickling does not need: it is there so that
    # joblib.hash(store), the key of Pipeline(memory=...) and joblib.Memory, changes when the
    # store grows.
    def __getstate__(self):
        return {"path": str(self.path), "fingerprint": self.fingerprint()}

    def __setstate__(self, state):
        self.__init__(state["path"])

    def close(self):
        """Close the open HDF5 files (they reopen on the next read)."""
        for handle in self._handles.values():
            handle.close()
        self._handles = {}

    def _open(self, shard_path):
        """An open handle on a shard, from a small cache of the most recently used ones.

        At most ``_OPEN_SHARDS`` stay open, so a store of thousands of
        shards stays far from the open-file limit.
        """
        if self._pid != os.getpid():  # forked: HDF5 handles must not be shared between processes
            self._handles, self._pid = {}, os.getpid()
        handle = self._handles.pop(shard_path, None)
        if handle is None:
            try:
                handle = h5py.File(shard_path, "r")
            except OSError as error:
                raise _UnreadableShard(f"Cannot read the crop store shard {str(shard_path)!r}: {error}") from error
            while len(self._handles) >= _OPEN_SHARDS:
                self._handles.pop(next(iter(self._handles))).close()
        self._handles[shard_path] = handle  # dicts keep insertion order: the last used goes last
        return handle

    def _next_shard_number(self):
        names = self._list_shards()
        return int(_SHARD_PATTERN.match(names[-1]).group(1)) + 1 if names else 0

    def _list_shards(self):
        """Names of the shard files in the store folder, in order (their numbers have a fixed width)."""
        return sorted(name for name in os.listdir(self.path) if _SHARD_PATTERN.match(name))

    @staticmethod
    def _filled(shards):
        """``shards`` less the empty files: names reserved by a writer still moving its shard in."""
        return [shard for shard in shards if shard.stat().st_size > 0]

    def _check_bags(self, bags):
        for i, bag in enumerate(bags):
            if self.channel_names is not None and bag.shape[-1] != len(self.channel_names):
                raise ValueError(
                    f"bag {i}: the store has {len(self.channel_names)} channels {self.channel_names}; "
                    f"the crops have {bag.shape[-1]}."
                )
        shapes = {(bag.shape[1:], bag.dtype) for bag in bags}
        if self._shape is not None:
            shapes.add((tuple(self._shape), self._dtype))
        if len(shapes) > 1:
            raise ValueError(
                "All crops of a store share one shape and dtype; got "
                + ", ".join(f"{shape} {dtype}" for shape, dtype in sorted(shapes, key=str)) + "."
            )


def _remove_stale_staging(path):
    """Remove what a killed single-file ``from_bags`` left: a manifest and shard files, nothing else."""
    if not path.is_dir():
        return
    entries = list(path.iterdir())
    ours = [p for p in entries if p.name == _MANIFEST or _SHARD_PATTERN.match(p.name) or p.name.startswith(".")]
    if len(ours) != len(entries):
        raise FileExistsError(f"{str(path)!r} holds files that from_bags did not write; move them away.")
    for entry in ours:
        entry.unlink()
    path.rmdir()


def discard_if_empty(path):
    """Remove a store folder that holds nothing but its manifest: what a refused first write leaves."""
    path = Path(path)
    if path.is_dir() and [p.name for p in path.iterdir()] == [_MANIFEST]:
        (path / _MANIFEST).unlink()
        path.rmdir()


def check_image_records(n_images, *, names, groups=None, labels=None, metadata=None, what="image"):
    """Check the per-image records of a write: one real value per image.

    Missing values (None, NaN) are refused rather than stored as ``""`` or
    ``"nan"``, where they would become a label or a pairing group.

    Returns
    -------
    names, groups, labels : list of str
        Groups default to the names; labels to ``""`` (unlabelled).
    metadata : list of dict
    """
    checked = {}
    for field, values in (("names", names), ("groups", groups), ("labels", labels), ("metadata", metadata)):
        if values is None:
            continue
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
            raise ValueError(f"{field} must be a sequence with one entry per {what}, got {type(values).__name__}.")
        values = list(values)
        if len(values) != n_images:
            raise ValueError(f"{field} must hold one entry per {what}: {len(values)} for {n_images} {what}s.")
        if field == "metadata":
            if not all(isinstance(value, dict) for value in values):
                raise ValueError(f"metadata must hold one dict per {what} (JSON-serializable records).")
            checked[field] = [_json_record(value, f"metadata of {what} {index}") for index, value in enumerate(values)]
            continue
        missing = [i for i, value in enumerate(values)
                   if value is None or (isinstance(value, (float, np.floating)) and np.isnan(value))]
        if missing:
            raise ValueError(f"{field} has no value (None or NaN) for {len(missing)} {what}(s), e.g. {what}s "
                             f"{missing[:5]}; give every {what} a real value.")
        checked[field] = [str(value) for value in values]
        if field == "names" and any(not name.strip() for name in checked[field]):
            raise ValueError(f"{what} names must not be empty.")
    if "names" not in checked:
        raise ValueError(f"names must hold one name per {what}.")
    return (checked["names"], checked.get("groups", checked["names"]),
            checked.get("labels", [""] * n_images), checked.get("metadata", [{}] * n_images))


class _UnreadableShard(ValueError):
    """A shard that cannot be read; its message already names the shard."""


def _json_record(record, name):
    """``record`` with NumPy scalars and arrays as Python values, checked to be JSON-serializable."""
    plain = {key: value.item() if isinstance(value, np.generic)
             else value.tolist() if isinstance(value, np.ndarray) else value
             for key, value in record.items()}
    try:
        json.dumps(plain)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} cannot be stored: {error}. Give str, number, bool, list or dict values.") from None
    return plain


def write_feature_file(path, features, *, overwrite=False, **attributes):
    """Write features as an HDF5 file (dataset ``features``, with ``attributes``), atomically.

    Parameters
    ----------
    path : str or path-like
    features : ndarray of shape (n_rows, n_features)
    overwrite : bool, default=False
    **attributes
        Recorded as the file's attributes (layers, pooling, per, store_fingerprint).

    Returns
    -------
    path : pathlib.Path
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{str(path)!r} exists; pass overwrite=True to replace it.")
    with atomic_file(path) as temporary, hdf5_written_in_memory(temporary) as out:
        out.create_dataset("features", data=features, chunks=True, compression="lzf")
        for key, value in attributes.items():
            out.attrs[key] = value
    return path


def _file_name_part(name):
    """``name`` made safe for a file name: anything but letters, digits, ``.``, ``_`` and ``-`` becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(name))
