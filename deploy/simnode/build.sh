#!/usr/bin/env bash
# Builds the sim node image on the local Docker engine without pulling anything: a temporary
# build context gets the Dockerfile, the sample /etc, Debian's static busybox and a static
# (CGO_ENABLED=0) driftwatch-agent.
#
#   deploy/simnode/build.sh [TAG] [docker build flags...]    TAG defaults to driftwatch-simnode:dev
#
# BUSYBOX names the static busybox to copy (default /bin/busybox, from busybox-static).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tag=${1:-driftwatch-simnode:dev}
shift || true
busybox=${BUSYBOX:-/bin/busybox}
if [ ! -x "$busybox" ]; then
  echo "build.sh: $busybox not found: apt-get install busybox-static" >&2
  exit 1
fi
if ldd "$busybox" >/dev/null 2>&1; then
  echo "build.sh: $busybox is dynamically linked: install busybox-static" >&2
  exit 1
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp -R "$here/Dockerfile" "$here/etc" "$ctx/"
cp "$busybox" "$ctx/busybox"
(cd "$root" && CGO_ENABLED=0 go build -o "$ctx/driftwatch-agent" ./cmd/driftwatch-agent)
# The legacy builder: FROM scratch needs no registry.
DOCKER_BUILDKIT=0 docker build --quiet --label io.driftwatch.simnode=1 "$@" -t "$tag" "$ctx" >/dev/null
echo "$tag"
