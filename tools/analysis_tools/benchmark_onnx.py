"""PyTorch CPU vs onnxruntime CPU, side by side: ms/img at batch 1, images/s at batch 8, video frames/s.

    python tools/analysis_tools/benchmark_onnx.py CONFIG [CONFIG ...] [--checkpoints CKPT ...]
        [--work-dir work_dirs/benchmark_onnx] [--images 16] [--repeats 3] [--no-video] [--threads N]

Each config is exported (tools/deployment/export_onnx.py) into WORK_DIR and both backends are timed on the
shipped BCCD sample images; without --checkpoints the models have seeded random weights. Prints a markdown
table (see custom/deployment/speed.py for what is timed).
"""
import argparse
import os
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('configs', nargs='+', metavar='CONFIG', help='configs to time')
    parser.add_argument('--checkpoints', nargs='+', default=[], metavar='CKPT',
                        help='one trained checkpoint per CONFIG (default: seeded random weights)')
    parser.add_argument('--work-dir', default='work_dirs/benchmark_onnx', help='ONNX files, checkpoints, videos')
    parser.add_argument('--images', type=int, default=16, help='sample images per round (default 16)')
    parser.add_argument('--repeats', type=int, default=3, help='timed rounds, median reported (default 3)')
    parser.add_argument('--no-video', action='store_true', help='skip the end-to-end video run')
    parser.add_argument('--threads', type=int, default=0, help='threads for both backends (default: all cores)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.checkpoints and len(args.checkpoints) != len(args.configs):
        print(f'error: {len(args.checkpoints)} --checkpoints for {len(args.configs)} configs', file=sys.stderr)
        return 2
    import glob

    import torch

    from custom.deployment.export import export_onnx
    from custom.deployment.runtime import load_onnx_detector
    from custom.deployment.speed import measure, sample_video, table
    from custom.deployment.seeded import seeded_checkpoint
    from custom.inference.detector import load_detector
    from custom.inference.media import read_image
    if args.threads:
        torch.set_num_threads(args.threads)
    os.makedirs(args.work_dir, exist_ok=True)
    paths = sorted(glob.glob('datasets/bccd_sample/JPEGImages/*.jpg'))[:args.images]
    images = [read_image(p) for p in paths]
    video = None if args.no_video else sample_video(images, os.path.join(args.work_dir, 'sample.mp4'))
    rows = []
    for i, config in enumerate(args.configs):
        stem = os.path.splitext(os.path.basename(config))[0]
        checkpoint = args.checkpoints[i] if args.checkpoints else seeded_checkpoint(
            config, os.path.join(args.work_dir, f'{stem}.pth'))
        onnx_file = export_onnx(config, checkpoint, os.path.join(args.work_dir, f'{stem}.onnx')).path
        work = os.path.join(args.work_dir, stem)
        torch_speed = measure(load_detector(config, checkpoint, score_thr=0.3), config, images, args.repeats,
                              video, work + '_pytorch')
        ort_speed = measure(load_onnx_detector(onnx_file, 0.3, threads=args.threads), config, images,
                            args.repeats, video, work + '_onnxruntime')
        rows.append((stem, torch_speed, ort_speed))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    print(f'\n{torch.get_num_threads()} threads, {len(images)} images'
          + ('' if args.checkpoints else ', seeded random weights') + '\n' + table(rows))
    return 0


if __name__ == '__main__':
    sys.exit(main())
