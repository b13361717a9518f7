"""The experiment report's answers: five questions about the given runs, each a sentence and a table, with plots.

Q1 optimizer and losses, Q2 the first architecture tried, Q3 the later ones, Q4 what acts against
over-fitting (and the train-vs-val gap), Q5 batch size, epochs, learning rate and schedule (and the
tuning evidence). Built from :class:`~custom.experiments.report.Experiment` s into the benchmark
report's section model (:mod:`custom.benchmark.render`), written as ``experiment_report.md`` (plots
linked) and ``experiment_report.html`` (plots embedded, stands alone). matplotlib and jinja2 are
imported inside the functions that draw and render.
"""
from __future__ import annotations

import json
import re
import shutil
import statistics
from pathlib import Path
from typing import Any, Sequence

from custom.benchmark.render import (Block, BulletList, Document, Images, Item, Paragraph, Picture, Section, Table,
                                     render_html, render_markdown)
from custom.benchmark.results import human
from custom.experiments.report import Experiment, Run
from custom.experiments.report_config import num

REPORT_MD, REPORT_HTML = 'experiment_report.md', 'experiment_report.html'
PLOTS = {'val_map': 'plots/val_map50.png', 'train_loss': 'plots/train_loss.png'}  # in the report folder
Q1_COLUMNS = ('model', 'optimizer', 'lr', 'momentum', 'weight decay', 'optim wrapper', 'grad clip',
              'losses (type × weight)')
ARCH_COLUMNS = ('#', 'model', 'kind', 'started', 'detector', 'backbone', 'neck', 'head', 'input', 'test mAP50',
                'test mAP50:95', 'best val mAP50', 'params', 'ms/img')
Q4_COLUMNS = ('model', 'augmentations (train pipeline)', 'weight decay', 'best checkpoint (save_best)', 'EMA',
              'early stopping', 'K-fold spread')
GAP_COLUMNS = ('run', 'train loss, first → last epoch', 'val mAP50')
Q5_COLUMNS = ('model', 'batch size', 'epochs (config)', 'epochs logged', 'lr', 'LR schedule', 'warm-up',
              'auto_scale_lr')
EVIDENCE_COLUMNS = ('study', 'parameter', 'importance', 'best trial value', 'search space')


def f3(value: float | None) -> str:
    """Three decimals, ``'-'`` for ``None``."""
    return '-' if value is None else f'{value:.3f}'


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    return Table(tuple(header), tuple(tuple(str(c) for c in row) for row in rows))


def label(e: Experiment) -> str:
    """The model column: the work dir's name, with K or the trial whose config is shown."""
    if e.kind == 'kfold' and e.kfold:
        return f'{e.name} ({e.kfold.k}-fold)'
    if e.kind == 'tuning':
        return f"{e.name} (best trial {e.shown.path.name.removeprefix('trial_')})"
    return e.name


def losses_text(e: Experiment) -> str:
    """``'loss_cls CrossEntropyLoss ×1, loss_bbox L1Loss ×1'``; ``'-'`` when the config has none."""
    return ', '.join(f'{loss.key} {loss.type} ×{num(loss.weight)}' for loss in e.recipe.losses) or '-'


def weight_decay_text(e: Experiment) -> str:
    r = e.recipe
    return num(r.weight_decay) + (f' ({r.decay_multipliers})' if r.decay_multipliers else '')


# --------------------------------------------------------------------------- Q1

