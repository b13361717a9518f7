"""Train/val/test splits and K folds: from ``ImageSets/Main``, or made reproducibly and stratified by class."""
from __future__ import annotations

import math
import random
from collections import Counter
from pathlib import Path
from typing import Sequence

SPLIT_NAMES = ('train', 'val', 'test')
SPLIT_FOLDERS = {'train': 'train', 'valid': 'val', 'val': 'val', 'test': 'test'}  # Roboflow: train/ valid/ test/


def read_split_files(voc_dir: Path) -> dict[str, list[str]]:
    """Image ids per split from ``ImageSets/Main/{train,val,trainval,test}.txt`` when present.

    Each non-blank line is one id, whole (an id may hold spaces); ``ValueError`` naming the
    file when it is not UTF-8.
    """
    main = voc_dir / 'ImageSets' / 'Main'
    splits = {}
    for name in ('train', 'val', 'trainval', 'test'):
        path = main / f'{name}.txt'
        if path.is_file():
            try:
                text = path.read_text(encoding='utf-8')
            except UnicodeDecodeError as err:
                raise ValueError(f'{path}: not UTF-8 text ({err.reason} at byte {err.start}); '
                                 f'save it as UTF-8') from None
            splits[name] = [line.strip() for line in text.splitlines() if line.strip()]
    return splits


def read_folder_splits(voc_dir: Path) -> dict[str, list[str]]:
    """Image ids per split from the folder-split layout: ``train/``, ``valid/`` (or ``val/``), ``test/``.

    Roboflow's Pascal-VOC export has this layout, each XML beside its image. An id is the stem of an
    XML file anywhere below the split folder. Empty when ``voc_dir`` has no such folder holding an XML
    file; ``ValueError`` naming both folders when ``valid/`` and ``val/`` both hold files.
    """
    splits: dict[str, list[str]] = {}
    source: dict[str, str] = {}
    for folder, name in SPLIT_FOLDERS.items():
        path = voc_dir / folder
        if not path.is_dir():
            continue
        ids = sorted(p.stem for p in path.rglob('*') if p.suffix.lower() == '.xml' and p.is_file())
        if not ids:
            continue
        if name in splits:
            raise ValueError(f'{voc_dir}: both {source[name]}/ and {folder}/ hold annotations for the {name} split; '
                             f'merge them into one folder')
        splits[name], source[name] = ids, folder
    return splits


def split_overlaps(splits: dict[str, Sequence[str]]) -> list[str]:
    """One message per pair of splits sharing ids: two of train/val/test, or a fold's train and val.

    ``trainval`` is the union of train and val by definition, so never an overlap.
    """
    pairs = [('train', 'val'), ('train', 'test'), ('val', 'test')]
    pairs += [(n, n[:-len('_train')] + '_val') for n in splits if n.startswith('fold') and n.endswith('_train')]
    messages = []
    for a, b in pairs:
        if a in splits and b in splits:
            shared = sorted(set(splits[a]) & set(splits[b]))
            if shared:
                more = f' ... ({len(shared) - 5} more)' if len(shared) > 5 else ''
                messages.append(f'{len(shared)} ids in both {a} and {b}: {", ".join(shared[:5])}{more}')
    return messages


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


def check_fractions(fractions: Sequence[float]) -> None:
    """``ValueError`` unless ``fractions`` are 2 or 3 finite non-negative numbers summing to 1."""
    if (len(fractions) not in (2, 3) or not all(math.isfinite(f) and f >= 0 for f in fractions)
            or abs(sum(fractions) - 1) > 1e-6):
        raise ValueError(f'split fractions must be 2 or 3 finite non-negative numbers summing to 1, '
                         f'got {list(fractions)}')


def random_splits(ids: Sequence[str], fractions: Sequence[float], seed: int,
                  strata: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Deterministic train/val[/test] split of ``ids`` by ``fractions`` (summing to 1).

    With ``strata`` (id -> key, e.g. :func:`image_strata`), every stratum is split
    in the same proportions, so a rare class appears in each split. The result
    depends only on the set of ids, the strata and ``seed``. A split of fraction 0 is
    left out (``0,0,1`` gives one ``test`` split); ``trainval`` comes with 3 fractions.
    """
    check_fractions(fractions)
    names = list(SPLIT_NAMES[:len(fractions)])
    splits = _deal(_stratified_order(ids, strata, seed), names, fractions)
    if len(fractions) == 3 and (fractions[0] or fractions[1]):
        splits['trainval'] = sorted(splits['train'] + splits['val'])
    return {name: items for name, items in splits.items() if name == 'trainval' or fractions[names.index(name)]}


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
