#!/usr/bin/env bash
# envtest-assets.sh builds kube-apiserver and etcd from their Go modules (see
# hack/tools/) into a cache directory keyed by their versions and prints that
# directory, ready for KUBEBUILDER_ASSETS. Nothing is downloaded but Go
# modules, so it works where setup-envtest cannot. A binary already in the
# cache is reused; the first build of kube-apiserver takes ~4 min on 2 cores.
#
# kube-apiserver is built with the version ldflags of an upstream release
# (hack/k8s-version-ldflags.sh): without them it reports
# v0.0.0-master+$Format:%H$, which kubectl and Helm's kubeVersion checks
# cannot parse. The cache key carries that build recipe ("-ldflags"), so a
# binary built before it is never reused.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version_of() { # module dir, module path -> version required by that tool module
	awk -v m="$2" '$1 == m || ($1 == "require" && $2 == m) { v = ($1 == "require") ? $3 : $2 } END { print v }' "$1/go.mod"
}
k8s_version="$(version_of "$here/tools/kube-apiserver" k8s.io/kubernetes)"
etcd_version="$(version_of "$here/tools/etcd" go.etcd.io/etcd/server/v3)"
cache="${CHATFLOW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chatflow}"
dir="$cache/envtest/k8s-${k8s_version}-etcd-${etcd_version}-ldflags"
mkdir -p "$dir"

build() { # tool dir, binary name, go build flags...
	local out="$dir/$2"
	if [[ -x "$out" ]]; then return; fi
	echo "building $2 into $dir (first time only)" >&2
	# Build into a temporary name so an interrupted build never leaves a
	# half-written binary that later runs would trust.
	(cd "$here/tools/$1" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath "${@:3}" -o "$out.tmp" .)
	mv "$out.tmp" "$out"
}
build etcd etcd
build kube-apiserver kube-apiserver -ldflags "$("$here/k8s-version-ldflags.sh" "$k8s_version")"
echo "$dir"
