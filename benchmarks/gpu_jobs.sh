# Shared set-up and helpers of the device scripts (source it with JOB_TIMEOUT set, and GPU_EXTRA_PATH for extra
# PYTHONPATH entries): exports the environment, prints the GPU, makes the results ($R) and logs ($L) folders and
# starts the clock ($START). `decode_omniglot` decodes the archives once (cache) before the jobs; `job NAME CMD...`
# runs CMD in the background under `timeout $JOB_TIMEOUT`, logging to $L/NAME.log and its exit status to
# $L/done.txt; `pack [N]` waits for the jobs, prints each log's last N lines, drops last.safetensors and tars the
# run folders and logs into $OUT.
set -uo pipefail
export PYTHONPATH=$PWD/src${GPU_EXTRA_PATH:+:$GPU_EXTRA_PATH} FASTADAPT_DATA=$PWD/.gpu-data PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
nvidia-smi -L; python3 -c "import torch; print(torch.__version__, torch.cuda.is_available())"
R=/tmp/gpu-results L=/tmp/gpu-logs; mkdir -p $R $L
START=$(date +%s)
decode_omniglot() {
  python3 -c "from fastadapt.tasks.omniglot import load_images; load_images()"
  echo "decoded after $(( $(date +%s) - START )) s"
}
job() { local name=$1; shift; ( timeout "$JOB_TIMEOUT" "$@" > $L/$name.log 2>&1; echo "$name rc=$? at $(( $(date +%s) - START )) s" >> $L/done.txt ) & }
pack() {
  wait
  cat $L/done.txt
  for f in $L/*.log; do echo "== $f"; grep -v '^\s*$' $f | tail -"${1:-4}"; done
  find $R -name 'last.safetensors' -delete
  tar czf "$OUT/gpu-results.tgz" -C $R . ; tar czf "$OUT/gpu-logs.tgz" -C $L .
  ls -la $OUT
}
