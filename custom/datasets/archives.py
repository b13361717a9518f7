"""Extracting a downloaded zip or tar archive without letting it write outside its folder.

Every member is checked before anything is written: absolute names, ``..`` components, drive
letters, links (symbolic or hard), devices and FIFOs are refused, as are archives whose members
add up to more than a size limit or a member count limit. While writing, the bytes actually
produced are counted too, so a member whose header understates its size is caught.
"""
from __future__ import annotations

import os
import shutil
import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Iterator

DEFAULT_MAX_BYTES = 50 * 2 ** 30
DEFAULT_MAX_MEMBERS = 2_000_000
CHUNK = 1 << 20


class ArchiveError(ValueError):
    """An archive that is damaged, unsafe or too large; the message names the archive and the member."""


def _safe_name(archive: Path, name: str) -> PurePosixPath:
    """``name`` as a relative path that stays inside the extraction folder, else :class:`ArchiveError`."""
    path = PurePosixPath(name.replace('\\', '/'))
    if path.is_absolute() or name.startswith(('/', '\\')) or (len(name) > 1 and name[1] == ':'):
        raise ArchiveError(f'{archive}: member {name!r} has an absolute path; refusing to extract the archive')
    if '..' in path.parts:
        raise ArchiveError(f'{archive}: member {name!r} climbs out of the folder with ".."; refusing to extract the '
                           f'archive')
    return path


def _zip_members(archive: Path, zf: zipfile.ZipFile) -> Iterator[tuple[PurePosixPath, bool, int, object]]:
    for info in zf.infolist():
        path = _safe_name(archive, info.filename)
        mode = (info.external_attr >> 16) & 0o170000
        if mode and mode not in (0o100000, 0o040000):  # unix type bits: only files and folders
            raise ArchiveError(f'{archive}: member {info.filename!r} is a link or special file; refusing to extract '
                               f'the archive')
        yield path, info.is_dir(), info.file_size, info


def _tar_members(archive: Path, tf: tarfile.TarFile) -> Iterator[tuple[PurePosixPath, bool, int, object]]:
    for info in tf.getmembers():
        path = _safe_name(archive, info.name)
        if not (info.isfile() or info.isdir()):
            raise ArchiveError(f'{archive}: member {info.name!r} is a link or special file; refusing to extract '
                               f'the archive')
        yield path, info.isdir(), info.size, info


def _copy(source: BinaryIO, target: Path, budget: int, archive: Path, name: str) -> int:
    """Copy ``source`` to ``target``; return the bytes written, :class:`ArchiveError` past ``budget``."""
    written = 0
    with open(target, 'wb') as out:
        for block in iter(lambda: source.read(CHUNK), b''):
            written += len(block)
            if written > budget:
                raise ArchiveError(f'{archive}: expands past the size limit while writing {name!r} (its header '
                                   f'gives a smaller size); refusing the archive')
            out.write(block)
    return written


def extract(archive: str | os.PathLike, dest: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES,
            max_members: int = DEFAULT_MAX_MEMBERS) -> int:
    """Extract the zip or tar ``archive`` into ``dest`` (created, must not exist) and return the bytes written.

    Raises :class:`ArchiveError` for an unreadable, unsafe or oversized archive; ``dest`` is then removed,
    so no partial extraction is left behind.
    """
    archive, dest = Path(archive), Path(dest)
    if dest.exists():
        raise ArchiveError(f'{dest} already exists; extraction needs a new folder')
    try:
        dest.mkdir(parents=True)
        return _extract(archive, dest, max_bytes, max_members)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as err:
        shutil.rmtree(dest, ignore_errors=True)
        raise ArchiveError(f'{archive}: damaged or incomplete archive ({type(err).__name__}: {err}); delete it and '
                           f'download again') from None
    except ArchiveError:
        shutil.rmtree(dest, ignore_errors=True)
        raise


def _extract(archive: Path, dest: Path, max_bytes: int, max_members: int) -> int:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            members = _checked(archive, list(_zip_members(archive, zf)), max_bytes, max_members)
            return _write(archive, dest, members, max_bytes, zf.open)
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            members = _checked(archive, list(_tar_members(archive, tf)), max_bytes, max_members)
            return _write(archive, dest, members, max_bytes, tf.extractfile)
    raise ArchiveError(f'{archive}: not a zip or tar archive (an HTML error page, or an incomplete download?); '
                       f'delete it and download again')


def _checked(archive: Path, members: list, max_bytes: int, max_members: int) -> list:
    """``members`` when their count and declared sizes are within the limits."""
    if len(members) > max_members:
        raise ArchiveError(f'{archive}: {len(members)} members, over the limit of {max_members}; refusing the archive')
    declared = sum(size for _, is_dir, size, _ in members if not is_dir)
    if declared > max_bytes:
        raise ArchiveError(f'{archive}: expands to {declared} bytes, over the limit of {max_bytes}; refusing the '
                           f'archive')
    return members


def _write(archive: Path, dest: Path, members: list, max_bytes: int, opener) -> int:
    written = 0
    for path, is_dir, _, info in members:
        target = dest.joinpath(*path.parts)
        if is_dir:
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with opener(info) as source:
            written += _copy(source, target, max_bytes - written, archive, str(path))
    return written
