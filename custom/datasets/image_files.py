"""Finding a VOC dataset's annotation files and the image each one describes, never outside the dataset."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

from custom.datasets.voc_xml import VOCImage

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.JPG', '.JPEG', '.PNG', '.BMP')


def find_annotation_files(voc_dir: Path) -> tuple[list[str], list[str]]:
    """XML files of a VOC folder: ``Annotations/``, ``annotations/`` or beside the images (searched below).

    Returns ``(files, skipped)``: the regular files named ``*.xml`` in any case (``.XML``,
    ``.Xml``; links to regular files included), sorted; and one message per other entry named
    so (a folder, FIFO, device or dangling link), which is never opened.
    """
    files: list[str] = []
    skipped: list[str] = []
    for sub in ('Annotations', 'annotations'):
        folder = os.path.join(voc_dir, sub)
        if os.path.isdir(folder):
            _scan(folder, False, files, skipped)
            return sorted(files), sorted(skipped)
    _scan(os.fspath(voc_dir), True, files, skipped)
    return sorted(files), sorted(skipped)


def _scan(folder: str, recursive: bool, files: list[str], skipped: list[str]) -> None:
    """Add ``folder``'s XML files to ``files`` (and those of its subfolders when ``recursive``)."""
    with os.scandir(folder) as listing:
        entries = list(listing)
    for entry in entries:
        name = entry.name
        if name.endswith('.xml') or name[-4:].lower() == '.xml':
            if entry.is_file():  # follows links; scandir knows the type without a stat on most systems
                files.append(entry.path)
            else:
                skipped.append(f'{entry.path}: {_kind(entry)} named *.xml, not a file; skipped')
        elif recursive and entry.is_dir(follow_symlinks=False):  # links to folders are not followed
            try:
                _scan(entry.path, True, files, skipped)
            except OSError as err:
                skipped.append(f'{entry.path}: folder not readable ({err.strerror}); its files were skipped')


def _kind(entry: os.DirEntry) -> str:
    if entry.is_symlink():
        return 'a link to a folder' if entry.is_dir() else 'a dangling link or a link to a non-file'
    return 'a folder' if entry.is_dir() else 'a FIFO, socket or device'


def _real_dir(folder: str, cache: dict) -> str:
    if folder not in cache:
        cache[folder] = os.path.realpath(folder)
    return cache[folder]


def _listing(folder: str, cache: dict) -> dict[str, bool]:
    """Files of ``folder`` (name -> is a symlink), listed once: a set lookup instead of a stat per name."""
    key = ('ls', folder)
    if key not in cache:
        with os.scandir(folder) as entries:
            cache[key] = {e.name: e.is_symlink() for e in entries if e.is_file()}
    return cache[key]


def _image_names(item: VOCImage) -> Iterator[str]:
    """Names the image of ``item`` may have: its safe ``<filename>``, then the XML's stem + any extension."""
    filename = item.filename
    if filename and not os.path.isabs(filename) and '..' not in filename.replace('\\', '/').split('/'):
        yield filename
    stem = os.path.splitext(os.path.basename(item.xml_path))[0]
    for ext in IMAGE_EXTENSIONS:
        yield stem + ext


def find_image(root: str, item: VOCImage, cache: dict) -> str | None:
    """Find the image of ``item`` inside ``voc_dir``; ``None`` if there is none.

    Looks for ``<filename>`` in the usual image folders and beside the XML, then
    for the XML's stem with any image extension. Never resolves outside ``voc_dir``:
    absolute names and ``..`` are refused, and the real path (symlinks followed)
    must lie inside ``voc_dir``. ``cache`` keeps real paths and listings of folders between calls.
    """
    inside = _real_dir(root, cache) + os.sep
    if ('folders', root) not in cache:
        cache['folders', root] = [f for f in (os.path.join(root, 'JPEGImages'), os.path.join(root, 'images'))
                                  if os.path.isdir(f)]
    folders = cache['folders', root] + [os.path.dirname(item.xml_path), root]
    for name in _image_names(item):
        nested = '/' in name or os.sep in name
        for folder in folders:
            candidate = os.path.join(folder, name)
            if nested:  # a <filename> with folders in it: checked on disk, its folders may be links
                if not os.path.isfile(candidate):
                    continue
                head, tail = os.path.split(candidate)
                real = os.path.realpath(candidate) if os.path.islink(candidate) else \
                    os.path.join(_real_dir(head, cache), tail)
            else:  # a plain name: looked up in the folder's listing
                listing = _listing(folder, cache)
                if name not in listing:
                    continue
                real = os.path.realpath(candidate) if listing[name] else os.path.join(_real_dir(folder, cache), name)
            if real.startswith(inside):
                return candidate
    return None
