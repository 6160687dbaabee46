#!/bin/sh
# Entrypoint with the documented behaviour of the official haproxy image (https://hub.docker.com/_/haproxy):
# options as first argument run `haproxy <options>`; `haproxy` always runs in master-worker
# mode in the foreground (-W -db) so it is PID 1's child-friendly and logs to stdout.
set -e
if [ "${1#-}" != "$1" ]; then
  set -- haproxy "$@"
fi
if [ "$1" = 'haproxy' ]; then
  shift
  set -- haproxy -W -db "$@"
fi
exec "$@"
