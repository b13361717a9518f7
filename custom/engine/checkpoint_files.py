"""Checkpoint files without torch: atomic writes, whether a file is a whole ``torch.save``, what to resume.

A checkpoint is a zip (``torch.save``'s format); one killed while being written lacks its
central directory or ``data.pkl`` and is passed over. Nothing here imports torch or mmengine.
"""
from __future__ import annotations

import glob
import os
import os.path as osp
import re
import zipfile


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be read at all (truncated, empty, not a ``torch.save`` file)."""


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
