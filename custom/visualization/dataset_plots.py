"""PNG plots of a converted dataset: class counts per split, box sizes, objects per image."""
from __future__ import annotations

import json
from pathlib import Path

from custom.visualization.mpl import pyplot

SPLIT_ORDER = ('train', 'val', 'test')  # the splits plotted when a dataset has them


def plot_dataset(parts: dict[str, dict], out_dir: str | Path) -> list[Path]:
    """Write class counts per split and box-size / objects-per-image histograms; return the files.

    ``parts`` maps split name -> COCO dict (as written by the converter).
    """
    plt = pyplot()

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    names = [c['name'] for c in next(iter(parts.values()))['categories']]
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(names) * len(parts) / 2), 4))
    width = 0.8 / max(1, len(parts))
    for i, (split, coco) in enumerate(parts.items()):
        ids = {c['id']: c['name'] for c in coco['categories']}
        counts = [sum(1 for a in coco['annotations'] if ids[a['category_id']] == n) for n in names]
        ax.bar([x + i * width for x in range(len(names))], counts, width, label=f'{split} ({len(coco["images"])} img)')
    ax.set_xticks([x + width * (len(parts) - 1) / 2 for x in range(len(names))], names, rotation=20)
    ax.set_ylabel('boxes')
    ax.set_title('Boxes per class and split')
    ax.legend()
    fig.tight_layout()
    written.append(out_dir / 'class_counts.png')
    fig.savefig(written[-1], dpi=100)
    plt.close(fig)

    split, coco = max(parts.items(), key=lambda kv: len(kv[1]['images']))
    anns = coco['annotations']
    per_image: dict[int, int] = {}
    for a in anns:
        per_image[a['image_id']] = per_image.get(a['image_id'], 0) + 1
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    axes[0].hist([per_image.get(im['id'], 0) for im in coco['images']], bins=30, color='tab:blue')
    axes[0].set(title=f'objects per image ({split})', xlabel='boxes', ylabel='images')
    axes[1].scatter([a['bbox'][2] for a in anns], [a['bbox'][3] for a in anns], s=4, alpha=0.4)
    axes[1].axline((0, 0), slope=1, color='grey', lw=0.8)
    axes[1].set(title='box width vs height (px)', xlabel='width', ylabel='height')
    axes[2].hist([a['area'] ** 0.5 for a in anns], bins=40, color='tab:green')
    for edge in (32, 96):
        axes[2].axvline(edge, color='red', lw=0.8, ls='--')
    axes[2].set(title='sqrt(box area) px (COCO small/medium/large at 32, 96)', xlabel='px', ylabel='boxes')
    fig.tight_layout()
    written.append(out_dir / 'box_geometry.png')
    fig.savefig(written[-1], dpi=100)
    plt.close(fig)
    return written


def plot_split_files(out_dir: str | Path) -> list[Path]:
    """:func:`plot_dataset` of a converter output folder into ``out_dir/plots``; return the files.

    Plots the train / val / test files of ``out_dir/annotations`` when there are any, else every
    split file there (e.g. only K folds).
    """
    out_dir = Path(out_dir)
    files = {p.stem: p for p in sorted((out_dir / 'annotations').glob('*.json'))}
    if not files:
        raise FileNotFoundError(f'{out_dir}/annotations: no COCO split files to plot (convert first)')
    chosen = [n for n in SPLIT_ORDER if n in files] or list(files)
    return plot_dataset({n: json.loads(files[n].read_text()) for n in chosen}, out_dir / 'plots')
