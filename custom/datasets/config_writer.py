"""Config files for a converted dataset: its dataset base and one model config per recipe.

A converted folder ``data/NAME`` (``tools/dataset_converters/voc2coco.py``) gives the classes;
each recipe in ``configs/_base_/recipes/`` gives one model config that joins it with the dataset
base. Text is a pure function of the classes, the name, the data root, the palette and whether
``test.json`` exists, so the header's command reproduces a file byte for byte.
``tools/misc/make_configs.py`` is the command line.

Imports neither torch nor mmdet; mmengine only when a recipe or a written config is loaded.
"""
from __future__ import annotations

import colorsys
import fnmatch
import itertools
import json
import os
import os.path as osp
import re
import shlex
import textwrap
from dataclasses import dataclass, field
from typing import Any, Sequence

from custom.datasets.coco_writer import SPLIT_FILE
from custom.engine.config import dataset_levels, read_config
from custom.engine.config_check import check_config

COMMAND = 'python tools/misc/make_configs.py'  # how the headers name the tool
WRITTEN = 'Written by tools/misc/make_configs.py (--force overwrites); to reproduce it:'
CONVERT = 'python tools/dataset_converters/voc2coco.py VOC_DIR --out-dir'
REQUIRED_SPLITS = ('train', 'val')
GROUPS = {'all': 'every recipe', 'cpu': 'recipes with _cpu in the name', 'gpu': 'the others'}
WIDTH = 100  # wrap generated lines at this many characters where they can be wrapped
SAFE_ROOT = re.compile(r'[A-Za-z0-9_./-]+/')  # what mmengine's '{{$VAR:default}}' can hold (no escaping)
# Distinct colours taken in order; the first three are BCCD's (Platelets, RBC, WBC).
PALETTE = ((255, 187, 0), (220, 20, 60), (30, 144, 255), (60, 179, 113), (148, 0, 211), (0, 206, 209),
           (255, 0, 255), (128, 128, 0), (255, 127, 80), (0, 0, 142), (154, 205, 50), (139, 69, 19),
           (255, 182, 193), (0, 128, 128), (128, 0, 0), (112, 128, 144))
Colour = tuple[int, int, int]


class ConfigWriterError(ValueError):
    """Input the configs cannot be written from; the message names the file or option and the fix."""


@dataclass(frozen=True)
class Recipe:
    """A recipe: its file stem, :func:`recipe_summary`, the dataset wrappers around each split's
    dataset (``RepeatDataset`` ...: 1), and the key path of the head that takes num_classes."""
    stem: str
    summary: str
    wrappers: dict[str, int]
    head: tuple[str, ...]


@dataclass(frozen=True)
class DatasetBase:
    """What a dataset base says: name (key prefix), data root (relative, ends in '/'), classes in
    category-id order, one colour per class, whether test.json exists, and the reproducing command."""
    name: str
    root: str
    classes: tuple[str, ...]
    palette: tuple[Colour, ...]
    has_test: bool
    command: str


@dataclass
class Plan:
    """Files to write (path -> text, the dataset base first) and the model configs among them."""
    files: dict[str, str] = field(default_factory=dict)
    configs: list[str] = field(default_factory=list)

    @property
    def first_to_train(self) -> str:
        """The first CPU config (a ``_cpu`` recipe) written, else the first config."""
        return next((p for p in self.configs if '_cpu' in osp.basename(p)), self.configs[0])


def default_name(data_dir: str) -> str:
    """``data_dir``'s base name lower-cased, every character outside [a-z0-9_] made '_'."""
    return re.sub(r'[^a-z0-9_]', '_', osp.basename(osp.normpath(osp.abspath(data_dir))).lower())


def dataset_name(data_dir: str, name: str | None = None) -> str:
    """``name``, else :func:`default_name`, when it can prefix Python names in a config."""
    chosen = default_name(data_dir) if name is None else name
    if not re.fullmatch(r'[a-z_][a-z0-9_]*', chosen):
        raise ConfigWriterError(f'{"--name" if name is not None else "the name of " + data_dir} {chosen!r} is not '
                                f'a lower-case Python identifier: pass --name with a-z, 0-9 and _, not 0-9 first')
    return chosen


