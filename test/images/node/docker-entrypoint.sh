#!/bin/sh
# Same contract as the official node image's entrypoint: when the first argument is an option
# (starts with "-"), is not a command on PATH, or is a non-executable file, run it with node.
set -e
if [ "${1#-}" != "$1" ] || [ -z "$(command -v "$1" 2>/dev/null)" ] || { [ -f "$1" ] && ! [ -x "$1" ]; }; then
  set -- node "$@"
fi
exec "$@"
