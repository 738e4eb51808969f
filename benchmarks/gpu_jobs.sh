# Helpers shared by the device scripts (source it): `job NAME CMD...` runs CMD in the background under
# `timeout $JOB_TIMEOUT`, logging to $L/NAME.log and its exit status to $L/done.txt; `pack` waits for the
# jobs, prints each log's tail, drops last.safetensors and tars the run folders ($R) and logs ($L) into $OUT.
job() { local name=$1; shift; ( timeout "$JOB_TIMEOUT" "$@" > $L/$name.log 2>&1; echo "$name rc=$? at $(( $(date +%s) - START )) s" >> $L/done.txt ) & }
pack() {
  wait
  cat $L/done.txt
  for f in $L/*.log; do echo "== $f"; grep -v '^\s*$' $f | tail -"${1:-4}"; done
  find $R -name 'last.safetensors' -delete
  tar czf "$OUT/gpu-results.tgz" -C $R . ; tar czf "$OUT/gpu-logs.tgz" -C $L .
  ls -la $OUT
}
