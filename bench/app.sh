#!/usr/bin/env bash
# Apps added to a running pod: `rkt app add` + `rkt app start` of a cached image (/bin/true) into a
# running sandbox, against `podman create --pod P` + `podman start` of the same rootfs; and, in the
# same run, `rkt run --net=none` of /bin/true against `podman run --rm --net=none`. Medians and
# ratios (bench/ratios.mjs). Goals (issue 11): app add + start at most 0.5x podman; rkt run no
# slower than before the supervisor (0.89x podman measured then). Also `rkt app start` alone
# (answered by bin/rkt without Node) against `podman start`. First, without podman: `rkt
# run-prepared --net=none` (started by bin/rkt without Node) and `rkt run --net=none` (from its run
# template, without Node; and through Node) against `crun run` of the bundle.
# Needs podman set up as bench/peers/04-podman-setup.sh does (skipped otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_setup app 20
pod=rocket-bench-pod-$$
sandbox_pid=
cleanup() {
  if [ -n "$sandbox_pid" ]; then
    kill "$sandbox_pid" 2>/dev/null || true
    wait "$sandbox_pid" 2>/dev/null || true
  fi
  podman pod rm -f "$pod" >/dev/null 2>&1 || true
  bench_remove_work
}
trap cleanup EXIT
bench_busybox_image

# `rkt run-prepared --net=none` of a pod prepared just before (hyperfine --prepare; bin/rkt execs the
# supervisor on the run `rkt prepare` wrote, without Node) against `crun run` of the bundle alone,
# each through the same `sh -c` that reads the name from a file; and the same run-prepared through
# Node (a global flag the launcher leaves to Node) for the difference. Goal (issue 13): <= 1.5x crun.
hyperfine --style basic --warmup 2 --runs "$runs" --export-json "$work/rkt-rp.json" \
  --prepare "sh -c 'bin/rkt --dir $data prepare --quiet $image >$work/next-rp'" \
  "sh -c 'bin/rkt --dir $data run-prepared --net=none \$(cat $work/next-rp)'" >/dev/null
hyperfine --style basic --warmup 2 --runs "$runs" --export-json "$work/rkt-rp-node.json" \
  --prepare "sh -c 'bin/rkt --dir $data prepare --quiet $image >$work/next-rp'" \
  "sh -c 'bin/rkt --dir $data --insecure-options=none run-prepared --net=none \$(cat $work/next-rp)'" >/dev/null
hyperfine --style basic --warmup 2 --runs "$runs" --export-json "$work/crun-rp.json" \
  --prepare "sh -c 'echo rocket-bench-rp-$$ >$work/next-crun'" \
  "sh -c '$peers/crun-hybrid.sh run --bundle $BUNDLE \$(cat $work/next-crun)'" >/dev/null
node bench/ratios.mjs "rkt run-prepared --net=none (no Node) vs crun run of the bundle (goal <= 1.5x)" \
  ours="$work/rkt-rp.json" crun="$work/crun-rp.json"
node bench/ratios.mjs "rkt run-prepared --net=none through Node vs crun run of the bundle" \
  ours="$work/rkt-rp-node.json" crun="$work/crun-rp.json"

# `rkt run --net=none` of /bin/true: after the warm-ups, bin/rkt answers it from the run template
# that Node's run of the same command line wrote (no Node; docs/stage1.md, "Repeating `rkt run`
# without Node"); and through Node (a global flag the launcher leaves to Node), both against the
# same `crun run` of the bundle. Goal (issue 13): <= 3x crun.
bench_hf "$work/rkt-run-tpl.json" "bin/rkt --dir $data run --net=none $image"
bench_hf "$work/rkt-run-node.json" "bin/rkt --dir $data --insecure-options=none run --net=none $image"
node bench/ratios.mjs "rkt run --net=none (run template, no Node) vs crun run of the bundle (goal <= 3x)" \
  ours="$work/rkt-run-tpl.json" crun="$work/crun-rp.json"
node bench/ratios.mjs "rkt run --net=none through Node vs crun run of the bundle" \
  ours="$work/rkt-run-node.json" crun="$work/crun-rp.json"

if ! command -v podman >/dev/null 2>&1 || ! bash "$peers/04-podman-setup.sh" >/dev/null 2>&1 ||
  ! podman run --rm --net=none localhost/busybox true >/dev/null 2>&1; then
  echo "podman is not installed or not set up; nothing to compare with"
  exit 0
fi

# The sandbox, running in the background until the end.
bin/rkt --dir "$data" app sandbox --net=none --uuid-file-save="$work/uuid" >"$work/sandbox.log" 2>&1 &
sandbox_pid=$!
while [ ! -p "$data/pods/run/$(cat "$work/uuid" 2>/dev/null)/stage1/ctl" ]; do
  kill -0 "$sandbox_pid" 2>/dev/null || { cat "$work/sandbox.log"; exit 1; }
  sleep 0.05
done
uuid=$(cat "$work/uuid")
# No infra container (it needs catatonit, not installed here).
podman pod create --infra=false --name "$pod" >/dev/null

# Each run adds a new app (a fresh name) and starts it.
cat >"$work/rkt-app.sh" <<EOF
n=a\$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
bin/rkt --dir $data app add $uuid $image --name=\$n && bin/rkt --dir $data app start $uuid --app=\$n
EOF
bench_hf "$work/rkt-app.json" "sh $work/rkt-app.sh"
bench_hf "$work/podman-app.json" "sh -c 'c=\$(podman create --pod $pod localhost/busybox true) && podman start \$c >/dev/null'"
node bench/ratios.mjs "rkt app add + app start vs podman create --pod + start (goal <= 0.5x)" \
  ours="$work/rkt-app.json" podman="$work/podman-app.json"

# `app start` alone (answered by bin/rkt without Node) against `podman start`: each timed start is of
# an app created just before it (hyperfine --prepare), so only the start is timed.
cat >"$work/rkt-add-next.sh" <<EOF
n=s\$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
bin/rkt --dir $data app add $uuid $image --name=\$n && echo \$n >$work/next
EOF
hyperfine --style basic --warmup 2 --runs "$runs" --export-json "$work/rkt-start.json" \
  --prepare "sh $work/rkt-add-next.sh" "sh -c 'bin/rkt --dir $data app start $uuid --app=\$(cat $work/next)'" >/dev/null
hyperfine --style basic --warmup 2 --runs "$runs" --export-json "$work/podman-start.json" \
  --prepare "sh -c 'podman create --pod $pod localhost/busybox true >$work/next-podman'" \
  "sh -c 'podman start \$(cat $work/next-podman) >/dev/null'" >/dev/null
node bench/ratios.mjs "rkt app start vs podman start (each of a container created just before)" \
  ours="$work/rkt-start.json" podman="$work/podman-start.json"

# rkt run: from its run template after the warm-ups (no Node), and through Node (a global flag).
bench_hf "$work/rkt-run.json" "bin/rkt --dir $data run --net=none $image"
bench_hf "$work/podman-run.json" "podman run --rm --net=none localhost/busybox true"
node bench/ratios.mjs "rkt run --net=none /bin/true (run template) vs podman run (goal <= 0.4x; was 0.89x)" \
  ours="$work/rkt-run.json" podman="$work/podman-run.json"
bench_hf "$work/rkt-run-node2.json" "bin/rkt --dir $data --insecure-options=none run --net=none $image"
node bench/ratios.mjs "rkt run --net=none /bin/true through Node vs podman run" \
  ours="$work/rkt-run-node2.json" podman="$work/podman-run.json"
