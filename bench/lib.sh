# Shared by the pod benchmarks (sourced): the busybox ACI from the peers' rootfs, fetched into the
# store at $data so the benchmark runs it by image ID (no fetch in the timed part). Sets $image.
bench_busybox_image() {
  mkdir -p "$work/layout"
  cp -a "$ROOTFS" "$work/layout/rootfs"
  local arch
  arch=$(node -p 'process.arch === "x64" ? "amd64" : process.arch')
  printf '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/bench-busybox","labels":[{"name":"os","value":"linux"},{"name":"arch","value":"%s"}],"app":{"exec":["/bin/true"],"user":"0","group":"0"}}\n' "$arch" >"$work/layout/manifest"
  bin/actool build "$work/layout" "$work/bb.aci"
  image=$(bin/rkt --dir "$data" --insecure-options=image fetch "$work/bb.aci" 2>/dev/null)
  echo "image $image; $runs runs each; node $(node --version); $(crun --version | head -1)"
}
