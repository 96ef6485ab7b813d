#!/usr/bin/env bash
# Build .venv from the lock file, as fast as this machine allows. `make demo`, `make test` and
# every other make target call this through the .venv/.installed stamp.
#
#   1. uv on PATH (0.8 or later)             -> uv sync --locked (uv.lock)
#   2. else uv installed from PyPI, once,    -> .tools/uv (pip install --target), then as 1
#   3. else pip with the lock's hashed export (requirements-dev.lock), then the project editable
#
# BEXSYNC_BOOTSTRAP=uv-bootstrap skips a uv on PATH (step 2), =pip goes straight to step 3: both
# exist to measure and test the fallbacks (README "Development" has the timings).
#
# `tools/bootstrap.sh lock [--upgrade]` regenerates uv.lock and requirements-dev.lock (make lock);
# `tools/bootstrap.sh lock-check` fails when either is stale against pyproject.toml;
# `tools/bootstrap.sh uv-path` prints the uv the others use (installing it first if need be).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
MODE=${BEXSYNC_BOOTSTRAP:-auto}
UV_VERSION=0.13.9 # the uv that step 2 installs
UV_MIN=0.8.0      # the oldest uv on PATH that reads uv.lock as written
TOOLS=.tools/uv
started=$(date +%s.%N)

say() { printf 'bootstrap: %s\n' "$*" >&2; }
elapsed() { awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

uv_new_enough() {
	local version
	version=$("$1" --version 2>/dev/null | awk '{ print $2 }') || return 1
	[ -n "$version" ] && printf '%s\n%s\n' "$UV_MIN" "$version" | sort -V -C
}

pip_quiet=(-qq --disable-pip-version-check --root-user-action=ignore)

install_uv() {
	# pip --target skips a venv (and PEP 668's check): the uv wheel is one static binary.
	local pip=("$PYTHON" -m pip)
	if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
		"$PYTHON" -m venv .tools/pip >/dev/null 2>&1 || return 1
		pip=(.tools/pip/bin/python -m pip)
	fi
	rm -rf "$TOOLS"
	"${pip[@]}" install "${pip_quiet[@]}" --target "$TOOLS" "uv==$UV_VERSION" && [ -x "$TOOLS/bin/uv" ]
}

find_uv() {
	if [ "$MODE" = auto ] && command -v uv >/dev/null 2>&1 && uv_new_enough uv; then
		command -v uv
	elif [ -x "$TOOLS/bin/uv" ] && uv_new_enough "$TOOLS/bin/uv"; then
		echo "$PWD/$TOOLS/bin/uv"
	else
		say "no uv $UV_MIN+ on PATH: installing uv $UV_VERSION from PyPI into $TOOLS (once)"
		install_uv && echo "$PWD/$TOOLS/bin/uv"
	fi
}

# Never download a Python: build the venv on $PYTHON, as the pip path would. Trust the system's
# certificate store (a proxy's CA installed there works; uv's own bundle would refuse it).
export UV_PYTHON_DOWNLOADS=never
export UV_SYSTEM_CERTS=${UV_SYSTEM_CERTS:-1} UV_NATIVE_TLS=${UV_NATIVE_TLS:-1} # uv >= 0.13, older

with_uv() {
	UV_PROJECT_ENVIRONMENT="$VENV" "$1" sync --locked --extra dev --python "$PYTHON" --quiet
}

with_pip() {
	rm -rf "$VENV"
	"$PYTHON" -m venv "$VENV"
	if ! "$VENV/bin/pip" install "${pip_quiet[@]}" --require-hashes -r requirements-dev.lock; then
		say "pip could not install the locked packages (error above). Is PyPI reachable from here?"
		say "bexsync needs PyPI (or a mirror in pip's config) once, to build .venv."
		return 1
	fi
	"$VENV/bin/pip" install "${pip_quiet[@]}" --no-deps -e .
}

export_lock() {
	"$1" export --locked --extra dev --no-emit-project --format requirements-txt --quiet "${@:2}"
}

case "${1:-sync}" in
lock)
	uv=$(find_uv)
	"$uv" lock --python "$PYTHON" "${@:2}"
	export_lock "$uv" -o requirements-dev.lock
	say "uv.lock and requirements-dev.lock written; commit both"
	exit 0
	;;
uv-path)
	find_uv
	exit 0
	;;
lock-check)
	uv=$(find_uv)
	if ! "$uv" lock --check --python "$PYTHON" --quiet; then
		say "uv.lock is stale against pyproject.toml: run 'make lock' and commit it"
		exit 1
	fi
	# The export's header names its own command; compare the requirements only.
	if ! diff <(export_lock "$uv" | grep -v '^#') <(grep -v '^#' requirements-dev.lock) >/dev/null; then
		say "requirements-dev.lock differs from uv.lock's export: run 'make lock' and commit it"
		exit 1
	fi
	say "uv.lock and requirements-dev.lock match pyproject.toml"
	exit 0
	;;
sync) ;;
*)
	say "unknown command '$1' (sync, lock, lock-check or uv-path)"
	exit 2
	;;
esac

if [ "$MODE" != pip ]; then
	if uv=$(find_uv) && [ -n "$uv" ]; then
		with_uv "$uv"
		say "$VENV ready with $uv in $(elapsed) s"
		exit 0
	fi
	say "uv could not be installed from PyPI (error above): falling back to pip"
fi
with_pip
say "$VENV ready with pip in $(elapsed) s"
