#!/usr/bin/env bash
# k8s-version-ldflags.sh VERSION prints the -ldflags that stamp a Kubernetes
# component built from Go modules with its release version, as upstream's
# build does (hack/lib/version.sh there). Without them a component reports
# v0.0.0-master+$Format:%H$, which kubectl, Helm and the kubelet's version
# checks against the API server cannot parse.
set -euo pipefail
v="${1:?usage: k8s-version-ldflags.sh vMAJOR.MINOR.PATCH}"
[[ "$v" =~ ^v([0-9]+)\.([0-9]+)\.[0-9]+$ ]] || { echo "k8s-version-ldflags.sh: $v is not vMAJOR.MINOR.PATCH" >&2; exit 1; }
pkg=k8s.io/component-base/version
echo "-s -w -X $pkg.gitVersion=$v -X $pkg.gitMajor=${BASH_REMATCH[1]} -X $pkg.gitMinor=${BASH_REMATCH[2]} -X $pkg.gitTreeState=clean"
