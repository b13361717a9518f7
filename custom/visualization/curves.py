"""Training curves of an mmengine work dir: loss per iteration and validation mAP per epoch."""
from __future__ import annotations

from pathlib import Path

from custom.engine.training_logs import MAP_KEYS, read_scalars
from custom.visualization.mpl import pyplot, save_figure


def plot_training_curves(work_dir: str, out_png: str) -> str:
    """Plot the loss terms per iteration and validation mAP per epoch of ``work_dir``; return ``out_png``.

    Left panel: every ``loss*`` key of the training records against the iteration (epoch
    boundaries marked); right panel: ``coco/bbox_mAP``, ``_50`` and ``_75`` against the epoch,
    or a note when the run never validated. Reads only ``<timestamp>/vis_data/scalars.json``
    (see :func:`read_scalars`); raises ``FileNotFoundError`` when there is no training record.
    """
    train, val = read_scalars(work_dir)
    if not train:
        raise FileNotFoundError(f'{work_dir}: no training records in <timestamp>/vis_data/scalars.json '
                                f'(has it been trained with mmengine?)')
    plt = pyplot()
    fig, (ax_loss, ax_map) = plt.subplots(1, 2, figsize=(11, 4))
    iters = [r['iter'] for r in train]
    loss_keys = sorted({k for r in train for k in r if k.startswith('loss')}, key=lambda k: (k != 'loss', k))
    for key in loss_keys:
        points = [(r['iter'], r[key]) for r in train if key in r]
        ax_loss.plot(*zip(*points), label=key, lw=1.6 if key == 'loss' else 1.0)
    starts = {}
    for r in train:  # first logged iteration of each epoch, for the epoch ticks on top
        starts.setdefault(r['epoch'], r['iter'])
    if 1 < len(starts) <= 60:
        for it in list(starts.values())[1:]:
            ax_loss.axvline(it, color='grey', lw=0.4, alpha=0.5)
    epochs = f"{len(starts)} epoch{'s' if len(starts) != 1 else ''}"
    ax_loss.set(title=f'training loss ({epochs}, {max(iters)} iterations)', xlabel='iteration',
                ylabel='loss')
    ax_loss.legend(fontsize=8)
    ax_loss.grid(alpha=0.3)

    map_keys = [k for k in MAP_KEYS if any(k in r for r in val)]
    for key in map_keys:
        points = [(r['step'], r[key]) for r in val if key in r and r[key] is not None and r[key] >= 0]
        if points:
            ax_map.plot(*zip(*points), marker='o', label=key.split('/', 1)[1])
    if map_keys:
        ax_map.set(ylim=(0, 1), title='validation mAP', xlabel='epoch', ylabel='mAP')
        ax_map.legend(fontsize=8)
        ax_map.grid(alpha=0.3)
    else:
        ax_map.set_axis_off()
        ax_map.text(0.5, 0.5, 'no validation during training\n(train_cfg.val_interval > epochs)',
                    ha='center', va='center', transform=ax_map.transAxes)
    fig.suptitle(Path(work_dir).name, fontsize=10)
    fig.tight_layout()
    return str(save_figure(fig, out_png))
