# The stacks-signer container image: a Rust builder, then the binary alone on Debian slim,
# run as an unprivileged user. See docs/operator-guide.md ("Container image").
#
#   podman build -t stacks-signer .        (or docker build)
#
# The two base images can be replaced (a mirror, a pinned digest) with --build-arg.
ARG RUST_IMAGE=docker.io/library/rust:1.85-slim-bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
# Set to true to build from a registry cache mounted at $CARGO_HOME/registry, without network.
ARG CARGO_NET_OFFLINE=false
# The commit `--version` names (.git is not copied into the build):
#   --build-arg GIT_COMMIT=$(git rev-parse --short HEAD)
ARG GIT_COMMIT
WORKDIR /src
COPY . .
RUN CARGO_NET_OFFLINE=${CARGO_NET_OFFLINE} cargo build --release --locked -p stacks-signer \
 && install -m 0755 target/release/stacks-signer /stacks-signer

FROM ${RUNTIME_IMAGE}
RUN groupadd --system --gid 10001 stacks-signer \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --shell /usr/sbin/nologin stacks-signer \
 && mkdir -p /data /etc/stacks-signer \
 && chown stacks-signer:stacks-signer /data
COPY --from=build /stacks-signer /usr/local/bin/stacks-signer
USER stacks-signer
WORKDIR /data
VOLUME ["/data"]
# The event endpoint and the metrics endpoint most configs use.
EXPOSE 30000 9154
ENTRYPOINT ["/usr/local/bin/stacks-signer"]
CMD ["run", "--config", "/etc/stacks-signer/signer.toml"]
