# YOLOv3 MobileNetV2 at 320 px (mmdet's 320 px anchors) from scratch on a 2-core CPU.
# A recipe for any dataset: configs/<dataset>/yolov3_mobilenetv2-scratch_cpu-320_1xb8-60e_<dataset>.py adds the dataset
# base, num_classes and datasets. Inherits mmdet's model, pipeline and schedule; sets what differs.
_base_ = 'mmdet::yolo/yolov3_mobilenetv2_8xb24-320-300e_coco.py'
custom_imports = dict(imports=['custom.modules'], allow_failed_imports=False)

max_epochs = 60         # ~1560 iterations on BCCD train (205 images) at batch 8
milestones = [48, 56]   # lr x0.1 at these epochs (mmdet: 24 and 28 of 30)
batch_size = 8          # one process; auto_scale_lr scales base_lr from this size
base_lr = 0.003         # SGD, mmdet's lr at its 24 a GPU kept (not scaled down): from scratch, grad-clipped
warmup_iters = 200      # linear warm-up (mmdet: 4000 iterations)

model = dict(backbone=dict(init_cfg=None),  # no ImageNet weights offline; mmdet's init_cfg loads them
             bbox_head=dict(type='ClippedYOLOV3Head'),  # mmdet's head, boxes clipped to the image at test time
             data_preprocessor=dict(type='ChannelsLastDetDataPreprocessor'))  # NHWC on CPU: 1.2-1.9x faster training
train_dataloader = dict(  # mmdet's RepeatDataset wrapper kept, once through the data an epoch
    batch_size=batch_size, num_workers=2, dataset=dict(times=1))
val_dataloader = dict(batch_size=8, num_workers=2)
test_dataloader = dict(batch_size=8, num_workers=2)

train_cfg = dict(max_epochs=max_epochs, val_interval=10)
optim_wrapper = dict(type='CPUBf16OptimWrapper',  # bf16 autocast on CPUs with native bf16 (AVX512-BF16, AMX): ~1.5x
                     optimizer=dict(lr=base_lr))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='MultiStepLR', by_epoch=True, milestones=milestones, gamma=0.1)]
auto_scale_lr = dict(enable=False, base_batch_size=batch_size)
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=2, save_best='coco/bbox_mAP_50', rule='greater'),
                     logger=dict(interval=10))