def config_root(data_dir: str, cwd: str | None = None) -> str:
    """``data_dir`` as a config's default data root: relative to ``cwd``, '/'-separated, ending in '/'.

    An absolute path is made relative when it lies inside ``cwd``; outside it is refused, since
    configs hold no absolute paths.
    """
    cwd = cwd or os.getcwd()
    path = data_dir
    if osp.isabs(path):
        path = osp.relpath(path, cwd)
        if path == '..' or path.startswith('..' + os.sep):
            raise ConfigWriterError(
                f'{data_dir} is outside the current folder {cwd}, and configs hold no absolute paths: '
                f'run make_configs from the folder you train from with the data inside it (e.g. link it: '
                f'ln -s {data_dir} data/{osp.basename(osp.normpath(data_dir))})')
    root = osp.normpath(path).replace(os.sep, '/').rstrip('/') + '/'
    if not SAFE_ROOT.fullmatch(root):
        raise ConfigWriterError(f'{data_dir}: a config data root holds only letters, digits and _ . - /: '
                                f'rename the folder or link it under such a name')
    return root


def _categories(path: str) -> tuple[str, ...]:
    """Category names of COCO file ``path`` in id order."""
    try:
        with open(path, encoding='utf-8') as f:
            cats = json.load(f)['categories']
        pairs = sorted((int(c['id']), str(c['name'])) for c in cats)
    except (ValueError, KeyError, TypeError) as err:
        raise ConfigWriterError(f'{path} is not a COCO file with categories ({err!r}): convert the data '
                                f'again with tools/dataset_converters/voc2coco.py') from err
    names = tuple(name for _, name in pairs)
    if not names or len(set(names)) != len(names) or len({i for i, _ in pairs}) != len(pairs):
        raise ConfigWriterError(f'{path} has no categories, or repeats an id or name ({pairs}): convert '
                                f'the data again with tools/dataset_converters/voc2coco.py')
    return names


def read_classes(data_dir: str) -> tuple[tuple[str, ...], bool]:
    """Class names (category-id order) shared by every split file of ``data_dir``, and whether
    ``test.json`` exists; train.json and val.json are required."""
    ann_dir = osp.join(data_dir, 'annotations')
    if not osp.isdir(data_dir):
        raise ConfigWriterError(f'{data_dir} does not exist: convert your data first: {CONVERT} {data_dir}')
    for split in REQUIRED_SPLITS:
        path = osp.join(ann_dir, f'{split}.json')
        if not osp.isfile(path):
            raise ConfigWriterError(
                f'{path} does not exist: configs need annotations/train.json and val.json; convert with '
                f'a split, e.g. {CONVERT} {data_dir} --split 0.8,0.1,0.1 --seed 0')
    names = sorted(n for n in os.listdir(ann_dir) if SPLIT_FILE.fullmatch(n))
    order = [f'{s}.json' for s in ('train', 'val', 'test') if f'{s}.json' in names]
    paths = [osp.join(ann_dir, n) for n in order + [n for n in names if n not in order]]
    first = _categories(paths[0])
    for path in paths[1:]:
        classes = _categories(path)
        if classes != first:
            raise ConfigWriterError(
                f'{path} has categories {list(classes)} but {paths[0]} has {list(first)}: every split must '
                f'have the same ones; convert again with --classes {",".join(first)}')
    return first, osp.isfile(osp.join(ann_dir, 'test.json'))


