"""Check an exported file against its checkpoint on an annotated split: same boxes, same mAP.

    python tools/deployment/check_onnx.py CONFIG CHECKPOINT model.onnx --ann data/bccd/annotations/test.json
        --img-root data/bccd/images

Prints the boxes above score 0.05 matched at IoU >= 0.99 with scores within 1e-3 (and those that are
not), and the mAP50 / mAP50:95 of PyTorch and onnxruntime side by side. Exit status 1 when a box is
unmatched or the mAPs differ by more than ``--map-tol``.
"""
import argparse
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file the checkpoint was trained with')
    parser.add_argument('checkpoint', help='checkpoint file (.pth)')
    parser.add_argument('onnx', help='the file tools/deployment/export_onnx.py wrote from it')
    parser.add_argument('--ann', required=True, help='COCO annotation file of the split')
    parser.add_argument('--img-root', required=True, help='folder its file_name entries are relative to')
    parser.add_argument('--map-tol', type=float, default=0.002, help='largest mAP difference accepted (0.002)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from custom.deployment.dataset_check import check_split
    found = check_split(args.config, args.checkpoint, args.onnx, args.ann, args.img_root)
    print(f'{found.images} images: {found.matched} boxes matched (min IoU {found.min_iou:.6f}, max score '
          f'difference {found.max_score_diff:.2e}), {found.unmatched} unmatched, {found.tied} tied')
    for key in ('mAP50', 'mAP50:95'):
        print(f'{key}: pytorch {found.map_pytorch[key]:.4f}  onnxruntime {found.map_onnx[key]:.4f}')
    gap = max(abs(found.map_pytorch[k] - found.map_onnx[k]) for k in found.map_pytorch)
    return 0 if found.unmatched == 0 and gap <= args.map_tol else 1


if __name__ == '__main__':
    sys.exit(main())
