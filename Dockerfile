# syntax=docker/dockerfile:1
# socle's image: one static binary (musl) on a distroless base, run as a
# non-root user; and the VPN hub's (target vpn-gateway). Build from the
# repository root:
#   docker build -t ghcr.io/redon-agglomeration/socle:0.1.0 .

# Build: the Rust toolchain the workspace is tested with, plus musl-gcc, which
# ring (TLS, SSH) needs to compile its C and assembly for the musl target.
FROM docker.io/library/rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install --yes --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
# The caches keep crates and compiled dependencies between builds; the binary
# is copied out of the target cache, which does not outlive this step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --package socle --bin socle \
        --target x86_64-unknown-linux-musl \
 && cp target/x86_64-unknown-linux-musl/release/socle /socle

# The VPN hub (`docker build --target vpn-gateway -t
# ghcr.io/redon-agglomeration/socle-vpn-gateway:0.1.0 .`): the same binary,
# with wg and ip, which `socle vpn-gateway` runs to configure the node
# kernel's WireGuard. Root in its container, holding NET_ADMIN alone (the
# Deployment drops every other capability).
FROM docker.io/library/debian:bookworm-slim AS vpn-gateway
RUN apt-get update \
 && apt-get install --yes --no-install-recommends wireguard-tools iproute2 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /socle /socle
EXPOSE 51820/udp 9586
ENTRYPOINT ["/socle"]
CMD ["vpn-gateway", "--log-json"]

# Run (the default target): no shell, no package manager; CA certificates (for Velero's storage
# locations) and /etc/passwd's `nonroot` (65532), nothing else.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /socle /socle
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/socle"]
CMD ["run", "--log-json"]
