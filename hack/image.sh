#!/usr/bin/env bash
# image.sh assembles the container images of `make test-cluster` from
# binaries, with no base image pulled and no docker engine (none is
# reachable here), and imports them into a containerd:
#
#   hack/image.sh build          build the image tarballs into $IMAGE_DIR
#   hack/image.sh import SOCKET  build them, then import them into the
#                                containerd at SOCKET (namespace k8s.io)
#
# Images:
#   $CHATFLOW_IMAGE  what the Dockerfile describes: /chatflow and
#                    /chatflow-executor (one static `go build`, the
#                    Dockerfile's flags), user 65532:65532, entrypoint
#                    /chatflow, cmd manager, its labels; plus the files of
#                    distroless/static:nonroot the binaries use (/etc/passwd,
#                    /etc/group, /tmp, the CA bundle). test/cluster checks
#                    the tarball against the Dockerfile.
#   pause            the pod sandbox image (hack/pause)
#   coredns          cluster DNS
#   redis            Debian's redis-server and the shared libraries ldd
#                    lists (the chart's Redis runs it)
#
# Each layer is a tar made here; `crane append --oci-empty-base` pushes it
# onto an empty base in a registry served for the moment on 127.0.0.1
# (`crane mutate`, which sets entrypoint, user and labels, only works
# against a registry), and `crane mutate -o` writes the final image as a
# tarball under its real name, which `ctr images import` takes. The images
# that do not change with the code are cached by version under
# ~/.cache/chatflow/cluster/images.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
IMAGE_DIR="${IMAGE_DIR:-$repo/bin/images}"
CHATFLOW_IMAGE="${CHATFLOW_IMAGE:-ghcr.io/chatflow-dev/chatflow:test-cluster}"
PAUSE_IMAGE="${PAUSE_IMAGE:-chatflow.test/pause:1}"
COREDNS_IMAGE="${COREDNS_IMAGE:-chatflow.test/coredns:1}"
REDIS_IMAGE="${REDIS_IMAGE:-chatflow.test/redis:1}"
cache="${CHATFLOW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chatflow}/cluster/images"
arch="$(go env GOARCH)"

command -v crane >/dev/null || PATH="$("$here/cluster-assets.sh"):$PATH"

