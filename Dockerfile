# syntax=docker/dockerfile:1
#
# llm-proxy: a static Go binary on distroless/static (CA certificates, tzdata,
# no shell), running as a non-root user.
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t llm-proxy .
#   docker run -p 8000:8000 -v llm-proxy-data:/data \
#     -e PROXY_URL=https://api.openai.com/v1 -e API_KEY=sk-... -e MY_ACCESS_KEY=... llm-proxy
#
# The go build line is the Makefile's `build` recipe, byte for byte:
# packaging/dockerfile_test.go checks it, and `make docker-check` runs it and
# checks the result without a Docker engine.

ARG GO_VERSION=1.26

# The build runs on the builder's own platform and cross-compiles (no
# emulation): GOOS/GOARCH come from the platform being built.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ENV GOOS=${TARGETOS} GOARCH=${TARGETARCH}
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/llm-proxy .
# The data directory, owned by the user the proxy runs as (see USER below).
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/llm-proxy /llm-proxy
COPY --from=build --chown=65532:65532 /out/data /data
# distroless's "nonroot" user, by number so that platforms can tell it is not root.
USER 65532:65532
ENV PORT=8000 \
    DB_PATH=/data/llm-proxy.db
EXPOSE 8000
VOLUME /data
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/llm-proxy", "-healthcheck"]
ENTRYPOINT ["/llm-proxy"]
