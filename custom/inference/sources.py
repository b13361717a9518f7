"""The INPUT arguments of ``tools/infer.py`` -> the image and video files to run on, each with its name.

An INPUT is an image or video file, a folder (searched recursively) or a glob (``'data/**/*.jpg'``,
quoted so that the shell leaves it alone; ``**`` crosses folders). A file's ``file_name`` is its path
relative to its INPUT's root, with ``/`` separators: the folder for a folder, the file's own folder
for a file, the folders before the first wildcard for a glob. A file reached twice is kept once.

Wrong INPUTs raise :class:`InputError` naming them: a path that does not exist, an extension that is
neither an image nor a video, a folder without images or videos, a glob matching none.
No torch, mmdet or OpenCV import.
"""
from __future__ import annotations

import glob
import os
from typing import NamedTuple, Sequence

from custom.inference.errors import InputError

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov')
KNOWN = ', '.join(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)


class MediaFile(NamedTuple):
    """One file to run on: ``path`` to open, ``file_name`` relative to its INPUT root, ``kind`` 'image' or
    'video', ``explicit`` when the INPUT named this very file (then a video that cannot be opened is an error)."""

    path: str
    file_name: str
    kind: str
    explicit: bool


def media_kind(path: str) -> str | None:
    """'image' or 'video' by the file's extension (any case); ``None`` for any other file."""
    ext = os.path.splitext(path)[1].lower()
    if ext in IMAGE_EXTENSIONS:
        return 'image'
    if ext in VIDEO_EXTENSIONS:
        return 'video'
    return None


def relative_name(path: str, root: str) -> str:
    """``path`` relative to ``root`` with ``/`` separators."""
    return os.path.relpath(path, root).replace(os.sep, '/')


def folder_files(folder: str, root: str) -> list[MediaFile]:
    """The images and videos under ``folder`` (sorted by name; links to folders are not followed), named
    relative to ``root``."""
    found = []
    for here, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(here, name)
            kind = media_kind(name)
            if kind is not None:
                found.append(MediaFile(path, relative_name(path, root), kind, False))
    return found


def glob_root(pattern: str) -> str:
    """The folders of ``pattern`` before its first wildcard component (``'.'`` when it starts with one)."""
    parts = pattern.replace(os.sep, '/').split('/')
    fixed = []
    for part in parts[:-1]:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return '/'.join(fixed) or ('/' if pattern.startswith('/') else '.')


def expand_input(item: str) -> list[MediaFile]:
    """The files of one INPUT (see the module docstring); :class:`InputError` when it gives none."""
    if os.path.isdir(item):
        found = folder_files(item, item)
        if not found:
            raise InputError(f'{item}: folder holds no image or video ({KNOWN}; searched recursively)')
        return found
    if os.path.isfile(item):
        kind = media_kind(item)
        if kind is None:
            raise InputError(f'{item}: unsupported extension {os.path.splitext(item)[1] or "(none)"!r}; '
                             f'images: {", ".join(IMAGE_EXTENSIONS)}; videos: {", ".join(VIDEO_EXTENSIONS)}')
        return [MediaFile(item, os.path.basename(item), kind, True)]
    if not glob.has_magic(item):
        raise InputError(f'{item}: no such file or folder')
    root = glob_root(item)
    matches = sorted(glob.glob(item, recursive=True))
    found = []
    for path in matches:
        if os.path.isdir(path):
            found += folder_files(path, root)
        elif media_kind(path) is not None:
            found.append(MediaFile(path, relative_name(path, root), media_kind(path), False))
    if not matches:
        raise InputError(f'{item}: the pattern matches no file')
    if not found:
        raise InputError(f'{item}: the pattern matches {len(matches)} files or folders, none an image or '
                         f'video ({KNOWN})')
    return found


def expand_inputs(inputs: Sequence[str], exclude: str | None = None) -> list[MediaFile]:
    """The files of every INPUT, in the order given; a file reached twice (same real path) is kept once.

    Files inside the folder ``exclude`` (the output folder: a second run must not read the pictures of
    the first) are left out; an INPUT with no other file raises :class:`InputError`.
    """
    inside = os.path.join(os.path.realpath(exclude), '') if exclude else None
    seen: set[str] = set()
    files = []
    for item in inputs:
        found = [(os.path.realpath(m.path), m) for m in expand_input(item)]
        kept = [(real, m) for real, m in found if inside is None or not real.startswith(inside)]
        if not kept:
            raise InputError(f'{item}: every image and video it holds lies in the output folder {exclude}')
        for real, media in kept:
            if real not in seen:
                seen.add(real)
                files.append(media)
    return files
