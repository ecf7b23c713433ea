# The two commands: `make run` and `make test`. Both install what is missing first.
.PHONY: run test deps build bench format clean-db

run: deps
	scripts/run.sh

test: deps
	scripts/test.sh

deps:
	scripts/deps.sh

build: deps
	swift build -c release --product bulwark

bench: deps
	bench/run.sh

format:
	swift format --in-place --recursive Sources Tests Package.swift bench/scoring-bench

# Stops and removes the private PostgreSQL cluster (wherever scripts/local-postgres.sh put it).
clean-db:
	scripts/local-postgres.sh --remove