def answer_q1(experiments: Sequence[Experiment]) -> tuple[str, Table]:
    """Optimizer (type, lr, momentum, weight decay, wrapper, grad clip) and loss functions of each model."""
    sentences, rows = [], []
    for e in experiments:
        r = e.recipe
        momentum = [] if r.momentum == '-' else [r.momentum if r.momentum.startswith('betas') else
                                                  f'momentum {r.momentum}']
        args = [f'lr {num(r.lr)}'] + momentum + [
            f'weight decay {weight_decay_text(e)}']
        clip = 'no grad clip' if r.grad_clip == 'none' else f'grad clip {r.grad_clip}'
        sentences.append(f"{label(e)}: {r.optimizer} ({', '.join(args)}) in {r.wrapper}, {clip}; "
                         f"losses {losses_text(e)}.")
        rows.append([label(e), r.optimizer, num(r.lr), r.momentum, weight_decay_text(e), r.wrapper, r.grad_clip,
                     losses_text(e)])
    return ' '.join(sentences), _table(Q1_COLUMNS, rows)


# --------------------------------------------------------------------------- Q2, Q3

def test_text(e: Experiment, key: str) -> str:
    """Test mAP50 (``key`` 'map50') or mAP50:95 ('map'); a K-fold run's held-out mean ± std."""
    if e.kfold is not None:
        mean, std = (e.kfold.mean50, e.kfold.std50) if key == 'map50' else (e.kfold.mean, e.kfold.std)
        return '-' if mean is None else f'{mean:.3f} ± {std or 0:.3f} (held-out folds)'
    return f3(getattr(e.shown.test, key)) if e.shown.test else '-'


def best_val_text(e: Experiment) -> str:
    """Best validation mAP50: the run's; the mean of the folds' bests; the shown trial's."""
    bests = [b[1] for b in (r.curves.best() for r in e.runs) if b]
    if e.kind == 'kfold':
        return f'{statistics.fmean(bests):.3f} (mean of {len(bests)} folds)' if bests else '-'
    best = e.shown.curves.best()
    return '-' if best is None else f'{best[1]:.3f}' + (f' ({e.shown.path.name})' if e.kind == 'tuning' else '')


def _arch_key(e: Experiment) -> tuple[str, str]:
    return e.recipe.architecture, e.recipe.input_size


def _scores(e: Experiment) -> str:
    text = (f"test mAP50 {test_text(e, 'map50')}, mAP50:95 {test_text(e, 'map')}, "
            f'best val mAP50 {best_val_text(e)}')
    if e.params is not None:
        text += f', {human(e.params)} parameters'
    return text + (f', {e.ms_per_img} ms/img' if e.ms_per_img != '-' else '')


def answer_architectures(experiments: Sequence[Experiment]) -> tuple[str, Table, str, Table | None]:
    """Q2 (the first experiment by start time) and Q3 (the later ones, ``None`` table without any): sentence and
    table each, the tables numbered in start order."""
    rows = []
    for i, e in enumerate(experiments, 1):
        r = e.recipe
        rows.append([i, label(e), e.kind, e.started or '-', r.detector, r.backbone, r.neck, r.head, r.input_size,
                     test_text(e, 'map50'), test_text(e, 'map'), best_val_text(e),
                     human(e.params) if e.params is not None else '-', e.ms_per_img])
    first = experiments[0]
    q2 = (f'The first architecture tried, in {label(first)} (started {first.started or "-"}), was '
          f'{first.recipe.architecture} at {first.recipe.input_size}: {_scores(first)}.')
    later = []
    for i, e in enumerate(experiments[1:], 1):
        same = next((p for p in experiments[:i] if _arch_key(p) == _arch_key(e)), None)
        note = f' (same architecture as {label(same)})' if same else ''
        later.append(f'{label(e)} ({e.started or "-"}): {e.recipe.architecture} at {e.recipe.input_size}{note}, '
                     f'{_scores(e)}')
    q3 = (f"{len(later)} later experiment(s), in start order: {'; '.join(later)}." if later
          else 'No later architecture: only one work dir was given.')
    return q2, _table(ARCH_COLUMNS, rows[:1]), q3, (_table(ARCH_COLUMNS, rows[1:]) if later else None)


# --------------------------------------------------------------------------- Q4

