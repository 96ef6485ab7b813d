#!/usr/bin/env bash
# The package as a user installs it (`make package-check`, run by .ci/run): build the sdist and,
# from it, the wheel; install the wheel alone in a clean venv (dependencies pinned by uv.lock);
# run each command's --help outside the source tree; check the wheel holds the three packages
# with their data files and nothing test-only.
#
# WHEEL_FORBIDDEN: extended regexes of wheel paths that must never ship (tests, test doubles).
# WHEEL_KNOWN_DOUBLES: paths still shipped on purpose until their owner retires them; each is
# reported, not failed. Empty it (in .ci/run) once they are gone, so they can never come back.
set -euo pipefail
cd "$(dirname "$0")/.."

WHEEL_FORBIDDEN=${WHEEL_FORBIDDEN:-'(^|/)tests?/ (^|/)conftest\.py$ (^|/)test_[^/]*\.py$ ^benchmarks/ (^|/)fake[^/]*\.py$ (^|/)support_[^/]*\.py$'}
WHEEL_KNOWN_DOUBLES=${WHEEL_KNOWN_DOUBLES:-}
PACKAGES="daemon providers bexsync_tui"
PYTHON=${PYTHON:-python3}
export UV_PYTHON_DOWNLOADS=never # as tools/bootstrap.sh: this Python, the system's certificates
export UV_SYSTEM_CERTS=${UV_SYSTEM_CERTS:-1} UV_NATIVE_TLS=${UV_NATIVE_TLS:-1}

say() { printf 'package-check: %s\n' "$*"; }
fail() {
	say "FAILED: $*"
	exit 1
}

uv=$(tools/bootstrap.sh uv-path)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$uv" build --quiet --out-dir "$work/dist" . || fail "uv build"
wheel=$(ls "$work"/dist/*.whl)
sdist=$(ls "$work"/dist/*.tar.gz)
say "built $(basename "$sdist") and, from it, $(basename "$wheel")"

# What the wheel holds.
"$PYTHON" -c 'import sys, zipfile; print("\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))' \
	"$wheel" | sort >"$work/members"
grep -v '\.dist-info/' "$work/members" >"$work/files"

problems=0
outside=$(grep -v -E "^($(echo "$PACKAGES" | tr ' ' '|'))/" "$work/files" || true)
if [ -n "$outside" ]; then
	say "files outside $PACKAGES:"
	printf '  %s\n' $outside
	problems=1
fi
for pattern in $WHEEL_FORBIDDEN; do
	while IFS= read -r path; do
		[ -n "$path" ] || continue
		if printf '%s\n' $WHEEL_KNOWN_DOUBLES | grep -qxF "$path"; then
			say "known test double still in the wheel (allowed by WHEEL_KNOWN_DOUBLES): $path"
		else
			say "test-only file in the wheel: $path (matches $pattern)"
			problems=1
		fi
	done < <(grep -E "$pattern" "$work/files" || true)
done
for path in $WHEEL_KNOWN_DOUBLES; do
	grep -qxF "$path" "$work/files" ||
		say "note: $path is gone from the wheel; drop it from WHEEL_KNOWN_DOUBLES (.ci/run)"
done

# Every data file git tracks in the packages ships (the TUI's stylesheet, SQL, JSON).
if git rev-parse --git-dir >/dev/null 2>&1; then
	for path in $(git ls-files -- $PACKAGES | grep -E '\.(tcss|sql|json)$'); do
		grep -qxF "$path" "$work/files" || {
			say "package data missing from the wheel: $path"
			problems=1
		}
	done
fi
[ "$problems" = 0 ] || fail "the wheel's contents (above)"
say "wheel holds $(wc -l <"$work/files") files, all under $PACKAGES, no test-only file beyond WHEEL_KNOWN_DOUBLES"

# A clean venv with only the wheel and its locked dependencies.
"$uv" export --locked --no-dev --no-emit-project --no-hashes --format requirements-txt \
	--quiet -o "$work/constraints.txt"
"$uv" venv --quiet --python "$PYTHON" "$work/venv"
"$uv" pip install --quiet --python "$work/venv/bin/python" -c "$work/constraints.txt" "$wheel" ||
	fail "installing the wheel"
cd "$work" # outside the source tree: only the installed package can be imported
for command in "bexsyncd --help" "bexsync --help" "bexsync demo --help"; do
	# shellcheck disable=SC2086
	"$work/venv/bin/"$command >"$work/out" 2>&1 || {
		cat "$work/out"
		fail "$command"
	}
	grep -q -i usage "$work/out" || {
		cat "$work/out"
		fail "$command printed no usage"
	}
	say "ok: $command"
done
"$work/venv/bin/python" -c 'import importlib.resources as r; assert r.files("bexsync_tui").joinpath("app.tcss").is_file()' ||
	fail "the TUI's stylesheet is not installed"
say "passed"
