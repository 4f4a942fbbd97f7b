# syntax=docker/dockerfile:1
# One image, two binaries:
#   /chatflow           the entrypoint: `chatflow manager` (the operator)
#                       and every other command;
#   /chatflow-executor  the executor alone, which the pods the operator
#                       rolls out per published flow run.
# The executor is a binary of its own because it is the process that runs
# many times over: linked into chatflow it carries the manager,
# controller-runtime, client-go and the API server validation, whose init
# functions fault in code pages, and an idle executor holds more than
# twice the memory. `chatflow executor` is the same command, for running
# a flow outside a cluster. One image keeps the manager and its executors
# at one version.
#
#   docker build -t ghcr.io/chatflow-dev/chatflow:dev .
#   docker buildx build --platform linux/amd64,linux/arm64 -t ... --push .
#
# The binaries are pure Go and static (CGO_ENABLED=0), so the final stage
# is distroless/static: no shell, no package manager, no libc, running as
# the non-root user 65532. One `go build` makes both, with the same flags;
# -o /out/ names each after its package (chatflow, chatflow-executor).
# test/e2e runs that line, flags and all, checks that it yields the two
# static binaries the final stage copies, and runs its end-to-end test on
# the chatflow one.

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
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -ldflags="-s -w" -o /out/ . ./cmd/chatflow-executor

FROM gcr.io/distroless/static:nonroot
LABEL org.opencontainers.image.title="chatflow" \
      org.opencontainers.image.description="Chat flows as Kubernetes resources: the operator and the flow executor" \
      org.opencontainers.image.source="https://github.com/chatflow-dev/chatflow"
COPY --from=build /out/chatflow /chatflow
COPY --from=build /out/chatflow-executor /chatflow-executor
# 65532 is distroless's "nonroot"; numeric so runAsNonRoot can verify it.
USER 65532:65532
ENTRYPOINT ["/chatflow"]
CMD ["manager"]