def default_palette(n: int) -> tuple[Colour, ...]:
    """``n`` colours: :data:`PALETTE` in order, then golden-ratio hues (the same on every call)."""
    colours = list(PALETTE[:n])
    k = 0
    while len(colours) < n:
        h, s, v = (k * 0.618033988749895 + 0.05) % 1.0, (0.9, 0.6)[k % 2], (0.95, 0.7)[k // 2 % 2]
        colour = tuple(int(round(x * 255)) for x in colorsys.hsv_to_rgb(h, s, v))
        if colour not in colours:
            colours.append(colour)
        k += 1
    return tuple(colours)


def parse_palette(values: Sequence[str], classes: Sequence[str], data_dir: str) -> tuple[Colour, ...]:
    """``--palette`` values ('R,G,B', one per class in order) as colours."""
    colours = []
    for value in values:
        parts = value.split(',')
        if len(parts) != 3 or not all(re.fullmatch(r'\s*\d{1,3}\s*', p) and int(p) <= 255 for p in parts):
            raise ConfigWriterError(f'--palette {value!r} is not R,G,B with integers 0-255, e.g. 255,187,0')
        colours.append(tuple(int(p) for p in parts))
    if len(colours) != len(classes):
        raise ConfigWriterError(f'--palette has {len(colours)} colours but {data_dir} has {len(classes)} '
                                f'classes ({", ".join(classes)}): give one R,G,B per class, in that order')
    return tuple(colours)


def list_recipes(recipes_dir: str) -> list[str]:
    """Stems of the recipe files in ``recipes_dir``, sorted."""
    return sorted(n[:-3] for n in os.listdir(recipes_dir) if n.endswith('.py') and not n.startswith('_'))


def select_recipes(patterns: Sequence[str], available: Sequence[str], recipes_dir: str) -> list[str]:
    """Recipes named by ``patterns`` (stems, shell globs, or the groups of :data:`GROUPS`), in
    ``available`` order."""
    chosen: set[str] = set()
    for pattern in patterns:
        stem = pattern[:-3] if pattern.endswith('.py') else pattern
        if stem in GROUPS:
            found = [r for r in available if stem == 'all' or (('_cpu' in r) == (stem == 'cpu'))]
        else:
            found = [r for r in available if fnmatch.fnmatchcase(r, stem)]
        if not found:
            groups = ', '.join(f'{g} ({what})' for g, what in GROUPS.items())
            raise ConfigWriterError(f'--models {pattern!r} matches no recipe in {recipes_dir}; give {groups}, '
                                    f'shell patterns such as \'yolov3*\', or recipes: ' + ', '.join(available))
        chosen.update(found)
    return [r for r in available if r in chosen]


def recipe_summary(path: str) -> str:
    """The first sentence of the file's leading comment, without (asides) and what follows ': '."""
    with open(path, encoding='utf-8') as f:
        text = ' '.join(line[1:].strip() for line in itertools.takewhile(lambda x: x.startswith('#'), f))
    end = re.search(r'\.(\s|$)', text)
    text = text[:end.start()] if end else text
    while re.search(r'\([^()]*\)', text):
        text = re.sub(r'\s*\([^()]*\)', '', text)
    text = ' '.join(text.split(': ')[0].split()).rstrip(' .,;')
    return text or f'the {osp.basename(path)[:-3]} recipe'


def load_recipe(path: str) -> Recipe:
    """A :class:`Recipe` from the file (loaded with mmengine, without its custom imports)."""
    cfg = read_config(path, import_custom_modules=False)
    wrappers = {}
    for split in ('train', 'val', 'test'):
        dataset = (cfg.get(f'{split}_dataloader') or {}).get('dataset')
        wrappers[split] = max(len(list(dataset_levels(dataset))) - 1, 0)
    model = cfg.get('model') or {}
    if 'num_classes' in (model.get('bbox_head') or {}):
        head: tuple[str, ...] = ('bbox_head',)
    elif isinstance((model.get('roi_head') or {}).get('bbox_head'), dict):
        head = ('roi_head', 'bbox_head')
    else:
        raise ConfigWriterError(f'{path}: its model has no bbox_head (or roi_head.bbox_head) with num_classes; '
                                f'write the dataset config of this recipe by hand')
    return Recipe(osp.basename(path)[:-3], recipe_summary(path), wrappers, head)


def make_command(root: str, name: str, out: str, palette: Sequence[Colour] | None,
                 models: Sequence[str] = ()) -> str:
    """The command line that writes these files, defaults left out."""
    args = [COMMAND, shlex.quote(root.rstrip('/') or '.')]
    if name != default_name(root):
        args += ['--name', name]
    if osp.normpath(out) != osp.join('configs', name):
        args += ['--out', shlex.quote(osp.normpath(out).replace(os.sep, '/'))]
    if models:
        args += ['--models', *models]
    if palette:
        args += ['--palette', *(','.join(map(str, c)) for c in palette)]
    return ' '.join(args)


def _wrapped(head: str, items: Sequence[str], tail: str) -> list[str]:
    """``head + ', '.join(items) + tail``, broken between items into lines of at most :data:`WIDTH`
    where items allow, continuation lines aligned after ``head``."""
    lines: list[str] = []
    current = ''
    for i, item in enumerate(items):
        last = i == len(items) - 1
        piece = item + ('' if last else ',')
        joined = f'{current} {piece}' if current else piece
        if current and len(head) + len(joined) + (len(tail) if last else 0) > WIDTH:
            lines.append(current)
            joined = piece
        current = joined
    lines.append(current + tail)
    return [(head if i == 0 else ' ' * len(head)) + line for i, line in enumerate(lines)]


def _comment(text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent='# ', subsequent_indent='# ', break_long_words=False,
                         break_on_hyphens=False)


def render_base(base: DatasetBase) -> str:
    """Text of ``configs/_base_/datasets/<name>.py``."""
    n, root, env = base.name, base.root, base.name.upper() + '_ROOT'
    test = 'test' if base.has_test else 'val'
    classes = [repr(c) for c in base.classes]
    lines = _comment(f'{n} ({len(base.classes)} classes): the COCO JSON in {root} written by '
                     f'tools/dataset_converters/voc2coco.py.')
    lines += [f'# {WRITTEN}', f'#   {base.command}',
              f'# Names carry a `{n}_` prefix so this file can stand as a second _base_ beside an mmdet',
              '# model config (mmengine forbids duplicate keys among bases); model configs wire them in.',
              f"{n}_root = '{{{{${env}:{root}}}}}'  # the one data root: env var {env}, default {root}",
              f'{n}_metainfo = dict(  # classes: the categories of annotations/*.json, by id',
              *_wrapped('    classes=(', classes, ',),' if len(classes) == 1 else '),'),
              *_wrapped('    palette=[', [str(tuple(c)) for c in base.palette], '])'),
              f'{n}_num_classes = {len(base.classes)}',
              f'{n}_train = dict(',
              f"    type='CocoDataset', data_root={n}_root, metainfo={n}_metainfo,",
              "    ann_file='annotations/train.json', data_prefix=dict(img='images/'),",
              '    filter_cfg=dict(filter_empty_gt=True, min_size=0))']
    no_test = '' if base.has_test else '  # no annotations/test.json: tests on val'
    for split, ann in (('val', 'val'), ('test', test)):
        lines += [f'{n}_{split} = dict(' + (no_test if split == 'test' else ''),
                  f"    type='CocoDataset', data_root={n}_root, metainfo={n}_metainfo,",
                  f"    ann_file='annotations/{ann}.json', data_prefix=dict(img='images/'), test_mode=True)"]
    for split, ann in (('val', 'val'), ('test', test)):
        lines += [f'{n}_{split}_evaluator = dict(' + (no_test if split == 'test' else ''),
                  f"    type='CocoMetric', ann_file={n}_root + 'annotations/{ann}.json', metric='bbox', "
                  'classwise=True)']
    return '\n'.join(lines) + '\n'


def render_model(base: DatasetBase, recipe: Recipe, command: str) -> str:
    """Text of ``<out>/<recipe>_<name>.py``: the recipe (first base) on the dataset base."""
    n = base.name
    lines = _comment(f'{recipe.summary}: its recipe (the first base) on the {n} splits.')
    lines += [f'# {WRITTEN}', f'#   {command}']
    bases = [f"'../_base_/recipes/{recipe.stem}.py'", f"'../_base_/datasets/{n}.py'"]
    one_line = f'_base_ = [{", ".join(bases)}]'
    lines += [one_line] if len(one_line) <= WIDTH else [f'_base_ = [{bases[0]},', f'          {bases[1]}]']
    head = f'num_classes={{{{_base_.{n}_num_classes}}}}'
    for key in reversed(recipe.head):
        head = f'{key}=dict({head})'
    lines += ['', f'model = dict({head})']
    for split in ('train', 'val', 'test'):
        depth = recipe.wrappers.get(split, 0)
        lines.append(f'{split}_dataloader = dict(dataset=' + 'dict(dataset=' * depth
                     + f'{{{{_base_.{n}_{split}}}}}' + ')' * depth + ')')
    lines += [f'val_evaluator = {{{{_base_.{n}_val_evaluator}}}}',
              f'test_evaluator = {{{{_base_.{n}_test_evaluator}}}}']
    return '\n'.join(lines) + '\n'


def plan_configs(data_dir: str, models: Sequence[str] = ('all',), out: str | None = None,
                 name: str | None = None, palette: Sequence[str] | None = None) -> Plan:
    """Every file to write for ``data_dir`` and the recipes ``models`` names; nothing is written.

    The dataset base goes to ``<out>/../_base_/datasets/<name>.py``, model configs to
    ``<out>/<recipe>_<name>.py``; recipes are read from ``<out>/../_base_/recipes/``, which the
    written configs name as ``../_base_/recipes/``.
    """
    root = config_root(data_dir)
    name = dataset_name(data_dir, name)
    out = osp.normpath(out or osp.join('configs', name))
    out = osp.relpath(out) if osp.isabs(out) else out  # the headers hold no absolute path
    recipes_dir = osp.join(osp.dirname(osp.abspath(out)), '_base_', 'recipes')
    shown_recipes = osp.normpath(osp.join(out, '..', '_base_', 'recipes'))
    if not osp.isdir(recipes_dir):
        raise ConfigWriterError(f'{shown_recipes} does not exist: --out must be a folder beside '
                                f'configs/_base_/ (e.g. configs/{name}), where ../_base_/recipes/ resolves')
    classes, has_test = read_classes(data_dir)
    colours = parse_palette(palette, classes, data_dir) if palette else default_palette(len(classes))
    stems = select_recipes(models, list_recipes(recipes_dir), shown_recipes)
    base = DatasetBase(name, root, classes, colours, has_test, make_command(root, name, out, palette and colours))
    plan = Plan()
    plan.files[osp.normpath(osp.join(out, '..', '_base_', 'datasets', f'{name}.py'))] = render_base(base)
    for stem in stems:
        recipe = load_recipe(osp.join(recipes_dir, f'{stem}.py'))
        command = make_command(root, name, out, palette and colours, [stem])
        path = osp.join(out, f'{stem}_{name}.py')
        plan.files[path] = render_model(base, recipe, command)
        plan.configs.append(path)
    return plan


def changed_files(files: dict[str, str]) -> list[str]:
    """Paths among ``files`` that exist with other content than the one planned."""
    return [path for path, text in files.items() if osp.lexists(path) and not _holds(path, text)]


def _holds(path: str, text: str) -> bool:
    try:
        with open(path, encoding='utf-8', newline='') as f:
            return f.read() == text
    except (OSError, UnicodeDecodeError):
        return False


def write_files(files: dict[str, str]) -> list[tuple[str, str]]:
    """Write ``files``; ``(path, 'wrote' | 'unchanged')`` for each."""
    done = []
    for path, text in files.items():
        if osp.isfile(path) and _holds(path, text):
            done.append((path, 'unchanged'))
            continue
        os.makedirs(osp.dirname(path) or '.', exist_ok=True)
        with open(path, 'w', encoding='utf-8', newline='\n') as f:
            f.write(text)
        done.append((path, 'wrote'))
    return done


def check_configs(paths: Sequence[str]) -> list[str]:
    """Problems of the configs at ``paths``: failing to load, or :func:`check_config`'s findings."""
    problems = []
    for path in paths:
        try:
            cfg: Any = read_config(path)
        except Exception as err:  # noqa: BLE001  a config can fail to load in many ways
            problems.append(f'{path} does not load: {err}')
            continue
        problems += [f'{path}: {problem}' for problem in check_config(cfg)]
    return problems
