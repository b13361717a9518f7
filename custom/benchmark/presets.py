"""The configs to benchmark: named presets (globs resolved when used) and repo-relative paths."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

from custom.benchmark import BenchmarkError

REPO = Path(__file__).resolve().parents[2]
PRESETS: dict[str, tuple[str, ...]] = {  # globs, resolved when used (configs are being added)
    'cpu-bccd': ('configs/bccd/*scratch_cpu*.py',),  # from scratch: runs offline
    'cpu-face-mask': ('configs/face_mask/*scratch_cpu*.py',),
    'cpu-all': ('configs/bccd/*scratch_cpu*.py', 'configs/face_mask/*scratch_cpu*.py'),
    'finetune-bccd': ('configs/bccd/*finetune_cpu*.py',),  # needs the COCO weights (tools/misc/download_weights.py)
    'finetune-face-mask': ('configs/face_mask/*finetune_cpu*.py',),
}
# -sample: the demo configs train on the 52-image sample only; -trainval, -balanced: a dataset's tuned recipe
# with its own schedule for a fixed budget, measured on its own in docs/benchmarks.md, not at a shared budget
PRESET_EXCLUDE = re.compile(r'-(sample|trainval|balanced)\.py$')


def repo_path(path: str | os.PathLike) -> Path:
    """``path`` as given when absolute or present under the current folder, else under the repository."""
    path = Path(path)
    if path.is_absolute():
        return path
    here = Path.cwd() / path
    return here if here.exists() else REPO / path


def preset_configs(preset: str) -> list[str]:
    """The repo-relative config paths of ``preset``, sorted per glob, without the sample-only configs."""
    if preset not in PRESETS:
        raise BenchmarkError(f'unknown preset {preset!r}: choose from {", ".join(PRESETS)}')
    found: list[str] = []
    for pattern in PRESETS[preset]:
        found += sorted(str(p.relative_to(REPO)) for p in REPO.glob(pattern) if not PRESET_EXCLUDE.search(p.name))
    return found


def resolve_configs(configs: Sequence[str] = (), presets: Sequence[str] = ()) -> list[str]:
    """The configs to benchmark: ``configs`` as given, then each preset's glob matches, without repeats.

    Raises :class:`BenchmarkError` naming every config file that does not exist, an unknown
    preset, or when there is no config at all.
    """
    found = [config for preset in presets for config in preset_configs(preset)]
    missing = [c for c in configs if not repo_path(c).is_file()]
    if missing:
        raise BenchmarkError('no such config file: ' + ', '.join(missing))
    out: list[str] = []
    for config in [*configs, *found]:
        if config not in out:
            out.append(config)
    if not out:
        raise BenchmarkError('no configs: pass --configs A.py B.py or --preset')
    return out
