#!/usr/bin/env bash
# Costs as pods grow (issue 13, goal 2), in one run:
#   - `rkt run --net=none` of a pod of 10 apps, each /bin/true, against the same pod of one app
#     (goal: under 2x);
#   - host memory per running pod with 100 pods running `sleep` (PSS from /proc/PID/smaps_rollup of
#     every process a pod adds on the host: everything under the pod's supervisor but the
#     container's own processes, which run in the container's pid namespace), against podman's 100
#     containers (every process under each container's conmon but the container's). Goal: at most
#     2 MB a pod. PSS divides shared pages among the processes that map them, so the sum over all
#     of them is what the 100 pods cost together.
# BENCH_RUNS (10), BENCH_PODS (100; 0 skips the memory part). Podman as bench/peers/04-podman-setup.sh sets it up (the
# memory comparison is skipped without it).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
npods=${BENCH_PODS:-100}
bench_setup growth 10
launchers=()
ctrs=()
cleanup() {
  [ "${#ctrs[@]}" -eq 0 ] || podman rm -f -t 0 "${ctrs[@]}" >/dev/null 2>&1 || true
  for u in "$data"/pods/run/*; do
    [ -d "$u" ] && bin/rkt --dir "$data" stop --force "${u##*/}" >/dev/null 2>&1
  done
  for p in "${launchers[@]}"; do wait "$p" 2>/dev/null || true; done
  bench_remove_work
}
trap cleanup EXIT
bench_busybox_image

# ---- a 10-app pod against a one-app pod ----
ten=()
for i in $(seq 10); do
  [ "$i" -gt 1 ] && ten+=(---)
  ten+=("$image" "--name=app$i")
done
bench_hf "$work/one.json" "bin/rkt --dir $data run --net=none $image" "rkt run, 1 app"
bench_hf "$work/ten.json" "bin/rkt --dir $data run --net=none ${ten[*]}" "rkt run, 10 apps"
node bench/ratios.mjs "rkt run of a 10-app pod vs a one-app pod (/bin/true; goal < 2x)" \
  ten-apps="$work/ten.json" one-app="$work/one.json"
bench_gc

# ---- memory of $npods running pods ----
hostpidns=$(readlink /proc/self/ns/pid)
# Every process under the given roots (roots included) in the host's pid namespace, one a line.
host_tree() {
  ps -e -o pid=,ppid= | awk -v roots="$*" '
    BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) keep[r[i]] = 1 }
    { parent[$1] = $2; pids[NR] = $1 }
    END { for (i in pids) { p = pids[i]; q = p
            while (q != "" && q > 1) { if (q in keep) { print p; break } q = parent[q] } } }' |
    while read -r p; do
      [ "$(readlink "/proc/$p/ns/pid" 2>/dev/null)" = "$hostpidns" ] && echo "$p"
    done
}
# Sum of PSS (kB) of the pids on stdin.
pss_kb() {
  local sum=0 p v
  while read -r p; do
    v=$(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || true)
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}
# Names of the pids on stdin, counted.
census() { while read -r p; do cat "/proc/$p/comm" 2>/dev/null; done | sort | uniq -c | awk '{printf "%s %s, ", $1, $2}'; }

[ "$npods" -gt 0 ] || exit 0
echo
echo "## host memory of $npods running pods (sleep)"
for i in $(seq "$npods"); do
  setsid bin/rkt --dir "$data" run --net=none --uuid-file-save="$work/uuid-$i" "$image" --exec /bin/sleep -- 100000 \
    </dev/null >/dev/null 2>&1 &
  launchers+=("$!")
  # One pod starting at a time (as a user would start them): wait until its app has started.
  for _ in $(seq 600); do
    [ -s "$work/uuid-$i" ] && [ -e "$data/pods/run/$(cat "$work/uuid-$i")/stage1/rootfs/rkt/status/bench-busybox-started" ] && break
    sleep 0.05
  done
done
sups=()
for i in $(seq "$npods"); do sups+=("$(cat "$data/pods/run/$(cat "$work/uuid-$i")/pid")"); done
host_tree "${sups[@]}" >"$work/rkt-pids"
ours_kb=$(pss_kb <"$work/rkt-pids")
echo "rkt: $(wc -l <"$work/rkt-pids") processes, PSS $((ours_kb / 1024)) MB, $(awk -v k="$ours_kb" -v n="$npods" 'BEGIN{printf "%.2f", k/1024/n}') MB a pod   [$(census <"$work/rkt-pids")]"
row_ours=$(awk -v k="$ours_kb" -v n="$npods" 'BEGIN{printf "%.2f MB", k/1024/n}')
for u in "$data"/pods/run/*; do bin/rkt --dir "$data" stop --force "${u##*/}" >/dev/null 2>&1 || true; done
for p in "${launchers[@]}"; do wait "$p" 2>/dev/null || true; done
launchers=()

if command -v podman >/dev/null 2>&1 && bash "$peers/04-podman-setup.sh" >/dev/null 2>&1; then
  for i in $(seq "$npods"); do
    podman run -d --net=none --name "rocket-bench-mem-$$-$i" localhost/busybox sleep 100000 >/dev/null
    ctrs+=("rocket-bench-mem-$$-$i")
  done
  mapfile -t conmons < <(podman inspect --format '{{.State.ConmonPid}}' "${ctrs[@]}")
  host_tree "${conmons[@]}" >"$work/podman-pids"
  peer_kb=$(pss_kb <"$work/podman-pids")
  echo "podman: $(wc -l <"$work/podman-pids") processes, PSS $((peer_kb / 1024)) MB, $(awk -v k="$peer_kb" -v n="$npods" 'BEGIN{printf "%.2f", k/1024/n}') MB a container   [$(census <"$work/podman-pids")]"
  podman rm -f -t 0 "${ctrs[@]}" >/dev/null 2>&1 || true
  ctrs=()
  ratio=$(awk -v a="$ours_kb" -v b="$peer_kb" 'BEGIN{printf "%.2fx", a/b}')
  echo "ratio ours/peer: $ratio (goal: at most 2 MB a pod)"
  if [ -n "${BENCH_TABLE-}" ]; then
    printf '%s\t%s\t%s\t%s\n' "host memory per running pod, $npods pods (PSS)" "$row_ours" \
      "podman $(awk -v k="$peer_kb" -v n="$npods" 'BEGIN{printf "%.2f MB", k/1024/n}')" "$ratio" >>"$BENCH_TABLE"
  fi
fi
