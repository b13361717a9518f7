#!/usr/bin/env bash
# DDP training through torchrun (one process per GPU, or per CPU slot with gloo):
#   tools/dist_train.sh CONFIG NPROC [train.py options...]
# Several machines: NNODES=2 NODE_RANK=0|1 MASTER_ADDR=host0 tools/dist_train.sh CONFIG 8
set -euo pipefail
CONFIG=$1
NPROC=$2
PYTHON=${PYTHON:-python}
cd "$(dirname "$0")/.."
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --master_port="${PORT:-29500}" --nproc_per_node="$NPROC" \
    tools/train.py "$CONFIG" --launcher pytorch "${@:3}"