def loss_text(run: Run) -> str:
    """``'8.838 (epoch 1) → 5.12 (epoch 2)'``: mean logged training loss of the first and last epoch."""
    loss = run.curves.train_loss
    if not loss:
        return '-'
    (e1, v1), (e2, v2) = loss[0], loss[-1]
    return f'{v1:.4g} (epoch {e1})' if e1 == e2 else f'{v1:.4g} (epoch {e1}) → {v2:.4g} (epoch {e2})'


def peak_text(run: Run) -> str:
    """``'peaked at epoch 1 of 2, last 0.400 vs best 0.500'``."""
    best, points = run.curves.best(), run.curves.val_map50
    if best is None:
        return 'no validation logged'
    return (f'peaked at epoch {best[0]} of {run.curves.epochs}, last {points[-1][1]:.3f} vs best '
            f'{best[1]:.3f}')


def spread_text(e: Experiment) -> str:
    """A K-fold run's mAP50 mean ± std, range and out-of-fold score; '-' for other runs."""
    k = e.kfold
    if k is None or k.mean50 is None:
        return '-'
    values = [f[1] for f in k.folds if f[1] is not None]
    text = (f'mAP50 {k.mean50:.3f} ± {k.std50 or 0:.3f} over {len(values)} of {k.k} folds '
            f'(min {min(values):.3f}, max {max(values):.3f})')
    return text + (f'; out-of-fold {k.oof50:.3f}' if k.oof50 is not None else '')


def answer_q4(experiments: Sequence[Experiment]) -> tuple[str, Table, Table]:
    """What acts against over-fitting in each experiment, and the train-vs-val gap of each run."""
    rows, gap = [], []
    for e in experiments:
        r = e.recipe
        aug = ', '.join(r.augmentations) or 'none'
        rows.append([label(e), aug + (f'; {r.pipeline_switch}' if r.pipeline_switch else ''), weight_decay_text(e),
                     r.save_best, r.ema, r.early_stopping, spread_text(e)])
        gap += [[run.label, loss_text(run), peak_text(run)] for run in e.runs]
    n = len(experiments)

    def count(test: Any) -> int:
        return sum(1 for e in experiments if test(e.recipe))

    sentence = (f'Of {n} experiment(s), {count(lambda r: r.augmentations)} augment the training images, '
                f'{count(lambda r: r.weight_decay)} use weight decay, {count(lambda r: r.save_best != "no")} keep '
                f'the best checkpoint on val, {count(lambda r: r.ema != "no")} use EMA and '
                f'{count(lambda r: r.early_stopping != "no")} stop early.')
    peaked = [f'{run.label} ({peak_text(run)})' for e in experiments for run in e.runs
              if run.curves.best() and run.curves.best()[0] < run.curves.val_map50[-1][0]]
    sentence += (f" Val mAP50 fell after its peak in: {'; '.join(peaked)}." if peaked else
                 ' Val mAP50 was highest at the last validation of every run that validated.')
    spreads = [f'{label(e)}: {spread_text(e)}' for e in experiments if e.kfold is not None]
    if spreads:
        sentence += f" K-fold spread: {'; '.join(spreads)}."
    return sentence, _table(Q4_COLUMNS, rows), _table(GAP_COLUMNS, gap)


# --------------------------------------------------------------------------- Q5

def space_text(spec: Any) -> str:
    """``'float 0.005-0.045 (log)'``, ``'categorical [4, 8]'``, or the spec as JSON."""
    if isinstance(spec, dict) and 'choices' in spec:
        return f"{spec.get('type', 'categorical')} {spec['choices']}"
    if isinstance(spec, dict) and 'low' in spec:
        return f"{spec.get('type', 'float')} {num(spec['low'])}-{num(spec['high'])}" + (
            ' (log)' if spec.get('log') else '')
    return json.dumps(spec)


def _value(value: Any) -> str:
    return f'{value:.4g}' if isinstance(value, float) else str(value)


