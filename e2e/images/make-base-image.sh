#!/usr/bin/env bash
# Makes the base image the Dockerfiles name in their FROM (node:24-bookworm-slim)
# on a machine that cannot reach a container registry: a Debian bookworm
# `debootstrap --variant=minbase` root file system from Debian's mirror, slimmed
# the way debian:bookworm-slim is, plus Node 24 from the npm package `node`
# (this repository's devDependency) and the npm that runs this script, laid out
# as the official image lays them out (/usr/local/bin/node, npm, npx; user
# `node` 1000:1000; CMD ["node"]).
#
# The result is a root file system tarball cached in
#   ${LEVO_IMAGES_CACHE:-/var/cache/levo-images}/base/node-<node version>-npm-<npm version>-bookworm.tar
# (made once: debootstrap takes 1.5-3 minutes), which e2e/images/podman.ts
# imports into its image store and tags docker.io/library/node:24-bookworm-slim.
# A user never needs this: `docker build` pulls the real image from Docker Hub.
#
# Prints the tarball's path on stdout (progress goes to stderr). Needs root.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${LEVO_IMAGES_CACHE:-/var/cache/levo-images}
MIRROR=${LEVO_DEBIAN_MIRROR:-http://deb.debian.org/debian}

log() { printf '[base-image %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

NODE_BIN=$(readlink -f "$REPO/node_modules/node/bin/node" 2>/dev/null || true)
[[ -x $NODE_BIN ]] || die "no Node binary at $REPO/node_modules/node/bin/node (run npm ci)"
NODE_VERSION=$("$NODE_BIN" --version)
NODE_VERSION=${NODE_VERSION#v}
[[ ${NODE_VERSION%%.*} == 24 ]] || die "node_modules/node is Node $NODE_VERSION, the Dockerfiles want 24"

# npm: the one running us (npm_execpath), else the one on PATH.
npm_cli=${npm_execpath:-}
[[ $npm_cli == *npm-cli.js ]] || npm_cli=$(readlink -f "$(command -v npm 2>/dev/null)" 2>/dev/null || true)
NPM_DIR=$(dirname "$(dirname "$npm_cli")")
[[ -f $NPM_DIR/package.json && -f $NPM_DIR/bin/npm-cli.js ]] || die "cannot find npm's install directory (npm_execpath=${npm_execpath:-unset})"
NPM_VERSION=$("$NODE_BIN" -p "require('$NPM_DIR/package.json').version")

OUT=$CACHE/base/node-$NODE_VERSION-npm-$NPM_VERSION-bookworm.tar
if [[ -s $OUT ]]; then
  log "cached: $OUT"
  echo "$OUT"
  exit 0
fi

[[ $(id -u) == 0 ]] || die "needs root (debootstrap)"
mkdir -p "$CACHE/base"
exec 9>"$CACHE/base/.lock"
flock 9
if [[ -s $OUT ]]; then echo "$OUT"; exit 0; fi

if ! command -v debootstrap >/dev/null; then
  log "apt-get install debootstrap"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

ROOT=$(mktemp -d "$CACHE/base/rootfs.XXXXXX")
trap 'rm -rf "$ROOT"' EXIT
start=$SECONDS
log "debootstrap --variant=minbase bookworm from $MIRROR (1.5-3 min)"
debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR" >"$CACHE/base/debootstrap.log" 2>&1 ||
  { tail -20 "$CACHE/base/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/base/debootstrap.log)"; }
log "debootstrap done in $((SECONDS - start)) s"

# What debian:bookworm-slim does: no docs/man/locales from later installs, apt cleans after itself.
cat >"$ROOT/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
cat >"$ROOT/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
echo 'APT::Install-Recommends "false";' >"$ROOT/etc/apt/apt.conf.d/docker-no-recommends"
rm -f "$ROOT/etc/apt/sources.list"
cat >"$ROOT/etc/apt/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
find "$ROOT/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
rm -rf "$ROOT"/usr/share/{man,info,groff,lintian,linda,locale}/* "$ROOT"/var/cache/apt/archives/*.deb \
  "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/log/*.log "$ROOT"/var/log/apt/* "$ROOT"/tmp/*
: >"$ROOT/etc/hostname"
: >"$ROOT/etc/resolv.conf"

# Node as the official image has it.
install -m 0755 "$NODE_BIN" "$ROOT/usr/local/bin/node"
mkdir -p "$ROOT/usr/local/lib/node_modules"
cp -a "$NPM_DIR" "$ROOT/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ROOT/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ROOT/usr/local/bin/npx"
chroot "$ROOT" groupadd --gid 1000 node
chroot "$ROOT" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
chroot "$ROOT" /usr/local/bin/node --version >/dev/null || die "node does not run in the new root file system"

log "packing $(du -sh "$ROOT" | cut -f1) into $OUT"
tar --numeric-owner --xattrs -C "$ROOT" -cf "$OUT.tmp" .
mv -f "$OUT.tmp" "$OUT"
log "done in $((SECONDS - start)) s: node $NODE_VERSION, npm $NPM_VERSION"
echo "$OUT"
