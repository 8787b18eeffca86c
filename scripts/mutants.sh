#!/usr/bin/env bash
# Mutation score of the gateway core: cargo-mutants mutates models/ (the
# gateway, spool, retry, scanner, SMTP and MIME code) and, for each mutant,
# runs sim/tests/mutation_sweep.rs — a madsim sweep of every family, a few
# dozen seeds each — as the test. A mutant the sweep does not catch is a
# behaviour change no property notices: give it a check that kills it, or
# a line in docs/ARCHITECTURE.md saying why it is equivalent.
#
# Usage: scripts/mutants.sh [FILE...]   (default: the whole gateway core)
# Env:   MUTATION_SEEDS (seeds per family, default 24), JOBS (default 1).
# Needs: cargo install cargo-mutants. Output: mutants.out/ (caught.txt,
# missed.txt, unviable.txt, timeout.txt); the counts are printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null || {
    echo "cargo-mutants is not installed: cargo install --locked cargo-mutants" >&2
    exit 2
}
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
    files=(models/src/gateway models/src/spool.rs models/src/retry.rs
           models/src/scanner.rs models/src/smtp models/src/mime)
fi
args=()
for f in "${files[@]}"; do
    if [ -d "$f" ]; then args+=(--file "$f/**/*.rs" --file "$f/*.rs"); else args+=(--file "$f"); fi
done
export RUSTFLAGS="--cfg madsim"
export MUTATION_SEEDS="${MUTATION_SEEDS:-24}"
cargo mutants --package models --test-package sim --jobs "${JOBS:-1}" \
    "${args[@]}" -- --release --test mutation_sweep
