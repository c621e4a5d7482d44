# Esper: `make run` brings everything up; `make test` runs every test. See README.md.
SHELL := /bin/bash
SWIFT ?= swift
PORT ?= 8080

# `make demo`: the end-to-end demo on a fresh server (ESPER_DEMO_SMALL=1 for the short one).
.PHONY: run demo test deps build release test-swift test-c test-c-sanitize test-c-noblas test-clients test-api-conformance openapi-check fmt lint bench-http bench-nissa infra clean

run: deps release
	.build/release/esper serve --port $(PORT)

demo: deps release
	.build/release/esper demo

test: deps lint build test-c test-c-sanitize test-c-noblas openapi-check test-clients test-api-conformance test-swift

deps:
	@scripts/bootstrap.sh

build:
	$(SWIFT) build --build-tests

release:
	$(SWIFT) build -c release --product esper

test-swift:
	$(SWIFT) test

test-c:
	$(MAKE) -C Tests/CKernels test

test-c-sanitize:
	$(MAKE) -C Tests/CKernels sanitize

test-c-noblas:
	$(MAKE) -C Tests/CKernels test-noblas

# The Python client, the auth matrix, the demo (small) and every runbook script, against live servers.
test-clients:
	python3 -m pytest -q clients/python/tests clients/runbook/tests

# schemathesis against a live server from openapi/esper.yaml (scripts/api_conformance.py).
test-api-conformance:
	python3 scripts/api_conformance.py

openapi-check:
	python3 scripts/check_openapi.py openapi/esper.yaml

fmt:
	$(SWIFT) format --in-place --recursive --configuration .swift-format Package.swift Sources Tests

lint:
	$(SWIFT) format lint --strict --recursive --configuration .swift-format Package.swift Sources Tests
	python3 scripts/check_imports.py

bench-http: deps release
	bench/http.sh

bench-nissa: deps
	bench/nissa/run.sh

# A local Prometheus (Debian package) scraping the server: ESPER_TARGET=host:port, default localhost:$(PORT).
infra: deps
	ESPER_TARGET=$${ESPER_TARGET:-localhost:$(PORT)} scripts/infra.sh

clean:
	rm -rf .build Tests/CKernels/build