def answer_q5(experiments: Sequence[Experiment]) -> tuple[str, Table, Table | None]:
    """Batch size, epochs, lr, schedule, warm-up and auto_scale_lr of each model, and the tuning evidence."""
    sentences, rows, evidence = [], [], []
    for e in experiments:
        r = e.recipe
        schedule = ' then '.join(r.schedule) or 'a constant lr'
        sentences.append(f'{label(e)}: batch {num(r.batch_size)}, epochs {r.epochs}, lr {num(r.lr)} with '
                         f'{schedule}, warm-up {r.warmup}, auto_scale_lr {r.auto_scale_lr}.')
        logged = [str(run.curves.epochs) for run in e.runs]
        rows.append([label(e), num(r.batch_size), r.epochs, ', '.join(dict.fromkeys(logged)) or '-', num(r.lr),
                     '; '.join(r.schedule) or '-', r.warmup, r.auto_scale_lr])
        t = e.tuning
        if t is None:
            continue
        best = dict(t.best_params)
        importances = dict(t.importances)
        for name in list(importances) + [n for n in best if n not in importances]:
            evidence.append([t.study, name, f'{importances[name]:.2f}' if name in importances else '-',
                             _value(best[name]) if name in best else '-', space_text(t.space.get(name))])
        trials = ', '.join(f'{count} {state.lower()}' for state, count in t.trials)
        found = (f'best trial {t.best_number}: {t.metric} {t.best_value:.4f} with '
                 + ', '.join(f'{k} {_value(v)}' for k, v in t.best_params) if t.best_value is not None
                 else 'no finished trial')
        top = (f'; the most important parameter was {t.importances[0][0]} ({t.importances[0][1]:.2f})'
               if t.importances else '; no parameter importances (too few finished trials)')
        sentences.append(f'Evidence from tuning study {t.study} ({trials} trials): {found}{top}.')
    if not any(e.tuning for e in experiments):
        sentences.append('No tuning study was given: no search backs these values beyond the configs.')
    return ' '.join(sentences), _table(Q5_COLUMNS, rows), (_table(EVIDENCE_COLUMNS, evidence) if evidence else None)


# --------------------------------------------------------------------------- plots

def plot_per_epoch(experiments: Sequence[Experiment], what: str, out_png: str | Path) -> Path:
    """Every run on one figure: ``what`` 'val_map' (val mAP50 per epoch) or 'train_loss' (mean logged loss per
    epoch, log scale when the runs' losses differ over 50x); one colour per experiment, one line per run."""
    from custom.visualization.mpl import pyplot, save_figure
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 4.5))
    colors = plt.get_cmap('tab10')
    styles = ('-', '--', ':', '-.')
    values = []
    for i, e in enumerate(experiments):
        for j, run in enumerate(e.runs):
            points = run.curves.val_map50 if what == 'val_map' else run.curves.train_loss
            if points:
                values += [v for _, v in points]
                ax.plot(*zip(*points), marker='o', markersize=3, color=colors(i % 10), linestyle=styles[j % 4],
                        label=run.label)
    if what == 'val_map':
        ax.set(title='validation mAP50 per epoch', xlabel='epoch', ylabel='mAP50', ylim=(0, 1))
    else:
        ax.set(title='training loss per epoch (mean of the logged values)', xlabel='epoch', ylabel='loss')
        if values and min(values) > 0 and max(values) / min(values) > 50:
            ax.set_yscale('log')
    if values:
        ax.legend(fontsize=7, loc='upper left', bbox_to_anchor=(1.01, 1), ncol=1 + len(ax.lines) // 25)
    else:
        ax.text(0.5, 0.5, 'nothing logged', ha='center', va='center', transform=ax.transAxes)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, out_png)


