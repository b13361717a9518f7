# Face-mask's CPU recipe from scratch for a 60-minute budget on 2 cores with bf16 (49 min on an AMD EPYC with
# AVX512-BF16; 30 epochs took 66-84 min in fp32 on an Intel Xeon): the 416 px YOLOv3 MobileNetV2 with
# the settings tools/tune.py chose on BCCD val (batch 4, lr, weight decay, augmentation strength); the rare
# class (mask_weared_incorrect, 3 % of the boxes) has its images sampled more often by mmengine's
# ClassBalancedDataset and its positive classification terms weighted 5x (docs/benchmarks.md, "Face-mask in
# 60 minutes", "A class weight", "Class weight 5"); 45 epochs ("45 epochs"), 1-22 at 256-352 px, the rest at
# 320-416 ("Progressive resizing"). Training time measured on 2 cores: docs/benchmarks.md and the README's table.
_base_ = './yolov3_mobilenetv2-scratch_cpu-ms-416_1xb8-36e_face_mask.py'

max_epochs = 45         # 6,120 iterations: an epoch is 541 images at oversample_thr 0.3 (51 rare-class images twice)
milestones = [36, 42]   # lr x0.1 at these epochs (80 % and 93 %)
batch_size = 4          # every batch-4 trial of the BCCD tuning study beat every batch-8 one
base_lr = 0.0043        # BCCD tuning study, trial 4 (lr 0.0043, weight decay 0.0011)
weight_decay = 0.0011
warmup_iters = 200
aug_strength = 0.71     # Expand up to 1.71x, photometric deltas x0.71 (the study's value)
oversample_thr = 0.3    # images with a class in under 30 % of images repeat ceil(sqrt(0.3 / share)) times
rare_class_weight = 5.0  # mask_weared_incorrect's positive classification terms x5 (chosen on val against 3, 2 seeds)
nms_iou = 0.55          # test-time NMS IoU chosen on val (mmdet's YOLOv3: 0.45), with scores down to 0.001
tta_wbf_iou = 0.6       # --tta: the 6 augmented predictions fused by weighted boxes fusion at this IoU (val)
tta_wbf_conf = 'max'    # a fused box keeps its best view's score, not scaled down by the views missing it (val)
tta_ratios = [1, 1.2, 1.4, 1.6]  # --tta views: 416, 512, 576, 672 px, each flipped and not (val; default 1, 0.83, 1.2)
early_scale = [(256, 256), (352, 352)]  # first epochs' RandomResize range (val, 2 seeds; 0.71x the step in fp32 only)
scale_switch_epoch = 22  # 0-based: from epoch 23 on, TrainScaleSwitchHook sets train_scale
train_scale = [(320, 320), (416, 416)]  # the range of the rest of training, the test size 416 at its top

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Expand', mean=[123.675, 116.28, 103.53], to_rgb=True, ratio_range=(1.0, 1.0 + aug_strength)),
    dict(type='MinIoURandomCrop', min_ious=(0.4, 0.5, 0.6, 0.7, 0.8, 0.9), min_crop_size=0.3),
    dict(type='RandomResize', scale=early_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion', brightness_delta=round(32 * aug_strength),
         contrast_range=(1 - 0.5 * aug_strength, 1 + 0.5 * aug_strength),
         saturation_range=(1 - 0.5 * aug_strength, 1 + 0.5 * aug_strength), hue_delta=round(18 * aug_strength)),
    dict(type='PackDetInputs')]
train_dataloader = dict(batch_size=batch_size, dataset=dict(
    _delete_=True, type='ClassBalancedDataset', oversample_thr=oversample_thr,
    dataset=dict(type='CocoDataset', data_root={{_base_.face_mask_root}}, metainfo={{_base_.face_mask_metainfo}},
                 ann_file='annotations/train.json', data_prefix=dict(img='images/'),
                 filter_cfg=dict(filter_empty_gt=True, min_size=0), pipeline=train_pipeline)))
custom_hooks = [dict(type='TrainScaleSwitchHook', switch_epoch=scale_switch_epoch, scale=train_scale)]
auto_scale_lr = dict(base_batch_size=batch_size)  # base_lr is for batch 4; --auto-scale-lr scales from it
train_cfg = dict(max_epochs=max_epochs)
optim_wrapper = dict(optimizer=dict(lr=base_lr, weight_decay=weight_decay))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='MultiStepLR', by_epoch=True, milestones=milestones, gamma=0.1)]
model = dict(bbox_head=dict(loss_cls=dict(class_weight=[rare_class_weight, 1.0, 1.0])),  # class order: metainfo
             test_cfg=dict(score_thr=0.001, conf_thr=0.001, max_per_img=300,  # mmdet: 0.05, 0.005, 100
                           nms=dict(iou_threshold=nms_iou)))
tta_model = dict(type='WBFDetTTAModel', tta_cfg=dict(wbf=dict(iou_thr=tta_wbf_iou, conf_type=tta_wbf_conf),
                                                        max_per_img=300))
