#!/usr/bin/env bash
# symgraph's cuda backend on a GPU machine: one prepared, time-boxed run.
#
# For an H100 / H200 with CUDA 13, Python 3.12 (torch, numpy, scipy, llvmlite, pytest installed)
# and no network. .gpu_wheels/ is git-ignored: the device run must carry it. From the repo root:
#
#     bash benchmarks/gpu/run.sh              # results in $OUT (default: bench_out/gpu)
#     bash benchmarks/gpu/run.sh --dry-run    # no GPU: checks this script on the emulated GPU
#     DIAGNOSE_PARTS=profile bash benchmarks/gpu/run.sh   # diagnose.py parts to run (default: all)
#
# 1. installs pycuda's dependencies from .gpu_wheels/ (pip --no-index) and builds pycuda from
#    the sdist there (in /tmp, in place, -j$(nproc); CUDA_ROOT from nvcc), then packs the built
#    package as $OUT/pycuda_built.tgz; a later run that finds .gpu_wheels/pycuda_built.tgz
#    unpacks it instead of building (~80 s less of a scarce device lease);
# 2. benchmarks (benchmarks/gpu/bench.py, one process per part): copy bandwidth, the fused
#    elementwise on 100M float32, the MLP step and the convnet step (benchmarks/impl/
#    convnet_step.py, batch 64) each against PyTorch eager; then
#    the MLP step's host work alone (benchmarks/gpu/host_overhead.py: no GPU needed); then
#    where the time goes (benchmarks/gpu/diagnose.py: the fused kernel's loop and math variants,
#    the training steps' kernels under torch.profiler);
# 3. tests: pytest -m cuda, then a slice of the op suite on 'cuda' (the nvcc compile tests
#    need no GPU: CI runs them);
# 4. writes ONE markdown table to $OUT/gpu_results.md and prints it.
#
# Every phase has a timeout and the whole run a deadline (DEADLINE_S, default 480 s), so it
# always ends; a failed phase is a row of the table, and its log is in $OUT/<phase>.log.
# symgraph itself is used from the checkout (PYTHONPATH), pycuda from its build directory.

set -u -o pipefail

DRY_RUN=0
[[ "${1:-}" == "--dry-run" ]] && DRY_RUN=1
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${OUT:-$REPO/bench_out/gpu}"
mkdir -p "$OUT"
: > "$OUT/phases.tsv"
rm -f "$OUT/bench.json"
PY="${PYTHON:-python3}"
DEADLINE_S="${DEADLINE_S:-480}"
START=$(date +%s)
WORK="${TMPDIR:-/tmp}/symgraph_gpu_run"
mkdir -p "$WORK"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
export SYMGRAPH_FLAGS="compiledir=$WORK/compiledir"  # a cache of our own: no stale kernels

log() { echo "[$(date +%H:%M:%S) +$(( $(date +%s) - START ))s] $*"; }

# phase NAME LIMIT_S CMD...: run CMD under min(LIMIT_S, time left), log to $OUT/NAME.log,
# record "NAME<TAB>status<TAB>seconds<TAB>last line" in phases.tsv.
phase() {
    local name=$1 limit=$2 left rc t0 status detail
    shift 2
    left=$(( DEADLINE_S - ($(date +%s) - START) ))
    (( left < limit )) && limit=$left
    if (( limit < 5 )); then
        log "skip $name: out of time"
        printf '%s\tskipped\t0\tout of time (deadline %ss)\n' "$name" "$DEADLINE_S" >> "$OUT/phases.tsv"
        return 124
    fi
    log "start $name (limit ${limit}s)"
    t0=$(date +%s)
    timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
    rc=$?
    case $rc in 0) status=ok ;; 124|137) status="timeout (${limit}s)" ;; *) status="failed (rc $rc)" ;; esac
    detail=$(grep -E "passed|failed|error|Error" "$OUT/$name.log" | tail -n 1 | tr '\t' ' ')
    [[ -z "$detail" ]] && detail=$(tail -n 1 "$OUT/$name.log" | tr '\t' ' ')
    printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$(( $(date +%s) - t0 ))" "$detail" >> "$OUT/phases.tsv"
    log "end $name: $status"
    tail -n 4 "$OUT/$name.log" | sed 's/^/    /'
    return $rc
}

# --- the machine ---------------------------------------------------------------------------
log "repository $REPO; results in $OUT; dry run: $DRY_RUN"
NVCC="$(command -v nvcc || true)"
if [[ -z "${CUDA_ROOT:-}" ]]; then
    for root in "${CUDA_HOME:-}" "$( [[ -n "$NVCC" ]] && dirname "$(dirname "$(readlink -f "$NVCC")")")" \
                /usr/local/cuda; do
        if [[ -n "$root" && -f "$root/include/cuda.h" ]]; then CUDA_ROOT=$root; break; fi
    done
fi
export CUDA_ROOT="${CUDA_ROOT:-}"
[[ -n "$CUDA_ROOT" && -d "$CUDA_ROOT/bin" ]] && export PATH="$CUDA_ROOT/bin:$PATH"
{
    echo "python: $($PY --version 2>&1)"; echo "nvcc: $NVCC"; echo "CUDA_ROOT: $CUDA_ROOT"
    nvcc --version 2>&1 | tail -n 2
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tail -n 2
} > "$OUT/machine.log"
sed 's/^/    /' "$OUT/machine.log"

