#!/usr/bin/env bash
# GPU benchmarks in one go, for a machine with CUDA torch but without anndata/scanpy & co. and no internet.
#
#   bash bench/gpu.sh OUT       # OUT: folder for the logs and result files (flat, 8 files)
#
# Needs, beside the working tree: .whl/ (Python 3.12 wheels of what the machine lacks: anndata, scanpy,
# mudata, umap-learn, pynndescent, leidenalg, igraph and their own dependencies, plus pandas 2.3.3, which
# anndata 0.12 needs (<3); MultiQC is left out, so the report stage is skipped) and .gpudata/ (the SNARE
# inputs, laid out like ../shared/data). `.venv/bin/python bench/gpu_bundle.py` makes both here and checks
# that every wheel's requirements are met; the device call then carries [".whl", ".gpudata"].
# Runs concurrently, both with --device cuda and neither with the report stage:
#   * bench/snare_integration.py on all 10,309 SNARE-seq cells (6 CPU threads);
#   * bench/scale.py on 100,000 simulated cells (10 CPU threads), simulated first; its run is killed at the
#     budget (BUDGET seconds from the start) and then records the stages it finished.
# Knobs (environment): BUDGET (s, default 420), PY (python3), DEVICE (cuda), SCALE_CELLS (100000),
# RUNS ("snare scale"; "scale" alone gives the whole budget and SCALE_THREADS to the scale run, which every
# earlier device session ran out of time in), SCALE_THREADS (10), SNARE_ARGS / SCALE_ARGS (extra options, e.g.
# "--max-epochs 2" for a dry run on the CPU).
set -u
OUT=$(realpath -m "${1:?usage: bash bench/gpu.sh OUT}")
BUDGET=${BUDGET:-420} PY=${PY:-python3} DEVICE=${DEVICE:-cuda} N=${SCALE_CELLS:-100000}
RUNS=" ${RUNS:-snare scale} " SCALE_THREADS=${SCALE_THREADS:-10}
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
W=/tmp/crossomics-gpu
rm -rf "$W" && mkdir -p "$W"
export PYTHONUNBUFFERED=1 MPLCONFIGDIR=$W/mpl NUMBA_CACHE_DIR=$W/numba

# the missing packages go to $W/site, ahead of the machine's own; crossomics from src/
if $PY -m pip --version > /dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$W/site" .whl/*.whl
else  # no pip: an unpacked wheel is an installed package
  for w in .whl/*.whl; do $PY -m zipfile -e "$w" "$W/site"; done
fi
export PYTHONPATH=$W/site:$PWD/src

{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  echo "cpus: $(nproc)"
  DEVICE=$DEVICE $PY - <<'EOF'
import importlib.metadata as md, os, torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
print({p: md.version(p) for p in ("numpy", "scipy", "pandas", "scikit-learn", "numba", "anndata", "scanpy", "umap-learn")})
import crossomics.runner, scanpy, anndata, mudata, umap, leidenalg, igraph  # fail here, not mid-run
from crossomics.settings import resolve_device
print("crossomics device:", resolve_device(os.environ["DEVICE"]))
EOF
} 2>&1 | tee "$OUT/env.log"
[ "${PIPESTATUS[0]}" = 0 ] || { echo "environment check failed"; exit 1; }

threads() { export OMP_NUM_THREADS=$1 MKL_NUM_THREADS=$1 OPENBLAS_NUM_THREADS=$1 NUMBA_NUM_THREADS=$1; }
left() { echo $((BUDGET - SECONDS)); }

# SNARE-seq, all cells
[[ $RUNS == *" snare "* ]] && ( threads 6
  timeout -k 10 "$(left)" $PY bench/snare_integration.py --device "$DEVICE" --data .gpudata --skip report \
    --outdir "$W/snare" ${SNARE_ARGS:-} > "$OUT/snare.log" 2>&1
  echo "snare_integration exit $? after $SECONDS s" >> "$OUT/snare.log" ) &

# N cells: simulate (timed here; scale.py finds the data), then the run with what is left of the budget
[[ $RUNS == *" scale "* ]] && ( threads "$SCALE_THREADS"
  S=$SECONDS
  timeout "$(left)" $PY -c "from crossomics.datasets.scale import write_scale; write_scale('$W/scale/data_$N', n_cells=$N, seed=0)"
  echo "simulate $N: exit $? in $((SECONDS - S)) s"
  [ "$(left)" -gt 60 ] && timeout "$(($(left) + 30))" $PY bench/scale.py --sizes "$N" --device "$DEVICE" \
    --skip report --threads "$SCALE_THREADS" --timeout "$(($(left) - 15))" --workdir "$W/scale" --plot "$OUT/scale.png" ${SCALE_ARGS:-}
  echo "scale exit $? after $SECONDS s" ) > "$OUT/scale.log" 2>&1 &
wait

# results, flat: env.log snare.log scale.log scale_run.log snare_figures.json snare_integration.json
# scale_results.json scale.png
[ -f "$OUT/snare.log" ] && grep '^{"foscttm"' "$OUT/snare.log" | tail -1 > "$OUT/snare_figures.json"
cp "$W/snare/results/metrics/integration.json" "$OUT/snare_integration.json" 2>/dev/null
cp "$W/scale/scale_results.json" "$OUT/" 2>/dev/null
cp "$W/scale/run_$N.log" "$OUT/scale_run.log" 2>/dev/null
stages() { tr '\r' '\n' < "$1" | grep -aoE "$2" | cut -c1-500; }  # stage lines may follow a progress bar
if [ -f "$OUT/snare.log" ]; then
  echo "== snare"; stages "$OUT/snare.log" '\[[a-z+]+\] .*\([0-9.]+ s(: [^()]*)?\)$|^SNARE.*|^[a-z_]+ +[-0-9.]+.*|.*exit.*'
fi
if [ -f "$OUT/scale.log" ]; then
  echo "== scale"; stages "$OUT/scale.log" '^\[.*|^simulate.*|^\|.*|.*exit.*'
  [ -f "$OUT/scale_run.log" ] && stages "$OUT/scale_run.log" '\[[a-z+]+\] .*\([0-9.]+ s(: [^()]*)?\)$|train:.*' | tail -4
fi
ls -la "$OUT"
