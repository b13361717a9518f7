"""The benchmark report: ``report.json``, ``report.md`` and a self-contained ``report.html``.

:func:`build_document` turns ``report.json``'s data into one section model, a
:class:`Document` of titled :class:`Section` s holding typed blocks (:class:`Heading`,
:class:`Paragraph`, :class:`Table`, :class:`Images`, :class:`BulletList`). Both outputs are
rendered from that one model: :func:`render_markdown` links images relatively,
:func:`render_html` fills ``templates/report.html.j2`` (Jinja2, autoescaped) with every image
embedded as base64 so that the page stands alone.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence, Union

from custom.benchmark.plots import plot_per_class_ap, plot_speed_vs_map
from custom.benchmark.results import (DELTA_COLUMNS, DEFAULT_EVALUATOR, RESULT_COLUMNS, compare_reports,
                                      delta_rows, fmt, result_rows)
from custom.benchmark.timing import SPEED_DEFAULTS

TEMPLATES = Path(__file__).resolve().parent / 'templates'
PLOTS = {'speed_vs_map': 'speed_vs_map.png', 'per_class_ap': 'per_class_ap.png'}  # in the report folder
EVALUATORS = {  # metrics_test.json's 'evaluator' -> what computed the COCO numbers
    'fast': "the project's fast COCO evaluator (custom/evaluation/fast_coco.py; pycocotools' COCOeval rules, "
            "same numbers)",
    'pycocotools': "pycocotools' COCOeval",
}
METHOD = [
    'mAP50 / mAP50:95: COCO bbox AP of the final checkpoint (epoch_<epochs>.pth, not the best on val) on the '
    'test split, evaluated as tools/test.py does, computed by {evaluator}.',
    'ms/img: median over {repeats} calls of model.test_step at batch 1 (normalisation, forward, box decoding, '
    'NMS) after {warmup} warm-up calls, eval mode, no gradients; image decoding and the test pipeline are '
    'not timed. Device: {device}.',
    'train img/s: batch size / median time of {train_steps} model.train_step calls (forward, loss, backward, '
    'optimizer step) after {train_warmup} warm-up steps, on batches prepared beforehand by the train pipeline '
    '(data loading not timed).',
    'params / FLOPs: mmengine.analysis.get_model_complexity_info on the network forward (no post-processing) '
    'at the input size shown (the first test image after the test pipeline); 1 multiply-add = 1 FLOP.',
    'train wall time: from the training logs: each training run from its first line to the last checkpoint it '
    'saved (validation between checkpoints included; work lost when a run was killed is not), summed over '
    'resumed runs.',
]


# --------------------------------------------------------------------------- the section model

@dataclass(frozen=True)
class Heading:
    """A heading inside a section (level 3: one model's part)."""
    text: str
    level: int = 3
    kind = 'heading'


@dataclass(frozen=True)
class Paragraph:
    """A line of text."""
    text: str
    kind = 'paragraph'


@dataclass(frozen=True)
class Table:
    """A table of text cells."""
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    kind = 'table'


@dataclass(frozen=True)
class Picture:
    """An image file relative to the report folder (``src`` ``None``: there is none; ``alt`` says why)."""
    src: str | None
    alt: str


@dataclass(frozen=True)
class Images:
    """One or more pictures shown one after another."""
    items: tuple[Picture, ...]
    kind = 'images'


@dataclass(frozen=True)
class Item:
    """A list item: ``text``, after ``code`` when given; ``preformatted`` text keeps its lines in HTML
    and shows its first line in Markdown."""
    text: str
    code: str = ''
    preformatted: bool = False


@dataclass(frozen=True)
class BulletList:
    """A bulleted list."""
    items: tuple[Item, ...]
    kind = 'list'


Block = Union[Heading, Paragraph, Table, Images, BulletList]


@dataclass(frozen=True)
class Section:
    """A titled part of the report (a level-2 heading) and its blocks."""
    title: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Document:
    """The whole report: title, the blocks before the first section, the sections in order."""
    title: str
    intro: tuple[Block, ...]
    sections: tuple[Section, ...]

    def pictures(self) -> Iterator[Picture]:
        """Every picture of the report, in order."""
        for blocks in (self.intro, *(s.blocks for s in self.sections)):
            for block in blocks:
                if isinstance(block, Images):
                    yield from block.items


# --------------------------------------------------------------------------- report dict -> sections

def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    """A :class:`Table` of ``header`` and ``rows``, every cell as text."""
    return Table(tuple(str(h) for h in header), tuple(tuple(str(c) for c in row) for row in rows))


def machine(env: Mapping) -> str:
    """``'CPU, N cores, torch threads T, GPU G'`` of an environment dict (as :func:`environment` makes)."""
    return (f"{env.get('cpu', '?')}, {env.get('cpus_usable') or env.get('cpu_count', '?')} cores, torch threads "
            f"{env.get('torch_threads', '?')}, GPU {', '.join(env['gpu']) if env.get('gpu') else 'none'}")


def comparison_note(report: Mapping) -> str:
    """When and where the old report was measured, with a warning when the machines differ."""
    comparison, env = report['comparison'], report.get('environment') or {}
    old_env = comparison.get('old_environment') or {}
    note = f"Old report: {comparison.get('old_date')}, on {machine(old_env)}; this one on {machine(env)}."
    if old_env and machine(old_env) != machine(env):
        note += ' The machines differ: the speed changes are not the models\' alone.'
    return note + ' Changes are new minus old.'


def environment_rows(env: Mapping) -> list[tuple[str, str]]:
    """``(item, value)`` rows of the Environment table."""
    rows = [('date (UTC)', env.get('date')), ('CPU', env.get('cpu')),
            ('cores', f"{env.get('cpu_count')} ({env.get('cpus_usable')} usable, "
                      f"torch threads {env.get('torch_threads')})"),
            ('GPU', ', '.join(env['gpu']) if env.get('gpu') else 'none'), ('platform', env.get('platform')),
            ('load average (1 min) at start', f"{env.get('load_avg_1m')} (timings assume an otherwise idle machine)")]
    rows += [(name, version) for name, version in (env.get('versions') or {}).items()]
    return [(k, str(v)) for k, v in rows]


def evaluator_text(models: Sequence[Mapping]) -> str:
    """What computed the models' COCO numbers: one evaluator, or each with the models it scored."""
    used: dict[str, list[str]] = {}
    for m in models:
        used.setdefault(m.get('evaluator') or DEFAULT_EVALUATOR, []).append(m['name'])
    if len(used) <= 1:
        only = next(iter(used), DEFAULT_EVALUATOR)
        return EVALUATORS.get(only, only)
    return '; '.join(f"{EVALUATORS.get(e, e)} for {', '.join(names)}" for e, names in used.items())


def method_lines(report: Mapping) -> list[str]:
    """The Method section: how every number was measured, with this run's settings."""
    settings = report.get('settings', {})
    args = {'device': settings.get('device', 'cpu'), 'evaluator': evaluator_text(report['models']),
            **SPEED_DEFAULTS, **settings.get('speed', {})}
    return [line.format(**args) for line in METHOD]


def class_table(models: Sequence[Mapping]) -> Table | None:
    """Per model and class AP50 and AP50:95; ``None`` when no model has per-class numbers."""
    rows = []
    for m in models:
        for c, v in (m.get('per_class_AP50') or {}).items():
            rows.append([m['name'], c, fmt(v), fmt((m.get('per_class_AP50:95') or {}).get(c))])
    return _table(['model', 'class', 'AP50', 'AP50:95'], rows) if rows else None


def _curves_blocks(models: Sequence[Mapping]) -> list[Block]:
    """Per model a heading and its training curves (or why there are none)."""
    blocks: list[Block] = []
    for m in models:
        alt = f"curves of {m['name']}" if m.get('curves_png') else (m.get('curves_note') or f"curves of {m['name']}")
        blocks += [Heading(m['name']), Images((Picture(m.get('curves_png'), alt),))]
    return blocks


def _prediction_blocks(models: Sequence[Mapping]) -> list[Block]:
    """What the pictures show, then per model a heading and its prediction pictures."""
    blocks: list[Block] = [Paragraph('Ground truth left, predictions right.')]
    for m in models:
        pictures = tuple(Picture(p, Path(p).name) for p in m.get('predictions', []))
        blocks += [Heading(m['name']), Images(pictures)]
    return blocks


def build_document(report: Mapping) -> Document:
    """The section model of ``report`` (``report.json``'s data, ``plots`` included): what both outputs show."""
    models, settings, plots = report['models'], report.get('settings', {}), report.get('plots', {})
    intro = (Paragraph(f"{len(models)} model(s), {report['environment'].get('date')}, "
                       f"device {settings.get('device', 'cpu')}."),)
    sections = [Section('Results', (_table(RESULT_COLUMNS, result_rows(models)),))]
    if report.get('failures'):
        sections.append(Section('Failures', (BulletList(tuple(
            Item(f['error'], code=f['config'], preformatted=True) for f in report['failures'])),)))
    if report.get('comparison'):
        sections.append(Section(f"Comparison with {report['comparison']['against']}", (
            Paragraph(comparison_note(report)), _table(DELTA_COLUMNS, delta_rows(report['comparison']['rows'])))))
    classes = class_table(models)
    sections += [
        Section('Speed vs accuracy', (Images((Picture(plots.get('speed_vs_map'), 'speed vs mAP'),)),)),
        Section('Per-class AP', (Images((Picture(plots.get('per_class_ap'), 'per-class AP'),)),
                                 *([classes] if classes else []))),
        Section('Training curves', tuple(_curves_blocks(models))),
        Section('Predictions', tuple(_prediction_blocks(models))),
        Section('Method', (BulletList(tuple(Item(line) for line in method_lines(report))),)),
        Section('Environment', (_table(('item', 'value'), environment_rows(report['environment'])),)),
    ]
    return Document(report.get('title', 'Detector benchmark'), intro, tuple(sections))


# --------------------------------------------------------------------------- sections -> Markdown / HTML

def _markdown_block(block: Block) -> list[str]:
    """The Markdown lines of one block."""
    if isinstance(block, Heading):
        return [f"{'#' * block.level} {block.text}"]
    if isinstance(block, Paragraph):
        return [block.text]
    if isinstance(block, Table):
        def cell(text: str) -> str:
            return text.replace('|', '\\|')
        return (['| ' + ' | '.join(cell(h) for h in block.header) + ' |', '|' + '---|' * len(block.header)]
                + ['| ' + ' | '.join(cell(c) for c in row) + ' |' for row in block.rows])
    if isinstance(block, Images):
        return [f'![{p.alt}]({p.src})' if p.src else p.alt for p in block.items]
    lines = []
    for item in block.items:
        text = (item.text.splitlines() or [''])[0] if item.preformatted else item.text
        lines.append(f'- `{item.code}`: {text}' if item.code else f'- {text}')
    return lines


def render_markdown(doc: Document) -> str:
    """``report.md``: every section of ``doc``, images linked relative to the report folder."""
    lines = [f'# {doc.title}', '']
    for block in doc.intro:
        lines += [*_markdown_block(block), '']
    for section in doc.sections:
        lines += [f'## {section.title}', '']
        for block in section.blocks:
            lines += [*_markdown_block(block), '']
    return '\n'.join(lines)


def embedded_images(doc: Document, report_dir: Path) -> dict[str, str]:
    """``src -> data: URI`` (base64) of every picture of ``doc`` whose file exists under ``report_dir``."""
    out = {}
    for picture in doc.pictures():
        if picture.src and picture.src not in out and (report_dir / picture.src).is_file():
            mime = 'image/png' if picture.src.endswith('.png') else 'image/jpeg'
            data = base64.b64encode((report_dir / picture.src).read_bytes()).decode()
            out[picture.src] = f'data:{mime};base64,{data}'
    return out


def render_html(doc: Document, report_dir: str | Path) -> str:
    """``report.html``: every section of ``doc`` on one page that stands alone (images embedded)."""
    import jinja2
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    template = env.get_template('report.html.j2')
    return template.render(doc=doc, images=embedded_images(doc, Path(report_dir)))


def write_report(report: dict[str, Any], report_dir: str | Path, old: Mapping | None = None,
                 old_path: str | None = None) -> dict[str, Path]:
    """Draw the plots and write ``report.json``, ``report.md`` and ``report.html`` into ``report_dir``.

    ``report`` holds ``title``, ``environment``, ``settings``, ``models`` (rows as made by
    :func:`custom.benchmark.runner.benchmark_one`) and ``failures``; ``plots`` and, with ``old``
    (an earlier ``report.json``), ``comparison`` are added. Returns the written files by kind.
    """
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    report['plots'] = dict(PLOTS)
    plot_speed_vs_map(report['models'], report_dir / report['plots']['speed_vs_map'])
    plot_per_class_ap(report['models'], report_dir / report['plots']['per_class_ap'])
    if old is not None:
        report['comparison'] = {'against': old_path or 'old report',
                                'old_date': (old.get('environment') or {}).get('date'),
                                'old_environment': old.get('environment') or {},
                                'rows': compare_reports(report, old)}
    paths = {'json': report_dir / 'report.json', 'md': report_dir / 'report.md', 'html': report_dir / 'report.html'}
    paths['json'].write_text(json.dumps(report, indent=2))
    doc = build_document(report)
    paths['md'].write_text(render_markdown(doc))
    paths['html'].write_text(render_html(doc, report_dir))
    return paths
