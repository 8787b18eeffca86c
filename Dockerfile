# The mailsim image for nightly sweeps (deploy/k8s/, .github/workflows/image.yml):
# both engines' release binaries, nothing else.
#   docker build -t mailsim:nightly .
#   docker run --rm mailsim:nightly mailsim-madsim sweep --engine madsim --seeds 0..1000 --family swarm
# `mailsim` is the turmoil build (the reference engine, and `replay` of a turmoil
# failure file); `mailsim-madsim` is the madsim build (`--engine madsim`, the fast
# one the nightly uses). Separate target directories: another --cfg rebuilds all.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p sim \
 && RUSTFLAGS="--cfg madsim" cargo build --release --locked -p sim --target-dir target/madsim \
 && install -D target/release/mailsim /out/mailsim \
 && install -D target/madsim/release/mailsim /out/mailsim-madsim

FROM debian:bookworm-slim
# The sweep runs each seed in a worker process of the same binary, and writes
# reports; it needs no shell, libraries beyond glibc, or network.
COPY --from=build /out/ /usr/local/bin/
RUN useradd --system --uid 10001 --home-dir /results mailsim
USER 10001
WORKDIR /results
ENTRYPOINT []
CMD ["mailsim", "--help"]
