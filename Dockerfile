# tidemark in a container: build on Debian 12 (bookworm), ship a slim runtime image.
#
#   docker build -t tidemark .
#   docker run --rm -v /etc/tidemark:/etc/tidemark:ro --env-file tidemark.env \
#       tidemark -q run -c /etc/tidemark/pipelines.yaml
#
# (docker's --env-file takes each VAR=value line literally: no quotes around values.)
#
# The build stage makes the .deb (cmake/Packaging.cmake) and the runtime stage installs it
# with apt-get, so the image gets exactly the runtime libraries the package Depends on
# (libpqxx-6.4, libpq5, libspdlog1.10, libfmt9, libyaml-cpp0.7, libssl3, ...) and no -dev
# package or compiler. See "Packaging and deployment" in docs/operations.md.

# --- build -----------------------------------------------------------------------------------
FROM debian:bookworm AS build
# dpkg-dev and file: dpkg-shlibdeps computes the .deb's Depends. catch2 is left out: the
# tests are not built here (TIDEMARK_BUILD_TESTS=OFF).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      cmake g++ make pkg-config dpkg-dev file \
      libpqxx-dev libpq-dev libssl-dev libcli11-dev nlohmann-json3-dev libspdlog-dev \
      libyaml-cpp-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
          -DTIDEMARK_BUILD_TESTS=OFF \
 && cmake --build /build -j"$(nproc)" \
 && /build/tidemark --version \
 && cd /build && cpack -G DEB \
 && mkdir /out && cp /build/tidemark_*.deb /out/tidemark.deb

# --- runtime ---------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
COPY --from=build /out/tidemark.deb /tmp/tidemark.deb
# apt-get installs the package's Depends from the Debian archive. bookworm-slim drops
# /usr/share/doc and man pages (its dpkg excludes), so the docs are not in the image.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      /tmp/tidemark.deb ca-certificates \
 && rm -rf /var/lib/apt/lists/* /tmp/tidemark.deb \
 && useradd --system --user-group --uid 10001 --home-dir /var/lib/tidemark --create-home \
      --shell /usr/sbin/nologin tidemark \
 && mkdir -p /etc/tidemark \
 && tidemark --version
# Mount the config at /etc/tidemark (-c /etc/tidemark/pipelines.yaml, or TIDEMARK_CONFIG);
# pass secrets as environment variables (--env-file), which the config and libpq read.
USER tidemark
WORKDIR /var/lib/tidemark
ENTRYPOINT ["tidemark"]
CMD ["--help"]
