#!/bin/sh
# As in AWS's base image: under Lambda (or SAM's emulator, which sets AWS_LAMBDA_RUNTIME_API) run the runtime
# client directly; standing alone, start the runtime interface emulator in front of it (port 8080).
if [ -z "${AWS_LAMBDA_RUNTIME_API}" ]; then
  exec /usr/local/bin/aws-lambda-rie /var/runtime/bootstrap "$@"
else
  exec /var/runtime/bootstrap "$@"
fi
