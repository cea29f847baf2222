# codeint — one binary for the whole platform. See README.md.
SHELL   := /bin/bash
GO      ?= go
export PATH := /usr/local/go/bin:/usr/local/bin:$(PATH)

LISTEN   ?= 127.0.0.1:8080
DATA_DIR ?= $(CURDIR)/.data
BENCH_N  ?= 200
BENCH_IO_N ?= 20
FAILOVER_N ?= 10

.PHONY: all deps build run test unit generate bench e2e-regions fmt vet clean

all: build

## deps: install what is missing (Debian packages, a pinned runc)
deps:
	@.ci/install-deps

## build: bin/codeint and bin/envd (static, runs inside sandboxes)
build:
	$(GO) build -o bin/codeint ./cmd/codeint
	CGO_ENABLED=0 $(GO) build -ldflags='-s -w' -o bin/envd ./cmd/envd

## run: the whole platform on this machine
run: deps build
	bin/codeint dev --listen $(LISTEN) --data-dir $(DATA_DIR)

## test: vet, format check and the whole suite (needs root: real runc).
## -p 1: one package at a time, so the sandbox suites (hostile, agent, e2e)
## do not share the 2 cores with each other and their timeouts stay honest.
test: deps build vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt needed'; exit 1; }
	$(GO) test -p 1 -count=1 -timeout 45m ./...

## generate: regenerate gqlgen code and the gRPC stubs (protoc from Debian's
## protobuf-compiler, installed by deps; the Go plugins pinned here)
generate: deps
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
	PATH="$$($(GO) env GOPATH)/bin:$$PATH" $(GO) generate ./...

## bench: the platform's figures, measured in one run (Failover: a region of
## three server processes; the store's ClusterApply: three servers over TCP;
## placement on one core at 10,000 nodes; the placement simulator's table;
## billing: stop to ledger, 1,000 metered sandboxes reconciled, and a
## team's balance over a year of hourly usage)
bench: deps build
	$(GO) test -run '^$$' -bench 'Create|Idle|Execute|FirstByte|Context' -benchtime $(BENCH_N)x -timeout 30m ./cmd/codeint/
	$(GO) test -run '^$$' -bench 'Upload|Download' -benchtime $(BENCH_IO_N)x -timeout 10m ./cmd/codeint/
	$(GO) test -run '^$$' -bench 'Failover' -benchtime $(FAILOVER_N)x -timeout 10m ./cmd/codeint/
	$(GO) test -run '^$$' -bench . -benchtime 2s -timeout 10m ./controlplane/store/
	$(GO) test -run '^$$' -bench 'Place10kNodes20Regions' -cpu 1 -benchtime 500000x ./placement/
	$(GO) run ./cmd/codeint placement simulate
	$(GO) test -run '^$$' -bench 'BillingLag' -benchtime 100x -timeout 10m ./cmd/codeint/
	$(GO) test -run '^$$' -bench 'ReconcileAfterCrash' -benchtime 1x -timeout 30m ./cmd/codeint/
	$(GO) test -run '^$$' -bench 'Reconcile1000' -benchtime 1x -timeout 10m ./nodeagent/meter/
	$(GO) test -run '^$$' -bench 'AccountYearOfUsage' -benchtime 2s ./controlplane/usage/

## e2e-regions: the region and federation tests with real processes
e2e-regions: deps build
	$(GO) test -count=1 -v -run 'TestRegion|TestFederation|TestThreeRegions|TestDevServes|TestPlacement|TestNomad|TestBudgetHoldsAcrossRegions' -timeout 20m ./cmd/codeint/

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
