"""K-fold cross-validation: one training per fold, each scored on its held-out fold, and a report.

    python tools/kfold.py CONFIG --k 5 [--seed S] [--work-dir DIR] [--epochs N] [--cfg-options ...]
    python tools/kfold.py CONFIG --k 5 --fold 2      # one fold (a separate process or job)
    python tools/kfold.py CONFIG --k 5 --gather      # the report from the folds done so far

The folds split the config's train + val images (trainval.json when the converter wrote one),
stratified by class and fixed by --seed; the test split is never used. A rerun skips finished
folds and continues an interrupted one from its newest checkpoint. Writes WORK_DIR/kfold.json,
kfold_report.md (per-fold and mean ± std mAP50, mAP50:95, per-class AP50, the out-of-fold mAP of
all held-out detections pooled) and plots/kfold_folds.png.
"""
import argparse
import os.path as osp
import sys

from custom.experiments import ExperimentError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file to cross-validate')
    parser.add_argument('--k', type=int, default=5, help='number of folds (default %(default)s)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the folds and of every training (default 0)')
    parser.add_argument('--work-dir', help='default: work_dirs/kfold/<config name>_k<K>_s<seed>')
    parser.add_argument('--fold', type=int, nargs='+', metavar='I', help='run only these folds (0-based)')
    parser.add_argument('--gather', action='store_true', help='train nothing: write the report from finished folds')
    parser.add_argument('--epochs', type=int, help='train each fold this many epochs, the schedule compressed to fit')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='override config keys for every fold (mmengine DictAction syntax)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from custom.experiments.kfold import REPORT_MD, KFoldRun
    work_dir = args.work_dir or osp.join('work_dirs', 'kfold',
                                         f'{osp.splitext(osp.basename(args.config))[0]}_k{args.k}_s{args.seed}')
    try:
        run = KFoldRun(args.config, args.k, args.seed, work_dir, args.cfg_options, args.epochs)
        if not args.gather:
            for i in args.fold if args.fold is not None else range(args.k):
                print(f'fold {i} of 0..{args.k - 1}: training on the other folds, scoring on its '
                      f'{run.fold_images(i)} images')
                status = run.run_fold(i)
                metrics = run.fold_metrics(i) or {}
                print(f'fold {i}: {status}; held-out mAP50 {metrics.get("mAP50", float("nan")):.3f}, '
                      f'mAP50:95 {metrics.get("mAP50:95", float("nan")):.3f}')
        report = run.gather()
    except (ExperimentError, FileNotFoundError, ValueError, KeyError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    mean, std = report['mean'], report['std']
    if mean['mAP50'] is not None:
        print(f'{args.k}-fold mean ± std: mAP50 {mean["mAP50"]:.3f} ± {std["mAP50"]:.3f}, '
              f'mAP50:95 {mean["mAP50:95"]:.3f} ± {std["mAP50:95"]:.3f}')
    if report['oof']:
        print(f'out-of-fold: mAP50 {report["oof"]["mAP50"]:.3f}, mAP50:95 {report["oof"]["mAP50:95"]:.3f}')
    if report['missing_folds']:
        print(f'folds not done yet: {report["missing_folds"]}')
    print(f'report: {osp.join(work_dir, REPORT_MD)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
