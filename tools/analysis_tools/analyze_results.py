"""Every metric, plot and picture of tools/test.py from saved detections, without inference.

    python tools/analysis_tools/analyze_results.py CONFIG RESULTS [--work-dir DIR] [--split test|val]
        [--ann-file FILE] [--score-thr T] [--evaluator fast|pycocotools] [--train-dir DIR]
        [--num-ranked 8] [--num-pred-images 100] [--no-pictures] [--cfg-options ...]

RESULTS is a COCO results JSON (``WORK_DIR/detections.bbox.json`` of tools/test.py, or any
list of {image_id, category_id, bbox: [x, y, w, h], score}) or the .pkl of ``tools/test.py
--out``. The ground truth, image folder, classes and palette come from the config's
``<split>_dataloader`` (``--ann-file`` overrides the annotation file). Writes
WORK_DIR/metrics_analysis.json, per_image.csv, plots/ and images/ (default WORK_DIR: the
folder of RESULTS).
"""
import argparse
import os.path as osp
import sys

from mmengine.config import DictAction

from custom.engine.config import dataset_info, read_config
from custom.evaluation.analysis import run_analysis
from custom.evaluation.metrics import EVALUATORS
from custom.evaluation.results_io import ResultsError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Metrics, plots and pictures from saved detections')
    parser.add_argument('config', help='the config the detections were made with')
    parser.add_argument('results', help='COCO results .json (e.g. WORK_DIR/detections.bbox.json) or test.py --out .pkl')
    parser.add_argument('--work-dir', help='output folder (default: the folder of RESULTS)')
    parser.add_argument('--split', choices=('test', 'val', 'train'), default='test',
                        help='which dataloader of the config holds the ground truth (default test)')
    parser.add_argument('--ann-file', help='ground-truth COCO JSON (default: the split\'s, from the config)')
    parser.add_argument('--score-thr', type=float, default=None,
                        help='threshold of the confusion matrix, per-image errors and pictures '
                        '(default: the best overall F1)')
    parser.add_argument('--evaluator', choices=EVALUATORS, default='fast')
    parser.add_argument('--train-dir', help='training work dir for plots/training_curves.png '
                        '(default: none; tools/test.py uses the checkpoint\'s folder)')
    parser.add_argument('--num-ranked', type=int, default=8, help='worst and best images to draw (default 8 each)')
    parser.add_argument('--num-pred-images', type=int, default=100,
                        help='images to draw predictions on, in id order (default 100, -1: all)')
    parser.add_argument('--no-pictures', action='store_true', help='metrics and plots only')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config keys')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    # the dataset keys are all that is needed: no custom_imports, so no torch/mmdet import for a JSON
    cfg = read_config(args.config, args.cfg_options, import_custom_modules=False)
    info = dataset_info(cfg, args.split)
    work_dir = args.work_dir or osp.dirname(osp.abspath(args.results))
    try:
        run_analysis(args.ann_file or info['ann_file'], args.results, work_dir, classes=info['classes'],
                     palette=info['palette'], img_root=None if args.no_pictures else info['img_root'],
                     score_thr=args.score_thr, evaluator=args.evaluator, num_ranked=args.num_ranked,
                     num_predictions=args.num_pred_images, train_dir=args.train_dir,
                     metrics_name='metrics_analysis', max_dets=info['max_dets'],
                     extra={'config': args.config, 'split': args.split})
    except (ResultsError, FileNotFoundError) as exc:
        sys.exit(f'error: {exc}')


if __name__ == '__main__':
    main()
