# syntax=docker/dockerfile:1
# One image for both roles: `chatflow manager` (the operator) and
# `chatflow executor` (the pods it rolls out per published flow).
#
#   docker build -t ghcr.io/chatflow-dev/chatflow:dev .
#   docker buildx build --platform linux/amd64,linux/arm64 -t ... --push .
#
# The binary is pure Go and static (CGO_ENABLED=0), so the final stage is
# distroless/static: no shell, no package manager, no libc, running as the
# non-root user 65532. test/e2e runs the `go build` line below, flags and
# all, checks that it yields a static binary, and runs its end-to-end test
# on that binary.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS=linux
ARG TARGETARCH
WORKDIR /src
# Dependencies first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -ldflags="-s -w" -o /out/chatflow .

FROM gcr.io/distroless/static:nonroot
LABEL org.opencontainers.image.title="chatflow" \
      org.opencontainers.image.description="Chat flows as Kubernetes resources: the operator and the flow executor" \
      org.opencontainers.image.source="https://github.com/chatflow-dev/chatflow"
COPY --from=build /out/chatflow /chatflow
# 65532 is distroless's "nonroot"; numeric so runAsNonRoot can verify it.
USER 65532:65532
ENTRYPOINT ["/chatflow"]
CMD ["manager"]
