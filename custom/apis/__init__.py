"""The training, test and inference entry points, as functions and as ``python -m`` commands.

``tools/train.py``, ``tools/test.py`` and ``tools/infer.py`` are thin wrappers around :mod:`custom.apis.train`,
:mod:`custom.apis.test` and :mod:`custom.apis.infer`; code in ``custom/`` that runs them in a subprocess (the benchmark)
builds the command with :func:`entry_command`, never from a path under ``tools/``.
"""
from __future__ import annotations

import sys
from typing import Sequence

ENTRY_POINTS = {'train': 'custom.apis.train', 'test': 'custom.apis.test', 'infer': 'custom.apis.infer'}


def entry_command(name: str, args: Sequence[str] = ()) -> list[str]:
    """``[python, -m, module, *args]`` that runs entry point ``name`` ('train', 'test' or 'infer') as its tool does."""
    if name not in ENTRY_POINTS:
        raise KeyError(f'unknown entry point {name!r}: choose from {", ".join(ENTRY_POINTS)}')
    return [sys.executable, '-m', ENTRY_POINTS[name], *args]
