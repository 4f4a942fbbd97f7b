#!/usr/bin/env bash
# test-cluster.sh is `make test-cluster`: it installs the Debian packages
# the cluster needs, builds what is missing (hack/cluster-assets.sh,
# hack/envtest-assets.sh, the images), brings up the single-node cluster of
# hack/cluster.sh, runs the suite of test/cluster in the cluster's network
# namespace, and tears everything down, also when the suite fails or the
# run is interrupted. Then it checks that nothing is left: no process,
# mount, network namespace, link, iptables chain, cgroup or sysctl change
# that was not there before (hack/cluster.sh leftovers), and fails if
# anything is.
#
#   HELM        the helm binary (make test-cluster builds it into bin/)
#   GOTEST_FLAGS extra go test flags for the suite, e.g. -v or -run TestImage
#                (passed to its test binary as -test.v, -test.run ...)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cd "$repo"
t0=$SECONDS

if [[ "$(id -u)" != 0 ]]; then
	echo "make test-cluster runs a kubelet and containerd: it needs root" >&2
	exit 1
fi

# Debian packages: the container runtime and what the kubelet, kube-proxy
# and CNI call.
missing=()
need() { command -v "$1" >/dev/null || missing+=("$2"); }
need containerd containerd
need runc runc
need iptables iptables
need conntrack conntrack
need openssl openssl
need nsenter util-linux
need redis-server redis-server
[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/portmap ]] || missing+=(containernetworking-plugins)
if ((${#missing[@]})); then
	echo "test-cluster: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v kubectl >/dev/null || { echo "test-cluster: kubectl is missing" >&2; exit 1; }
: "${HELM:?set HELM to the helm binary (make test-cluster does)}"

PATH="$("$here/cluster-assets.sh"):$("$here/envtest-assets.sh"):$PATH"
export PATH
echo "test-cluster: components ready after $((SECONDS - t0))s" >&2

work="$(mktemp -d)"
baseline="$work/baseline"
"$here/cluster.sh" down # a cluster a killed run left behind
"$here/cluster.sh" state >"$baseline"

status=0
finish() {
	local code=$?
	trap - EXIT INT TERM
	((status == 0)) && status=$code
	"$here/cluster.sh" down || status=1
	if ! "$here/cluster.sh" leftovers "$baseline"; then
		echo "test-cluster: the teardown left the above behind" >&2
		status=1
	else
		echo "test-cluster: teardown complete, nothing left behind" >&2
	fi
	rm -rf "$work"
	echo "test-cluster: $((SECONDS - t0))s in all" >&2
	exit "$status"
}
trap finish EXIT
trap 'status=130; exit 130' INT
trap 'status=143; exit 143' TERM

# The suite, compiled outside the cluster's namespace (which reaches no
# module proxy), run inside it.
CGO_ENABLED=0 go test -c -tags cluster -o "$work/cluster.test" ./test/cluster/

"$here/cluster.sh" up
echo "test-cluster: up after $((SECONDS - t0))s; memory of the idle cluster: $("$here/cluster.sh" rss) MiB" >&2
t1=$SECONDS
cluster_dir="${CLUSTER_DIR:-/var/tmp/chatflow-cluster}"
# The test binary runs in its package's directory, as under go test.
cd "$repo/test/cluster"
flags=()
for f in ${GOTEST_FLAGS:-}; do
	[[ "$f" == -* && "$f" != -test.* ]] && f="-test.${f#-}"
	flags+=("$f")
done
"$here/cluster.sh" run env KUBECONFIG="$cluster_dir/admin.kubeconfig" HELM="$HELM" \
	CHATFLOW_IMAGE_DIR="${IMAGE_DIR:-$repo/bin/images}" \
	"$work/cluster.test" -test.timeout 20m -test.count 1 "${flags[@]}" || status=$?
cd "$repo"
echo "test-cluster: the suite took $((SECONDS - t1))s" >&2
echo "test-cluster: memory of the cluster after the suite: $("$here/cluster.sh" rss) MiB" >&2
