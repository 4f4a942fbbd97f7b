# Chatflow Makefile. Every target installs what it needs (tools pinned into
# bin/, envtest binaries built from Go modules into ~/.cache/chatflow).

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_TOOLS_VERSION ?= v0.23.0
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
HELM_VERSION ?= v3.22.0
HELM ?= $(LOCALBIN)/helm-$(HELM_VERSION)
KUBECTL ?= kubectl
# Image of `make docker-build` (the Dockerfile builds manager and executor binaries).
IMG ?= ghcr.io/chatflow-dev/chatflow:dev

# Chatflow is pure Go: every build is static, as in the image (Dockerfile).
# It also lets test/e2e build the image's binary from the compile cache the
# other tests fill, instead of compiling everything a second time.
export CGO_ENABLED ?= 0

# Extra flags for go test, e.g. make test GOTEST_FLAGS=-v.
GOTEST_FLAGS ?=

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-16s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate CRDs, RBAC and webhook configuration from markers, and the files derived from them.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd webhook paths="./..." output:crd:artifacts:config=config/crd/bases
	go generate ./internal/lint ./runtime/channel/capability ./runtime/flow
	cp config/crd/bases/*.yaml charts/chatflow/files/crds/

.PHONY: generate
generate: controller-gen ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: fmt
fmt: ## Run go fmt.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: tidy
tidy: ## Run go mod tidy.
	go mod tidy

.PHONY: verify
verify: manifests generate fmt tidy studio-check ## Regenerate everything and fail on a dirty tree.
	@if [ -n "$$(git status --porcelain)" ]; then \
		echo "make verify: the tree is dirty after regenerating; commit these:"; \
		git status --porcelain; git --no-pager diff --stat; exit 1; \
	fi

.PHONY: envtest
envtest: ## Build kube-apiserver and etcd for envtest (cached by version) and print their directory.
	@hack/envtest-assets.sh

.PHONY: test
test: manifests generate vet helm ## Run every test against a real kube-apiserver, etcd and redis-server.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" HELM="$(HELM)" go test $(GOTEST_FLAGS) ./... -timeout 25m

.PHONY: e2e
e2e: ## Run the end-to-end test alone: chatflow dev, the samples, webhooks, chat, lifecycle, Ctrl-C.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" go test $(GOTEST_FLAGS) -count=1 ./test/e2e/ -timeout 15m

# Time each fuzz target runs in `make fuzz`.
FUZZTIME ?= 10s

.PHONY: fuzz
fuzz: ## Run every fuzz target of the repository for FUZZTIME each (default 10s).
	FUZZTIME="$(FUZZTIME)" hack/fuzz.sh

.PHONY: chart-test
chart-test: helm ## Lint and render the Helm chart, dry-run apply it to envtest, compare golden files.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" HELM="$(HELM)" go test $(GOTEST_FLAGS) -count=1 ./test/chart/

.PHONY: chart-update
chart-update: helm ## Rewrite the chart's golden files after a deliberate change (review the diff).
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" HELM="$(HELM)" go test -count=1 ./test/chart/ -args -update

.PHONY: test-cluster
test-cluster: helm ## As root: a real single-node cluster (kubelet, containerd), the image, helm install, the suite of test/cluster; everything torn down after.
	HELM="$(HELM)" hack/test-cluster.sh

##@ Local development

# Extra flags for chatflow dev, e.g. make dev DEV_FLAGS=--sandbox-listen=127.0.0.1:9191.
DEV_FLAGS ?=

.PHONY: dev
dev: build ## Run Chatflow locally: control plane, operator, executors, channel sandbox (Ctrl-C stops it all).
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" $(LOCALBIN)/chatflow dev $(DEV_FLAGS)

##@ Build

# The studio's front end (web/studio) is built with Vite into
# internal/studio/dist, which the chatflow binary embeds; the bundle is
# committed, so go build and go install need no Node.
.PHONY: studio
studio: ## Rebuild the studio's front end into internal/studio/dist (needs Node.js and npm).
	cd web/studio && npm ci --prefer-offline --no-audit --no-fund --loglevel=error && npm run build

.PHONY: studio-check
studio-check: ## Fail when internal/studio/dist was not built from web/studio as it is (run make studio).
	go test -count=1 -run TestEmbeddedFrontEndIsCurrent ./internal/studio/

# The image's two binaries (Dockerfile): chatflow, and chatflow-executor,
# the executor alone, which the operator's pods run.
.PHONY: build
build: ## Build bin/chatflow and bin/chatflow-executor.
	go build -o $(LOCALBIN)/ . ./cmd/chatflow-executor

.PHONY: run
run: ## Run the manager against the current kubeconfig.
	go run . manager

# The images of make test-cluster, assembled from binaries without a
# docker engine or a base image (hack/image.sh); imported into the node's
# containerd when the cluster of hack/cluster.sh runs.
CLUSTER_DIR ?= /var/tmp/chatflow-cluster

.PHONY: image
image: ## Assemble the Dockerfile's image (and pause, CoreDNS, Redis) from binaries into bin/images; import them into the test cluster's containerd if it runs.
	@if [ -S "$(CLUSTER_DIR)/containerd/containerd.sock" ]; then \
		hack/image.sh import "$(CLUSTER_DIR)/containerd/containerd.sock"; \
	else \
		hack/image.sh build; \
	fi

.PHONY: docker-build
docker-build: ## Build the image (manager and executor) as IMG with docker.
	docker build -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push IMG.
	docker push $(IMG)

##@ Deployment

.PHONY: install
install: manifests ## Install the CRDs into the cluster of the current kubeconfig.
	$(KUBECTL) apply --server-side -k config/crd

.PHONY: uninstall
uninstall: manifests ## Remove the CRDs (and every ChatFlow and ChannelBinding) from the cluster.
	$(KUBECTL) delete --ignore-not-found -k config/crd

##@ Dependencies

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN)
$(CONTROLLER_GEN):
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $(CONTROLLER_GEN)

# Helm builds from its Go module (the first build takes a few minutes on
# 2 cores; the compile cache makes later ones quick).
.PHONY: helm
helm: $(HELM)
$(HELM):
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	mv $(LOCALBIN)/helm $(HELM)

##@ Benchmarks

.PHONY: bench
bench: ## Load-test a real executor (memory, then Redis store; straight and through the gateway) and run the Go benchmarks of the hot paths.
	go test -tags bench -count=1 -run TestLoad -v ./test/bench/ -args -contacts=50 -turns=100 -rounds=5 | grep -E '^(store=|--- |ok|FAIL)'
	go test -run '^$$' -bench . -benchmem ./runtime/flow/ ./runtime/expr/ ./runtime/channel/meta/ ./internal/gateway/

# Contacts and rates (one campaign each) of bench-campaign.
BENCH_CONTACTS ?= 100000
BENCH_RATES ?= 1000,10000

.PHONY: bench-campaign
bench-campaign: ## A campaign of BENCH_CONTACTS per rate in BENCH_RATES on one executor replica: hand-over and completion rates, manager memory.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" go test -tags benchcampaign -count=1 -run TestCampaignBench -v -timeout 60m \
		./test/campaignload/ -args -contacts=$(BENCH_CONTACTS) -rates=$(BENCH_RATES) | grep -E '^(BENCH|    bench_test|--- |ok|FAIL)'

# Published flows (with bindings and Secrets) of bench-operator.
BENCH_FLOWS ?= 300

.PHONY: bench-operator
bench-operator: ## Operator at scale on envtest: BENCH_FLOWS flows vs a plain client (ratio ≤ 3x, manager peak RSS, webhook p99).
	go build -o $(LOCALBIN)/chatflow .
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" go test -tags benchoperator -count=1 -run TestOperatorBench -v -timeout 20m \
		./test/benchoperator/ -args -chatflow=$(LOCALBIN)/chatflow -flows=$(BENCH_FLOWS) | grep -E '^(BENCH|webhook latency|api server requests|    bench_test|--- |ok|FAIL)'
