"""The tuning report: trials table (CSV and Markdown), ``tune.json``, optimisation history and importance plots."""
from __future__ import annotations

import csv
import json
import re
import warnings
from pathlib import Path
from typing import Any, Mapping

REPORT_JSON = 'tune.json'
REPORT_MD = 'tune_report.md'
TRIALS_CSV = 'trials.csv'


def redact_url(url: str) -> str:
    """A storage URL with any password replaced by ``***``."""
    return re.sub(r'(//[^:/@]+:)[^@]+@', r'\1***@', url)


def trial_rows(study: Any) -> list[dict]:
    """One dict per trial: number, state, value, last reported epoch, seconds, host and each parameter."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        seconds = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete and \
            t.datetime_start else None
        rows.append({'number': t.number, 'state': t.state.name, 'value': t.value,
                     'epochs_reported': max(t.intermediate_values) if t.intermediate_values else None,
                     'seconds': round(seconds, 1) if seconds is not None else None,
                     'host': t.user_attrs.get('host'), **{f'param_{k}': v for k, v in t.params.items()}})
    return rows


def importances(study: Any) -> dict[str, float]:
    """Optuna's parameter importances (PED-ANOVA by default), {} while too few trials have finished."""
    import optuna
    try:
        return dict(optuna.importance.get_param_importances(study))
    except (ValueError, RuntimeError, ZeroDivisionError):
        return {}


def _plots(study: Any, out_dir: Path, have_importances: bool) -> dict[str, str]:
    from optuna.visualization import matplotlib as ovm
    from custom.visualization.mpl import pyplot, save_figure
    pyplot()
    files = {}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # optuna's matplotlib plots are marked experimental
        ax = ovm.plot_optimization_history(study)
        files['history'] = str(save_figure(ax.figure, out_dir / 'optimization_history.png'))
        if have_importances:
            ax = ovm.plot_param_importances(study)
            ax.figure.tight_layout()
            files['importances'] = str(save_figure(ax.figure, out_dir / 'param_importances.png'))
    return files


def write_tune_report(study: Any, tuner: Any, best_config: Path | None) -> dict:
    """Write ``tune.json``, ``trials.csv``, ``tune_report.md`` and the plots into the tuner's work dir."""
    work_dir = Path(tuner.work_dir)
    rows = trial_rows(study)
    states: dict[str, int] = {}
    for row in rows:
        states[row['state']] = states.get(row['state'], 0) + 1
    imp = importances(study)
    finished = [r for r in rows if r['state'] == 'COMPLETE']
    best = max(finished, key=lambda r: r['value']) if finished else None
    report = {'study': tuner.study_name, 'storage': redact_url(tuner.storage_url), 'config': tuner.config,
              'metric': tuner.metric, 'direction': 'maximize', 'space': tuner.space, 'cfg_options': tuner.cfg_options,
              'trials': states, 'best': best, 'best_config': str(best_config) if best_config else None,
              'importances': imp, 'rows': rows}
    report['plots'] = _plots(study, work_dir / 'plots', bool(imp)) if finished else {}
    (work_dir / REPORT_JSON).write_text(json.dumps(report, indent=1, default=str))
    keys = sorted({k for r in rows for k in r}, key=lambda k: (k.startswith('param_'), k))
    with open(work_dir / TRIALS_CSV, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    (work_dir / REPORT_MD).write_text(_markdown(report, keys, work_dir))
    return report


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f'{value:.4g}'
    return '-' if value is None else str(value)


def _markdown(report: Mapping[str, Any], keys: list[str], work_dir: Path) -> str:
    lines = [f'# Tuning: {report["study"]}', '',
             f'Config `{report["config"]}`; objective: best validation `{report["metric"]}` (maximised); storage '
             f'`{report["storage"]}`; trials by state: {report["trials"]}.', '']
    best = report['best']
    if best:
        params = {k[len('param_'):]: v for k, v in best.items() if k.startswith('param_')}
        lines += [f'Best: trial {best["number"]}, {report["metric"]} = {best["value"]:.4f}, params {params}; '
                  f'config: `{report["best_config"]}`.', '']
    if report['importances']:
        lines += ['Parameter importance (Optuna, PED-ANOVA): ' + ', '.join(
            f'{k} {v:.2f}' for k, v in report['importances'].items()), '']
    lines += ['| ' + ' | '.join(k.replace('param_', '') for k in keys) + ' |', '|---' * len(keys) + '|']
    for row in report['rows']:
        lines.append('| ' + ' | '.join(_cell(row.get(k)) for k in keys) + ' |')
    lines.append('')
    for name, path in report['plots'].items():
        lines += [f'![{name}]({Path(path).relative_to(work_dir)})', '']
    return '\n'.join(lines)
