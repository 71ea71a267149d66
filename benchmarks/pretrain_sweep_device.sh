#!/usr/bin/env bash
# One device call for benchmarks/pretrain_sweep.py (see its docstring). Prepare here first:
#   python benchmarks/pretrain_sweep.py pack --out .devdata/pack.npz
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 -d .whl flax==0.12.8 optax==0.2.8
# (both folders listed in .git/info/exclude), then run `BUDGET=90 bash benchmarks/pretrain_sweep_device.sh`
# on the device with carry [".devdata", ".whl"]. Results and checkpoints land in $OUT.
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
mkdir -p /tmp/pkg && ln -sfn "$PWD" /tmp/pkg/lookalike
export PYTHONPATH=/tmp/site:/tmp/pkg PYTHONUNBUFFERED=1
python3 -c "import flax.nnx, optax" || export PYTHONPATH=/tmp/pkg
nproc; nvidia-smi --query-gpu=name,memory.used,clocks.sm --format=csv
python3 -c "import jax,flax,optax,numpy,PIL;print('versions', jax.__version__,flax.__version__,optax.__version__,numpy.__version__,PIL.__version__, jax.devices())"
XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type= python3 -c "import jax, jax.numpy as j; print('xla flag known:', float(j.ones(3).sum()), jax.devices('cpu'))" 2>&1 | tail -2 || true
XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type= python3 -c "import jax, jax.numpy as j; j.ones(3).sum().block_until_ready(); jax.devices('cpu')" >/dev/null 2>&1 || { echo "XLA flag unknown here"; export SWEEP_DROP_XLA_FLAGS=1; }
python3 benchmarks/pretrain_sweep.py run --pack .devdata/pack.npz --out $OUT --budget "${BUDGET:-90}" 2>&1 | grep -v "^\s*$" | tee $OUT/sweep.log | grep -v " epoch "
ls -laR $OUT
