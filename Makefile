# Run `make` for the list of targets. Every target is a thin wrapper over uv; see README.md.
.DEFAULT_GOAL := help
.PHONY: help install lint format test test-pkg bench bench-quick ci

PKG ?=
# packages/<PKG> or stacks/<PKG>
PKG_DIR = $(if $(PKG),$(firstword $(wildcard packages/$(PKG) stacks/$(PKG))))

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: ## Install every workspace member into .venv from the committed uv.lock
	uv sync --all-packages --frozen

lint: ## ruff check + format check over the whole repository, then mypy per member
	uv run ruff check .
	uv run ruff format --check .
	scripts/typecheck

format: ## Fix what ruff can fix, then format
	uv run ruff check --fix .
	uv run ruff format .

test: ## All tests of the repository (real Postgres + DuckDB): uv run pytest
	uv run pytest

test-pkg: ## One member alone in its own env, e.g. make test-pkg PKG=el-dlt
	@test -n "$(PKG_DIR)" || { echo "usage: make test-pkg PKG=<folder under packages/ or stacks/>"; exit 2; }
	UV_PROJECT_ENVIRONMENT=.venvs/$(PKG) uv run --exact --package stacks-$(PKG) pytest $(PKG_DIR)

bench: ## The benchmarks (slow; results in bench/results/)
	uv run python bench/run.py

bench-quick: ## A quick, smaller benchmark run
	uv run python bench/run.py --quick

ci: ## What CI runs: install prerequisites, each package alone, then everything
	.ci/run
