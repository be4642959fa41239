#!/bin/sh
# Equivalent of wepppy's docker/redis-entrypoint.sh (not in the reference copy): starts redis-server
# with the password from REDIS_PASSWORD_FILE and persistence from the REDIS_* variables of the prod
# compose. The password goes into a 0600 config file, not onto the command line.
set -eu

conf="$(mktemp /tmp/redis.XXXXXX.conf)"
chmod 0600 "$conf"
{
  echo "bind 0.0.0.0"
  echo "port 6379"
  echo "dir /data"
  echo "appendonly ${REDIS_APPENDONLY:-yes}"
  echo "appendfsync ${REDIS_APPENDFSYNC:-everysec}"
  echo "save ${REDIS_SAVE_SCHEDULE:-900 1 300 10 60 10000}"
  echo "aof-use-rdb-preamble ${REDIS_AOF_USE_RDB_PREAMBLE:-yes}"
} > "$conf"

if [ -n "${REDIS_PASSWORD_FILE:-}" ]; then
  if [ ! -r "$REDIS_PASSWORD_FILE" ]; then
    echo "redis-entrypoint: REDIS_PASSWORD_FILE=$REDIS_PASSWORD_FILE is not readable" >&2
    exit 1
  fi
  password="$(tr -d '\r\n' < "$REDIS_PASSWORD_FILE")"
  if [ -z "$password" ]; then
    echo "redis-entrypoint: $REDIS_PASSWORD_FILE is empty" >&2
    exit 1
  fi
  printf 'requirepass "%s"\n' "$(printf '%s' "$password" | sed 's/\\/\\\\/g; s/"/\\"/g')" >> "$conf"
  echo "protected-mode yes" >> "$conf"
else
  echo "protected-mode no" >> "$conf"
fi

if [ "$(id -u)" = 0 ]; then
  chown redis:redis /data "$conf"
  exec setpriv --reuid=redis --regid=redis --init-groups redis-server "$conf" "$@"
fi
exec redis-server "$conf" "$@"
