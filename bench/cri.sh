#!/usr/bin/env bash
# The CRI, Rocket against containerd 1.6 (Debian's, its CRI plugin, runc), same run, same CNI
# configuration, same image from a registry on 127.0.0.1 (issue 12):
#   1. RunPodSandbox + CreateContainer + StartContainer of a cached busybox until it runs, then
#      StopPodSandbox + RemovePodSandbox: medians and the ratio (goal: at most 0.5x containerd).
#      Rocket runs twice: `rkt cri-service --runtime runc`, the like-for-like line against
#      containerd's runc (the goal is read on it), and the service's default runtime (crun).
#   2. BENCH_CRI_PODS (10) pods left running: host memory (PSS) per pod of every process the pods
#      added except the workload itself (containerd: shims and pause; Rocket: the supervisors and
#      their helpers), and the service (containerd, rkt cri-service) counted once; Rocket with runc.
# Everything runs inside a network and mount namespace of its own (unshare): the registry, both
# services, the pods' bridge. Nothing is left behind: the services and their processes are
# killed by pid, and the namespaces go with the script.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
if [ "${ROCKET_BENCH_IN_NS-}" != 1 ]; then
  ROCKET_BENCH_IN_NS=1 exec unshare --net --mount --propagation private --fork "$0" "$@"
fi
ip link set lo up
peers=${PEERS_DIR:-$root/bench/peers}
runs=${BENCH_RUNS:-10}
npods=${BENCH_CRI_PODS:-10}
bash "$peers/01-install.sh"
command -v containerd >/dev/null || { echo "containerd is not installed; nothing to compare with"; exit 0; }
bash test/env/install.sh >/dev/null

work=$(mktemp -d /var/tmp/rocket-bench-cri.XXXXXX)
export D2A_TESTENV_DIR=$work/testenv
ctd_pid=
rkt_pid=
rkc_pid=
cleanup() {
  set +e
  for id in "$work"/held-*.txt; do
    [ -s "$id" ] && node bench/cri-client.mjs release "$(cat "$id.sock")" "$id" 2>/dev/null
  done
  [ -n "$rkt_pid" ] && kill "$rkt_pid" 2>/dev/null && wait "$rkt_pid" 2>/dev/null
  [ -n "$rkc_pid" ] && kill "$rkc_pid" 2>/dev/null && wait "$rkc_pid" 2>/dev/null
  bin/rkt --dir "$work/rkt" gc --grace-period=0s >/dev/null 2>&1
  bin/rkt --dir "$work/rkc" gc --grace-period=0s >/dev/null 2>&1
  [ -n "$ctd_pid" ] && kill "$ctd_pid" 2>/dev/null && wait "$ctd_pid" 2>/dev/null
  # containerd's shims outlive it by design: end them, and what they ran, by pid.
  for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $work/ctd.sock"); do
    pkill -KILL -P "$p" 2>/dev/null
    kill -KILL "$p" 2>/dev/null
  done
  grep " $work/" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
  bash test/env/registry-stop.sh --port 5055 >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
unset NODE_EXTRA_CA_CERTS

# The image: the peers' busybox rootfs, `sleep` as its entrypoint (containerd also runs it as the
# sandbox's pause image), pushed to a plain-http registry on 127.0.0.1:5055.
. "$peers/00-env.sh"
[ -x "$ROOTFS/bin/busybox" ] || bash "$peers/02-make-bundle.sh" >/dev/null
eval "$(bash test/env/registry-start.sh --port 5055)"
image=127.0.0.1:5055/bench/busybox:1
(
  cd "$work"
  umoci init --layout oci >/dev/null
  umoci new --image oci:bb >/dev/null
  umoci insert --image oci:bb "$ROOTFS" / >/dev/null
  umoci config --image oci:bb --config.entrypoint /bin/sleep --config.cmd 2147483647 \
    --config.env PATH=/bin:/sbin:/usr/bin:/usr/sbin >/dev/null
  skopeo copy --quiet --dest-tls-verify=false oci:oci:bb "docker://$image"
)

# One CNI network for both: a bridge with host-local addresses, inside this script's namespace.
mkdir -p "$work/cni"
cat >"$work/cni/10-bench.conf" <<EOF
{"cniVersion":"0.4.0","name":"bench","type":"bridge","bridge":"cni-bench0","isGateway":true,"ipMasq":false,
"ipam":{"type":"host-local","ranges":[[{"subnet":"10.231.0.0/16"}]],"dataDir":"$work/cni-ipam"}}
EOF

cat >"$work/containerd.toml" <<EOF
version = 2
root = "$work/ctd/root"
state = "$work/ctd/state"
[grpc]
  address = "$work/ctd.sock"
[ttrpc]
  address = "$work/ctd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = true
  sandbox_image = "$image"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$work/cni"
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."127.0.0.1:5055"]
    endpoint = ["http://127.0.0.1:5055"]
