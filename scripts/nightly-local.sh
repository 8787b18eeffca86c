#!/usr/bin/env bash
# The nightly, on one machine: what .github/workflows/nightly-sweep.yml and
# deploy/k8s/ run, in one go — every fault family swept and an `explore`
# campaign, each cut into the same shards, each shard resumable (rerun this
# script after a kill: finished seeds and runs are read back), then merged
# and reported per family. Open $OUT/merged/<family>/report.html.
#
# Settings (environment): MAILSIM (the binary; default the madsim build),
# ENGINE (madsim), SEEDS (0..2000), FAMILIES (every family), SHARDS (2),
# JOBS (the number of cores), OUT (nightly). Exit 0 all passed, 1 some seed
# or run failed (the reports say which), 2 bad input.
set -u
MAILSIM=${MAILSIM:-target/madsim/release/mailsim}
ENGINE=${ENGINE:-madsim}
SEEDS=${SEEDS:-0..2000}
FAMILIES=${FAMILIES:-calm region-outage cloud-outage swarm bounces disk-loss power-loss scanner-outage clock-skew disk-faults dependencies}
SHARDS=${SHARDS:-2}
JOBS=${JOBS:-$(nproc)}
OUT=${OUT:-nightly}

if [ ! -x "$MAILSIM" ]; then
  echo "error: no mailsim binary at $MAILSIM; build it first:" >&2
  echo '  RUSTFLAGS="--cfg madsim" cargo build --release --target-dir target/madsim -p sim' >&2
  exit 2
fi
mkdir -p "$OUT/logs" || exit 2
status=0
# shellcheck disable=SC2086 # one word per family
for family in $FAMILIES explore; do
  for shard in $(seq 0 $((SHARDS - 1))); do
    dir="$OUT/$family/shard-$shard"
    log="$OUT/logs/$family-shard-$shard.log"
    if [ "$family" = explore ]; then
      what=(explore)
    else
      what=(sweep --family "$family")
    fi
    "$MAILSIM" "${what[@]}" --engine "$ENGINE" --seeds "$SEEDS" --shard "$shard/$SHARDS" \
      --jobs "$JOBS" --out "$dir" --junit "$dir/junit.xml" > "$log" 2>&1 \
      || { code=$?; [ $code -eq 2 ] && { cat "$log" >&2; exit 2; }; status=1; }
    tail -n 1 "$log"
  done
  "$MAILSIM" merge "$OUT/$family"/shard-* --out "$OUT/merged/$family" > /dev/null || status=1
  "$MAILSIM" report "$OUT/merged/$family" || exit 2
done
exit $status
