#!/usr/bin/env bash
# `make sam-local`: the stack as its users run it, on this machine, offline.
#  1. the base images from Debian packages (tools/containers/build_base_images.sh; cached)
#  2. sam build of the whole template: the layer, the zip functions and the media image
#  3. tests/containers: every event in events/ through `sam local invoke` in its function's image, Lambda's
#     limits biting, and a whole job through the containers equal to the in-process run
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p out
step() { printf '\nsam-local: %s (%s)\n' "$*" "$(date +%T)"; }
docker info >/dev/null 2>&1 || { echo "sam-local: no container engine: start it with tools/containers/dockerd.sh start" >&2; exit 1; }

step "base images"
bash tools/containers/build_base_images.sh

step "sam build"
# the zip functions and the layer build with the runtime's Python (3.12) on PATH
py312=$(ls -d "$HOME"/.pyenv/versions/3.12*/bin 2>/dev/null | head -n 1 || true)
[ -n "$py312" ] || py312=$(dirname "$(command -v python3.12 || true)")
[ -x "$py312/python3.12" ] || { echo "sam-local: sam build needs a python3.12 (pyenv or PATH)" >&2; exit 1; }
PATH="$py312:$PATH" SAM_CLI_TELEMETRY=0 .venv/bin/sam build --build-dir .aws-sam/build --skip-pull-image \
  >out/sam-build.log 2>&1 || { tail -n 30 out/sam-build.log; echo "sam-local: sam build failed (out/sam-build.log)" >&2; exit 1; }
docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E 'extractfunction:python|lambda/python:3.12 ' \
  | sed 's/^/sam-local: image /'

step "the functions in their containers"
.venv/bin/python -m pytest -q -p no:cacheprovider tests/containers
step "done"
