# Run `make` for the list of targets. Every target is a thin wrapper over uv; see README.md.
.DEFAULT_GOAL := help
.PHONY: help install lint format test test-pkg bench bench-quick ci

PKG ?=
ARGS ?=
# packages/<PKG> or stacks/<PKG>
PKG_DIR = $(if $(PKG),$(firstword $(wildcard packages/$(PKG) stacks/$(PKG))))

help: ## Show this help (target names coloured only on a terminal, and not under NO_COLOR)
	@if [ -t 1 ] && [ -z "$$NO_COLOR" ]; then c='\033[36m'; r='\033[0m'; else c=; r=; fi; \
	awk -v c="$$c" -v r="$$r" 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / \
	  {printf "  %s%-12s%s %s\n", c, $$1, r, $$2}' $(MAKEFILE_LIST)

install: ## Install every workspace member into .venv from the committed uv.lock
	uv sync --all-packages --frozen --compile-bytecode

lint: ## ruff check + format check, mypy per member, then the workflows: current + actionlint
	uv run ruff check .
	uv run ruff format --check .
	scripts/typecheck
	scripts/workflows --check
	uv run actionlint

format: ## Fix what ruff can fix, then format
	uv run ruff check --fix .
	uv run ruff format .

test: ## Every member's tests once, each in its own env, then tests/: scripts/test
	scripts/test$(if $(ARGS), -- $(ARGS))

test-pkg: ## One member alone in its own env, e.g. make test-pkg PKG=el-dlt [ARGS="-x -k merge"]
	@test -n "$(PKG_DIR)" || { echo "usage: make test-pkg PKG=<folder under packages/ or stacks/> [ARGS=<pytest args>]"; exit 2; }
	scripts/test $(PKG)$(if $(ARGS), -- $(ARGS))

bench: ## The benchmarks (slow; results in bench/results/)
	uv run python bench/run.py

bench-quick: ## A quick, smaller benchmark run
	uv run python bench/run.py --quick

ci: ## What CI runs (.ci/run): install prerequisites, uv sync, then scripts/test
	.ci/run