# --- pycuda from the carried sdist ---------------------------------------------------------
WHEELS="$REPO/.gpu_wheels"
install_pycuda() {
    if $PY -c "import pycuda.driver" 2>/dev/null; then echo "pycuda already importable"; return 0; fi
    local wheel
    if [[ ! -d "$WHEELS" ]]; then
        echo "$WHEELS not found: it is git-ignored, so a device run must carry it (carry=['.gpu_wheels'])"
        return 1
    fi
    for wheel in pytools platformdirs mako markupsafe typing_extensions siphash24 setuptools \
                 wheel packaging; do
        ls "$WHEELS"/${wheel}-*.whl > /dev/null || { echo "missing wheel: $wheel"; return 1; }
    done
    if (( ! DRY_RUN )); then  # (the carried wheels are for Python 3.12)
        $PY -m pip install --no-index --find-links "$WHEELS" --quiet pytools platformdirs mako \
            markupsafe typing_extensions siphash24 setuptools wheel packaging || return 1
    fi
    local sdist src
    if [[ -f "$WHEELS/pycuda_built.tgz" ]]; then  # built by an earlier run on such a machine
        rm -rf "$WORK/pycuda_built" && mkdir -p "$WORK/pycuda_built"
        tar -xzf "$WHEELS/pycuda_built.tgz" -C "$WORK/pycuda_built" || return 1
        echo "$WORK/pycuda_built" > "$WORK/pycuda_path"
        if (( DRY_RUN )); then echo "dry run: prebuilt pycuda unpacked"; return 0; fi
        PYTHONPATH="$WORK/pycuda_built:$PYTHONPATH" $PY -c \
            "import pycuda.driver as d; d.init(); print('pycuda (prebuilt)', d.get_version(), d.Device(0).name())"
        return
    fi
    sdist=$(ls "$WHEELS"/pycuda-*.tar.gz | head -n 1)
    rm -rf "$WORK/pycuda" && mkdir -p "$WORK/pycuda"
    tar -xzf "$sdist" -C "$WORK/pycuda" || return 1
    src=$(ls -d "$WORK"/pycuda/pycuda-*/)
    cd "$src" || return 1
    # curand is not used (symgraph draws with its own Philox kernels): fewer headers needed
    $PY configure.py --cuda-root="$CUDA_ROOT" --no-cuda-enable-curand || return 1
    if (( DRY_RUN )); then echo "dry run: configured, not built"; cat siteconf.py; return 0; fi
    # setuptools' own build: no isolation, no network; in place, all cores
    $PY setup.py build_ext --inplace -j "$(nproc)" || return 1
    echo "$src" > "$WORK/pycuda_path"
    tar -czf "$OUT/pycuda_built.tgz" --exclude='*.o' -C "$src" pycuda  # for a later run
    PYTHONPATH="$src:$PYTHONPATH" $PY -c \
        "import pycuda.driver as d; d.init(); print('pycuda', d.get_version(), d.Device(0).name())"
}
export PY WHEELS WORK CUDA_ROOT DRY_RUN PYTHONPATH PATH OUT
export -f install_pycuda
phase pycuda_build 300 bash -c install_pycuda
[[ -f "$WORK/pycuda_path" ]] && export PYTHONPATH="$(cat "$WORK/pycuda_path"):$PYTHONPATH"
cd "$REPO"

# --- benchmarks ----------------------------------------------------------------------------
DRY=""
(( DRY_RUN )) && DRY="--dry-run"
for part in bandwidth elementwise mlp torch_mlp convnet torch_convnet; do
    phase "bench_$part" 100 $PY benchmarks/gpu/bench.py --out "$OUT" --part "$part" $DRY
done
# symgraph's own Python work per MLP step on this machine's CPU (kernels stubbed out: no GPU)
phase host_overhead 60 $PY benchmarks/gpu/host_overhead.py --steps 300 \
    --json "$OUT/host_overhead.json" --workdir "$WORK/host_overhead"
phase host_overhead_convnet 60 $PY benchmarks/gpu/host_overhead.py --model convnet \
    --steps 100 --json "$OUT/host_overhead_convnet.json" --workdir "$WORK/host_overhead"
if (( ! DRY_RUN )); then  # (the emulated GPU has no events and no profiler)
    rm -f "$OUT/diagnose.json"
    for part in ${DIAGNOSE_PARTS:-variants profile}; do  # "none": neither
        [[ $part == none ]] && continue
        phase "diagnose_$part" 90 $PY benchmarks/gpu/diagnose.py --out "$OUT" --part "$part"
    done
fi

# --- tests ---------------------------------------------------------------------------------
if (( DRY_RUN )); then
    SYMGRAPH_CUDA_EMULATOR=1 phase tests_emulated 150 $PY -m pytest -p no:cacheprovider \
        tests/codegen/test_cuda.py tests/codegen/test_cuda_emulator.py
else
    XDIST=""  # several processes share the GPU; most of a test's time is nvcc on the CPU
    $PY -c "import xdist" 2>/dev/null && XDIST="-n 8"
    phase tests_cuda_mark 150 $PY -m pytest -p no:cacheprovider $XDIST -m cuda \
        tests/codegen/test_cuda.py tests/codegen/test_cuda_conv.py
    # the op suite runs on every backend tests/helpers.py finds, 'cuda' included with a GPU
    phase tests_op_suite_slice 150 $PY -m pytest -p no:cacheprovider $XDIST \
        tests/ops/test_elemwise.py tests/ops/test_reduce.py tests/ops/test_nnet.py \
        tests/ops/test_blas.py
fi

# --- the table -----------------------------------------------------------------------------
$PY benchmarks/gpu/bench.py --out "$OUT" --report
[[ -f "$OUT/diagnose.json" ]] && $PY benchmarks/gpu/diagnose.py --out "$OUT" --report
log "done in $(( $(date +%s) - START ))s; table: $OUT/gpu_results.md"
