"""Hyper-parameter search with Optuna (TPE sampler, median pruning on validation mAP).

    python tools/tune.py CONFIG --trials N [--storage sqlite:///DIR/tune.db] [--space SPACE.yaml]
        [--work-dir DIR] [--epochs N] [--cfg-options KEY=VALUE ...]

Each trial trains CONFIG with sampled values (default space: lr, weight decay, batch size, epochs,
input size, augmentation strength around the config's own; --space replaces it, see
custom/experiments/search_space.py) and is scored by its best validation mAP; a trial whose
validation mAP falls below the median of earlier trials at the same epoch stops early. The study is
kept in --storage (default sqlite:///WORK_DIR/tune.db): run the same command again to continue
it, or start it in several processes (or machines, with a PostgreSQL URL) to share it; --trials
counts finished trials of the whole study. Writes WORK_DIR/best_config.py (inherits CONFIG),
trials.csv, tune_report.md, tune.json and plots/. Tune on val; test the best config once.
"""
import argparse
import os.path as osp
import sys

from custom.experiments import ExperimentError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file to tune')
    parser.add_argument('--trials', type=int, required=True, help='finished trials the study should hold')
    parser.add_argument('--storage', help='Optuna RDB URL (default: sqlite:///WORK_DIR/tune.db)')
    parser.add_argument('--study-name', help='default: the config file name')
    parser.add_argument('--space', help='YAML search space replacing the default one')
    parser.add_argument('--work-dir', help='default: work_dirs/tune/<config name>')
    parser.add_argument('--epochs', type=int, help='base epochs of every trial, the schedule compressed to fit '
                        '(the default space then varies 50-100%% of it)')
    parser.add_argument('--metric', help='validation metric to maximise (default: the config\'s save_best, '
                        'e.g. coco/bbox_mAP_50)')
    parser.add_argument('--seed', type=int, help='sampler seed (give each process its own) and training seed')
    parser.add_argument('--no-prune', action='store_true', help='train every trial to the end')
    parser.add_argument('--startup-trials', type=int, default=3, help='trials never pruned, before the median '
                        'is trusted (default %(default)s)')
    parser.add_argument('--warmup-epochs', type=int, default=1, help='epochs of each trial never pruned '
                        '(default %(default)s)')
    parser.add_argument('--heartbeat', type=int, default=60, help='seconds between a trial\'s heartbeats; a trial '
                        'silent for twice that is failed and retried, resuming its checkpoints (default %(default)s)')
    parser.add_argument('--report-only', action='store_true', help='run no trial: write the report of the study')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='override config keys for every trial (mmengine DictAction syntax)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from custom.experiments.search_space import load_space
    from custom.experiments.tune_report import REPORT_MD, write_tune_report
    from custom.experiments.tuning import Tuner
    work_dir = args.work_dir or osp.join('work_dirs', 'tune', osp.splitext(osp.basename(args.config))[0])
    try:
        tuner = Tuner(args.config, work_dir, args.storage, args.study_name,
                      load_space(args.space) if args.space else None, args.cfg_options, args.metric, args.seed,
                      args.startup_trials, args.warmup_epochs, args.heartbeat, prune=not args.no_prune,
                      epochs=args.epochs)
        study = tuner.study() if args.report_only else tuner.optimize(args.trials)
        best_config = tuner.write_best_config(study)
        report = write_tune_report(study, tuner, best_config)
    except (ExperimentError, FileNotFoundError, ValueError, KeyError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    print(f'trials: {report["trials"]}')
    if report['best']:
        print(f'best: trial {report["best"]["number"]}, {tuner.metric} {report["best"]["value"]:.4f}; '
              f'config {best_config}')
    print(f'report: {osp.join(work_dir, REPORT_MD)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
