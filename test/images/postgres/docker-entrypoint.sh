#!/usr/bin/env bash
# Entrypoint with the documented behaviour of the official postgres image
# (https://hub.docker.com/_/postgres, "Environment Variables" and "Initialization scripts"):
#  - options as first argument run `postgres <options>`;
#  - started as root: fix ownership of PGDATA and the socket directory, re-exec as `postgres`;
#  - started as any other UID ("Arbitrary --user Notes"): make PGDATA 0700 on every start (a
#    volume's recursive fsGroup change leaves it 2770, which the server refuses) and give
#    initdb a passwd entry through nss_wrapper;
#  - empty PGDATA: initdb as POSTGRES_USER with POSTGRES_PASSWORD, `host all all all <method>`
#    (POSTGRES_HOST_AUTH_METHOD, default scram-sha-256), create POSTGRES_DB, run
#    /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz against a socket-only temporary server;
#  - then exec the server in the foreground.
set -Eeuo pipefail

# file_env VAR [DEFAULT]: VAR, or the content of the file named by VAR_FILE (not both).
file_env() {
  local var="$1" fileVar="${1}_FILE" def="${2:-}" val
  if [ -n "${!var:-}" ] && [ -n "${!fileVar:-}" ]; then
    echo >&2 "error: both $var and $fileVar are set (but are exclusive)"
    exit 1
  fi
  val="$def"
  if [ -n "${!var:-}" ]; then val="${!var}"; elif [ -n "${!fileVar:-}" ]; then val="$(< "${!fileVar}")"; fi
  export "$var"="$val"
  unset "$fileVar"
}

if [ "${1:0:1}" = '-' ]; then
  set -- postgres "$@"
fi

if [ "$1" = 'postgres' ] && [ "$(id -u)" = '0' ]; then
  mkdir -p "$PGDATA"
  chmod 00700 "$PGDATA" || :
  find "$PGDATA" \! -user postgres -exec chown postgres: '{}' +
  mkdir -p /var/run/postgresql
  chmod 03775 /var/run/postgresql || :
  find /var/run/postgresql \! -user postgres -exec chown postgres: '{}' +
  exec gosu postgres "${BASH_SOURCE[0]}" "$@"
fi

if [ "$1" = 'postgres' ]; then
  mkdir -p "$PGDATA"
  chmod 00700 "$PGDATA" 2>/dev/null || :
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    file_env POSTGRES_USER postgres
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_DB "$POSTGRES_USER"
    file_env POSTGRES_INITDB_ARGS
    : "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
    if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != 'trust' ]; then
      cat >&2 <<'MSG'
Error: Database is uninitialized and superuser password is not specified.
       Set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) to a non-empty value for the
       superuser, or POSTGRES_HOST_AUTH_METHOD=trust to allow all connections without a
       password (not recommended).
MSG
      exit 1
    fi
    # initdb looks the current UID up in the passwd database (the server itself does not). An
    # arbitrary UID (`--user`, Kubernetes runAsUser) has no entry, so, as the official image does
    # for its Debian variants, give initdb one through nss_wrapper for the duration of the init.
    fake_passwd=''
    if ! getent passwd "$(id -u)" >/dev/null; then
      wrapper="$(find /usr/lib -name libnss_wrapper.so -print -quit)"
      [ -n "$wrapper" ] || { echo >&2 "error: UID $(id -u) has no passwd entry and libnss_wrapper.so is missing"; exit 1; }
      fake_passwd="$(mktemp -d)"
      printf 'postgres:x:%s:%s:PostgreSQL:%s:/bin/false\n' "$(id -u)" "$(id -g)" "$PGDATA" > "$fake_passwd/passwd"
      printf 'postgres:x:%s:\n' "$(id -g)" > "$fake_passwd/group"
      export LD_PRELOAD="$wrapper" NSS_WRAPPER_PASSWD="$fake_passwd/passwd" NSS_WRAPPER_GROUP="$fake_passwd/group"
    fi

    # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of options
    initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") $POSTGRES_INITDB_ARGS
    printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >> "$PGDATA/pg_hba.conf"

    # Temporary server reachable through the Unix socket only.
    PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p ${PGPORT:-5432}" -w start
    psql_cmd=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
    export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
    if [ "$POSTGRES_DB" != 'postgres' ]; then
      "${psql_cmd[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db" ;'
    fi
    for f in /docker-entrypoint-initdb.d/*; do
      case "$f" in
        *.sh)
          if [ -x "$f" ]; then echo "$0: running $f"; "$f"; else echo "$0: sourcing $f"; . "$f"; fi ;;
        *.sql) echo "$0: running $f"; "${psql_cmd[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
        *.sql.gz) echo "$0: running $f"; gunzip -c "$f" | "${psql_cmd[@]}" --dbname "$POSTGRES_DB" ;;
        *'/*') ;;
        *) echo "$0: ignoring $f" ;;
      esac
    done
    unset PGPASSWORD
    PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -m fast -w stop
    if [ -n "$fake_passwd" ]; then
      unset LD_PRELOAD NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
      rm -rf "$fake_passwd"
    fi
    echo 'PostgreSQL init process complete; ready for start up.'
  else
    echo 'PostgreSQL Database directory appears to contain a database; Skipping initialization'
  fi
fi

exec "$@"
