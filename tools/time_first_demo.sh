#!/usr/bin/env bash
# How long a fresh clone takes from `make demo` to the TUI's first screen (README's figures).
#
#   tools/time_first_demo.sh MODE [cold|warm]
#     MODE uv            a uv on PATH (the one in this checkout's .tools/uv)
#     MODE uv-bootstrap  no uv on PATH: the clone installs it from PyPI into .tools/uv
#     MODE pip           the pip fallback (BEXSYNC_BOOTSTRAP=pip)
#     cold: empty uv and pip caches (UV_CACHE_DIR, PIP_CACHE_DIR in a new temp dir)
#
# Clones this repository into a temp dir, runs `make demo` in a detached tmux session and polls
# the screen until the first screen shows the demo's authorisation with the daemon connected;
# prints the seconds from the start, then quits the TUI (ctrl+q) and removes the clone.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?MODE: uv, uv-bootstrap or pip}
caches=${2:-warm}
here=$PWD
work=$(mktemp -d /tmp/bx-first-demo-XXXXXX)
session="first-demo-$$"
cleanup() {
	tmux kill-session -t "$session" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

git clone --quiet "$here" "$work/clone"
# This shell's environment (certificates, proxies), less any uv on PATH.
env=(PATH="$(dirname "$(python3 -c "import sys; print(sys.executable)")"):/usr/local/bin:/usr/bin:/bin")
case "$mode" in
uv)
	[ -x "$here/.tools/uv/bin/uv" ] || tools/bootstrap.sh uv-path >/dev/null
	env[0]="PATH=$here/.tools/uv/bin:${env[0]#PATH=}"
	;;
uv-bootstrap) ;;
pip) env+=(BEXSYNC_BOOTSTRAP=pip) ;;
*)
	echo "unknown mode $mode" >&2
	exit 2
	;;
esac
if [ "$caches" = cold ]; then
	env+=(UV_CACHE_DIR="$work/uv-cache" PIP_CACHE_DIR="$work/pip-cache")
fi

started=$(date +%s.%N)
tmux new-session -d -s "$session" -x 120 -y 35 \
	"env ${env[*]} bash -c 'cd $work/clone && make demo; sleep 600'"
shown=""
for _ in $(seq 1 3000); do # at most 300 s
	screen=$(tmux capture-pane -p -t "$session" 2>/dev/null || true)
	if grep -q "Demo sandbox" <<<"$screen" && grep -q "connected" <<<"$screen"; then
		shown=$(date +%s.%N)
		break
	fi
	sleep 0.1
done
[ -n "$shown" ] || {
	echo "the TUI did not show within 300 s; the screen:" >&2
	tmux capture-pane -p -t "$session" >&2
	exit 1
}
tmux send-keys -t "$session" C-q
seconds=$(awk -v a="$started" -v b="$shown" 'BEGIN { printf "%.1f", b - a }')
echo "first demo screen: ${seconds} s (mode $mode, $caches caches)"
