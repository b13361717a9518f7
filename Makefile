# One setup path: `make install` builds .venv with the pinned stack (requirements/*.txt).
# The first run compiles mmcv's ops (~8 min on 2 cores); later runs do nothing unless a
# requirements file changed, and pip's wheel cache makes a rebuild of the venv quick.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.installed
# The README's main job: the shipped BCCD sample, converted, trained, evaluated, drawn. It fine-tunes
# mmdet's COCO RTMDet-tiny when the weights can be had (cached or downloadable), else trains from scratch.
DEMO_FINETUNE := configs/bccd/rtmdet_tiny-finetune_cpu-320_1xb4-20e_bccd-sample.py
DEMO_SCRATCH := configs/bccd/yolov3_mobilenetv2-scratch_cpu-320_1xb4-50e_bccd-sample.py
DEMO_DIR := work_dirs/demo

.PHONY: install demo test test-fast benchmark benchmark-cpu clean

install: $(STAMP)

$(STAMP): requirements.txt requirements/torch.txt requirements/mminstall.txt requirements/runtime.txt requirements/tests.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -r requirements/torch.txt
	@# mmcv compiles against the torch above, hence --no-build-isolation; its setup.py needs
	@# setuptools<70 (runtime.txt then pins the setuptools that torch and mmengine need).
	$(PIP) install 'setuptools<70' wheel
	MMCV_WITH_OPS=1 MAX_JOBS=$$(nproc) $(PIP) install --no-build-isolation --no-deps -r requirements/mminstall.txt
	$(PIP) install -r requirements/runtime.txt -r requirements/tests.txt
	$(PIP) install --no-deps --no-build-isolation -e .
	$(PY) tools/misc/check_env.py
	touch $(STAMP)

demo: install
	$(PY) tools/dataset_converters/voc2coco.py datasets/bccd_sample --out-dir data/bccd_sample
	@if $(PY) tools/misc/download_weights.py $(DEMO_FINETUNE); then \
		cfg=$(DEMO_FINETUNE); echo "demo: fine-tuning mmdet's COCO RTMDet-tiny ($$cfg)"; \
	else \
		cfg=$(DEMO_SCRATCH); echo "demo: no COCO weights here (offline?): training from scratch ($$cfg)"; \
	fi; \
	BCCD_ROOT=data/bccd_sample/ $(PY) tools/train.py $$cfg --work-dir $(DEMO_DIR) && \
	BCCD_ROOT=data/bccd_sample/ $(PY) tools/test.py $$cfg $$(cat $(DEMO_DIR)/last_checkpoint) \
		--work-dir $(DEMO_DIR) --show-dir show
	@echo "Metrics: $(DEMO_DIR)/metrics_test.json  Pictures: $(DEMO_DIR)/*/show/ (ground truth | prediction), $(DEMO_DIR)/images/  Plots: $(DEMO_DIR)/plots/"

test: install
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not slow"

benchmark: install
	$(PY) tools/analysis_tools/benchmark_bccd.py

# Every CPU config on both datasets at one budget (~5,900 training images a model: 20 epochs
# of BCCD trainval, 10 of face-mask trainval), tested on each test split (~2 h on 2 cores).
benchmark-cpu: install
	$(PY) tools/dataset_converters/voc2coco.py ../shared/datasets/bccd --out-dir data/bccd
	$(PY) tools/dataset_converters/voc2coco.py ../shared/datasets/face-mask --out-dir data/face_mask \
		--split 0.7,0.15,0.15 --seed 0
	$(PY) tools/analysis_tools/benchmark.py --preset cpu-bccd --epochs 20 --train-ann annotations/trainval.json \
		--work-root work_dirs/bench_cpu --out work_dirs/report_cpu_bccd
	$(PY) tools/analysis_tools/benchmark.py --preset cpu-face-mask --epochs 10 --train-ann annotations/trainval.json \
		--work-root work_dirs/bench_cpu --out work_dirs/report_cpu_face_mask

clean:
	rm -rf $(VENV) work_dirs data/bccd_sample
