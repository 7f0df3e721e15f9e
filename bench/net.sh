#!/usr/bin/env bash
# Pod networking: start-to-exit time of /bin/true on the default network, and CNI ADD+DEL per pod.
#   rkt run --net=default IMAGE  vs  podman run --rm --net=bridge localhost/busybox true
#     (podman's default network; 04-podman-setup.sh; skipped if podman is missing)
#   rkt run --net=default  vs  rkt run --net=none     (what the network costs a pod)
#   rkt run --net=default  vs  the same with the CNI DELs before the exit status (as before)
#   CNI ptp ADD, DEL and ADD+DEL of rkt's default netconf, by hand (netns made outside the timing)
# Everything runs inside a network namespace made here, standing in for the host: the machine's
# own routes, iptables and ip_forward are not touched. NODE_EXTRA_CA_CERTS is unset for rkt.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_setup net 20
hostns=$work/hostns
inns() { nsenter --net="$hostns" "$@"; }
cleanup() {
  inns bin/rkt --dir "$data" gc --grace-period=0s --expire-prepared=0s >/dev/null 2>&1 || true
  umount "$work/podns" 2>/dev/null || true
  umount "$hostns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
: >"$hostns"
unshare --net="$hostns" ip link set lo up
bench_busybox_image

podman_ok=
if command -v podman >/dev/null 2>&1; then
  if bash "$peers/04-podman-setup.sh" >/dev/null 2>&1 &&
    inns podman run --rm --net=bridge localhost/busybox true >/dev/null 2>&1; then
    podman_ok=1
  else
    echo "podman: set-up or a trial run failed; skipping podman"
  fi
else
  echo "podman is not installed; skipping podman"
fi

ns="nsenter --net=$hostns"
bench_hf "$work/rkt-default.json" "$ns bin/rkt --dir $data run --net=default $image"
bench_hf "$work/rkt-none.json" "$ns bin/rkt --dir $data run --net=none $image"
# The CNI DELs on the path that reports the exit status, as before issue 13 (the supervisor keeps
# its teardown in the foreground under a systemd unit, which INVOCATION_ID stands for here).
bench_hf "$work/rkt-default-fg.json" "$ns env INVOCATION_ID=bench bin/rkt --dir $data run --net=default $image"
inns bin/rkt --dir "$data" gc --grace-period=0s >/dev/null 2>&1 || true
node bench/ratios.mjs "rkt run /bin/true: --net=default vs --net=none" ours="$work/rkt-default.json" none="$work/rkt-none.json"
node bench/ratios.mjs "rkt run --net=default: DELs after the status vs before it" ours="$work/rkt-default.json" before="$work/rkt-default-fg.json"
if [ -n "$podman_ok" ]; then
  bench_hf "$work/podman.json" "$ns podman run --rm --net=bridge localhost/busybox true"
  node bench/ratios.mjs "rkt run --net=default vs podman run --net=bridge (its default network)" ours="$work/rkt-default.json" podman="$work/podman.json"
fi

# ---- CNI ADD and DEL of the default network, per pod ----
ipam=$work/ipam
conf='{"cniVersion":"0.1.0","name":"default","type":"ptp","ipMasq":true,"ipam":{"type":"host-local","subnet":"172.16.28.0/24","routes":[{"dst":"0.0.0.0/0"}],"dataDir":"'$ipam'"}}'
podns=$work/podns
cni() { # $1: ADD|DEL, $2: container id
  printf '%s' "$conf" | inns env CNI_COMMAND="$1" CNI_CONTAINERID="$2" CNI_NETNS="$podns" CNI_IFNAME=eth0 \
    CNI_PATH=/usr/lib/cni /usr/lib/cni/ptp >/dev/null
}
ms() { echo $((($2 - $1) / 1000)); } # ns to us
: >"$work/add" && : >"$work/del"
for i in $(seq "$runs"); do
  : >"$podns"
  unshare --net="$podns" true
  t0=$(date +%s%N)
  cni ADD "bench-$i"
  t1=$(date +%s%N)
  cni DEL "bench-$i"
  t2=$(date +%s%N)
  umount "$podns"
  ms "$t0" "$t1" >>"$work/add"
  ms "$t1" "$t2" >>"$work/del"
done
median() { sort -n "$1" | awk '{a[NR]=$1} END {m = NR % 2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%.1f", m/1000}'; }
paste "$work/add" "$work/del" | awk '{print $1 + $2}' >"$work/both"
echo
echo "## CNI ptp (rkt's default network), $runs pods"
echo "ADD median $(median "$work/add") ms   DEL median $(median "$work/del") ms   ADD+DEL median $(median "$work/both") ms"
