# syntax=docker/dockerfile:1
# The operator's image for Docker users: the same recipe as scripts/image (which builds it
# without a Docker daemon, reproducibly, and is what CI and the releases use). tests/image.rs
# keeps the two in step: cargo command, target, RUSTFLAGS, TARGET_CC, files, USER, ENTRYPOINT and
# labels come from tools/image/image.env, read through `scripts/image --print-config`.
#
#   epoch=$(git log -1 --format=%ct)
#   docker buildx build --platform linux/amd64 -t security-contact-operator \
#     --build-arg VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)" \
#     --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)" \
#     --build-arg SOURCE_DATE_EPOCH="$epoch" .
#
# (SOURCE_DATE_EPOCH is BuildKit's own: with it, the image's timestamps are the commit's.)
#
# linux/arm64 builds natively in an arm64 builder (emulated or a native node); there is no
# cross compiler in this recipe.

ARG RUST_VERSION=1.95.0

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
# musl-gcc compiles aws-lc-sys's C for the static musl binary; the CA bundle is Debian's.
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools ca-certificates \
 && rm -rf /var/lib/apt/lists/*
ARG TARGETARCH
RUN case "$TARGETARCH" in \
      amd64) echo x86_64-unknown-linux-musl ;; \
      arm64) echo aarch64-unknown-linux-musl ;; \
      *) echo "unsupported TARGETARCH '$TARGETARCH'" >&2; exit 1 ;; \
    esac >/rust-target \
 && rustup target add "$(cat /rust-target)"
ENV SRC=/src
WORKDIR ${SRC}
# The checkout and CARGO_HOME are remapped to the same virtual paths as scripts/image uses.
ENV CARGO_INCREMENTAL=0 \
    TARGET_CC=musl-gcc \
    RUSTFLAGS="-C target-feature=+crt-static --remap-path-prefix=${CARGO_HOME}=/sco/cargo --remap-path-prefix=${SRC}=/sco/src"
COPY . .
RUN cargo build --release --locked --bin security-contact-operator --target "$(cat /rust-target)" \
 && cp "target/$(cat /rust-target)/release/security-contact-operator" /security-contact-operator

FROM scratch
ARG VERSION
ARG REVISION
ARG CREATED
COPY --link --chmod=0755 --from=build /security-contact-operator /security-contact-operator
COPY --link --chmod=0644 --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --link --chmod=0644 tools/image/rootfs/etc/passwd /etc/passwd
COPY --link --chmod=0644 tools/image/rootfs/etc/group /etc/group
USER 65532:65532
ENTRYPOINT ["/security-contact-operator"]
LABEL org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.description="Keeps Microsoft Defender for Cloud security contacts right on every Azure subscription" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/security-contact-operator/security-contact-operator" \
      org.opencontainers.image.title="security-contact-operator" \
      org.opencontainers.image.version="${VERSION}"
