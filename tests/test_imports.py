"""Import boundaries of the package: what each path may pull in, and what custom/ may reach.

Each runtime check runs in a fresh interpreter, so that modules imported by other tests do not hide
an import.
"""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, SAMPLE

CUSTOM = REPO / 'custom'
HEAVY = ('torch', 'mmdet', 'mmcv', 'mmengine', 'matplotlib')
MAX_MODULE_LINES = 420  # "no module over ~400 lines"


def _imported_after(code: str, tmp_path: Path) -> set[str]:
    """Top-level packages among HEAVY that ``code`` leaves in ``sys.modules`` (fresh interpreter, repo root)."""
    probe = (f'import sys\n{code}\n'
             f'print("MODULES=" + __import__("json").dumps(sorted({{m.split(".")[0] for m in sys.modules}} '
             f'& set({HEAVY!r}))))')
    result = subprocess.run([sys.executable, '-c', probe], cwd=REPO, capture_output=True, text=True, timeout=300,
                            env={**os.environ, 'PYTHONPATH': str(REPO)})
    assert result.returncode == 0, result.stderr[-3000:]
    line = [x for x in result.stdout.splitlines() if x.startswith('MODULES=')][-1]
    return set(json.loads(line[len('MODULES='):]))


def test_conversion_cli_imports_no_torch_mmdet_or_matplotlib(tmp_path):
    out = tmp_path / 'out'
    code = ('import runpy\n'
            f'sys.argv = ["voc2coco.py", {str(SAMPLE)!r}, "--out-dir", {str(out)!r}, "--split", "0.8,0.2"]\n'
            'try:\n'
            '    runpy.run_path("tools/dataset_converters/voc2coco.py", run_name="__main__")\n'
            'except SystemExit as exit_:\n'
            '    assert not exit_.code, exit_.code\n')
    assert _imported_after(code, tmp_path) == set()
    assert (out / 'annotations' / 'train.json').is_file()  # the conversion really ran


def test_conversion_plots_import_matplotlib_only_when_asked(tmp_path):
    out = tmp_path / 'out'
    code = ('import runpy\n'
            f'sys.argv = ["voc2coco.py", {str(SAMPLE)!r}, "--out-dir", {str(out)!r}, "--plots"]\n'
            'try:\n'
            '    runpy.run_path("tools/dataset_converters/voc2coco.py", run_name="__main__")\n'
            'except SystemExit as exit_:\n'
            '    assert not exit_.code, exit_.code\n')
    assert _imported_after(code, tmp_path) == {'matplotlib'}
    assert (out / 'plots' / 'class_counts.png').stat().st_size > 1000


def test_resume_lookup_and_checkpoint_checks_import_no_torch(tmp_path):
    (tmp_path / 'epoch_1.pth').write_bytes(b'not a zip')
    code = ('from custom.engine.checkpoint_files import checkpoint_is_complete, find_resume_checkpoint\n'
            f'assert find_resume_checkpoint({str(tmp_path)!r})[0] is None\n'
            f'assert not checkpoint_is_complete({str(tmp_path / "epoch_1.pth")!r})\n')
    assert _imported_after(code, tmp_path) == set()


@pytest.mark.parametrize('module', ['custom', 'custom.datasets.coco_writer', 'custom.datasets.acquire',
                                    'custom.datasets.roboflow_source', 'custom.evaluation.analysis',
                                    'custom.evaluation.fusion', 'custom.engine.training_logs', 'custom.engine.tta',
                                    'custom.benchmark', 'custom.experiments.report', 'custom.experiments.kfold',
                                    'custom.experiments.tuning', 'custom.experiments.search_space',
                                    'custom.experiments.report_render'])
def test_light_modules_import_no_heavy_package(module, tmp_path):
    assert _imported_after(f'import {module}', tmp_path) == set()


def test_evaluation_plots_import_matplotlib_but_not_torch(tmp_path):
    code = 'import custom.visualization.eval_plots as p\np.pyplot()'
    assert _imported_after(code, tmp_path) == {'matplotlib'}


def _sources() -> list[Path]:
    return sorted(CUSTOM.rglob('*.py'))


def _docstring_nodes(tree: ast.AST) -> set[int]:
    nodes = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                nodes.add(id(first.value))
    return nodes


def test_custom_never_imports_or_runs_tools_by_path():
    offenders = []
    for path in _sources():
        tree = ast.parse(path.read_text())
        docstrings = _docstring_nodes(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                offenders += [f'{path}: import {a.name}' for a in node.names if a.name.split('.')[0] == 'tools']
            elif isinstance(node, ast.ImportFrom) and (node.module or '').split('.')[0] == 'tools':
                offenders.append(f'{path}: from {node.module} import ...')
            elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                  and re.fullmatch(r'(\./)?tools(/[\w./-]*)?', node.value)):  # a path, not a message
                offenders.append(f'{path}:{node.lineno}: {node.value!r}')
    assert offenders == []


def test_no_private_name_is_imported_from_another_module():
    offenders = []
    for path in [*_sources(), *sorted((REPO / 'tools').rglob('*.py'))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or '').startswith('custom'):
                offenders += [f'{path}: from {node.module} import {a.name}' for a in node.names
                              if a.name.startswith('_')]
            elif isinstance(node, ast.Attribute) and node.attr.startswith('_') and not node.attr.startswith('__'):
                base = node.value
                while isinstance(base, ast.Attribute):
                    base = base.value
                if isinstance(base, ast.Name) and base.id == 'custom':
                    offenders.append(f'{path}:{node.lineno}: custom...{node.attr}')
    assert offenders == []


def test_every_module_stays_readable():
    long = {str(p.relative_to(REPO)): n for p in [*_sources(), *sorted((REPO / 'tools').rglob('*.py'))]
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}
