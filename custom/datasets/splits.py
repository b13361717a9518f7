"""Train/val/test splits and K folds: from ``ImageSets/Main``, or made reproducibly and stratified by class."""
from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Sequence

SPLIT_NAMES = ('train', 'val', 'test')


def read_split_files(voc_dir: Path) -> dict[str, list[str]]:
    """Image ids per split from ``ImageSets/Main/{train,val,trainval,test}.txt`` when present."""
    main = voc_dir / 'ImageSets' / 'Main'
    splits = {}
    for name in ('train', 'val', 'trainval', 'test'):
        path = main / f'{name}.txt'
        if path.is_file():
            splits[name] = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    return splits


def _deal(order: Sequence[str], names: Sequence[str], fractions: Sequence[float]) -> dict[str, list[str]]:
    """Deal ``order`` out to ``names``: each item goes to the split furthest below its share so far."""
    dealt: dict[str, list[str]] = {name: [] for name in names}
    for i, item in enumerate(order, 1):
        name = max(names, key=lambda n: (fractions[names.index(n)] * i - len(dealt[n]), -names.index(n)))
        dealt[name].append(item)
    return {name: sorted(items) for name, items in dealt.items()}


def _stratified_order(ids: Sequence[str], strata: dict[str, str] | None, seed: int) -> list[str]:
    """``ids`` grouped by stratum (sorted), shuffled within each with ``seed``: a deterministic deal order."""
    groups: dict[str, list[str]] = {}
    for item in sorted(ids):
        groups.setdefault((strata or {}).get(item, ''), []).append(item)
    order = []
    for stratum in sorted(groups):
        members = groups[stratum]
        random.Random(f'{seed}:{stratum}').shuffle(members)
        order += members
    return order


def image_strata(coco: dict, ids_by_stem: dict[str, int]) -> dict[str, str]:
    """Stratum of each image: the name of its rarest class over the dataset ('' when it has no box)."""
    box_counts = Counter(a['category_id'] for a in coco['annotations'])
    names = {c['id']: c['name'] for c in coco['categories']}
    cats_of: dict[int, set[int]] = {}
    for ann in coco['annotations']:
        cats_of.setdefault(ann['image_id'], set()).add(ann['category_id'])
    strata = {}
    for stem, image_id in ids_by_stem.items():
        cats = cats_of.get(image_id)
        strata[stem] = names[min(cats, key=lambda c: (box_counts[c], c))] if cats else ''
    return strata


def random_splits(ids: Sequence[str], fractions: Sequence[float], seed: int,
                  strata: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Deterministic train/val[/test] split of ``ids`` by ``fractions`` (summing to 1).

    With ``strata`` (id -> key, e.g. :func:`image_strata`), every stratum is split
    in the same proportions, so a rare class appears in each split. The result
    depends only on the set of ids, the strata and ``seed``.
    """
    if len(fractions) not in (2, 3) or abs(sum(fractions) - 1) > 1e-6 or min(fractions) < 0:
        raise ValueError(f'split fractions must be 2 or 3 non-negative numbers summing to 1, got {list(fractions)}')
    names = list(SPLIT_NAMES[:len(fractions)])
    splits = _deal(_stratified_order(ids, strata, seed), names, fractions)
    if len(fractions) == 3:
        splits['trainval'] = sorted(splits['train'] + splits['val'])
    return splits


def kfold_splits(ids: Sequence[str], k: int, seed: int,
                 strata: dict[str, str] | None = None) -> dict[str, list[str]]:
    """``fold<i>_train`` / ``fold<i>_val`` for i in 0..k-1: each id is in exactly one val fold."""
    if k < 2 or k > len(ids):
        raise ValueError(f'--kfold needs 2 <= K <= number of images ({len(ids)}), got {k}')
    folds = _deal(_stratified_order(ids, strata, seed), [str(i) for i in range(k)], [1 / k] * k)
    splits = {}
    for i in range(k):
        splits[f'fold{i}_train'] = sorted(x for j in range(k) if j != i for x in folds[str(j)])
        splits[f'fold{i}_val'] = folds[str(i)]
    return splits
