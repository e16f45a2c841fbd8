#!/usr/bin/env bash
# drift-agent.sh: SPEC-080's minimal drift agent. It watches configuration paths with
# inotifywait (inotify-tools) and appends one entry per change to the Redis stream
# drift.file_changed, with the fields
#
#   payload  {"path":"<watched dir or file><file name>","event":"<events, comma-separated>"}
#   ci_id    the host name ($HOSTNAME)
#
# Usage: drift-agent.sh [path...]
#   paths default to SPEC-080's list; those of the defaults that do not exist are skipped.
# Environment:
#   REDIS_HOST    default redis
#   REDIS_PORT    default 6379
#   REDISCLI_AUTH the Redis password, if any (read by redis-cli itself, never on a command line)
#   HOSTNAME      the ci_id; default the output of hostname
set -u
set -o pipefail

REDIS_HOST="${REDIS_HOST:-redis}"
REDIS_PORT="${REDIS_PORT:-6379}"
HOSTNAME="${HOSTNAME:-$(hostname)}"

if [ "$#" -eq 0 ]; then
  for p in /etc/ssh /etc/hosts /etc/resolv.conf /etc/sysctl.conf /etc/sudoers /etc/passwd /etc/shadow; do
    if [ -e "$p" ]; then
      set -- "$@" "$p"
    else
      echo "drift-agent: $p does not exist; not watching it" >&2
    fi
  done
  if [ "$#" -eq 0 ]; then
    echo "drift-agent: none of the default paths exists" >&2
    exit 1
  fi
fi

inotifywait -m -r "$@" \
  --format '{"path":"%w%f","event":"%e"}' \
  | while IFS= read -r event; do
      redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" XADD drift.file_changed '*' payload "$event" ci_id "$HOSTNAME" >/dev/null \
        || echo "drift-agent: could not publish $event" >&2
    done
