# BCCD's best CPU recipe from scratch, trained on the official trainval (292 images) for a 30-minute budget
# on 2 cores: YOLOv3 MobileNetV2 320 with the settings tools/tune.py chose on val and a schedule that
# fills the budget (docs/benchmarks.md#bccd-in-30-minutes-from-scratch, where each choice is measured on val).
# Chosen with train -> val: python tools/train.py THIS --cfg-options \
#   train_dataloader.dataset.dataset.ann_file=annotations/train.json
_base_ = './yolov3_mobilenetv2-scratch_cpu-320_1xb8-60e_bccd.py'

max_epochs = 32         # 2336 iterations on trainval at batch 4: 31-34 min measured on 2 cores (docs)
milestones = [26, 30]   # lr x0.1 at these epochs (the recipe's 80 % and 93 %)
batch_size = 4          # every batch-4 trial of the tuning study beat every batch-8 one
base_lr = 0.0043        # tuning study, trial 4 (lr 0.0043, weight decay 0.0011)
weight_decay = 0.0011
warmup_iters = 60
aug_strength = 0.71     # study's augmentation strength: Expand up to 1.71x, photometric deltas x0.71
nms_iou = 0.65          # test-time NMS IoU chosen on val (mmdet's YOLOv3: 0.45), with scores down to 0.001
tta_wbf_iou = 0.7       # --tta: the 6 augmented predictions fused by weighted boxes fusion at this IoU (val)

train_dataloader = dict(batch_size=batch_size, dataset=dict(dataset=dict(
    ann_file='annotations/trainval.json',  # official trainval: val is trained on, so its score is not held out
    pipeline=[
        dict(type='LoadImageFromFile', backend_args=None),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='Expand', mean=[123.675, 116.28, 103.53], to_rgb=True, ratio_range=(1.0, 1.0 + aug_strength)),
        dict(type='MinIoURandomCrop', min_ious=(0.4, 0.5, 0.6, 0.7, 0.8, 0.9), min_crop_size=0.3),
        dict(type='Resize', scale=(320, 320), keep_ratio=True),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PhotoMetricDistortion', brightness_delta=round(32 * aug_strength),
             contrast_range=(1 - 0.5 * aug_strength, 1 + 0.5 * aug_strength),
             saturation_range=(1 - 0.5 * aug_strength, 1 + 0.5 * aug_strength), hue_delta=round(18 * aug_strength)),
        dict(type='PackDetInputs')])))
auto_scale_lr = dict(base_batch_size=batch_size)  # base_lr is for batch 4; --auto-scale-lr scales from it
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(optimizer=dict(lr=base_lr, weight_decay=weight_decay))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='MultiStepLR', by_epoch=True, milestones=milestones, gamma=0.1)]
model = dict(test_cfg=dict(score_thr=0.001, conf_thr=0.001, max_per_img=300,  # mmdet: 0.05, 0.005, 100
                           nms=dict(iou_threshold=nms_iou)))
tta_model = dict(type='WBFDetTTAModel', tta_cfg=dict(wbf=dict(iou_thr=tta_wbf_iou), max_per_img=300))