EOF
containerd --config "$work/containerd.toml" >"$work/containerd.log" 2>&1 &
ctd_pid=$!
bin/rkt --dir "$work/rkt" cri-service --listen "unix://$work/rkt.sock" --cni-conf-dir "$work/cni" \
  --runtime runc >"$work/rkt-cri.log" 2>&1 &
rkt_pid=$!
# The service's default runtime (no --runtime: crun).
bin/rkt --dir "$work/rkc" cri-service --listen "unix://$work/rkc.sock" --cni-conf-dir "$work/cni" \
  >"$work/rkc-cri.log" 2>&1 &
rkc_pid=$!
for s in ctd rkt rkc; do
  n=0
  until [ -S "$work/$s.sock" ]; do
    n=$((n + 1))
    [ $n -lt 300 ] || { echo "$s: no socket"; cat "$work/containerd.log" "$work/rkt-cri.log" "$work/rkc-cri.log"; exit 1; }
    sleep 0.1
  done
done
echo "containerd $(containerd --version | awk '{print $3}'), runc $(runc --version | awk 'NR==1{print $3}'), crun $(crun --version | awk 'NR==1{print $3}'); node $(node --version); $runs runs each"

node bench/cri-client.mjs pull "$work/ctd.sock" "$image"
node bench/cri-client.mjs pull "$work/rkt.sock" "$image"
node bench/cri-client.mjs pull "$work/rkc.sock" "$image"

# 1. Start and end of a pod: Rocket with runc, containerd, Rocket with crun, in the same run.
node bench/cri-client.mjs cycle "$work/rkt.sock" "$image" "$runs" "$work/rkt.json" rocket-runc
node bench/cri-client.mjs cycle "$work/ctd.sock" "$image" "$runs" "$work/ctd.json" containerd
node bench/cri-client.mjs cycle "$work/rkc.sock" "$image" "$runs" "$work/rkc.json" rocket-crun
node bench/ratios.mjs "CRI pod start + stop, Rocket with runc (like-for-like: the goal's line)" \
  "rocket-runc=$work/rkt.json" "containerd=$work/ctd.json"
node bench/ratios.mjs "CRI pod start + stop, Rocket with crun (its default runtime)" \
  "rocket-crun=$work/rkc.json" "containerd=$work/ctd.json"

# 2. Memory per running pod.
pss() { # summed PSS (kB) of the pids given
  local total=0 p v
  for p in "$@"; do
    v=$(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}
perpod() { # label socket service-pid
  local before after added=() p
  before=$(ps -e -o pid= | sort -n)
  echo "$2" >"$work/held-$1.txt.sock"
  node bench/cri-client.mjs hold "$2" "$image" "$npods" "$work/held-$1.txt"
  after=$(ps -e -o pid= | sort -n)
  local ns
  ns=$(readlink /proc/self/ns/net)
  for p in $(comm -13 <(echo "$before") <(echo "$after")); do
    # Only this script's network namespace, where both services and their pods' processes run
    # (and containerd's pause, in its pod's): not what other work on the machine started meanwhile.
    if [ "$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline")" != "/bin/sleep 2147483647 " ]; then
      [ "$(readlink "/proc/$p/ns/net" 2>/dev/null)" = "$ns" ] || continue
    fi
    # The workload (sleep 3600) is the same on both sides: not counted (containerd's pause is).
    case "$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline")" in
    "/bin/sleep 3600 " | "" | "ps "* | "sort "*) ;;
    *) added+=("$p") ;;
    esac
  done
  local per service
  per=$(($(pss "${added[@]}") / npods))
  service=$(pss "$3")
  printf '%-10s %3d processes added for %d pods: %6d kB PSS per pod; the service %6d kB once; (service + pods) / pods = %6d kB\n' \
    "$1" "${#added[@]}" "$npods" "$per" "$service" $(((service + per * npods) / npods)) >&2
  node bench/cri-client.mjs release "$2" "$work/held-$1.txt"
  rm -f "$work/held-$1.txt"
  echo "$per"
}
echo
echo "## Host memory per running pod ($npods pods)"
ours=$(perpod rocket "$work/rkt.sock" "$rkt_pid")
peer=$(perpod containerd "$work/ctd.sock" "$ctd_pid")
echo "ratio ours/peer (per pod): $(node -p "($ours / $peer).toFixed(2)")x"
if [ -n "${BENCH_TABLE-}" ]; then
  printf 'CRI host memory per running pod\t%s kB\tcontainerd %s kB\t%sx\n' "$ours" "$peer" \
    "$(node -p "($ours / $peer).toFixed(2)")" >>"$BENCH_TABLE"
fi
