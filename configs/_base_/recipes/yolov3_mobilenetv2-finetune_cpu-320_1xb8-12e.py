# YOLOv3 MobileNetV2 at 320 px fine-tuned from mmdet's COCO detector on a 2-core CPU: the default way to
# train this model (the *-scratch_cpu-* recipe is for machines that cannot get the weights). Same model,
# pipeline and optimizer as the scratch recipe; a short schedule at a lower learning rate.
_base_ = './yolov3_mobilenetv2-scratch_cpu-320_1xb8-60e.py'

max_epochs = 12         # ~310 iterations on BCCD train (205 images) at batch 8
milestones = [9, 11]    # lr x0.1 at these epochs
base_lr = 0.001         # a third of the from-scratch lr: the COCO features stay, the new head adapts
warmup_iters = 50
# mmdet's COCO detector (box AP 22.2); its 80-class head layers are re-initialised for the dataset
load_from = 'https://download.openmmlab.com/mmdetection/v2.0/yolo/yolov3_mobilenetv2_320_300e_coco/yolov3_mobilenetv2_320_300e_coco_20210719_215349-d18dff72.pth'  # noqa: E501

train_cfg = dict(max_epochs=max_epochs, val_interval=2)
optim_wrapper = dict(optimizer=dict(lr=base_lr))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='MultiStepLR', by_epoch=True, milestones=milestones, gamma=0.1)]
