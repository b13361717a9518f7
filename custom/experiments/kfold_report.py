"""The K-fold report: a Markdown page and a per-fold bar plot from ``kfold.json``'s dict."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from custom.experiments.kfold import METRICS


def _num(value: float | None) -> str:
    return '-' if value is None else f'{value:.3f}'


def _pm(mean: float | None, std: float | None) -> str:
    return '-' if mean is None else f'{mean:.3f} ± {std:.3f}'


def plot_folds(report: Mapping[str, Any], out_png: str | Path) -> Path:
    """Bars of mAP50 and mAP50:95 per fold, the mean as a dashed line, the out-of-fold score as a dotted one."""
    from custom.visualization.mpl import pyplot, save_figure
    plt = pyplot()
    folds = [r for r in report['folds'] if r.get('mAP50') is not None]
    fig, ax = plt.subplots(figsize=(max(4.5, 1.2 * len(folds) + 2), 3.6))
    width = 0.38
    colors = ('tab:blue', 'tab:orange')
    for j, metric in enumerate(METRICS):
        xs = [r['fold'] + (j - 0.5) * width for r in folds]
        ax.bar(xs, [r[metric] for r in folds], width, label=metric, color=colors[j])
        mean = report['mean'].get(metric)
        if mean is not None:
            ax.axhline(mean, color=colors[j], linestyle='--', linewidth=1)
        if report.get('oof'):
            ax.axhline(report['oof'][metric], color=colors[j], linestyle=':', linewidth=1.5)
    ax.set_xticks([r['fold'] for r in folds], [f'fold {r["fold"]}\n({r["images_val"]} img)' for r in folds])
    ax.set_ylim(0, 1)
    ax.set_ylabel('held-out mAP')
    ax.set_title(f'{report["k"]}-fold CV: dashed = mean, dotted = out-of-fold', fontsize=9)
    ax.legend(loc='lower right', fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out_png)


def write_markdown(report: Mapping[str, Any], path: str | Path, plot: Path | None) -> Path:
    """Write the Markdown report (per-fold table, mean ± std, per-class AP50, out-of-fold score)."""
    path = Path(path)
    classes = list(report['per_class_AP50'])
    lines = [f'# {report["k"]}-fold cross-validation', '',
             f'Config: `{report["config"]}`, seed {report["seed"]}; folds of {report["images"]} images '
             f'({" + ".join(Path(p).name for p in report["pool"])}), stratified by each image\'s rarest class. '
             f'Each fold is trained on the others and scored on its own images with the final checkpoint.', '',
             '| fold | val images | mAP50 | mAP50:95 | ' + ' | '.join(f'AP50 {c}' for c in classes) + ' |',
             '|---' * (4 + len(classes)) + '|']
    for row in report['folds']:
        per_class = row.get('per_class_AP50') or {}
        lines.append(f'| {row["fold"]} | {row["images_val"]} | {_num(row.get("mAP50"))} | '
                     f'{_num(row.get("mAP50:95"))} | ' + ' | '.join(_num(per_class.get(c)) for c in classes) + ' |')
    lines.append(f'| **mean ± std** | | {_pm(report["mean"]["mAP50"], report["std"]["mAP50"])} | '
                 f'{_pm(report["mean"]["mAP50:95"], report["std"]["mAP50:95"])} | '
                 + ' | '.join(_pm(report['per_class_AP50'][c]['mean'], report['per_class_AP50'][c]['std'])
                              for c in classes) + ' |')
    oof = report.get('oof')
    if oof:
        lines.append(f'| **out-of-fold** | {report["images"]} | {_num(oof["mAP50"])} | {_num(oof["mAP50:95"])} | '
                     + ' | '.join(_num(oof['per_class_AP50'].get(c)) for c in classes) + ' |')
    lines.append('')
    if report['missing_folds']:
        lines += [f'Folds not evaluated yet: {report["missing_folds"]} (run them, then gather again); the '
                  f'out-of-fold score needs all of them.', '']
    if oof:
        lines += ['The out-of-fold row scores every image once, by the model that did not train on it, with all '
                  'detections pooled: one number over the whole pool, not an average of fold scores.', '']
    if plot is not None:
        lines += [f'![per-fold mAP]({Path(plot).relative_to(path.parent)})', '']
    path.write_text('\n'.join(lines))
    return path