work="$(mktemp -d)"
registry_pid=""
cleanup() {
	local rc=$?
	if [[ -n "$registry_pid" ]]; then
		kill "$registry_pid" 2>/dev/null || true
		wait "$registry_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT

# registry starts `crane registry serve` on a free loopback port.
registry=""
start_registry() {
	[[ -n "$registry" ]] && return
	local port
	port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
	crane registry serve --address "127.0.0.1:$port" >"$work/registry.log" 2>&1 &
	registry_pid=$!
	registry="127.0.0.1:$port"
	local i
	for i in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return; fi
		sleep 0.1
	done
	echo "image.sh: crane registry serve did not start:" >&2
	cat "$work/registry.log" >&2
	exit 1
}

# layer ROOTDIR OUT: a reproducible tar of ROOTDIR, owned by root.
layer() {
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$1" -cf "$2" .
}

# assemble NAME OUT ROOTDIR mutate-flags...: the image NAME from one layer.
assemble() {
	local name="$1" out="$2" root="$3"
	shift 3
	start_registry
	layer "$root" "$work/layer.tar"
	local tmp="$registry/build:$RANDOM"
	crane append --oci-empty-base -f "$work/layer.tar" -t "$tmp" >/dev/null 2>"$work/crane.log" ||
		{ cat "$work/crane.log" >&2; exit 1; }
	crane mutate "$tmp" --set-platform "linux/$arch" -t "$name" -o "$out.tmp" "$@" >/dev/null 2>"$work/crane.log" ||
		{ cat "$work/crane.log" >&2; exit 1; }
	mv "$out.tmp" "$out"
	echo "image.sh: $name -> $out" >&2
}

chatflow_image() {
	local root="$work/chatflow"
	mkdir -p "$root/etc/ssl/certs" "$root/tmp" "$root/home/nonroot"
	chmod 1777 "$root/tmp"
	# The Dockerfile's build line, flags and all (test/e2e runs it too).
	(cd "$repo" && CGO_ENABLED=0 GOOS=linux GOARCH="$arch" go build -ldflags="-s -w" -o "$work/out/" . ./cmd/chatflow-executor)
	install -m 0755 "$work/out/chatflow" "$root/chatflow"
	install -m 0755 "$work/out/chatflow-executor" "$root/chatflow-executor"
	# What distroless/static:nonroot brings that the binaries use: the
	# nonroot user, a writable /tmp and the CA bundle for HTTPS calls.
	printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$root/etc/passwd"
	printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
	if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
		cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
	fi
	# The Dockerfile's final stage: USER, ENTRYPOINT, CMD and LABELs.
	assemble "$CHATFLOW_IMAGE" "$IMAGE_DIR/chatflow.tar" "$root" \
		--user 65532:65532 --entrypoint /chatflow --cmd manager \
		--label org.opencontainers.image.title=chatflow \
		--label "org.opencontainers.image.description=Chat flows as Kubernetes resources: the operator and the flow executor" \
		--label org.opencontainers.image.source=https://github.com/chatflow-dev/chatflow
}

static_image() { # name, cache key, binary, file name: one static binary, its entrypoint
	local out="$cache/$2.tar"
	if [[ ! -f "$out" ]]; then
		mkdir -p "$cache"
		local root="$work/$2"
		mkdir -p "$root"
		install -m 0755 "$3" "$root/$4"
		assemble "$1" "$out" "$root" --entrypoint "/$4"
	fi
	cp "$out" "$IMAGE_DIR/$4.tar"
}

pause_image() {
	local sum
	sum="$(sha256sum <"$here/pause/main.go" | cut -c1-12)"
	if [[ ! -f "$cache/pause-$sum.tar" ]]; then
		(cd "$repo" && CGO_ENABLED=0 go build -ldflags="-s -w" -o "$work/pause" ./hack/pause)
	fi
	static_image "$PAUSE_IMAGE" "pause-$sum" "$work/pause" pause
}

coredns_image() {
	local bin
	bin="$(command -v coredns)"
	static_image "$COREDNS_IMAGE" "$(basename "$(dirname "$bin")")" "$bin" coredns
}

redis_image() {
	local bin=/usr/bin/redis-server
	[[ -x "$bin" ]] || { echo "image.sh: $bin is missing: apt-get install redis-server" >&2; exit 1; }
	local version
	version="$(dpkg-query -W -f '${Version}' redis-server 2>/dev/null || "$bin" --version | tr ' ' '\n' | grep '^v=')"
	local out="$cache/redis-${version//[^A-Za-z0-9.-]/_}.tar"
	if [[ ! -f "$out" ]]; then
		mkdir -p "$cache"
		local root="$work/redis"
		mkdir -p "$root/usr/bin" "$root/tmp" "$root/data"
		chmod 1777 "$root/tmp" "$root/data"
		# redis-server is a symlink to redis-check-rdb on Debian; the binary
		# picks its mode from its name, so it is copied as redis-server.
		cp -L "$bin" "$root/usr/bin/redis-server"
		local lib
		for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
			mkdir -p "$root$(dirname "$lib")"
			cp -L "$lib" "$root$lib"
		done
		assemble "$REDIS_IMAGE" "$out" "$root" --entrypoint /usr/bin/redis-server
	fi
	cp "$out" "$IMAGE_DIR/redis.tar"
}

build() {
	mkdir -p "$IMAGE_DIR"
	chatflow_image
	pause_image
	coredns_image
	redis_image
}

import() { # containerd socket
	local f
	for f in chatflow pause coredns redis; do
		ctr --address "$1" -n k8s.io images import "$IMAGE_DIR/$f.tar" >/dev/null
	done
	echo "image.sh: imported $CHATFLOW_IMAGE, $PAUSE_IMAGE, $COREDNS_IMAGE, $REDIS_IMAGE into $1" >&2
}

case "${1:-}" in
build) build ;;
import)
	[[ -n "${2:-}" ]] || { echo "usage: hack/image.sh import CONTAINERD_SOCKET" >&2; exit 2; }
	build
	import "$2"
	;;
*)
	echo "usage: hack/image.sh build|import CONTAINERD_SOCKET" >&2
	exit 2
	;;
esac
