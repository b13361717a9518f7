"""Train a config on BCCD's official trainval split for a fixed budget and report test mAP.

    python tools/analysis_tools/benchmark_bccd.py [--config CFG] [--epochs 50] [--voc-dir ../shared/datasets/bccd]

Runs the same CLI a user runs (convert, tools/train.py, tools/test.py) and prints one table:
training wall time, s/epoch, test mAP50 and mAP50:95 (COCO AP from tools/test.py's default
evaluator: the project's fast one, pycocotools' COCOeval rules and numbers).
Nothing is tuned on the test split: the config's hyper-parameters come from val.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from custom.engine.config import read_config, train_ann_key

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = 'configs/bccd/rtmdet_tiny-scratch_cpu-320_1xb8-50e_bccd.py'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--epochs', type=int, default=50, help='training budget in epochs')
    parser.add_argument('--voc-dir', default=str(REPO.parent / 'shared' / 'datasets' / 'bccd'),
                        help='the full BCCD in VOC layout (Annotations/, JPEGImages/, ImageSets/Main/)')
    parser.add_argument('--work-dir', default='work_dirs/benchmark_bccd')
    return parser.parse_args(argv)


def run(cmd, env):
    print('$', ' '.join(cmd), flush=True)
    subprocess.run([sys.executable, *cmd], cwd=REPO, env=env, check=True)


def main(argv=None):
    args = parse_args(argv)
    if not Path(args.voc_dir, 'Annotations').is_dir():
        sys.exit(f'error: {args.voc_dir} has no Annotations/: pass --voc-dir pointing at the full BCCD')
    data = REPO / 'data' / 'bccd'
    work = Path(args.work_dir)
    env = {**os.environ, 'BCCD_ROOT': f'{data}/'}
    run(['tools/dataset_converters/voc2coco.py', args.voc_dir, '--out-dir', str(data)], env)
    start = time.perf_counter()
    run(['tools/train.py', args.config, '--work-dir', str(work), '--cfg-options',
         f'train_cfg.max_epochs={args.epochs}', f'train_cfg.val_interval={args.epochs + 1}',
         f'{train_ann_key(read_config(str(REPO / args.config)))}=annotations/trainval.json',
         'default_hooks.checkpoint.save_best=None', 'randomness.seed=0'], env)
    train_s = time.perf_counter() - start
    run(['tools/test.py', args.config, str(work / f'epoch_{args.epochs}.pth'), '--work-dir', str(work)], env)
    metrics = json.loads((work / 'metrics_test.json').read_text())['overall']
    result = {'config': args.config, 'epochs': args.epochs, 'train_split': 'trainval (292 images)',
              'test_split': 'test (72 images)', 'train_wall_s': round(train_s, 1),
              's_per_epoch': round(train_s / args.epochs, 1), 'test_mAP50': metrics['mAP50'],
              'test_mAP50:95': metrics['mAP50:95'], 'cpu_count': os.cpu_count()}
    (work / 'benchmark.json').write_text(json.dumps(result, indent=2))
    print('\n| config | epochs | train wall | s/epoch | test mAP50 | test mAP50:95 |')
    print('|---|---|---|---|---|---|')
    print(f"| {Path(args.config).name} | {args.epochs} | {train_s / 60:.1f} min | {result['s_per_epoch']} "
          f"| {result['test_mAP50']:.3f} | {result['test_mAP50:95']:.3f} |")


if __name__ == '__main__':
    main()
