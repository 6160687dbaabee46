#!/bin/sh
# Entrypoint with the documented behaviour of the official redis image (https://hub.docker.com/_/redis).
set -e

# An option (`--port 6380`) or a config file as first argument means `redis-server <args>`.
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"
fi

# Started as root: own /data and re-exec as the `redis` user (UID 999).
if [ "$1" = 'redis-server' ] && [ "$(id -u)" = '0' ]; then
  find . \! -user redis -exec chown redis '{}' +
  exec gosu redis "$0" "$@"
fi

# Files Redis writes (RDB, AOF) are private unless the caller chose a umask.
if [ "$(umask)" = '0022' ]; then
  umask 0077
fi

# The official image compiles Redis with protected mode off, because a container is reached
# through its published port rather than loopback. Debian's binary keeps the upstream default
# (on), so turn it off here unless a config file or an explicit --protected-mode decides.
if [ "$1" = 'redis-server' ] && [ "${2%.conf}" = "${2:-}" ]; then
  case " $* " in
    *' --protected-mode '*) ;;
    *) set -- "$@" --protected-mode no ;;
  esac
fi

exec "$@"
