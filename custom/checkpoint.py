"""Loading mmengine checkpoints under torch>=2.6, where ``torch.load`` defaults to ``weights_only=True``.

mmengine 0.10.7 calls ``torch.load(filename)`` without ``weights_only``; on
torch>=2.6 a resume checkpoint then fails with "Unsupported global: GLOBAL
mmengine.logging.history_buffer.HistoryBuffer". Turning the check off (the
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` variable) would let any checkpoint run
code. Instead the local-file loader is replaced by one that keeps
``weights_only=True`` and allows exactly the classes mmengine itself stores in
a checkpoint (message hub buffers, numpy arrays and scalars).

A run killed while saving must not lose its checkpoints: files are written to a
temporary name and renamed (:class:`AtomicLocalBackend`), and
:func:`find_resume_checkpoint` passes over anything incomplete.

``HistoryBuffer`` also pickles its statistics functions as
``getattr(HistoryBuffer, 'min')``. The real ``getattr`` is not allowed: it is
replaced while unpickling by :func:`_history_buffer_getattr`, which resolves
public ``HistoryBuffer`` methods and nothing else.
"""
from __future__ import annotations

import glob
import os
import os.path as osp
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mmengine.fileio import LocalBackend, register_backend
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader


def _numpy_globals() -> list[Any]:
    """The numpy callables and types a pickled ndarray/scalar refers to (numpy 1.x and 2.x names)."""
    try:
        from numpy.core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy 2 renamed numpy.core to numpy._core
        from numpy._core.multiarray import _reconstruct, scalar
    dtype_classes = [type(np.dtype(t)) for t in ('f2', 'f4', 'f8', 'i1', 'i2', 'i4', 'i8',
                                                  'u1', 'u2', 'u4', 'u8', 'bool')]
    return [_reconstruct, scalar, np.ndarray, np.dtype, *dtype_classes]


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` as seen by the unpickler: only ``HistoryBuffer``'s public methods resolve."""
    if obj is HistoryBuffer and not name.startswith('_') and callable(getattr(HistoryBuffer, name, None)):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(f'getattr({obj!r}, {name!r}) is not allowed in a checkpoint')


SAFE_GLOBALS: list[Any] = [HistoryBuffer, *_numpy_globals(), (_history_buffer_getattr, 'builtins.getattr')]


def load_local_checkpoint(filename: str, map_location: Any = None) -> Any:
    """``torch.load`` a local checkpoint with ``weights_only=True`` and mmengine's own classes allowed."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise pickle.UnpicklingError(
            f'{filename}: refused to unpickle a class that is not known to be safe ({err}). '
            f'If you trust this file, add that class to custom.checkpoint.SAFE_GLOBALS, or load it '
            f'once with torch.load(..., weights_only=False) and re-save only its state_dict.') from err


# Replace mmengine's local-file scheme (prefix ''), used by --resume and load_from.
CheckpointLoader.register_scheme(prefixes='', loader=load_local_checkpoint, force=True)


def atomic_write(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader (or a killed writer) sees the old file or the new, never half."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = f'{path}.tmp-{os.getpid()}'
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend, writing through :func:`atomic_write` (checkpoints included)."""

    def put(self, obj: bytes, filepath: str | Path) -> None:
        atomic_write(str(filepath), obj)

    def put_text(self, obj: str, filepath: str | Path, encoding: str = 'utf-8') -> None:
        atomic_write(str(filepath), obj.encode(encoding))


def checkpoint_is_complete(path: str) -> bool:
    """Whether ``path`` is a whole ``torch.save`` file (a zip with its central directory and data.pkl)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith('/data.pkl') for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _step(path: str) -> int:
    match = re.fullmatch(r'(?:epoch|iter)_(\d+)\.pth', osp.basename(path))
    return int(match.group(1)) if match else -1


def find_resume_checkpoint(work_dir: str) -> tuple[str | None, list[str]]:
    """The checkpoint ``--resume`` should continue from, and notes on any file passed over.

    mmengine writes ``work_dir/last_checkpoint`` without any guard, so a run killed at the
    wrong moment can leave it empty, or pointing at a checkpoint that was being written.
    Then the newest complete ``epoch_N.pth`` / ``iter_N.pth`` in ``work_dir`` is used instead.
    """
    notes: list[str] = []
    pointer = osp.join(work_dir, 'last_checkpoint')
    named = ''
    if osp.isfile(pointer):
        with open(pointer) as f:
            named = f.read().strip()
    if named and osp.isfile(named) and checkpoint_is_complete(named):
        return named, notes
    if named:
        notes.append(f'{pointer} names {named}, which is missing or incomplete (killed while saving?)')
    elif osp.isfile(pointer):
        notes.append(f'{pointer} is empty (killed while writing it?)')
    found = sorted(glob.glob(osp.join(work_dir, 'epoch_*.pth')) + glob.glob(osp.join(work_dir, 'iter_*.pth')),
                   key=_step, reverse=True)
    for path in found:
        if checkpoint_is_complete(path):
            if notes:
                notes.append(f'resuming from {path}, the newest complete checkpoint')
            return path, notes
        notes.append(f'{path} is incomplete: skipped')
    return None, notes


# Every local file mmengine writes (checkpoints, configs, logs' JSON) goes through put/put_text.
register_backend('local', AtomicLocalBackend, force=True, prefixes='')
