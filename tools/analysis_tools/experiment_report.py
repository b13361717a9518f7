"""Answer the questions asked about every detector handed in, from the saved configs and logs of its runs.

    python tools/analysis_tools/experiment_report.py WORK_DIR... [--out DIR]
    python tools/analysis_tools/experiment_report.py work_dirs/a work_dirs/kfold/b work_dirs/tune/c \\
        --benchmark reports/bench/report.json --out reports/experiments

Each WORK_DIR is a training work dir (tools/train.py), a K-fold run (tools/kfold.py, kfold.json) or a
tuning study (tools/tune.py, tune.json). DIR gets experiment_report.md (plots linked),
experiment_report.html (plots embedded: it stands alone) and plots/. The questions: Q1 optimizer and
loss functions; Q2 the first architecture tried and Q3 the later ones (by training start time) with
test and val mAP, params and speed; Q4 what acts against over-fitting and the train-vs-val gap; Q5
batch size, epochs, learning rate and schedule, with a tuning study's evidence. Speed (ms/img) comes
only from a benchmark report.json row for the work dir (--benchmark); nothing is timed here.
"""
from __future__ import annotations

import argparse
import sys

from custom.experiments import ExperimentError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('work_dirs', nargs='+', metavar='WORK_DIR', help='training, K-fold or tuning work dirs')
    parser.add_argument('--out', default='work_dirs/experiment_report',
                        help='report folder (default %(default)s)')
    parser.add_argument('--benchmark', nargs='+', default=[], metavar='REPORT_JSON',
                        help="benchmark report.json files: ms/img and params of the work dirs they list")
    parser.add_argument('--no-params', action='store_true',
                        help='do not count parameters (that builds each model on the meta device: imports torch '
                        'and mmdet)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from custom.experiments.report import read_benchmark_rows, read_experiments
    try:
        rows = read_benchmark_rows(args.benchmark)
        experiments = read_experiments(args.work_dirs, rows, with_params=not args.no_params)
    except (ExperimentError, FileNotFoundError, ValueError, KeyError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    from custom.experiments.report_render import write_report
    paths = write_report(experiments, args.out)
    for e in experiments:
        for note in e.notes:
            print(f'warning: {note}', file=sys.stderr)
    print(f"report: {paths['html']} (also {paths['md'].name})")
    return 0


if __name__ == '__main__':
    sys.exit(main())
