#!/usr/bin/env bash
# cluster.sh runs the single-node Kubernetes cluster of `make test-cluster`
# on this machine, as root, without a service manager:
#
#   hack/cluster.sh up          start it (tears down a previous one first)
#   hack/cluster.sh down        stop it and remove everything it made
#   hack/cluster.sh state       print what a cluster could leave behind
#   hack/cluster.sh leftovers BASELINE
#                               list what is there now and was not in
#                               BASELINE (a state taken before up), and
#                               every cluster process; exit 1 if any
#   hack/cluster.sh rss         resident memory of its processes, MiB
#   hack/cluster.sh run CMD...  run CMD inside the cluster's network
#
# Everything runs in a network namespace of its own, $CLUSTER_NETNS, whose
# only interfaces are its loopback and the cluster bridge: it has no route
# out of the machine, so no packet of the cluster, its pods or the suite
# can leave it (an address without a rule fails there: the service range
# is routed to the bridge and rejected unless kube-proxy DNATs it, the rest
# of the pod range is unreachable). The node's address is the bridge's,
# 10.244.0.1; the API server listens there. iptables chains (kube-proxy's,
# the kubelet's, CNI's) live in that namespace and go with it.
#
# Processes: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# containerd, kubelet, kube-proxy, each started in the background with a
# PID file under $CLUSTER_DIR/run and stopped by that PID. Their files
# (PKI, data, logs, kubeconfigs) are under $CLUSTER_DIR; the kubelet also
# needs /var/lib/kubelet/device-plugins and /var/log/containers, and
# containerd /run/containerd for its shims' sockets: down removes those
# when up made them. The kubelet sets a few kernel sysctls of the whole
# machine (vm.overcommit_memory, kernel.panic...): up records them and down
# puts them back.
#
# Binaries: kube-apiserver and etcd from hack/envtest-assets.sh, the rest
# from hack/cluster-assets.sh (both built from Go modules, cached); runc,
# containerd, the CNI plugins, iptables, conntrack and openssl from Debian
# (hack/test-cluster.sh installs them). Images are imported by
# hack/image.sh: the pause image must be there before pods start.
# The workarounds for this kind of machine (oom_score_adj, cgroup v1,
# kube-proxy's config file) are noted where they are applied.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CLUSTER_DIR="${CLUSTER_DIR:-/var/tmp/chatflow-cluster}"
CLUSTER_NETNS="${CLUSTER_NETNS:-chatflow-cluster}"
BRIDGE=cfbr0
NODE=chatflow-node
NODE_IP=10.244.0.1
POD_CIDR=10.244.0.0/16
NODE_POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
DNS_IP=10.96.0.10
APISERVER="https://$NODE_IP:6443"
PAUSE_IMAGE="${PAUSE_IMAGE:-chatflow.test/pause:1}"

run_dir="$CLUSTER_DIR/run"
log_dir="$CLUSTER_DIR/logs"
pki="$CLUSTER_DIR/pki"
sock="$CLUSTER_DIR/containerd/containerd.sock"
# Paths outside CLUSTER_DIR the components insist on; down removes those up
# created (recorded in $CLUSTER_DIR/created).
external_dirs=(/var/lib/kubelet /var/log/containers /var/log/pods /run/containerd /var/lib/cni /run/netns)
# Machine-wide sysctls the kubelet changes at start (kubelet: setupKernelTunables).
kernel_sysctls=(vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys kernel/keys/root_maxbytes)

log() { echo "cluster: $*" >&2; }
in_netns() { ip netns exec "$CLUSTER_NETNS" "$@"; }
# nsenter joins only the network namespace: `ip netns exec` would also give
# each process a mount namespace of its own, and the kubelet, containerd
# and runc must see each other's mounts.
netns_only() { nsenter --net="/run/netns/$CLUSTER_NETNS" "$@"; }

# ---------------------------------------------------------------- up

