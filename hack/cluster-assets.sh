#!/usr/bin/env bash
# cluster-assets.sh builds what the single-node cluster of `make
# test-cluster` runs and the Debian packages do not ship, from Go modules,
# into cache directories keyed by version, and prints them as a PATH
# fragment (dir:dir:...). Nothing is downloaded but Go modules. A binary
# already in the cache is reused.
#
#   kubelet, kube-proxy, kube-controller-manager, kube-scheduler
#       hack/tools/kubernetes (same k8s.io/kubernetes as envtest's
#       kube-apiserver, with the release's version ldflags)
#   coredns, crane, crictl
#       `go install` of the pinned releases below
#
# The first build takes ~10 min on 2 idle cores (kubelet ~5 min,
# kube-controller-manager ~6 min, less with a warm compile cache), one
# binary at a time: the Go compiler already uses every core.
set -euo pipefail

COREDNS_VERSION=v1.15.0
CRANE_VERSION=v0.22.1
CRICTL_VERSION=v1.37.0

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version_of() { # module dir, module path -> version required by that tool module
	awk -v m="$2" '$1 == m || ($1 == "require" && $2 == m) { v = ($1 == "require") ? $3 : $2 } END { print v }' "$1/go.mod"
}
k8s_version="$(version_of "$here/tools/kubernetes" k8s.io/kubernetes)"
apiserver_version="$(version_of "$here/tools/kube-apiserver" k8s.io/kubernetes)"
if [[ "$k8s_version" != "$apiserver_version" ]]; then
	echo "cluster-assets.sh: hack/tools/kubernetes has k8s.io/kubernetes $k8s_version but envtest's kube-apiserver $apiserver_version; keep them equal" >&2
	exit 1
fi
cache="${CHATFLOW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chatflow}/cluster"

# Build into a temporary name and move it in place, so an interrupted build
# never leaves a half-written binary that later runs would trust.
k8s_dir="$cache/k8s-$k8s_version"
build_k8s() { # component
	local out="$k8s_dir/$1"
	[[ -x "$out" ]] && return
	mkdir -p "$k8s_dir"
	echo "building $1 $k8s_version into $k8s_dir (first time only)" >&2
	(cd "$here/tools/kubernetes" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
		-ldflags "$("$here/k8s-version-ldflags.sh" "$k8s_version")" -o "$out.tmp" "./$1")
	mv "$out.tmp" "$out"
}
install_tool() { # name, version, package
	local dir="$cache/$1-$2"
	[[ -x "$dir/$1" ]] && return
	echo "building $1 $2 into $dir (first time only)" >&2
	local tmp
	tmp="$(mktemp -d "$cache/.build-$1.XXXXXX")"
	CGO_ENABLED=0 GOBIN="$tmp" GOFLAGS=-mod=mod go install -trimpath -ldflags "-s -w" "$3@$2"
	mkdir -p "$dir"
	mv "$tmp/$1" "$dir/$1"
	rmdir "$tmp"
}

mkdir -p "$cache"
build_k8s kubelet
build_k8s kube-proxy
build_k8s kube-scheduler
build_k8s kube-controller-manager
install_tool crane "$CRANE_VERSION" github.com/google/go-containerregistry/cmd/crane
install_tool crictl "$CRICTL_VERSION" sigs.k8s.io/cri-tools/cmd/crictl
install_tool coredns "$COREDNS_VERSION" github.com/coredns/coredns

echo "$k8s_dir:$cache/crane-$CRANE_VERSION:$cache/crictl-$CRICTL_VERSION:$cache/coredns-$COREDNS_VERSION"
