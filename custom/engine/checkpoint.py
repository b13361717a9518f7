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
:func:`custom.engine.checkpoint_files.find_resume_checkpoint` passes over anything incomplete.
Both take effect through :func:`register_checkpoint_io`, nothing at import.

``HistoryBuffer`` also pickles its statistics functions as
``getattr(HistoryBuffer, 'min')``. The real ``getattr`` is not allowed: it is
replaced while unpickling by :func:`_history_buffer_getattr`, which resolves
public ``HistoryBuffer`` methods and nothing else.
"""
from __future__ import annotations

import os.path as osp
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mmengine.fileio import LocalBackend, register_backend
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

from custom.engine.checkpoint_files import CheckpointError, atomic_write, checkpoint_is_complete


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


REFUSAL_MARKERS = ('GLOBAL', 'Unsupported global', 'is not allowed in a checkpoint')  # weights_only refusals


def load_local_checkpoint(filename: str, map_location: Any = None) -> Any:
    """``torch.load`` a local checkpoint with ``weights_only=True`` and mmengine's own classes allowed.

    Raises ``FileNotFoundError`` for a missing file, :class:`CheckpointError` (one line naming the
    file) for one that is not a whole checkpoint, ``pickle.UnpicklingError`` for a refused class.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if not any(marker in str(err) for marker in REFUSAL_MARKERS):
            raise unreadable(filename, err) from err
        raise pickle.UnpicklingError(
            f'{filename}: refused to unpickle a class that is not known to be safe ({err}). '
            f'If you trust this file, add that class to custom.engine.checkpoint.SAFE_GLOBALS, or load it '
            f'once with torch.load(..., weights_only=False) and re-save only its state_dict.') from err
    except (RuntimeError, EOFError, KeyError, ValueError, OSError) as err:
        if checkpoint_is_complete(filename):
            raise  # a whole file: torch's own reason (e.g. map_location) is the one to read
        raise unreadable(filename, err) from err


def unreadable(filename: str, err: BaseException) -> CheckpointError:
    """The one-line :class:`CheckpointError` for a file ``torch.load`` could not read (``err``)."""
    with open(filename, 'rb') as f:
        head = f.read(4)
    size = osp.getsize(filename)
    if size == 0:
        what = 'is empty'
    elif head.startswith(b'PK') and not checkpoint_is_complete(filename):
        what = f'is truncated ({size} bytes; killed while saving, or copied partly?)'
    else:
        what = f'is not a torch.save checkpoint ({size} bytes that torch.load cannot read: {type(err).__name__})'
    return CheckpointError(f'{filename} {what}: use another checkpoint, e.g. --resume without a value '
                           f'resumes from the newest complete one in the work dir')


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend, writing through :func:`atomic_write` (checkpoints included)."""

    def put(self, obj: bytes, filepath: str | Path) -> None:
        atomic_write(str(filepath), obj)

    def put_text(self, obj: str, filepath: str | Path, encoding: str = 'utf-8') -> None:
        atomic_write(str(filepath), obj.encode(encoding))


def register_checkpoint_io() -> None:
    """Make mmengine load local checkpoints with :func:`load_local_checkpoint` (``--resume``,
    ``load_from``) and write every local file (checkpoints, configs, JSON logs) through
    :class:`AtomicLocalBackend`. Called by :mod:`custom.modules`, which configs import."""
    CheckpointLoader.register_scheme(prefixes='', loader=load_local_checkpoint, force=True)
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
