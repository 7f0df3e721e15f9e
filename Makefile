# `make demo` and `make test` each do the whole set-up first (scripts/setup.sh).
.PHONY: setup build lint demo test test-unit bench

setup:
	bash scripts/setup.sh

build:
	npm run build

lint:
	npx eslint . && npx prettier --check .
	shellcheck -s sh src/stage1/oci/supervisor.sh

demo: setup
	bash scripts/demo.sh

test: setup lint
	node --test --test-reporter=spec dist/test/unit dist/test/integration

test-unit: build
	node --test dist/test/unit

bench: setup
	bash bench/run.sh
