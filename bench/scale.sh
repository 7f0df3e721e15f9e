#!/usr/bin/env bash
# Costs as the work grows (issue 13, goal 2): `rkt list` (table and --format=json) and `rkt status`
# with 10, 100 and 1000 pods in mixed states (a third each prepared, running, exited), `rkt image
# list` with 10, 100 and 1000 images, and `rkt gc` of 200 exited pods against `podman container
# prune` of 200 exited containers. Pods are clones of one real prepared and one real exited pod
# (new UUIDs, each with its list summary rewritten as prepare writes it); "running" ones are held
# locked by one python3 process, which is what makes a pod running to every reader. Images are tiny
# distinct ACIs imported through `rkt fetch`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
runs=${BENCH_RUNS:-10}
sizes=${BENCH_SIZES:-"10 100 1000"}
work=$(mktemp -d /var/tmp/rocket-bench-scale.XXXXXX)
data=$work/data
locker=
cleanup() {
  [ -z "$locker" ] || kill "$locker" 2>/dev/null || true
  env -u NODE_EXTRA_CA_CERTS bin/rkt --dir "$data" gc --grace-period=0s >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
unset NODE_EXTRA_CA_CERTS
rkt=(bin/rkt --dir "$data" --insecure-options=image)
hf() { hyperfine --style basic --warmup 2 --runs "$runs" --export-json "$1" "${@:2}" >/dev/null 2>"$work/hf.err" || { cat "$work/hf.err" >&2; return 1; }; }
median_ms() { node -e 'const r=require(process.argv[1]).results[0];console.log((r.median*1000).toFixed(1))' "$1"; }

# One tiny ACI per index: a distinct file in its rootfs makes a distinct image ID.
make_aci() {
  local i=$1 dir=$work/aci-src/$1
  mkdir -p "$dir/rootfs/bin"
  [ "$i" = 0 ] && cp /bin/busybox "$dir/rootfs/bin/busybox" && ln -s busybox "$dir/rootfs/bin/true"
  echo "$i" >"$dir/rootfs/index"
  printf '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/scale-%s","labels":[{"name":"os","value":"linux"},{"name":"arch","value":"amd64"}],"app":{"exec":["/bin/true"],"user":"0","group":"0"}}\n' "$i" >"$dir/manifest"
  bin/actool build --no-compression "$dir" "$work/acis/$i.aci"
}
mkdir -p "$work/acis"
make_aci 0
image=$("${rkt[@]}" fetch "$work/acis/0.aci" 2>/dev/null)

# Seeds: one real exited pod and one real prepared pod.
"${rkt[@]}" run --net=none "$image" >/dev/null
prepared_seed=$("${rkt[@]}" prepare "$image" 2>/dev/null)
exited_seed=$(basename "$(ls -d "$data"/pods/run/*)")
pods=$data/pods

# Clones of the seeds up to $1 pods in all: a third each prepared, running (locked), exited.
populate() {
  local total=$1 have
  have=$(find "$pods"/prepared "$pods"/run -mindepth 1 -maxdepth 1 | wc -l)
  [ -z "$locker" ] || { kill "$locker"; wait "$locker" 2>/dev/null || true; locker=; }
  local i=$have
  while [ "$i" -lt "$total" ]; do
    local uuid
    uuid=$(cat /proc/sys/kernel/random/uuid)
    case $((i % 3)) in
      0) cp -a "$pods/prepared/$prepared_seed" "$pods/prepared/$uuid" ;;
      *) cp -a "$pods/run/$exited_seed" "$pods/run/$uuid" ;;
    esac
    i=$((i + 1))
  done
  # A clone's list summary no longer matches its manifest (a copy is a new inode), so listing would
  # read every manifest: write each clone's summary as prepare writes it for a real pod.
  node --input-type=module -e '
    const { readdirSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { writePodSummary } = await import(join(process.argv[1], "dist/src/pod/pod.js"));
    for (const d of ["prepared", "run"])
      for (const u of readdirSync(join(process.argv[2], d))) writePodSummary(join(process.argv[2], d, u));
  ' "$root" "$pods"
  # Every other run/ pod is held running.
  python3 - "$pods/run" "$work/locked" <<'PY' &
import fcntl, os, sys, time
held = []
for n, name in enumerate(sorted(os.listdir(sys.argv[1]))):
    if n % 2 == 0:
        fd = os.open(os.path.join(sys.argv[1], name), os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        held.append(fd)
open(sys.argv[2], "w").write(str(len(held)))
time.sleep(86400)
PY
  locker=$!
  while [ ! -s "$work/locked" ]; do sleep 0.05; done
  rm -f "$work/locked"
}

echo "# rkt list / status by number of pods ($runs runs each, medians; node $(node --version))"
printf '%-8s %12s %12s %12s\n' pods "list (ms)" "list json" "status (ms)"
for n in $sizes; do
  populate "$n"
  hf "$work/list-$n.json" "bin/rkt --dir $data list"
  hf "$work/listj-$n.json" "bin/rkt --dir $data list --format=json"
  hf "$work/status-$n.json" "bin/rkt --dir $data status $exited_seed"
  printf '%-8s %12s %12s %12s\n' "$n" "$(median_ms "$work/list-$n.json")" "$(median_ms "$work/listj-$n.json")" \
    "$(median_ms "$work/status-$n.json")"
  last=$n
done
# The largest size against its goal (no peer), in bench/run.sh's table.
goal_row() { # title file goal_ms
  [ -n "${BENCH_TABLE-}" ] || return 0
  local m
  m=$(median_ms "$2")
  printf '%s\t%s ms\tgoal %s ms\t%sx\n' "$1" "$m" "$3" "$(awk -v a="$m" -v b="$3" 'BEGIN{printf "%.2f", a/b}')" >>"$BENCH_TABLE"
}
goal_row "rkt list, $last pods (ours / goal)" "$work/list-$last.json" 150
goal_row "rkt list --format=json, $last pods (ours / goal)" "$work/listj-$last.json" 150
goal_row "rkt status, $last pods (ours / goal: as with 10)" "$work/status-$last.json" "$(median_ms "$work/status-${sizes%% *}.json")"
[ -z "$locker" ] || { kill "$locker"; wait "$locker" 2>/dev/null || true; locker=; }

echo
echo "# rkt image list by number of images"
printf '%-8s %12s\n' images "list (ms)"
have=1
for n in $sizes; do
  while [ "$have" -lt "$n" ]; do
    make_aci "$have"
    have=$((have + 1))
  done
  # One fetch call per batch: every ACI not yet in the store.
  mapfile -t files < <(ls "$work"/acis/*.aci)
  "${rkt[@]}" fetch --pull-policy=new "${files[@]}" >/dev/null 2>&1
  hf "$work/images-$n.json" "bin/rkt --dir $data image list"
  printf '%-8s %12s\n' "$n" "$(median_ms "$work/images-$n.json")"
done
goal_row "rkt image list, $n images (ours / goal)" "$work/images-$n.json" 300

# gc of 200 exited pods against podman container prune of 200 exited containers.
gc_n=${BENCH_GC_PODS:-200}
gcdata=$work/gc
mkdir -p "$gcdata"
cat >"$work/clone-exited.sh" <<SH
set -e
rm -rf "$gcdata"
mkdir -p "$gcdata/pods"
for d in embryo prepare prepared run exited-garbage garbage; do mkdir "$gcdata/pods/\$d"; done
for _ in \$(seq $gc_n); do cp -a "$pods/run/$exited_seed" "$gcdata/pods/run/\$(cat /proc/sys/kernel/random/uuid)"; done
ln -s "$data/cas" "$gcdata/cas"
SH
echo
hyperfine --style basic --runs "${BENCH_GC_RUNS:-3}" --prepare "bash $work/clone-exited.sh" \
  --export-json "$work/gc.json" "bin/rkt --dir $gcdata gc --grace-period=0s" >/dev/null
if command -v podman >/dev/null 2>&1 && bash bench/peers/04-podman-setup.sh >/dev/null 2>&1; then
  printf 'for _ in $(seq %s); do podman run --net=none localhost/busybox true >/dev/null; done\n' "$gc_n" >"$work/podman-fill.sh"
  hyperfine --style basic --runs "${BENCH_GC_RUNS:-3}" --prepare "bash $work/podman-fill.sh" \
    --export-json "$work/prune.json" "podman container prune -f" >/dev/null
  node bench/ratios.mjs "rkt gc of $gc_n exited pods vs podman container prune of $gc_n" ours="$work/gc.json" podman="$work/prune.json"
else
  node bench/ratios.mjs "rkt gc of $gc_n exited pods (podman unavailable)" ours="$work/gc.json"
fi
