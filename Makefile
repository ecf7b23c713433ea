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

# Stops and removes the private PostgreSQL cluster under .bulwark/.
clean-db:
	-runuser -u postgres -- $$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/pg_ctl -D .bulwark/pg/data stop -m fast
	rm -rf .bulwark/pg
