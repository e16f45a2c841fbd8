#!/usr/bin/env bash
# Builds the driftwatch image (deploy/Dockerfile) on the local Docker engine without pulling
# anything: driftwatch is compiled here (CGO_ENABLED=0) and put, with Debian's static busybox,
# in a build base FROM scratch that the Dockerfile gets as BUILD_IMAGE, so that its compile
# step takes that binary. Where golang:1.26 can be pulled, `task image` compiles in it instead.
#
#   deploy/build-image.sh [TAG] [docker build flags...]    TAG defaults to driftwatch:dev
#
# BUSYBOX names the static busybox to copy (default /bin/busybox, from busybox-static). The
# flags go to both builds (--label marks the base and the image). The base and the
# intermediate images of the build stage are removed when the script ends.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
tag=${1:-driftwatch:dev}
shift || true
busybox=${BUSYBOX:-/bin/busybox}
if [ ! -x "$busybox" ]; then
  echo "build-image.sh: $busybox not found: apt-get install busybox-static" >&2
  exit 1
fi
if ldd "$busybox" >/dev/null 2>&1; then
  echo "build-image.sh: $busybox is dynamically linked: install busybox-static" >&2
  exit 1
fi
run=$$-$RANDOM
base=driftwatch-build-base:$run
ctx=$(mktemp -d)
cleanup() {
  rm -rf "$ctx"
  # The build stage's intermediate images inherit the base's label: untag the base, then
  # remove them, the newest first, each with the parents it alone holds. (Not docker image
  # prune: the daemon runs one prune at a time and refuses the others.)
  docker rmi "$base" >/dev/null 2>&1 || true
  ids=$(docker images -aq --filter "label=io.driftwatch.build-base=$run")
  if [ -n "$ids" ]; then docker rmi $ids >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
mkdir "$ctx/base" "$ctx/src" "$ctx/src/deploy"
cp "$busybox" "$ctx/base/busybox"
(cd "$root" && CGO_ENABLED=0 go build -trimpath -o "$ctx/base/driftwatch" ./cmd/driftwatch)
cat >"$ctx/base/Dockerfile" <<EOF
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "mkdir", "-p", "/sbin", "/usr/bin", "/usr/sbin", "/tmp"]
RUN ["/bin/busybox", "--install", "-s"]
COPY driftwatch /out/driftwatch
LABEL io.driftwatch.build-base=$run
EOF
# The binary is compiled already: the Dockerfile's context needs only what it copies.
cp "$root/go.mod" "$root/go.sum" "$ctx/src/"
cp "$here/Dockerfile" "$ctx/src/deploy/Dockerfile"
# The legacy builder: FROM scratch needs no registry.
DOCKER_BUILDKIT=0 docker build --quiet "$@" -t "$base" "$ctx/base" >/dev/null
DOCKER_BUILDKIT=0 docker build --quiet --build-arg BUILD_IMAGE="$base" "$@" -t "$tag" -f "$ctx/src/deploy/Dockerfile" "$ctx/src" >/dev/null
echo "$tag"
