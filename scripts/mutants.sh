#!/usr/bin/env bash
# Mutation score of the gateway core: cargo-mutants mutates models/ (the
# gateway, spool, retry, scanner, SMTP and MIME code) and, for each mutant,
# runs the unit tests of models and sim (seconds: they pin the
# defences a sweep rarely reaches, such as what the spool does with an
# error) and sim/tests/mutation_sweep.rs — a madsim sweep of every family,
# a few dozen seeds each — as the test. A mutant the sweep does not catch is a
# behaviour change no property notices: give it a check that kills it, or
# a line in docs/MUTANTS.md saying why it is equivalent.
#
# Usage: scripts/mutants.sh [FILE...]   (default: the whole gateway core)
# Env:   MUTATION_SEEDS  seeds per family in the sweep (default 24)
#        MUTATION_BUGGIFY_SEEDS  then seeds per family with BUGGIFY on
#                        (default 8: the code only code-level faults reach)
#        SHARD           I/N: only this share of the mutants, I from 0 to N-1
#                        (cargo-mutants' --shard counts from 0; the nightly
#                        runs shards 0..N-1 side by side)
#        IN_PLACE=1      mutate this checkout and build in target/madsim
#                        (reuses a warm build; do not edit the tree meanwhile)
#        JOBS            parallel mutants when not in place (default 1)
#        RE=REGEX        only mutants whose name matches (cargo-mutants --re),
#                        e.g. RE='store_entry|doubt_for'
#        LIST=1          only list the mutants (no build, no tests)
# cargo-mutants is installed here (pinned) when missing, so nothing is
# hand-installed. Output: mutants.out/ (caught.txt, missed.txt,
# unviable.txt, timeout.txt, outcomes.json); the counts are printed last.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_MUTANTS_VERSION=27.1.0
if ! command -v cargo-mutants >/dev/null \
    || ! cargo mutants --version | grep -q "$CARGO_MUTANTS_VERSION"; then
    cargo install --locked cargo-mutants --version "$CARGO_MUTANTS_VERSION"
fi
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
    files=(models/src/gateway models/src/spool.rs models/src/retry.rs
           models/src/scanner.rs models/src/smtp models/src/mime)
fi
args=()
for f in "${files[@]}"; do
    if [ -d "$f" ]; then args+=(--file "$f/**/*.rs" --file "$f/*.rs"); else args+=(--file "$f"); fi
done
if [ -n "${SHARD:-}" ]; then
    args+=(--shard "$SHARD")
fi
if [ -n "${RE:-}" ]; then
    args+=(--re "$RE")
fi
if [ "${LIST:-0}" = 1 ]; then
    exec cargo mutants --package models --list "${args[@]}"
fi
if [ "${IN_PLACE:-0}" = 1 ]; then
    args+=(--in-place)
    export CARGO_TARGET_DIR=target/madsim
else
    args+=(--jobs "${JOBS:-1}")
fi
export RUSTFLAGS="--cfg madsim"
export MUTATION_SEEDS="${MUTATION_SEEDS:-24}"
# The baseline, run here: cargo-mutants' own runs the tests of the mutated
# package (models) alone, whatever --test-package says, and models has no
# mutation_sweep. The unmutated sweep must pass, and its time sets the
# per-mutant test timeout (a mutant that hangs the sweep counts as caught
# by timeout, not as missed).
# The tests every mutant runs: the two packages' unit tests, then the sweep.
tests=(--lib --test mutation_sweep)
cargo test -p models -p sim --profile mutants "${tests[@]}" --no-run
start=$(date +%s)
cargo test -p models -p sim --profile mutants "${tests[@]}" \
    || { echo "the unmutated gateway fails the mutation sweep: fix that first" >&2; exit 1; }
baseline_s=$(( $(date +%s) - start ))
test_timeout_s=$(( baseline_s * 3 + 60 ))
echo "baseline sweep: ${baseline_s}s; per-mutant test timeout ${test_timeout_s}s"
status=0
# As cargo arguments, not test arguments: the build of each mutant (`cargo
# test --no-run`) then compiles only the lib tests and the sweep, not every
# test target of sim.
cargo_args=()
for t in "${tests[@]}"; do cargo_args+=(--cargo-arg="$t"); done
cargo mutants --package models --test-package models,sim --profile mutants \
    --baseline skip --timeout "$test_timeout_s" --build-timeout 3600 \
    "${cargo_args[@]}" "${args[@]}" || status=$?
# cargo-mutants exits 2 when a mutant was missed, 3 on timeouts: the counts
# say which; anything else is the tool failing.
out=mutants.out
for outcome in caught missed unviable timeout; do
    printf '%s: %s\n' "$outcome" "$( (cat "$out/$outcome.txt" 2>/dev/null || true) | wc -l)"
done
exit "$status"
