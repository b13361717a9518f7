"""Plain-text tables of an evaluation summary, as ``tools/test.py`` prints them."""
from __future__ import annotations

from typing import Mapping


def _cell(value: float | None, width: int, digits: int = 3) -> str:
    return f'{value:{width}.{digits}f}' if value is not None else 'n/a'.rjust(width)



def format_report(summary: Mapping) -> str:
    """Plain-text tables of an :func:`evaluate_detections` summary."""
    lines = ['metric        value', '------------  ------']
    lines += [f'{name:<12}  {_cell(value, 6)}' for name, value in summary['overall'].items()]
    voc = summary.get('voc') or {}
    if voc:
        iou = int(round(voc['iou_thr'] * 100))
        lines.append(f'{f"VOC{iou} area":<12}  {_cell(voc["mAP"]["area"], 6)}')
        lines.append(f'{f"VOC{iou} 11pt":<12}  {_cell(voc["mAP"]["11points"], 6)}')
    f1 = summary.get('best_f1')
    if f1:
        o = f1['overall']
        thr = 'n/a' if o['score_thr'] is None else f'{o["score_thr"]:.3f}'
        lines += ['', f'best F1 over all classes (IoU {f1["iou_thr"]}): score >= {thr}: precision '
                  f'{o["precision"]:.3f}  recall {o["recall"]:.3f}  F1 {o["f1"]:.3f}  '
                  f'(TP {o["tp"]}, FP {o["fp"]}, FN {o["fn"]})']
    names = list(summary['per_class_AP50:95'])
    if names:
        width = max(12, *(len(n) for n in names))
        lines += ['', f'{"class":<{width}}  AP50:95   AP50  VOC-area  VOC-11pt  score_thr      P      R     F1',
                  f'{"-" * width}  -------  -----  --------  --------  ---------  -----  -----  -----']
        for n in names:
            voc_c = (voc.get('per_class') or {}).get(n, {})
            b = (f1 or {}).get('per_class', {}).get(n) or {}
            thr = b.get('score_thr')
            lines.append(f'{n:<{width}}  {_cell(summary["per_class_AP50:95"][n], 7)}  '
                         f'{_cell(summary["per_class_AP50"].get(n), 5)}  {_cell(voc_c.get("area"), 8)}  '
                         f'{_cell(voc_c.get("11points"), 8)}  {_cell(thr, 9)}  {_cell(b.get("precision"), 5)}  '
                         f'{_cell(b.get("recall"), 5)}  {_cell(b.get("f1"), 5)}')
    cm = summary.get('confusion_matrix')
    if cm:
        labels = cm['labels']
        width = max(10, *(len(n) for n in labels))
        lines += ['', f'confusion matrix (IoU {cm["iou_thr"]}, score >= {cm["score_thr"]:.3f}; rows: ground truth, '
                  f'columns: prediction)',
                  ' ' * width + ''.join(f'  {n[:width]:>{width}}' for n in labels)]
        for name, row in zip(labels, cm['matrix']):
            lines.append(f'{name:<{width}}' + ''.join(f'  {v:>{width}d}' for v in row))
    return '\n'.join(lines)