start() { # name, command... : start in the background in the cluster's network namespace
	local name="$1"
	shift
	# nsenter (not the function netns_only: a function in the background
	# is a subshell, and its PID would not be the component's) execs setsid,
	# which execs the component: $! is the component.
	nsenter --net="/run/netns/$CLUSTER_NETNS" setsid "$@" >"$log_dir/$name.log" 2>&1 </dev/null &
	echo $! >"$run_dir/$name.pid"
}

wait_for() { # what, seconds, command...
	local what="$1" secs="$2"
	shift 2
	local end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= end)); then
			log "$what did not come up within ${secs}s; the end of the logs:"
			tail -n 20 "$log_dir"/*.log >&2 || true
			return 1
		fi
		check_alive
		sleep 0.5
	done
}

check_alive() { # fail early when a component died
	local f
	for f in "$run_dir"/*.pid; do
		[[ -e "$f" ]] || continue
		if ! kill -0 "$(cat "$f")" 2>/dev/null; then
			log "$(basename "$f" .pid) exited; the end of its log:"
			tail -n 30 "$log_dir/$(basename "$f" .pid).log" >&2 || true
			return 1
		fi
	done
}

# network makes the namespace, the bridge with the node's address, and the
# routes, before any component starts.
network() {
	ip netns add "$CLUSTER_NETNS"
	in_netns ip link set lo up
	in_netns ip link add "$BRIDGE" type bridge
	in_netns ip addr add "$NODE_IP/24" dev "$BRIDGE"
	in_netns ip link set "$BRIDGE" up
	# The service range goes to the bridge, so the host side of the
	# namespace can reach ClusterIPs (kube-proxy DNATs them in OUTPUT, after
	# routing); what kube-proxy does not DNAT is rejected below. The rest of
	# the pod range has no pods: unreachable. There is no default route.
	in_netns ip route add "$SERVICE_CIDR" dev "$BRIDGE"
	in_netns ip route add unreachable "$POD_CIDR"
	in_netns sysctl -qw net.ipv4.ip_forward=1
	in_netns sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
	in_netns sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	# A ClusterIP without endpoints (or no Service at all) is refused here.
	# kube-proxy's own REJECT rules sit in front for Services it knows.
	in_netns iptables -N CHATFLOW-NO-ESCAPE
	in_netns iptables -A CHATFLOW-NO-ESCAPE -d "$SERVICE_CIDR" -p tcp -j REJECT --reject-with tcp-reset
	in_netns iptables -A CHATFLOW-NO-ESCAPE -d "$SERVICE_CIDR" -j REJECT
	in_netns iptables -A OUTPUT -j CHATFLOW-NO-ESCAPE
	in_netns iptables -A FORWARD -j CHATFLOW-NO-ESCAPE
}

pki() {
	mkdir -p "$pki"
	cd "$pki"
	openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
	openssl req -x509 -new -key ca.key -subj "/CN=chatflow-cluster-ca" -days 2 -out ca.crt 2>/dev/null
	cert() { # name, subject, extensions
		openssl ecparam -name prime256v1 -genkey -noout -out "$1.key" 2>/dev/null
		openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null
		printf '%s\n' "$3" >"$1.ext"
		openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
	}
	local client="keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
	cert apiserver "/CN=kube-apiserver" "keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:$NODE_IP,IP:10.96.0.1,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost"
	cert admin "/O=system:masters/CN=chatflow-cluster-admin" "$client"
	cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$client"
	cert controller-manager "/CN=system:kube-controller-manager" "$client"
	cert scheduler "/CN=system:kube-scheduler" "$client"
	cert kubelet "/O=system:nodes/CN=system:node:$NODE" "$client"
	cert kube-proxy "/CN=system:kube-proxy" "$client"
	openssl ecparam -name prime256v1 -genkey -noout -out sa.key 2>/dev/null
	openssl ec -in sa.key -pubout -out sa.pub 2>/dev/null
	for user in admin controller-manager scheduler kubelet kube-proxy; do
		cat >"$CLUSTER_DIR/$user.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: chatflow
  cluster: {server: "$APISERVER", certificate-authority: "$pki/ca.crt"}
users:
- name: $user
  user: {client-certificate: "$pki/$user.crt", client-key: "$pki/$user.key"}
contexts:
- name: chatflow
  context: {cluster: chatflow, user: $user}
current-context: chatflow
EOF
	done
	cd - >/dev/null
}

containerd_up() {
	mkdir -p "$CLUSTER_DIR/containerd" "$CLUSTER_DIR/cni/net.d" "$CLUSTER_DIR/cni/networks"
	# restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE, so no process
	# may lower its oom_score_adj, and runc failed every container that
	# asked to. cgroup v1 with the cgroupfs driver (no systemd).
	cat >"$CLUSTER_DIR/containerd/config.toml" <<EOF
version = 2
root = "$CLUSTER_DIR/containerd/root"
state = "$CLUSTER_DIR/containerd/state"
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[debug]
  address = "$sock.debug"
[plugins."io.containerd.internal.v1.opt"]
  path = "$CLUSTER_DIR/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$CLUSTER_DIR/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CLUSTER_DIR/cni/net.d"
EOF
	cat >"$CLUSTER_DIR/cni/net.d/10-chatflow.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "chatflow",
  "plugins": [
    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$CLUSTER_DIR/cni/networks",
              "ranges": [[{"subnet": "$NODE_POD_CIDR", "gateway": "$NODE_IP"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
	start containerd containerd --config "$CLUSTER_DIR/containerd/config.toml"
	wait_for containerd 30 ctr --address "$sock" version
}

control_plane_up() {
	mkdir -p "$CLUSTER_DIR/etcd"
	start etcd etcd --data-dir "$CLUSTER_DIR/etcd" --name "$NODE" \
		--listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
		--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster "$NODE=http://127.0.0.1:2380" --unsafe-no-fsync --log-level warn
	start kube-apiserver kube-apiserver \
		--etcd-servers http://127.0.0.1:2379 \
		--bind-address "$NODE_IP" --secure-port 6443 --advertise-address "$NODE_IP" \
		--service-cluster-ip-range "$SERVICE_CIDR" \
		--client-ca-file "$pki/ca.crt" --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
		--kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
		--service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
		--kubelet-preferred-address-types InternalIP \
		--allow-privileged=true --profiling=false --v=1
	wait_for kube-apiserver 120 kubectl_admin get --raw /readyz
	start kube-controller-manager kube-controller-manager \
		--kubeconfig "$CLUSTER_DIR/controller-manager.kubeconfig" \
		--authentication-kubeconfig "$CLUSTER_DIR/controller-manager.kubeconfig" \
		--authorization-kubeconfig "$CLUSTER_DIR/controller-manager.kubeconfig" \
		--bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials \
		--service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
		--cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
		--cluster-cidr "$POD_CIDR" --service-cluster-ip-range "$SERVICE_CIDR" --profiling=false --v=1
	start kube-scheduler kube-scheduler \
		--kubeconfig "$CLUSTER_DIR/scheduler.kubeconfig" \
		--authentication-kubeconfig "$CLUSTER_DIR/scheduler.kubeconfig" \
		--authorization-kubeconfig "$CLUSTER_DIR/scheduler.kubeconfig" \
		--bind-address 127.0.0.1 --leader-elect=false --profiling=false --v=1
}

node_up() {
	mkdir -p "$CLUSTER_DIR/kubelet" "$CLUSTER_DIR/pod-logs"
	: >"$CLUSTER_DIR/resolv.conf" # pods get cluster DNS only, never the machine's resolvers
	# failCgroupV1/cgroupfs: this machine has cgroup v1 and no systemd.
	# oomScoreAdj 0: no process may lower it here (see containerd's config).
	# Image GC off: every image is imported, none could be pulled back.
	cat >"$CLUSTER_DIR/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$pki/ca.crt"}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$sock
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
oomScoreAdj: 0
clusterDNS: [$DNS_IP]
clusterDomain: cluster.local
resolvConf: "$CLUSTER_DIR/resolv.conf"
podLogsDir: "$CLUSTER_DIR/pod-logs"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
serializeImagePulls: false
maxPods: 60
EOF
	start kubelet kubelet --config "$CLUSTER_DIR/kubelet/config.yaml" \
		--kubeconfig "$CLUSTER_DIR/kubelet.kubeconfig" --root-dir "$CLUSTER_DIR/kubelet" \
		--cert-dir "$CLUSTER_DIR/kubelet/pki" --hostname-override "$NODE" --node-ip "$NODE_IP" --v=1
	# kube-proxy exits when the content of its --config file changes: the
	# file is written once, before it starts. conntrack limits are the
	# machine's (the namespace cannot set them): leave them alone.
	cat >"$CLUSTER_DIR/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$CLUSTER_DIR/kube-proxy.kubeconfig"}
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE
oomScoreAdj: 0
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
	start kube-proxy kube-proxy --config "$CLUSTER_DIR/kube-proxy.yaml" --v=1
}

kubectl_admin() { netns_only kubectl --kubeconfig "$CLUSTER_DIR/admin.kubeconfig" "$@"; }

coredns_up() {
	# Cluster names only: every other name is refused here, never forwarded
	# to the machine's resolvers. (The refusal is a server block of its own:
	# CoreDNS runs its plugins in a fixed order, template before kubernetes.)
	kubectl_admin apply -f - >/dev/null <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: chatflow-cluster:coredns}
rules:
- {apiGroups: [""], resources: [endpoints, services, pods, namespaces], verbs: [list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: chatflow-cluster:coredns}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: chatflow-cluster:coredns}
subjects: [{kind: ServiceAccount, name: coredns, namespace: kube-system}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  Corefile: |
    cluster.local:1053 in-addr.arpa:1053 ip6.arpa:1053 {
        errors
        health :8080
        ready :8181
        kubernetes cluster.local in-addr.arpa ip6.arpa {
            pods insecure
        }
        cache 30
    }
    .:1053 {
        errors
        template ANY ANY {
            rcode REFUSED
        }
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  replicas: 1
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      serviceAccountName: coredns
      dnsPolicy: Default
      securityContext: {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: coredns
        image: chatflow.test/coredns:1
        imagePullPolicy: Never
        args: [-conf, /etc/coredns/Corefile]
        ports:
        - {name: dns, containerPort: 1053, protocol: UDP}
        - {name: dns-tcp, containerPort: 1053, protocol: TCP}
        readinessProbe: {httpGet: {path: /ready, port: 8181}, periodSeconds: 2}
        livenessProbe: {httpGet: {path: /health, port: 8080}, periodSeconds: 10}
        resources: {requests: {cpu: 10m, memory: 32Mi}, limits: {memory: 128Mi}}
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
        volumeMounts: [{name: config, mountPath: /etc/coredns, readOnly: true}]
      volumes: [{name: config, configMap: {name: coredns}}]
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: $DNS_IP
  selector: {k8s-app: kube-dns}
  ports:
  - {name: dns, port: 53, targetPort: 1053, protocol: UDP}
  - {name: dns-tcp, port: 53, targetPort: 1053, protocol: TCP}
EOF
}

record_created() { # remember which external dirs did not exist before up
	: >"$CLUSTER_DIR/created"
	local d
	for d in "${external_dirs[@]}"; do
		[[ -e "$d" ]] || echo "$d" >>"$CLUSTER_DIR/created"
	done
	: >"$CLUSTER_DIR/sysctls"
	local s
	for s in "${kernel_sysctls[@]}"; do
		echo "$s $(cat "/proc/sys/$s")" >>"$CLUSTER_DIR/sysctls"
	done
}

up() {
	down
	# A cluster that failed to come up is torn down.
	trap 'down' EXIT
	local t0=$SECONDS
	mkdir -p "$run_dir" "$log_dir"
	record_created
	mkdir -p /var/lib/kubelet/device-plugins /var/log/containers
	network
	pki
	containerd_up
	"$here/image.sh" import "$sock"
	control_plane_up
	node_up
	wait_for "node $NODE Ready" 120 kubectl_admin wait --for=condition=Ready "node/$NODE" --timeout=2s
	coredns_up
	wait_for "cluster DNS" 120 kubectl_admin -n kube-system wait --for=condition=Available deploy/coredns --timeout=2s
	trap - EXIT
	log "up in $((SECONDS - t0))s: KUBECONFIG=$CLUSTER_DIR/admin.kubeconfig, network namespace $CLUSTER_NETNS (hack/cluster.sh run CMD)"
}

# ---------------------------------------------------------------- down

stop_pid() { # pid file, seconds to wait before SIGKILL
	local f="$1" pid
	pid="$(cat "$f" 2>/dev/null)" || return 0
	if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		local end=$((SECONDS + $2))
		while kill -0 "$pid" 2>/dev/null && ((SECONDS < end)); do sleep 0.2; done
		kill -KILL "$pid" 2>/dev/null || true
		while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	fi
	rm -f "$f"
}

# cluster_pids lists processes that belong to the cluster whatever their
# PID files say: anything whose executable or command line lives under
# CLUSTER_DIR (containerd's shims and the containers they run have their
# bundle or rootfs there), and anything in the cluster's network namespace.
cluster_pids() {
	local p ns=""
	[[ -e "/run/netns/$CLUSTER_NETNS" ]] && ns="$(stat -L -c %i "/run/netns/$CLUSTER_NETNS" 2>/dev/null || true)"
	for p in /proc/[0-9]*; do
		local pid="${p#/proc/}"
		[[ "$pid" == "$$" || "$pid" == "$BASHPID" ]] && continue
		if [[ -n "$ns" && "$(stat -L -c %i "$p/ns/net" 2>/dev/null)" == "$ns" ]]; then
			echo "$pid"
			continue
		fi
		if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "$CLUSTER_DIR"; then
			echo "$pid"
			continue
		fi
		local root
		root="$(readlink "$p/root" 2>/dev/null || true)"
		if [[ "$root" == "$CLUSTER_DIR"* ]]; then echo "$pid"; fi
	done
	return 0
}

cluster_mounts() { # mount points of the cluster, deepest first
	awk -v d="$CLUSTER_DIR" -v ns="/run/netns/" -v me="$CLUSTER_NETNS" '
		index($5, d) == 1 || ($5 ~ "^/run/netns/cni-") || $5 == ns me || ($5 ~ "^/run/containerd/") { print $5 }' /proc/self/mountinfo |
		awk '{ print length($0) " " $0 }' | sort -rn | cut -d' ' -f2-
}

down() {
	[[ -d "$CLUSTER_DIR" || -e "/run/netns/$CLUSTER_NETNS" ]] || return 0
	log "tearing down"
	# Pod sandboxes first, through CRI, while containerd and the network are
	# still there, so CNI releases their addresses, veths and namespaces.
	if [[ -S "$sock" ]] && [[ -e "$run_dir/containerd.pid" ]] && kill -0 "$(cat "$run_dir/containerd.pid")" 2>/dev/null; then
		[[ -e "$run_dir/kubelet.pid" ]] && stop_pid "$run_dir/kubelet.pid" 10
		timeout 60 crictl --runtime-endpoint "unix://$sock" rmp --all --force >/dev/null 2>&1 || true
	fi
	local c
	for c in kubelet kube-proxy kube-scheduler kube-controller-manager kube-apiserver etcd containerd; do
		stop_pid "$run_dir/$c.pid" 10
	done
	# Whatever is left (shims, containers, a component whose PID file was
	# lost): killed by PID, shims last.
	local pids tries=0
	while pids="$(cluster_pids)" && [[ -n "$pids" ]] && ((tries < 20)); do
		# shellcheck disable=SC2086
		kill -KILL $pids 2>/dev/null || true
		sleep 0.3
		tries=$((tries + 1))
	done
	local m
	while read -r m; do
		[[ -n "$m" ]] && umount -l "$m" 2>/dev/null || true
	done < <(cluster_mounts)
	local n
	for n in /run/netns/cni-*; do
		[[ -e "$n" ]] || continue
		ip netns delete "$(basename "$n")" 2>/dev/null || rm -f "$n"
	done
	ip netns delete "$CLUSTER_NETNS" 2>/dev/null || true
	# The kubelet's and containerd's cgroups (cgroup v1: one tree per controller).
	local cg
	for cg in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/*/kubepods.slice /sys/fs/cgroup/*/k8s.io; do
		[[ -d "$cg" ]] && find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done
	if [[ -f "$CLUSTER_DIR/sysctls" ]]; then
		local s v
		while read -r s v; do echo "$v" >"/proc/sys/$s" 2>/dev/null || true; done <"$CLUSTER_DIR/sysctls"
	fi
	if [[ -f "$CLUSTER_DIR/created" ]]; then
		local d
		# /run/netns is a mount point of its own once `ip netns add` made it.
		while read -r d; do
			[[ -n "$d" ]] || continue
			grep -q " $d " /proc/self/mountinfo && umount -l "$d"
			rm -rf "$d"
		done <"$CLUSTER_DIR/created"
	else
		rm -rf /var/lib/kubelet/device-plugins
	fi
	rm -rf "$CLUSTER_DIR"
}

# rss prints the resident memory of the cluster's processes in MiB
# (components, shims, every container).
rss() {
	local pid kb=0 v
	for pid in $(cluster_pids); do
		v="$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)"
		kb=$((kb + ${v:-0}))
	done
	echo $((kb / 1024))
}

# ---------------------------------------------------------------- leftovers

# state prints what a cluster could leave behind in the machine, one item a
# line: mounts, network namespaces, links, iptables chains of both
# families, kubepods cgroups, the sysctls the kubelet sets, the
# directories the components insist on. leftovers compares it with the
# state taken before up.
state() {
	awk '{ print "mount " $5 }' /proc/self/mountinfo
	ip netns list 2>/dev/null | awk '{ print "netns " $1 }'
	ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print "link " $2 }'
	local cmd
	for cmd in iptables ip6tables; do
		command -v "$cmd-save" >/dev/null || continue
		"$cmd-save" 2>/dev/null | awk -v c="$cmd" '/^\*/ { t = substr($0, 2) } /^:/ { print c " " t " chain " substr($1, 2) }'
	done
	local p
	for p in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/*/kubepods.slice /sys/fs/cgroup/*/k8s.io; do
		[[ -e "$p" ]] && echo "cgroup $p"
	done
	for p in "${kernel_sysctls[@]}"; do echo "sysctl $p $(cat "/proc/sys/$p")"; done
	for p in "${external_dirs[@]}" "$CLUSTER_DIR"; do [[ -e "$p" ]] && echo "path $p"; done
	return 0
}

# leftovers BASELINE: every item of state not in BASELINE, and every
# process of the cluster; exit 1 if there is any.
leftovers() {
	local baseline="${1:?usage: hack/cluster.sh leftovers BASELINE (from hack/cluster.sh state)}"
	local found=0 line
	while read -r line; do
		[[ -n "$line" ]] || continue
		echo "leftover: process $line: $(tr '\0' ' ' 2>/dev/null <"/proc/$line/cmdline")"
		found=1
	done < <(cluster_pids)
	while read -r line; do
		echo "leftover: $line"
		found=1
	done < <(comm -13 <(sort -u "$baseline") <(state | sort -u))
	return "$found"
}

case "${1:-}" in
up) up ;;
down) down ;;
state) state ;;
rss) rss ;;
leftovers)
	shift
	leftovers "$@"
	;;
run)
	shift
	netns_only "$@"
	;;
*)
	echo "usage: hack/cluster.sh up|down|state|leftovers BASELINE|run CMD..." >&2
	exit 2
	;;
esac
