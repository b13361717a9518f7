#!/usr/bin/env bash
# Distributed evaluation through torchrun: tools/dist_test.sh CONFIG CHECKPOINT NPROC [test.py options...]
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
PYTHON=${PYTHON:-python}
cd "$(dirname "$0")/.."
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --master_port="${PORT:-29500}" --nproc_per_node="$NPROC" \
    tools/test.py "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"
