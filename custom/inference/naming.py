"""Output file names that never overwrite one another.

Two INPUTs may hold the same relative name (``a/x.jpg`` and ``b/x.jpg`` given as two folders), and
a flat folder such as VOC's ``JPEGImages/`` must keep ``sub/x.jpg`` apart from ``x.jpg``; a name
already given out gets ``-2``, ``-3`` ... before its extension. Names are compared without case, as
on case-insensitive file systems.
"""
from __future__ import annotations

import posixpath


class UniqueNames:
    """Gives out names, each once: :meth:`claim` returns the name asked for or a numbered variant."""

    def __init__(self, by_stem: bool = False) -> None:
        """``by_stem``: names differing only in their extension (``x.jpg``, ``x.png``) count as the same,
        for folders where the stem is the id (VOC: ``Annotations/x.xml`` describes ``x.*``)."""
        self.by_stem = by_stem
        self.taken: set[str] = set()

    def claim(self, name: str) -> str:
        """``name``, or ``stem-N.ext`` with the smallest ``N >= 2`` not given out yet."""
        stem, ext = posixpath.splitext(name)
        candidate, n = name, 1
        while self.key(candidate) in self.taken:
            n += 1
            candidate = f'{stem}-{n}{ext}'
        self.taken.add(self.key(candidate))
        return candidate

    def key(self, name: str) -> str:
        return (posixpath.splitext(name)[0] if self.by_stem else name).lower()


def flat_name(file_name: str) -> str:
    """A relative ``file_name`` as one file name: folders joined with ``__`` (``sub/x.jpg`` -> ``sub__x.jpg``)."""
    return file_name.replace('/', '__')
