"""The configs to benchmark: named presets (globs resolved when used) and repo-relative paths."""
from __future__ import annotations

import os
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


def is_recipe_config(path: Path) -> bool:
    """Whether ``path`` is a dataset's config of a recipe, named ``..._<its folder>.py``. Variants carry a suffix
    after the dataset name and are left out of presets: ``-sample`` demos train on the 52-image sample only,
    ``-trainval`` / ``-balanced`` are tuned recipes for a fixed budget, measured on their own in
    docs/benchmarks.md, not at a shared budget."""
    return path.name.endswith(f'_{path.parent.name}.py')


def repo_path(path: str | os.PathLike) -> Path:
    """``path`` as given when absolute or present under the current folder, else under the repository."""
    path = Path(path)
    if path.is_absolute():
        return path
    here = Path.cwd() / path
    return here if here.exists() else REPO / path


def preset_configs(preset: str) -> list[str]:
    """The repo-relative config paths of ``preset``, sorted per glob: recipe configs only, no variants."""
    if preset not in PRESETS:
        raise BenchmarkError(f'unknown preset {preset!r}: choose from {", ".join(PRESETS)}')
    found: list[str] = []
    for pattern in PRESETS[preset]:
        found += sorted(str(p.relative_to(REPO)) for p in REPO.glob(pattern) if is_recipe_config(p))
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
