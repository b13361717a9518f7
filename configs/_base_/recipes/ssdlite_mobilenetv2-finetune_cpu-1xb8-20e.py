# SSDLite-MobileNetV2 at 320x320 fine-tuned from mmdet's COCO detector on a 2-core CPU: the default way
# to train this model (the *-scratch_cpu-* recipe is for machines that cannot get the weights). Same
# model and pipeline as the scratch recipe; a short cosine schedule at a lower learning rate.
_base_ = './ssdlite_mobilenetv2-scratch_cpu-1xb8-60e.py'

max_epochs = 20     # cosine schedule length (~520 iterations on BCCD train at batch 8)
base_lr = 0.005     # SGD; a third of the from-scratch lr
warmup_iters = 50
# mmdet's COCO detector (box AP 21.3); its 80-class head layers are re-initialised for the dataset
load_from = 'https://download.openmmlab.com/mmdetection/v2.0/ssd/ssdlite_mobilenetv2_scratch_600e_coco/ssdlite_mobilenetv2_scratch_600e_coco_20210629_110627-974d9307.pth'  # noqa: E501

train_cfg = dict(max_epochs=max_epochs, val_interval=2)
optim_wrapper = dict(optimizer=dict(lr=base_lr))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', begin=0, T_max=max_epochs, end=max_epochs, by_epoch=True, eta_min=0)]
