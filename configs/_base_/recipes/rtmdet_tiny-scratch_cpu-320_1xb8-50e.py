# RTMDet-tiny at 320 px trained from scratch on a 2-core CPU (the YOLO-family recipe: mosaic +
# mixup, AdamW, EMA, last epochs without mosaic). For any dataset: a config in configs/<dataset>/
# adds its dataset base, num_classes and the three datasets (see configs/bccd/rtmdet_tiny-*_bccd.py).
_base_ = 'mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py'
custom_imports = dict(imports=['custom.modules'], allow_failed_imports=False)

img = 320           # train/test input size (mmdet: 640)
max_epochs = 50     # whole schedule; the last `stage2_epochs` train without mosaic/mixup
stage2_epochs = 5
batch_size = 8      # one process; auto_scale_lr scales base_lr from this size
base_lr = 0.002     # AdamW (mmdet: 0.004 at batch 256); tuned on BCCD val
warmup_iters = 200  # ~5 epochs of BCCD trainval at batch 8

model = dict(backbone=dict(init_cfg=None),  # no ImageNet weights offline; mmdet's init_cfg loads them
             data_preprocessor=dict(type='ChannelsLastDetDataPreprocessor'))  # NHWC on CPU (docs/cpu_training.md)
_pad = dict(type='Pad', size=(img, img), pad_val=dict(img=(114, 114, 114)))
train_pipeline = [  # mmdet's RTMDet-tiny pipeline with every size halved
    dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
    dict(type='CachedMosaic', img_scale=(img, img), pad_val=114.0, max_cached_images=20, random_pop=False),
    dict(type='RandomResize', scale=(2 * img, 2 * img), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=(img, img)), dict(type='YOLOXHSVRandomAug'),
    dict(type='RandomFlip', prob=0.5), _pad,
    dict(type='CachedMixUp', img_scale=(img, img), ratio_range=(1.0, 1.0), max_cached_images=10,
         random_pop=False, pad_val=(114, 114, 114), prob=0.5),
    dict(type='PackDetInputs')]
stage2_pipeline = [
    dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomResize', scale=(img, img), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=(img, img)), dict(type='YOLOXHSVRandomAug'),
    dict(type='RandomFlip', prob=0.5), _pad, dict(type='PackDetInputs')]
test_pipeline = [
    dict(type='LoadImageFromFile'), dict(type='Resize', scale=(img, img), keep_ratio=True), _pad,
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))]

train_dataloader = dict(batch_size=batch_size, num_workers=2, persistent_workers=True, pin_memory=False,
                        dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=8, num_workers=2, dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(batch_size=8, num_workers=2, dataset=dict(pipeline=test_pipeline))

train_cfg = dict(max_epochs=max_epochs, val_interval=10, dynamic_intervals=[(max_epochs - stage2_epochs, 5)])
optim_wrapper = dict(optimizer=dict(lr=base_lr))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', eta_min=base_lr * 0.05, begin=0, end=max_epochs, T_max=max_epochs,
         by_epoch=True, convert_to_iter_based=True)]
custom_hooks = [
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0002, update_buffers=True, priority=49),
    dict(type='PipelineSwitchHook', switch_epoch=max_epochs - stage2_epochs, switch_pipeline=stage2_pipeline)]
auto_scale_lr = dict(base_batch_size=batch_size)
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=2, save_best='coco/bbox_mAP_50', rule='greater'),
                     logger=dict(interval=10))
