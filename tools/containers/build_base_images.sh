#!/usr/bin/env bash
# Builds, from Debian packages, the base images this project's containers start from, under the exact names
# that the Dockerfiles and SAM use, for machines that reach no image registry:
#   slowmo/debian-rootfs:bookworm            Debian 12 minbase with the libraries CPython links against
#   public.ecr.aws/lambda/python:3.12        the Lambda Python 3.12 base (and :3.12-x86_64, which SAM asks for
#                                            zip functions), with awslambdaric and the SAM CLI's emulator
# Cached: an image that exists with the same inputs (a hash in its label) is kept. FORCE=1 rebuilds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
say() { printf 'base images: %s\n' "$*"; }

rootfs_image=slowmo/debian-rootfs:bookworm
mirror=${DEBIAN_MIRROR:-$(awk '/^URIs:/ {print $2; exit} /^deb / {print $2; exit}' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | head -n1)}
mirror=${mirror:-http://deb.debian.org/debian}
rootfs_packages=ca-certificates,libssl3,libffi8,zlib1g,libsqlite3-0,libbz2-1.0,liblzma5,libreadline8,libncursesw6,libuuid1,libexpat1,libgdbm6,tzdata

label() { docker image inspect -f '{{index .Config.Labels "slowmo.inputs"}}' "$1" 2>/dev/null || true; }

# 1. the Debian root file system
want=$(printf '%s %s' "$rootfs_packages" "$mirror" | sha256sum | cut -c1-16)
if [ "${FORCE:-0}" = 1 ] || [ "$(label "$rootfs_image")" != "$want" ]; then
  if ! command -v mmdebstrap >/dev/null; then
    say "installing mmdebstrap"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap; } >/dev/null \
      || { echo "base images: cannot install mmdebstrap (apt-get failed)" >&2; exit 1; }
  fi
  say "making $rootfs_image with mmdebstrap from $mirror (about a minute)"
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  mmdebstrap --quiet --variant=minbase --include="$rootfs_packages" bookworm "$tmp/rootfs.tar" "$mirror"
  docker import --change "LABEL slowmo.inputs=$want" --change 'CMD ["/bin/sh"]' "$tmp/rootfs.tar" "$rootfs_image" >/dev/null
  rm -rf "$tmp"; trap - EXIT
else
  say "$rootfs_image is up to date"
fi

# 2. the Lambda-layout images, one per Python version
find_python() {  # pyenv's build of that version, or one on PATH
  local v=$1 p
  for p in "$HOME"/.pyenv/versions/"$v".*/bin/python"$v" "$(command -v "python$v" || true)"; do
    [ -x "$p" ] && "$p" -c "import sys; assert sys.version_info[:2] == tuple(map(int, '$v'.split('.')))" 2>/dev/null \
      && { echo "$p"; return; }
  done
  return 1
}
rie=$("$top/.venv/bin/python" -c 'import samcli, pathlib; print(pathlib.Path(samcli.__file__).parent / "local/rapid/aws-lambda-rie-x86_64")')
[ -x "$rie" ] || { echo "base images: no runtime interface emulator in the SAM CLI package ($rie)" >&2; exit 1; }

build_lambda_base() {  # version, tags...
  local v=$1; shift
  local py prefix ctx want
  py=$(find_python "$v") || { echo "base images: no Python $v here (pyenv or PATH); it is needed for the $v image" >&2; exit 1; }
  prefix=$("$py" -c 'import sys; print(sys.base_prefix)')
  want=$( (cd "$here/lambda-python" && cat Dockerfile lambda-entrypoint.sh bootstrap requirements-runtime.txt; \
           "$py" -VV; sha256sum "$rie"; label "$rootfs_image") | sha256sum | cut -c1-16)
  if [ "${FORCE:-0}" != 1 ] && [ "$(label "$1")" = "$want" ]; then say "$1 is up to date"; return; fi
  say "building $* from $prefix"
  ctx=$(mktemp -d)
  cp "$here"/lambda-python/* "$ctx/"
  cp "$rie" "$ctx/aws-lambda-rie"
  cp "${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}" "$ctx/ca-bundle.crt"  # this network re-signs TLS
  # the interpreter without its test suite and without this machine's installed packages
  mkdir "$ctx/python"
  tar -C "$prefix" --exclude="lib/python$v/test" --exclude="lib/python$v/site-packages/*" --exclude='__pycache__' \
      --exclude="lib/python$v/idlelib" --exclude="lib/python$v/tkinter" -cf - bin lib include | tar -C "$ctx/python" -xf -
  local tag_args=()
  for t in "$@"; do tag_args+=(-t "$t"); done
  docker build --quiet --label "slowmo.inputs=$want" --build-arg "PYTHON_VERSION=$v" --build-arg "ROOTFS=$rootfs_image" \
      "${tag_args[@]}" "$ctx" >/dev/null
  rm -rf "$ctx"
}
build_lambda_base 3.12 public.ecr.aws/lambda/python:3.12 public.ecr.aws/lambda/python:3.12-x86_64
docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E 'debian-rootfs|lambda/python' | sed 's/^/base images: /'