def _copy_plots(experiments: Sequence[Experiment], out_dir: Path) -> dict[str, list[Picture]]:
    """Copy each work dir's own plots to ``out_dir/plots/<name>_<file>``; pictures by experiment name."""
    out: dict[str, list[Picture]] = {}
    for e in experiments:
        for caption, path in e.plots:
            rel = f"plots/{re.sub(r'[^A-Za-z0-9_.-]+', '_', e.name)}_{path.name}"
            shutil.copyfile(path, out_dir / rel)
            out.setdefault(e.name, []).append(Picture(rel, f'{e.name}: {caption}'))
    return out


# --------------------------------------------------------------------------- document and files

def _sources(e: Experiment) -> Item:
    read = [str(r.config) for r in e.runs] + [r.test.source for r in e.runs if r.test]
    read += [str(e.path / f) for f in ('kfold.json', 'tune.json') if (e.path / f).is_file()]
    return Item(', '.join(read), code=label(e))


def build_document(experiments: Sequence[Experiment], copied: dict[str, list[Picture]]) -> Document:
    """The report's section model: an intro, the five answers with their tables and plots, sources, notes."""
    q1, q1_table = answer_q1(experiments)
    q2, q2_table, q3, q3_table = answer_architectures(experiments)
    q4, q4_table, gap_table = answer_q4(experiments)
    q5, q5_table, evidence = answer_q5(experiments)
    kfold_plots = tuple(p for e in experiments if e.kind == 'kfold' for p in copied.get(e.name, []))
    tuning_plots = tuple(p for e in experiments if e.kind == 'tuning' for p in copied.get(e.name, []))
    q4_blocks: list[Block] = [Paragraph(q4), q4_table, gap_table,
                              Images((Picture(PLOTS['val_map'], 'validation mAP50 per epoch, every run'),
                                      Picture(PLOTS['train_loss'], 'training loss per epoch, every run')))]
    if kfold_plots:
        q4_blocks.append(Images(kfold_plots))
    q5_blocks: list[Block] = [Paragraph(q5), q5_table, *([evidence] if evidence else [])]
    if tuning_plots:
        q5_blocks.append(Images(tuning_plots))
    intro = (Paragraph(f'{len(experiments)} work dir(s) in training start order: '
                       + ', '.join(f'{label(e)} [{e.kind}]' for e in experiments)
                       + '. Every answer is read from the saved configs and logs listed under Sources; test mAP '
                         'is the final model on the test split (a K-fold run: on its held-out folds).'),)
    sections = [
        Section('Q1. Optimizer and loss functions', (Paragraph(q1), q1_table)),
        Section('Q2. The first architecture tried', (Paragraph(q2), q2_table)),
        Section('Q3. The later architectures', (Paragraph(q3), *([q3_table] if q3_table else []))),
        Section('Q4. Against over-fitting', tuple(q4_blocks)),
        Section('Q5. Batch size, epochs, learning rate and schedule', tuple(q5_blocks)),
        Section('Sources', (BulletList(tuple(_sources(e) for e in experiments)),)),
    ]
    notes = [n for e in experiments for n in e.notes]
    if notes:
        sections.append(Section('Notes', (BulletList(tuple(Item(n) for n in notes)),)))
    return Document('Experiment report', intro, tuple(sections))


def write_report(experiments: Sequence[Experiment], out_dir: str | Path) -> dict[str, Path]:
    """Draw the plots, copy the work dirs' own plots and write ``experiment_report.md`` / ``.html``."""
    out_dir = Path(out_dir)
    (out_dir / 'plots').mkdir(parents=True, exist_ok=True)
    plot_per_epoch(experiments, 'val_map', out_dir / PLOTS['val_map'])
    plot_per_epoch(experiments, 'train_loss', out_dir / PLOTS['train_loss'])
    doc = build_document(experiments, _copy_plots(experiments, out_dir))
    paths = {'md': out_dir / REPORT_MD, 'html': out_dir / REPORT_HTML}
    paths['md'].write_text(render_markdown(doc))
    paths['html'].write_text(render_html(doc, out_dir))
    return paths
