#!/usr/bin/env bash
# wepppy-deploy: the bootstrap of the host agent. Pulumi copies it to <root>/bin/wepppy-deploy
# on each environment's host and runs it over SSH; an operator runs the same commands by hand
# (see `wepppy-deploy help`). It only starts the agent, node running <root>/bin/wepppy-agent.js
# inside the agent image, with the docker socket and the host's directories mounted at their
# own paths (compose resolves wepppy's relative mounts against the project directory, and the
# engine must see the same paths), the host's pid namespace (the lock records host pids) and
# network (the smoke test reaches Caddy on 127.0.0.1), as the calling user. stdin passes
# through (a deploy request, a secret never). Everything else is the agent's.
#
# <root>/etc/agent.conf, written by the stack (root-owned), is KEY=VALUE lines read as data, never sourced:
#   IMAGE=<the agent image>   MOUNT=<a host directory to mount> (one line each)   PROJECT=<compose project dir>
set -Eeuo pipefail
umask 027

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONF=${WEPPPY_AGENT_CONF:-$ROOT/etc/agent.conf}
BUNDLE=$ROOT/bin/wepppy-agent.js

die() { printf '[wepppy-deploy] error: %s\n' "$1" >&2; exit "${2:-1}"; }

image=""
mounts=()
if [[ -r $CONF ]]; then
  while IFS='=' read -r key value || [[ -n $key ]]; do
    case $key in
      '' | \#*) continue ;;
      IMAGE) [[ $value =~ ^[A-Za-z0-9][A-Za-z0-9._/:@-]*$ ]] || die "$CONF: IMAGE is not an image reference"; image=$value ;;
      MOUNT) [[ $value =~ ^/[A-Za-z0-9._/-]*$ && $value != *..* ]] || die "$CONF: MOUNT is not an absolute plain path"; mounts+=("$value") ;;
      PROJECT) ;;
      *) die "$CONF: unknown key '$key'" ;;
    esac
  done <"$CONF"
fi
image=${WEPPPY_AGENT_IMAGE:-$image}
[[ -n $image ]] || die "no agent image: $CONF has no IMAGE line (the stack writes it when it installs the agent)"
[[ -r $BUNDLE ]] || die "no agent at $BUNDLE (the stack copies it there)"

socket=${WEPPPY_DOCKER_SOCKET:-/var/run/docker.sock}
[[ -S $socket ]] || die "no docker socket at $socket"
socket_gid=$(stat -c %g "$socket")
user="$(id -u):$(id -g)"

args=(run --rm -i --pid host --network host --user "$user" --group-add "$socket_gid" --log-driver none
  -v "$socket:$socket" -v "$ROOT:$ROOT")
all_mounts=("$ROOT")
for m in "${mounts[@]}"; do
  [[ $m == "$ROOT" ]] && continue
  args+=(-v "$m:$m")
  all_mounts+=("$m")
done
# The host's docker CLI plugins (compose v2 is one: Docker's docker-compose-plugin package puts
# it in /usr/libexec/docker/cli-plugins), read-only at their paths: the agent's docker CLI looks
# in the same places, so `docker compose` there is the host's own.
plugin_dirs=()
for d in ${WEPPPY_DOCKER_PLUGIN_DIRS:-/usr/libexec/docker/cli-plugins /usr/lib/docker/cli-plugins /usr/local/lib/docker/cli-plugins /usr/local/libexec/docker/cli-plugins}; do
  [[ $d =~ ^/[A-Za-z0-9._/-]*$ && $d != *..* ]] || die "plugin directory '$d' is not an absolute plain path"
  [[ -d $d ]] || continue
  args+=(-v "$d:$d:ro")
  plugin_dirs+=("$d")
done
docker_config=${DOCKER_CONFIG:-${HOME:-/nonexistent}/.docker}
if [[ -d $docker_config ]]; then
  # Registry credentials from `docker login` as this user; read-only.
  args+=(-v "$docker_config:$docker_config:ro" -e "DOCKER_CONFIG=$docker_config")
fi
args+=(
  -e "WEPPPY_DEPLOY_ROOT=$ROOT"
  -e "WEPPPY_AGENT_IMAGE=$image"
  -e "WEPPPY_AGENT_USER=$user"
  -e "WEPPPY_AGENT_GROUPS=$socket_gid"
  -e "WEPPPY_AGENT_MOUNTS=${all_mounts[*]}"
  -e "WEPPPY_AGENT_PLUGIN_DIRS=${plugin_dirs[*]}"
  -e "WEPPPY_DOCKER_SOCKET=$socket"
  -e "WEPPPY_HOSTNAME=$(hostname)"
  -e "WEPPPY_DEPLOY_ACTOR=${WEPPPY_DEPLOY_ACTOR:-$(id -un)}"
  # exec keeps this pid for docker's client: the agent sees when the SSH session's end took it.
  -e "WEPPPY_CLIENT_PID=$$"
)
exec docker "${args[@]}" "$image" node "$BUNDLE" "$@"
