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
# In two passes, so that the sweep is paid only where it is needed: first
# every mutant against the unit tests of models alone (a few seconds each,
# building models only), then the survivors of that pass against the whole
# judge (the unit tests of both packages and the sweep). A mutant the first
# pass catches would fail the whole judge too (it contains those tests), so
# the counts are the ones a single pass would give, at a fraction of the
# cost: most mutants die in the first pass.
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
#        UNIT_FIRST=0    one pass, every mutant against the whole judge
#                        (default 1: the two passes above)
# cargo-mutants is installed here (pinned) when missing, so nothing is
# hand-installed. Output: mutants.out/ with the merged lists (caught.txt,
# missed.txt, unviable.txt, timeout.txt) and each pass's own cargo-mutants
# directory (unit/mutants.out, sweep/mutants.out); the counts are printed
# last.
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
out=mutants.out
if [ -e "$out" ]; then rm -rf "$out.old"; mv "$out" "$out.old"; fi
mkdir -p "$out"
status=0

# judge NAME PACKAGES TEST_ARGS... -- MUTANT_ARGS...: one pass of
# cargo-mutants, into $out/NAME/mutants.out. The baseline is run here:
# cargo-mutants' own runs the tests of the mutated package (models) alone,
# whatever --test-package says, and models has no mutation_sweep. The
# unmutated tree must pass, and the baseline's time sets the per-mutant
# timeout (a mutant that hangs counts as caught by timeout, not as missed).
judge() {
    local name=$1 packages=$2; shift 2
    local tests=() mutant_args=()
    while [ "$1" != -- ]; do tests+=("$1"); shift; done
    shift
    mutant_args=("$@")
    local pkg_args=() test_packages=${packages//,/ }
    for p in $test_packages; do pkg_args+=(-p "$p"); done
    cargo test "${pkg_args[@]}" --profile mutants "${tests[@]}" --no-run
    local start; start=$(date +%s)
    cargo test "${pkg_args[@]}" --profile mutants "${tests[@]}" \
        || { echo "the unmutated gateway fails the $name pass: fix that first" >&2; exit 1; }
    local baseline_s=$(( $(date +%s) - start ))
    local timeout_s=$(( baseline_s * 4 + 20 ))
    echo "$name pass: baseline ${baseline_s}s; per-mutant test timeout ${timeout_s}s"
    # As cargo arguments, not test arguments: the build of each mutant
    # (`cargo test --no-run`) then compiles only these test targets, not
    # every test target of sim.
    local cargo_args=() pass_status=0
    for t in "${tests[@]}"; do cargo_args+=(--cargo-arg="$t"); done
    cargo mutants --package models --test-package "$packages" --profile mutants \
        --baseline skip --timeout "$timeout_s" --build-timeout 3600 -o "$out/$name" \
        "${cargo_args[@]}" "${mutant_args[@]}" || pass_status=$?
    # 2 (missed) and 3 (timeouts) are outcomes the merged counts report;
    # anything else is the tool failing.
    case "$pass_status" in 0|2|3) ;; *) status=$pass_status ;; esac
}

lines() { cat "$@" 2>/dev/null || true; }
if [ "${UNIT_FIRST:-1}" = 1 ]; then
    judge unit models --lib -- "${args[@]}"
    unit=$out/unit/mutants.out
    # The survivors, by exact name (file:line:col: description), as
    # cargo-mutants matches --re: --shard is not repeated, since it would
    # cut a different share of the narrowed list.
    lines "$unit/missed.txt" > "$out/survivors.txt"
    survivor_args=()
    while IFS= read -r name; do
        [ -n "$name" ] || continue
        survivor_args+=(--re "^$(printf '%s' "$name" | sed 's/[][\.|$(){}?+*^]/\\&/g')\$")
    done < "$out/survivors.txt"
    # Their files only: cargo-mutants 27.1 lets struct-field deletions
    # through --re, so a wider file filter would judge some twice.
    while IFS= read -r file; do
        survivor_args+=(--file "$file")
    done < <(cut -d: -f1 "$out/survivors.txt" | sort -u)
    sweep=$out/sweep/mutants.out
    if [ -s "$out/survivors.txt" ]; then
        # What does not name mutants stays (--in-place, --jobs).
        sweep_args=()
        skip_next=0
        for a in "${args[@]}"; do
            if [ "$skip_next" = 1 ]; then skip_next=0; continue; fi
            case "$a" in --file|--shard|--re) skip_next=1; continue ;; esac
            sweep_args+=("$a")
        done
        judge sweep models,sim --lib --test mutation_sweep -- "${sweep_args[@]}" "${survivor_args[@]}"
    fi
    # Of the second pass, only the survivors count (see above).
    survivors() { grep -Fx -f "$out/survivors.txt" "$@" 2>/dev/null || true; }
    { lines "$unit/caught.txt"; survivors "$sweep/caught.txt"; } > "$out/caught.txt"
    { lines "$unit/timeout.txt"; survivors "$sweep/timeout.txt"; } > "$out/timeout.txt"
    { lines "$unit/unviable.txt"; survivors "$sweep/unviable.txt"; } > "$out/unviable.txt"
    survivors "$sweep/missed.txt" > "$out/missed.txt"
else
    judge sweep models,sim --lib --test mutation_sweep -- "${args[@]}"
    for outcome in caught missed unviable timeout; do
        lines "$out/sweep/mutants.out/$outcome.txt" > "$out/$outcome.txt"
    done
fi
# Exit as cargo-mutants would for the merged counts: 2 when a mutant was
# missed, else 3 when one timed out, else 0 (or the tool's own failure).
if [ "$status" = 0 ]; then
    if [ -s "$out/missed.txt" ]; then status=2; elif [ -s "$out/timeout.txt" ]; then status=3; fi
fi
for outcome in caught missed unviable timeout; do
    printf '%s: %s\n' "$outcome" "$(wc -l < "$out/$outcome.txt")"
done
exit "$status"
