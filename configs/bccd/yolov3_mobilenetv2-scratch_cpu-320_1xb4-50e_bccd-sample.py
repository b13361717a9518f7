# The README demo without network: YOLOv3 MobileNetV2 320 from scratch on the 52-image sample shipped
# in datasets/bccd_sample (train 32 / val 8 / test 12), a few minutes on 2 cores. Of the CPU recipes it
# is the one that finds Platelets from 32 images (sample test AP50 0.49; RTMDet-tiny's demo: 0).
_base_ = './yolov3_mobilenetv2-scratch_cpu-320_1xb8-60e_bccd.py'

max_epochs = 50         # 400 iterations at batch 4
milestones = [40, 46]   # lr x0.1 at these epochs
batch_size = 4          # more updates per epoch on 32 images
warmup_iters = 40

train_dataloader = dict(batch_size=batch_size)
auto_scale_lr = dict(base_batch_size=batch_size)  # base_lr is for batch 4; --auto-scale-lr scales from it
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='MultiStepLR', by_epoch=True, milestones=milestones, gamma=0.1)]
