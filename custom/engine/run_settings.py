"""The settings a tool trained a work dir with, kept as JSON in the work dir, so that a rerun with other
settings is refused instead of mixing two runs' checkpoints (K-fold, benchmark)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from custom.engine.checkpoint_files import atomic_write


def changed_settings(path: Path, wanted: Mapping[str, Any]) -> dict[str, Any]:
    """``{name: recorded value}`` of each setting whose value recorded in ``path`` differs from ``wanted``
    (a name missing on one side counts, recorded as ``None``); empty when they agree or nothing is recorded."""
    if not path.is_file():
        return {}
    recorded = json.loads(path.read_text())
    return {k: recorded.get(k) for k in sorted(set(recorded) | set(wanted)) if recorded.get(k) != wanted.get(k)}


def record_settings(path: Path, settings: Mapping[str, Any]) -> None:
    """Write ``settings`` to ``path`` atomically (several processes may record the same file at once)."""
    atomic_write(str(path), json.dumps(dict(settings), indent=1).encode())
