"""Fuse several models' detections into one ensemble result by weighted boxes fusion, without inference.

    python tools/analysis_tools/ensemble.py RESULTS.json RESULTS.json [...] --out fused.json
        [--weights W W ...] [--iou-thr 0.55] [--skip-box-thr 0] [--conf-type avg|max|box_and_model_avg|
        absent_model_aware_avg] [--ann ANN.json [--max-dets 100 300 1000]]

Each RESULTS.json is a COCO results file of one model on the same images (``WORK_DIR/detections.bbox.json``
of tools/test.py). The fused file is COCO results in pixels, for analyze_results.py like any other.
With ``--ann`` the inputs are checked against the annotation file's images and classes, and the COCO
mAP50 and mAP50:95 of each input and of the fused result are printed side by side. The work is done
by :mod:`custom.evaluation.fusion`.
"""
import argparse
import sys

from custom.engine.config import COCO_MAX_DETS
from custom.evaluation.fusion import CONF_TYPES, FusionError, format_scores, fuse_files, score_files
from custom.evaluation.results_io import ResultsError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Weighted boxes fusion of several models\' COCO results')
    parser.add_argument('results', nargs='+',
                        help='COCO results .json of each model (e.g. WORK_DIR/detections.bbox.json)')
    parser.add_argument('--out', required=True, help='where the fused COCO results .json goes')
    parser.add_argument('--weights', type=float, nargs='+', help='one weight per results file (default: 1 each)')
    parser.add_argument('--iou-thr', type=float, default=0.55, help='IoU above which boxes fuse (default 0.55)')
    parser.add_argument('--skip-box-thr', type=float, default=0.0,
                        help='leave out input boxes scoring below this (default 0: none)')
    parser.add_argument('--conf-type', choices=CONF_TYPES, default='avg',
                        help='how a fused box\'s score is made (mmdet\'s weighted_boxes_fusion; default avg)')
    parser.add_argument('--ann', help='COCO annotation file of the images: check the inputs against it and print '
                        'mAP50 and mAP50:95 of each input and of the fused result')
    parser.add_argument('--max-dets', type=int, nargs=3, default=list(COCO_MAX_DETS), metavar='N',
                        help='--ann: COCO maxDets (default 100 300 1000, as mmdet\'s CocoMetric; RTMDet configs: '
                        '1 10 100)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        result = fuse_files(args.results, args.out, args.weights, args.iou_thr, args.skip_box_thr, args.conf_type,
                            args.ann)
        print(f'fused {" + ".join(map(str, result.input_counts))} detections of {len(result.inputs)} files '
              f'(weights {list(result.weights)}) on {result.images} images into {result.count}: {args.out}')
        if any(result.zero_area):
            print(f'left out boxes without area: {list(result.zero_area)} (one count per file)')
        if args.ann:
            print(format_scores(score_files(args.ann, [*args.results, args.out], sorted(args.max_dets))))
    except (FusionError, ResultsError, FileNotFoundError) as exc:
        sys.exit(f'error: {exc}')


if __name__ == '__main__':
    main()
