#!/usr/bin/env bash
# wepppy-deploy: the host side of wepppy-cicd. Pulumi copies it to <root>/bin/ on each
# environment's host and runs it over SSH; an operator runs the same commands by hand
# (spec Playbooks 3 and 4). Settings come from <root>/deploy.conf, written by the stack.
#
#   wepppy-deploy deploy [--image REF] [--actor WHO] [--note TEXT] [--skip-smoke]
#   wepppy-deploy rollback [--actor WHO]        re-deploy the last good release (.env)
#   wepppy-deploy health                        gate the running app, Postgres and Redis
#   wepppy-deploy build --checkout DIR --ref R  (dev) check out R and build the images
#   wepppy-deploy backup [--reason R]           pg_dump -Fc, verified by reading it whole
#   wepppy-deploy verify-backup FILE
#   wepppy-deploy restore FILE [--into DB]      DB rollback (stops app+workers) or a scratch restore
#   wepppy-deploy backups                       list dumps, newest first
#   wepppy-deploy lock-status | break-lock
#   wepppy-deploy audit [-n N]                  the audit log (JSON lines)
#   wepppy-deploy status                        live release, colours, lock, last backup (JSON)
#   wepppy-deploy validate                      functional checks of the live release (audited)
#   wepppy-deploy traffic DIR | switch DIR STATE   blue/green marker (no settings needed)
#   wepppy-deploy retire COLOUR TOKEN           stop an idle colour once its warm time is over
#   (as root) write-secrets DIR | install-file PATH | install-timer | remove-timer
#
# Exit codes: 0 ok, 1 failed, 2 usage, 75 lock held (try later).
set -Eeuo pipefail
umask 027

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONF=${WEPPPY_DEPLOY_CONF:-$ROOT/deploy.conf}
LOCK_DIR=$ROOT/lock
AUDIT_LOG=$ROOT/audit.log
STARTED=$SECONDS

say() { printf '[wepppy-deploy %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { local code=$1; shift; say "error: $*"; exit "$code"; }

# --- settings --------------------------------------------------------------------------

# KEY=VALUE lines, read without evaluating them: the file is data, never code.
load_conf() {
  [[ -r $CONF ]] || die 1 "no settings at $CONF: has the stack been deployed to this host?"
  local key value
  while IFS='=' read -r key value || [[ -n $key ]]; do
    case $key in '' | \#*) continue ;; esac
    [[ $key =~ ^[A-Z][A-Z0-9_]*$ ]] || die 1 "$CONF: bad key '$key'"
    printf -v "C_$key" '%s' "$value"
  done <"$CONF"
  : "${C_ENVIRONMENT:?} ${C_PROJECT_DIR:?} ${C_COMPOSE_COMMAND:?} ${C_COMPOSE_FILES:?} ${C_COMPOSE_PROJECT:?}"
  : "${C_APP_SERVICE:?} ${C_APP_PORT:=8000} ${C_HEALTH_TRIES:=30} ${C_HEALTH_INTERVAL:=10} ${C_HEALTH_REQUIRED:=true}"
  : "${C_DB_SERVICE=postgres} ${C_REDIS_SERVICE=redis} ${C_ROLLBACK:=manual} ${C_LOCK_WAIT:=0}"
  : "${C_SMOKE:=pages} ${C_SMOKE_URL:=http://127.0.0.1:8080} ${C_SMOKE_PAGES:=/weppcloud/} ${C_SITE_PREFIX:=/weppcloud}"
  : "${C_SMOKE_RUN_CONFIG:=dev_unit_1} ${C_SKIP_SMOKE:=false} ${C_BACKUP_PRE_DEPLOY:=false} ${C_BACKUP_DIR:=$ROOT/backups}"
  : "${C_BACKUP_KEEP_COUNT:=48} ${C_BACKUP_KEEP_DAYS:=7} ${C_BACKUP_SCHEDULE:=none} ${C_DEPLOY_USER:=roger}"
  : "${C_MIGRATE:=} ${C_CANDIDATE:=true} ${C_STOP_FOR_RESTORE:=} ${C_VALIDATE:=false} ${C_VALIDATE_RUN_CONFIGS:=}"
  : "${C_VALIDATE_PAGES:=} ${C_RELEASE_NOTE:=} ${C_BLUEGREEN:=false}"
  if [[ $C_BLUEGREEN == true ]]; then
    : "${C_BG_MARKER_DIR:?} ${C_BG_BLUE_SERVICE:?} ${C_BG_GREEN_SERVICE:?} ${C_BG_BLUE_VAR:?} ${C_BG_GREEN_VAR:?}"
    : "${C_BG_CADDY_SERVICE:?} ${C_BG_ACCESS_LOG:?} ${C_BG_WARM_SECONDS:=1800} ${C_BG_CANARY:=}"
    : "${C_BG_ANALYSIS_SECONDS:=600} ${C_BG_ANALYSIS_INTERVAL:=2} ${C_BG_MAX_ERROR_PERCENT:=5} ${C_BG_MIN_REQUESTS:=20}"
    : "${C_BG_STEP_SECONDS:=60} ${C_BG_LIVE_VAR:=WEPPCLOUD_LIVE_COLOUR} ${C_BG_OTHER_SERVICES:=}"
  fi
  read -ra COMPOSE_CMD <<<"$C_COMPOSE_COMMAND"
  read -ra COMPOSE_FILES <<<"$C_COMPOSE_FILES"
}

ENV_FILE=.env
compose() {
  local args=() f
  for f in "${COMPOSE_FILES[@]}"; do args+=(-f "$f"); done
  # WEPPPY_ENV_FILE is the containers' env_file in wepppy's compose files: during a
  # deploy it must be the release being deployed, not the one still live.
  (cd "$C_PROJECT_DIR" && WEPPPY_ENV_FILE="$ENV_FILE" "${COMPOSE_CMD[@]}" --env-file "$ENV_FILE" -p "$C_COMPOSE_PROJECT" "${args[@]}" "$@")
}

# The labels compose itself selects by; docker ps answers in milliseconds where compose v1
# parses the whole project first (seconds, on a host running wepppy's two dozen services).
container_of() {
  docker ps -aq --filter "label=com.docker.compose.project=$C_COMPOSE_PROJECT" \
    --filter "label=com.docker.compose.service=$1" --filter "label=com.docker.compose.oneoff=False" 2>/dev/null | head -n1
}
running() { [[ -n ${1:-} ]] && [[ $(docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null) == true ]]; }

env_value() { # KEY FILE
  [[ -r $2 ]] || return 0
  sed -n "s/^$1=//p" "$2" | tail -n1
}

# --- audit -----------------------------------------------------------------------------

json() { # escape for a JSON string; logs become one line
  printf '%s' "$1" | tr '\n\t' '  ' | tr -d '\000-\037' | sed 's/\\/\\\\/g; s/"/\\"/g'
}

ACTOR=${WEPPPY_DEPLOY_ACTOR:-$(id -un)}
IMAGE=""
audit() { # action result detail
  local digest=""
  [[ $IMAGE == *@sha256:* ]] && digest=${IMAGE##*@}
  printf '{"time":"%s","env":"%s","host":"%s","who":"%s","action":"%s","image":"%s","digest":"%s","result":"%s","seconds":%d,"detail":"%s"}\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(json "${C_ENVIRONMENT:-}")" "$(json "$(hostname)")" "$(json "$ACTOR")" \
    "$1" "$(json "$IMAGE")" "$digest" "$2" "$((SECONDS - STARTED))" "$(json "$3")" >>"$AUDIT_LOG"
}

# --- lock ------------------------------------------------------------------------------

# A directory, because mkdir is atomic and, unlike flock, it outlives a killed deploy:
# the next one must see that a deploy died half-way instead of silently carrying on.
proc_start() { awk '{print $22}' "/proc/$1/stat" 2>/dev/null || true; }

holder_line() { cat "$LOCK_DIR/holder" 2>/dev/null || true; }

holder_alive() { # holder line -> is its process still the one that took the lock?
  local pid start
  pid=$(sed -n 's/.*pid=\([0-9]*\).*/\1/p' <<<"$1")
  start=$(sed -n 's/.*start=\([0-9]*\).*/\1/p' <<<"$1")
  [[ -n $pid && -n $start && $(proc_start "$pid") == "$start" ]]
}

acquire_lock() { # action
  local waited=0 holder
  while ! mkdir "$LOCK_DIR" 2>/dev/null; do
    holder=$(holder_line)
    if [[ -z $holder ]]; then sleep 1; holder=$(holder_line); fi # taken this very moment
    if [[ -n $holder ]] && ! holder_alive "$holder"; then
      audit "$1" refused "stale lock: $holder"
      die 75 "stale lock left by a deploy that did not finish: $holder. Check the environment (wepppy-deploy health), then run: wepppy-deploy break-lock"
    fi
    # A retire holds the lock for a minute at most (compose stop -t 60): wait it out.
    if ((waited >= C_LOCK_WAIT)) && ! [[ $holder == *"action=retire "* && $waited -lt 120 ]]; then
      audit "$1" refused "lock held: $holder"
      die 75 "another deploy holds the lock: $holder"
    fi
    sleep 1
    waited=$((waited + 1))
  done
  printf 'who=%s action=%s since=%s pid=%s start=%s\n' "$ACTOR" "$1" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$$" "$(proc_start $$)" >"$LOCK_DIR/holder"
  trap release_lock EXIT
  trap '' PIPE
  trap 'exit 129' HUP
  trap 'exit 143' TERM
  trap 'exit 130' INT
}

release_lock() {
  local holder
  # A blue/green deploy that ends between its switch and its verdict (killed, connection
  # lost) puts traffic back where it was: only a finished release keeps the new colour.
  if [[ -n ${SWITCHED_FROM:-} ]]; then
    switch_traffic "$C_BG_MARKER_DIR" "$SWITCHED_FROM" >/dev/null 2>&1 || true
    audit rollback ok "interrupted after the switch: traffic back on $SWITCHED_FROM" || true
    SWITCHED_FROM=""
  fi
  holder=$(holder_line)
  if [[ $holder == *"pid=$$ "* ]]; then rm -rf "$LOCK_DIR"; fi
}

# --- gates -----------------------------------------------------------------------------

GATE_ERROR=""
gate_app() { # container -> 0 when its own /health answers "OK" (not Caddy's, which answers for itself)
  local c=$1 i body status
  for ((i = 1; i <= C_HEALTH_TRIES; i++)); do
    status=$(docker inspect -f '{{.State.Status}}' "$c" 2>/dev/null || echo missing)
    if [[ $status == exited || $status == dead || $status == missing ]]; then
      GATE_ERROR="container $status after $i probe(s)"
      break
    fi
    body=$(docker exec "$c" curl -fsS --max-time 5 "http://localhost:$C_APP_PORT/health" 2>/dev/null | tr -d '\r\n ' || true)
    if [[ $body == '"OK"' || $body == OK ]]; then
      say "app healthy (probe $i of $C_HEALTH_TRIES)"
      return 0
    fi
    say "app not healthy yet (probe $i of $C_HEALTH_TRIES)"
    ((i < C_HEALTH_TRIES)) && sleep "$C_HEALTH_INTERVAL"
    GATE_ERROR="no \"OK\" from /health after $C_HEALTH_TRIES probes, ${C_HEALTH_INTERVAL}s apart"
  done
  # The app's own log lines may quote secrets or users' data: they stay on the host, and the
  # error (which reaches CI logs, the audit log and the webhook) says where they are.
  local logfile
  logfile="$ROOT/logs/gate-$(date -u +%Y%m%dT%H%M%SZ)-${c:0:12}.log"
  mkdir -p "$ROOT/logs"
  docker logs --tail 200 "$c" >"$logfile" 2>&1 || true
  GATE_ERROR="$GATE_ERROR; the app's last log lines are on the host in $logfile"
  return 1
}

probe() { # name command...
  local i
  for ((i = 1; i <= C_HEALTH_TRIES; i++)); do
    if "${@:2}" >/dev/null 2>&1; then say "$1 ok"; return 0; fi
    ((i < C_HEALTH_TRIES)) && sleep "$C_HEALTH_INTERVAL"
  done
  GATE_ERROR="$1 not ready after $C_HEALTH_TRIES probes"
  return 1
}

pg_ready() { docker exec "$(container_of "$C_DB_SERVICE")" sh -c 'pg_isready -q -U "$POSTGRES_USER" -d "$POSTGRES_DB"'; }
# The password travels inside the container only: REDISCLI_AUTH, never an argument.
redis_pong() {
  docker exec "$(container_of "$C_REDIS_SERVICE")" sh -c \
    'REDISCLI_AUTH="${REDIS_PASSWORD:-$(cat /run/secrets/redis_password 2>/dev/null)}" redis-cli -h 127.0.0.1 ping' | grep -qx PONG
}

gate_services() {
  if [[ -n $C_DB_SERVICE ]]; then probe "postgres ($C_DB_SERVICE)" pg_ready || return 1; fi
  if [[ -n $C_REDIS_SERVICE ]]; then probe "redis ($C_REDIS_SERVICE)" redis_pong || return 1; fi
}

# --- smoke -----------------------------------------------------------------------------

http() { # method url [data] -> body, then the status code on its own last line
  local args=(-sS --max-time 30 -H 'X-Forwarded-Proto: https' -X "$1" -w '\n%{http_code}')
  [[ -n ${3:-} ]] && args+=(-H 'Content-Type: application/json' --data "$3")
  curl "${args[@]}" "$2" || printf '\n000'
}

json_field() { sed -n "s/.*\"$1\" *: *\"\\([^\"]*\\)\".*/\\1/p" | head -n1; }

smoke() {
  local base=$C_SMOKE_URL out code body runid url page
  if [[ $C_SMOKE == test-support ]]; then
    out=$(http POST "$base$C_SITE_PREFIX/tests/api/create-run" "{\"config\":\"$C_SMOKE_RUN_CONFIG\",\"overrides\":{}}")
    code=${out##*$'\n'} body=${out%$'\n'*}
    [[ $code == 201 ]] || { GATE_ERROR="create-run answered $code: $(head -c 300 <<<"$body")"; return 1; }
    runid=$(json_field runid <<<"$body")
    url=$(json_field url <<<"$body")
    [[ $runid =~ ^[A-Za-z0-9_.-]+$ ]] || { GATE_ERROR="create-run gave no usable .run.runid: $(head -c 300 <<<"$body")"; return 1; }
    [[ $url == /* ]] || url="$C_SITE_PREFIX/runs/$runid/$C_SMOKE_RUN_CONFIG/"
    out=$(http GET "$base$url")
    code=${out##*$'\n'}
    [[ $code == 200 ]] || { GATE_ERROR="run page $url answered $code"; return 1; }
    out=$(http DELETE "$base$C_SITE_PREFIX/tests/api/run/$runid")
    code=${out##*$'\n'} body=${out%$'\n'*}
    [[ $code == 200 && $(json_field runid <<<"$body") == "$runid" ]] || { GATE_ERROR="deleting run $runid answered $code"; return 1; }
    say "smoke: created, fetched and deleted run $runid"
  else
    for page in $C_SMOKE_PAGES; do
      out=$(http GET "$base$page")
      code=${out##*$'\n'}
      [[ $code =~ ^[23][0-9][0-9]$ ]] || { GATE_ERROR="page $page answered $code through Caddy"; return 1; }
      say "smoke: $page answered $code"
    done
  fi
}

# --- backups ---------------------------------------------------------------------------

# pg_restore into /dev/null reads every block of the archive; --list reads only its
# table of contents and passes a truncated dump.
verify_dump() { # file -> 0 when the whole archive reads back
  local c
  c=$(container_of "$C_DB_SERVICE")
  running "$c" || { say "no running $C_DB_SERVICE container to verify with"; return 1; }
  [[ -s $1 ]] || { say "$1 is empty"; return 1; }
  docker exec -i "$c" pg_restore -f /dev/null <"$1"
}

prune_backups() {
  local n=0 f
  while IFS= read -r f; do
    n=$((n + 1))
    if ((n > C_BACKUP_KEEP_COUNT)); then rm -f -- "$f"; fi
  done < <(ls -1t "$C_BACKUP_DIR"/*.dump 2>/dev/null || true)
  find "$C_BACKUP_DIR" -maxdepth 1 -name '*.dump' -type f -mtime +"$C_BACKUP_KEEP_DAYS" -delete
}

BACKUP_FILE=""
backup() { # reason -> 0 and BACKUP_FILE, or 1
  local reason=$1 c file
  c=$(container_of "$C_DB_SERVICE")
  if ! running "$c"; then
    if [[ $reason == pre-deploy ]]; then
      say "no database is running yet: nothing to back up (first deploy)"
      audit backup skipped "$reason: no $C_DB_SERVICE container running"
      return 0
    fi
    GATE_ERROR="no running $C_DB_SERVICE container"
    audit backup failed "$reason: $GATE_ERROR"
    return 1
  fi
  mkdir -p "$C_BACKUP_DIR"
  file="$C_BACKUP_DIR/$reason-$(date -u +%Y%m%dT%H%M%SZ).dump"
  say "backup: pg_dump -Fc to $file"
  if ! docker exec "$c" sh -c 'pg_dump -U "$POSTGRES_USER" -d "$POSTGRES_DB" -Fc' >"$file.partial"; then
    rm -f -- "$file.partial"
    GATE_ERROR="pg_dump failed"
    audit backup failed "$reason: $GATE_ERROR"
    return 1
  fi
  if ! verify_dump "$file.partial"; then
    mv -- "$file.partial" "$file.unverified"
    GATE_ERROR="the dump does not read back whole (kept as $file.unverified)"
    audit backup failed "$reason: $GATE_ERROR"
    return 1
  fi
  mv -- "$file.partial" "$file"
  BACKUP_FILE=$file
  prune_backups
  say "backup verified: $file ($(stat -c %s "$file") bytes)"
  audit backup ok "$reason: $file $(stat -c %s "$file") bytes"
}

# --- deploy ----------------------------------------------------------------------------

fail_deploy() { # message
  audit deploy failed "$1"
  die 1 "$1"
}

set_env_image() { # file image: rewrite WEPPCLOUD_IMAGE in place
  local tmp
  tmp=$(mktemp "$C_PROJECT_DIR/.env.XXXXXX")
  grep -v '^WEPPCLOUD_IMAGE=' "$1" >"$tmp" || true
  printf 'WEPPCLOUD_IMAGE=%s\n' "$2" >>"$tmp"
  chmod 0640 "$tmp"
  mv -- "$tmp" "$1"
}

remove_candidate() { docker rm -f "$1" >/dev/null 2>&1 || true; }

# The stack writes .env.next; it becomes .env (what a plain `docker compose up` uses)
# only once the release has passed its gates, so a failed deploy leaves the last good
# release both running and on disk.
cmd_deploy() {
  local image="" note="" skip_smoke=$C_SKIP_SMOKE
  while (($#)); do
    case $1 in
      --image) image=$2; shift 2 ;;
      --actor) ACTOR=$2; shift 2 ;;
      --note) note=$2; shift 2 ;;
      --skip-smoke) skip_smoke=true; shift ;;
      --from-live) install -m 0640 -g docker -- "$C_PROJECT_DIR/.env" "$C_PROJECT_DIR/.env.next"; shift ;;
      *) die 2 "deploy: unknown option $1" ;;
    esac
  done
  local next="$C_PROJECT_DIR/.env.next" live="$C_PROJECT_DIR/.env"
  [[ -r $next ]] || die 1 "no $next: the stack writes it before deploying"
  [[ -z $image ]] || set_env_image "$next" "$image"
  if [[ $C_BLUEGREEN == true ]]; then
    cmd_deploy_bluegreen "$note" "$skip_smoke"
    return
  fi
  IMAGE=$(env_value WEPPCLOUD_IMAGE "$next")
  acquire_lock deploy
  check_secrets
  say "deploying $IMAGE to $C_ENVIRONMENT${note:+ ($note)}"

  if [[ $C_BACKUP_PRE_DEPLOY == true ]]; then
    backup pre-deploy || fail_deploy "pre-deploy backup failed, nothing deployed: $GATE_ERROR"
  fi

  ENV_FILE=.env.next
  if [[ $IMAGE == *@sha256:* ]]; then
    say "pulling $IMAGE"
    docker pull -q "$IMAGE" >/dev/null || fail_deploy "cannot pull $IMAGE"
  fi

  local app previous_app=""
  previous_app=$(container_of "$C_APP_SERVICE")
  running "$previous_app" || previous_app=""

  if [[ -n $C_MIGRATE ]]; then
    local migrate
    read -ra migrate <<<"$C_MIGRATE"
    [[ -z $C_DB_SERVICE ]] || compose up -d "$C_DB_SERVICE" >/dev/null
    say "migration: ${migrate[*]}"
    compose run --rm --no-deps -T "$C_APP_SERVICE" "${migrate[@]}" || fail_deploy "migration '${migrate[*]}' failed"
  fi

  # Gate the new build beside the running one first: a build that never becomes
  # healthy is refused while the previous containers keep serving.
  if [[ -n $previous_app && $C_CANDIDATE == true ]]; then
    local candidate="${C_COMPOSE_PROJECT}_${C_APP_SERVICE}_candidate"
    remove_candidate "$candidate"
    say "starting candidate $candidate"
    compose run -d --no-deps --name "$candidate" "$C_APP_SERVICE" >/dev/null || fail_deploy "cannot start a candidate container"
    if ! gate_app "$candidate"; then
      remove_candidate "$candidate"
      fail_deploy "new build failed its health gate, previous release still serving: $GATE_ERROR"
    fi
    remove_candidate "$candidate"
  fi

  say "compose up"
  local out recreate=()
  [[ $SECRETS_CHANGED == true ]] && recreate=(--force-recreate)
  out=$(compose up -d "${recreate[@]}" 2>&1) || fail_deploy "compose up failed: $(tail -n 8 <<<"$out")"
  app=$(container_of "$C_APP_SERVICE")
  local ok=true
  gate_app "$app" && gate_services || ok=false
  if [[ $ok == true && $skip_smoke != true ]]; then smoke || ok=false; fi

  if [[ $ok != true ]]; then
    local why=$GATE_ERROR
    if [[ $C_ROLLBACK == automatic && -r $live && -n $previous_app ]]; then
      say "rolling back to the last good release"
      ENV_FILE=.env
      compose up -d >/dev/null 2>&1 || true
      audit rollback "$(gate_app "$(container_of "$C_APP_SERVICE")" && echo ok || echo failed)" "automatic, after: $why"
      fail_deploy "release failed after compose up and was rolled back: $why"
    fi
    [[ $C_HEALTH_REQUIRED == true ]] && fail_deploy "release failed after compose up: $why (run wepppy-deploy rollback)"
    say "warning: $why (health not required in $C_ENVIRONMENT)"
  fi

  mv -f -- "$next" "$live"
  install -m 0640 -g docker -- "$live" "$next"
  local detail="deployed"
  [[ $skip_smoke == true ]] && detail="$detail, smoke test skipped"
  [[ -n $note ]] && detail="$detail; $note"
  [[ -n $BACKUP_FILE ]] && detail="$detail; backup $BACKUP_FILE"
  audit deploy ok "$detail"
  record_secrets
  [[ $C_VALIDATE == true ]] && { cmd_validate || true; }
  say "done: $IMAGE is live on $C_ENVIRONMENT"
  verdict_json
}

# --- blue/green ------------------------------------------------------------------------

# Caddy picks the colour of every request from a marker file it stats per request, so a
# switch is a rename(2): no reload, no dropped keep-alive connection. No marker is blue,
# `live-green` is green, `canary-<colour>-<percent>` sends that share to <colour>.
state_of_marker() { case $1 in '') printf blue ;; live-*) printf %s "${1#live-}" ;; *) printf %s "$1" ;; esac; }
marker_of_state() { case $1 in blue) printf '' ;; green) printf live-green ;; *) printf %s "$1" ;; esac; }
valid_state() { [[ $1 =~ ^(blue|green|canary-(blue|green)-[1-9][0-9]?)$ ]]; }
markers_in() { # dir -> marker names, space separated
  local f out=""
  for f in "$1"/live-* "$1"/canary-*; do
    [[ -f $f ]] && out="${out:+$out }${f##*/}"
  done
  printf '%s' "$out"
}

traffic_state() { # dir -> state id; exit 3 on more than one marker
  local cur
  cur=$(markers_in "$1")
  if [[ $cur == *' '* ]]; then say "more than one blue/green marker in $1: $cur"; return 3; fi
  state_of_marker "$cur"
}

cmd_traffic() {
  local dir=${1:?traffic DIR} state
  state=$(traffic_state "$dir") || exit 3
  printf '{"state":"%s"}\n' "$state"
}

# Atomic for Caddy: marker to marker is one rename, none to a marker is a temp file
# renamed into place, a marker to none is one unlink; leftovers go after the new one exists.
switch_traffic() { # dir state -> prints {"from","to"}
  local dir=$1 to=$2 cur first from target tmp f
  valid_state "$to" || die 2 "switch: '$to' is not a traffic state (blue, green, canary-<colour>-<percent>)"
  mkdir -p -- "$dir"
  cur=$(markers_in "$dir")
  first=${cur%% *}
  if [[ $cur == *' '* ]]; then from=mixed; else from=$(state_of_marker "$cur"); fi
  target=$(marker_of_state "$to")
  if [[ -n $target && ! -f $dir/$target ]]; then
    if [[ -n $first ]]; then
      mv -f -- "$dir/$first" "$dir/$target"
    else
      tmp=$(mktemp "$dir/.switch.XXXXXX")
      chmod 0644 "$tmp"
      mv -f -- "$tmp" "$dir/$target"
    fi
  fi
  for f in $cur; do [[ $f == "$target" ]] || rm -f -- "${dir:?}/$f"; done
  printf '{"from":"%s","to":"%s"}\n' "$from" "$to"
}

other_colour() { [[ $1 == blue ]] && printf green || printf blue; }
colour_service() { [[ $1 == blue ]] && printf '%s' "$C_BG_BLUE_SERVICE" || printf '%s' "$C_BG_GREEN_SERVICE"; }
colour_var() { [[ $1 == blue ]] && printf '%s' "$C_BG_BLUE_VAR" || printf '%s' "$C_BG_GREEN_VAR"; }
image_of() { docker inspect -f '{{.Config.Image}}' "$1" 2>/dev/null || true; }
# The colour serving most requests in a state (a canary state's majority is the other colour).
majority_colour() { case $1 in blue | green) printf '%s' "$1" ;; canary-*) other_colour "$(cut -d- -f2 <<<"$1")" ;; esac; }

switch_to() { # state
  local out
  out=$(switch_traffic "$C_BG_MARKER_DIR" "$1")
  say "traffic: $out"
}

# Caddy's JSON access log, read inside its container (Caddy writes it as root, 0600).
# A file smaller than the offset has rolled over: count the new file from its start.
caddy_log() { # args for the shell snippet: offset -> "<requests> <5xx>" since that byte
  local c
  c=$(container_of "$C_BG_CADDY_SERVICE")
  [[ -n $c ]] || { echo "0 0"; return 0; }
  docker exec -e LOG="$C_BG_ACCESS_LOG" -e FROM="$1" "$c" sh -c \
    '[ -f "$LOG" ] || { echo "0 0"; exit 0; }; [ "$(wc -c <"$LOG")" -lt "$FROM" ] && FROM=0; tail -c +"$((FROM + 1))" "$LOG" | awk "/\"status\":5[0-9][0-9]/ {e++} {n++} END {print n+0, e+0}"' 2>/dev/null || echo "0 0"
}
caddy_log_size() {
  local c
  c=$(container_of "$C_BG_CADDY_SERVICE")
  [[ -n $c ]] || { echo 0; return 0; }
  docker exec -e LOG="$C_BG_ACCESS_LOG" "$c" sh -c '[ -f "$LOG" ] && wc -c <"$LOG" || echo 0' 2>/dev/null | tr -d ' ' || echo 0
}

# What switches back: the 5xx share of what Caddy served since the switch (cheap: checked
# every interval), and the colour's own /health, Postgres, Redis and Caddy (a docker exec
# each: checked every HEAVY_EVERY seconds).
HEAVY_EVERY=5
# At a canary step only `share` % of requests reach the new colour: its own 5xx share is
# the log's share scaled by 100/share (the old colour is known good).
error_share() { # log-offset [share-percent]
  local n e share=${2:-100}
  read -r n e <<<"$(caddy_log "$1")"
  if ((n >= C_BG_MIN_REQUESTS && e * 100 * 100 > C_BG_MAX_ERROR_PERCENT * n * share)); then
    GATE_ERROR="$e of $n requests answered 5xx since the switch (at ${share} % of traffic: over $C_BG_MAX_ERROR_PERCENT % of the new colour's)"
    return 1
  fi
  ANALYSIS_SEEN="$n requests, $e 5xx"
}

service_checks() { # colour
  local c
  c=$(container_of "$(colour_service "$1")")
  running "$c" || { GATE_ERROR="$(colour_service "$1") is not running"; return 1; }
  [[ $(docker exec "$c" curl -fsS --max-time 3 "http://localhost:$C_APP_PORT/health" 2>/dev/null | tr -d '\r\n ') =~ ^\"?OK\"?$ ]] ||
    { GATE_ERROR="/health failing on $1"; return 1; }
  if [[ -n $C_DB_SERVICE ]]; then pg_ready >/dev/null 2>&1 || { GATE_ERROR="postgres ($C_DB_SERVICE) not ready"; return 1; }; fi
  if [[ -n $C_REDIS_SERVICE ]]; then redis_pong >/dev/null 2>&1 || { GATE_ERROR="redis ($C_REDIS_SERVICE) not answering"; return 1; }; fi
  running "$(container_of "$C_BG_CADDY_SERVICE")" || { GATE_ERROR="$C_BG_CADDY_SERVICE is down"; return 1; }
}

ANALYSIS_SEEN=""
analyse() { # colour seconds log-offset [share-percent]
  local end=$((SECONDS + $2)) heavy=0
  say "analysis: watching $1 for $2 s (5xx over $C_BG_MAX_ERROR_PERCENT % of at least $C_BG_MIN_REQUESTS requests, health, postgres, redis)"
  while :; do
    sleep "$C_BG_ANALYSIS_INTERVAL"
    error_share "$3" "${4:-100}" || return 1
    if ((SECONDS >= heavy)); then
      service_checks "$1" || return 1
      heavy=$((SECONDS + HEAVY_EVERY))
    fi
    ((SECONDS < end)) || break
  done
  say "analysis passed: ${ANALYSIS_SEEN:-no requests}"
}

# A release that went bad after the switch: traffic goes back first, then the record.
switch_back() { # previous-state reason
  local back_ms
  switch_to "$1"
  SWITCHED_FROM=""
  back_ms=$(($(now_ms) - SWITCH_MS))
  say "switched back to $1, $back_ms ms after the switch: $2"
  audit rollback ok "automatic, back to $1 $back_ms ms after the switch: $2"
  # Stopped, so that no retry finds it "warm" and switches to it without a new analysis.
  [[ -z $FAILED_SERVICE ]] || compose stop -t 10 "$FAILED_SERVICE" >/dev/null 2>&1 || true
  fail_deploy "release switched back to $1 automatically: $2"
}

SWITCHED_FROM=""
FAILED_SERVICE=""
now_ms() { echo $(($(date +%s%N) / 1000000)); }
SWITCH_MS=0

schedule_retire() { # colour
  local token
  token=$(date +%s%N)
  printf '%s\n' "$token" >"$ROOT/retire-$1"
  say "$1 stays warm for $C_BG_WARM_SECONDS s (rollback is a switch until then)"
  setsid nohup bash "$ROOT/bin/wepppy-deploy" retire "$1" "$token" </dev/null >/dev/null 2>&1 &
}

cmd_retire() { # colour token: after the warm time, stop the colour unless it is live again or was re-released
  local colour=$1 token=$2 state svc c
  [[ $colour == blue || $colour == green ]] || die 2 "retire: expects blue or green"
  sleep "$C_BG_WARM_SECONDS"
  C_LOCK_WAIT=600
  [[ $(cat "$ROOT/retire-$colour" 2>/dev/null) == "$token" ]] || exit 0
  acquire_lock retire
  state=$(traffic_state "$C_BG_MARKER_DIR") || exit 3
  [[ $state == "$(other_colour "$colour")" ]] || exit 0
  [[ $(cat "$ROOT/retire-$colour" 2>/dev/null) == "$token" ]] || exit 0
  svc=$(colour_service "$colour")
  c=$(container_of "$svc")
  IMAGE=$(image_of "$c")
  running "$c" || exit 0
  compose stop -t 60 "$svc" >/dev/null 2>&1 || { audit retire failed "$svc did not stop"; exit 1; }
  rm -f -- "$ROOT/retire-$colour"
  audit retire ok "$svc stopped after $C_BG_WARM_SECONDS s warm"
}

# The stack names only the image that must be live (WEPPCLOUD_IMAGE); which colour serves
# and what each runs is known here: the image goes to the colour that runs it already, or
# else to the colour not serving. The env file handed to compose gets both colours' images.
choose_colour() { # image live-colour -> colour
  local colour c
  for colour in "$2" "$(other_colour "$2")"; do
    c=$(container_of "$(colour_service "$colour")")
    if [[ -n $c && $(image_of "$c") == "$1" ]] && running "$c"; then printf '%s' "$colour"; return; fi
  done
  other_colour "$2"
}

set_env_value() { # file key value
  local tmp
  tmp=$(mktemp "$C_PROJECT_DIR/.env.XXXXXX")
  grep -v "^$2=" "$1" >"$tmp" || true
  printf '%s=%s\n' "$2" "$3" >>"$tmp"
  chmod 0640 "$tmp"
  mv -- "$tmp" "$1"
}

colour_image() { # colour -> the image its container runs, or the fallback
  local c
  c=$(container_of "$(colour_service "$1")")
  if [[ -n $c ]]; then image_of "$c"; else printf '%s' "$2"; fi
}

verdict_json() { # live-colour
  if [[ -z ${1:-} ]]; then
    printf '{"image":"%s"}\n' "$(json "$IMAGE")"
    return
  fi
  printf '{"image":"%s","live":"%s","images":{"blue":"%s","green":"%s"}}\n' "$(json "$IMAGE")" "$1" \
    "$(json "$(colour_image blue "$IMAGE")")" "$(json "$(colour_image green "$IMAGE")")"
}

# Secret files are rewritten in place (renamed over), and a container keeps the file it
# mounted: when any changed since the last deploy, what mounts them must be recreated.
SECRETS_CHANGED=false
secrets_digest() { (cd "$C_PROJECT_DIR/secrets" 2>/dev/null && sha256sum -- * 2>/dev/null) || true; }
check_secrets() {
  local now before
  now=$(secrets_digest)
  before=$(cat "$ROOT/state/secrets.sha256" 2>/dev/null || true)
  if [[ -n $before && $now != "$before" ]]; then SECRETS_CHANGED=true; say "secret files changed since the last deploy: what mounts them is recreated"; fi
}
record_secrets() { mkdir -p "$ROOT/state" && secrets_digest >"$ROOT/state/secrets.sha256"; }

cmd_deploy_bluegreen() { # note skip_smoke
  local note=$1 skip_smoke=$2
  local next="$C_PROJECT_DIR/.env.next" live="$C_PROJECT_DIR/.env"
  local target state from svc c warm=false first=false
  IMAGE=$(env_value WEPPCLOUD_IMAGE "$next")
  [[ -n $IMAGE ]] || die 1 "$next: no WEPPCLOUD_IMAGE"
  acquire_lock deploy
  check_secrets
  local started_ms
  started_ms=$(now_ms)
  state=$(traffic_state "$C_BG_MARKER_DIR") || fail_deploy "ambiguous traffic state in $C_BG_MARKER_DIR"
  from=$(majority_colour "$state")
  target=$(choose_colour "$IMAGE" "$from")
  # A first release goes where traffic already points (blue, with no marker): nothing to switch.
  if [[ -z $(container_of "$C_BG_BLUE_SERVICE") && -z $(container_of "$C_BG_GREEN_SERVICE") ]]; then target=$from; fi
  # A colour started with the old secrets is not warm for this release.
  if [[ $SECRETS_CHANGED == true ]]; then target=$(other_colour "$from"); fi
  set_env_value "$next" "$C_BG_LIVE_VAR" "$target"
  set_env_value "$next" "$(colour_var "$target")" "$IMAGE"
  set_env_value "$next" "$(colour_var "$(other_colour "$target")")" "$(colour_image "$(other_colour "$target")" "$IMAGE")"
  svc=$(colour_service "$target")
  ENV_FILE=.env.next
  c=$(container_of "$svc")
  [[ -z $c && -z $(container_of "$(colour_service "$(other_colour "$target")")") ]] && first=true
  say "release $IMAGE on $target ($svc); traffic now: $state${note:+ ($note)}"

  if [[ $first == false && $state == "$target" ]]; then
    # Traffic is already on the target: a settings change, or a retry of a finished release.
    # The live colour is never recreated under traffic; it takes new settings at its next release.
    [[ $(image_of "$c") == "$IMAGE" ]] ||
      fail_deploy "the image of the live colour $target changed; a release goes to the idle colour (wepppy-cicd release) so that the live one keeps serving"
    finish_bluegreen "$target" "$target" "no traffic change: $target keeps serving; the colours take new settings at their next release${note:+; $note}"
    return 0
  elif [[ $first == false && -n $c && $SECRETS_CHANGED == false ]]; then
    # One inspect: docker has kept probing the warm colour with the app's own healthcheck,
    # and reading that takes milliseconds where a probe through docker exec takes seconds.
    local is_running image health tries=$C_HEALTH_TRIES
    read -r is_running image health < <(docker inspect -f '{{.State.Running}} {{.Config.Image}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$c" 2>/dev/null || true) || true
    if [[ $is_running == true && $image == "$IMAGE" ]]; then
      if [[ $health == healthy ]]; then
        warm=true
      elif [[ $health == none ]]; then
        C_HEALTH_TRIES=1
        gate_app "$c" && warm=true
        C_HEALTH_TRIES=$tries
      fi
    fi
  fi

  if [[ $warm == true ]]; then
    say "$target is warm with $IMAGE: switching"
    SWITCH_MS=$(now_ms)
    switch_to "$target"
    SWITCHED_FROM=$state
    local ms=$((SWITCH_MS - started_ms))
    if [[ $skip_smoke != true ]]; then smoke || switch_back "$state" "smoke test failed on $target: $GATE_ERROR"; fi
    finish_bluegreen "$target" "$from" "switched to warm $target $ms ms after the deploy started${note:+; $note}"
    return 0
  fi

  if [[ $C_BACKUP_PRE_DEPLOY == true ]]; then
    backup pre-deploy || fail_deploy "pre-deploy backup failed, nothing deployed: $GATE_ERROR"
  fi
  if [[ $IMAGE == *@sha256:* ]]; then
    say "pulling $IMAGE"
    docker pull -q "$IMAGE" >/dev/null || fail_deploy "cannot pull $IMAGE"
  fi
  if [[ -n $C_MIGRATE ]]; then
    local migrate
    read -ra migrate <<<"$C_MIGRATE"
    [[ -z $C_DB_SERVICE ]] || compose up -d "$C_DB_SERVICE" >/dev/null
    say "migration: ${migrate[*]}"
    compose run --rm --no-deps -T "$svc" "${migrate[@]}" || fail_deploy "migration '${migrate[*]}' failed"
  fi

  local out
  if [[ $first == true ]]; then
    # --remove-orphans: the single app service of before blue/green would keep port 8000.
    say "first release: compose up"
    out=$(compose up -d --remove-orphans 2>&1) || fail_deploy "compose up failed: $(tail -n 8 <<<"$out")"
  else
    say "starting $svc (the idle colour; $from keeps serving)"
    local recreate=()
    [[ $SECRETS_CHANGED == true ]] && recreate=(--force-recreate)
    out=$(compose up -d --no-deps "${recreate[@]}" "$svc" 2>&1) || fail_deploy "starting $svc failed: $(tail -n 8 <<<"$out")"
  fi
  c=$(container_of "$svc")
  if ! { gate_app "$c" && gate_services; }; then
    [[ $first == true ]] && fail_deploy "first blue/green release failed its health gate on $target; nothing serves until a release passes: $GATE_ERROR"
    fail_deploy "new build failed its health gate on $target, no traffic was switched ($state still serving): $GATE_ERROR"
  fi
  if [[ $first == false ]]; then
    # Caddy reads its Caddyfile once: a changed one (new canary steps) needs a new container,
    # before traffic moves to states only the new file knows. Compose leaves it alone otherwise.
    out=$(compose up -d --no-deps "$C_BG_CADDY_SERVICE" 2>&1) || fail_deploy "updating $C_BG_CADDY_SERVICE failed: $(tail -n 4 <<<"$out")"
  fi

  local offset steps=() p
  FAILED_SERVICE=$svc
  for p in $C_BG_CANARY; do steps+=("$p"); done
  SWITCH_MS=$(now_ms)
  for p in "${steps[@]}"; do
    offset=$(caddy_log_size)
    switch_to "canary-$target-$p"
    SWITCHED_FROM=$state
    [[ $first == true ]] || analyse "$target" "$C_BG_STEP_SECONDS" "$offset" "$p" || switch_back "$state" "canary $p %: $GATE_ERROR"
  done
  offset=$(caddy_log_size)
  switch_to "$target"
  SWITCHED_FROM=$state
  local ms=$(($(now_ms) - SWITCH_MS))
  if [[ $skip_smoke != true ]]; then smoke || switch_back "$state" "smoke test failed on $target: $GATE_ERROR"; fi
  if [[ $first == false && $C_BG_ANALYSIS_SECONDS -gt 0 ]]; then
    analyse "$target" "$C_BG_ANALYSIS_SECONDS" "$offset" || switch_back "$state" "$GATE_ERROR"
  fi
  finish_bluegreen "$target" "$from" "released on $target, switched in $ms ms${ANALYSIS_SEEN:+, analysis: $ANALYSIS_SEEN}${note:+; $note}"
}

finish_bluegreen() { # target previous-colour detail
  local next="$C_PROJECT_DIR/.env.next" live="$C_PROJECT_DIR/.env" out
  SWITCHED_FROM=""
  mv -f -- "$next" "$live"
  install -m 0640 -g docker -- "$live" "$next"
  # The other services (workers, browse, download, ...) follow the release now, after the
  # switch. Caddy goes alone and last: compose v1 recreates a service whose dependencies
  # were recreated in the same call, and a recreated Caddy drops every open connection.
  ENV_FILE=.env
  local others=()
  read -ra others <<<"$C_BG_OTHER_SERVICES"
  if ((${#others[@]} > 0)); then
    say "converging ${#others[@]} other service(s) to the release"
    local recreate=()
    [[ $SECRETS_CHANGED == true ]] && recreate=(--force-recreate)
    out=$(compose up -d --no-deps "${recreate[@]}" "${others[@]}" 2>&1) || say "warning: converging the other services failed: $(tail -n 4 <<<"$out")"
  fi
  record_secrets
  out=$(compose up -d --no-deps "$C_BG_CADDY_SERVICE" 2>&1) || say "warning: $C_BG_CADDY_SERVICE: $(tail -n 4 <<<"$out")"
  [[ $1 == "$2" ]] || schedule_retire "$2"
  rm -f -- "$ROOT/retire-$1"
  [[ -n $BACKUP_FILE ]] && set -- "$1" "$2" "$3; backup $BACKUP_FILE"
  audit deploy ok "$3"
  [[ $C_VALIDATE == true ]] && { cmd_validate || true; }
  say "done: $IMAGE is live on $C_ENVIRONMENT ($1)"
  verdict_json "$1"
}

# Playbook: traffic back to the other colour when it is still warm, without the stack.
cmd_switch_back_by_hand() {
  while (($#)); do
    case $1 in
      --actor) ACTOR=$2; shift 2 ;;
      *) die 2 "rollback: unknown option $1" ;;
    esac
  done
  local state to c live="$C_PROJECT_DIR/.env"
  acquire_lock rollback
  state=$(traffic_state "$C_BG_MARKER_DIR") || die 1 "ambiguous traffic state in $C_BG_MARKER_DIR"
  # From a canary step back to the colour that has most traffic; from a colour to the other.
  case $state in
    canary-*) to=$(majority_colour "$state") ;;
    *) to=$(other_colour "$state") ;;
  esac
  c=$(container_of "$(colour_service "$to")")
  IMAGE=$(image_of "$c")
  running "$c" || die 1 "$to is not running (its warm time is over): roll back with wepppy-cicd rollback, which starts it"
  C_HEALTH_TRIES=1
  gate_app "$c" || die 1 "$to is not healthy, traffic stays on $state: $GATE_ERROR"
  switch_to "$to"
  local tmp
  tmp=$(mktemp "$C_PROJECT_DIR/.env.XXXXXX")
  { grep -v -e "^$C_BG_LIVE_VAR=" -e '^WEPPCLOUD_IMAGE=' "$live" || true; printf '%s=%s\nWEPPCLOUD_IMAGE=%s\n' "$C_BG_LIVE_VAR" "$to" "$IMAGE"; } >"$tmp"
  chmod 0640 "$tmp"
  mv -f -- "$tmp" "$live"
  audit rollback ok "by hand, traffic from $state to $to; the stack still declares the release: run wepppy-cicd rollback so that it follows"
  say "traffic is on $to ($IMAGE); now run: wepppy-cicd rollback --stack $C_ENVIRONMENT"
}

# Functional validation (spec, Release Process step 4): what promotion to prod requires.
cmd_validate() {
  local cfg ok=true failures=""
  IMAGE=$(env_value WEPPCLOUD_IMAGE "$C_PROJECT_DIR/.env")
  if [[ $C_SMOKE == test-support ]]; then
    for cfg in ${C_VALIDATE_RUN_CONFIGS:-$C_SMOKE_RUN_CONFIG}; do
      C_SMOKE_RUN_CONFIG=$cfg
      smoke || { ok=false; failures="$failures $cfg: $GATE_ERROR;"; }
    done
  fi
  local saved=$C_SMOKE
  C_SMOKE=pages C_SMOKE_PAGES=${C_VALIDATE_PAGES:-$C_SMOKE_PAGES}
  smoke || { ok=false; failures="$failures $GATE_ERROR;"; }
  C_SMOKE=$saved
  if [[ $ok == true ]]; then
    audit validate ok "run configs: ${C_VALIDATE_RUN_CONFIGS:-none}; pages: ${C_VALIDATE_PAGES:-$C_SMOKE_PAGES}"
    say "validation passed"
  else
    audit validate failed "$failures"
    say "validation failed:$failures"
    return 1
  fi
}

# --- other commands --------------------------------------------------------------------

# dev builds its images on the host from a checkout (spec: Image Source "Local build").
cmd_build() {
  local checkout="" ref=""
  while (($#)); do
    case $1 in
      --checkout) checkout=$2; shift 2 ;;
      --ref) ref=$2; shift 2 ;;
      *) die 2 "build: unknown option $1" ;;
    esac
  done
  [[ -d $checkout/.git ]] || die 1 "build: $checkout is not a git checkout"
  acquire_lock build
  say "fetching $ref in $checkout"
  git -C "$checkout" fetch --quiet origin || { audit build failed "git fetch in $checkout"; die 1 "git fetch failed in $checkout"; }
  git -C "$checkout" checkout --quiet --detach "origin/$ref" 2>/dev/null || git -C "$checkout" checkout --quiet --detach "$ref" ||
    { audit build failed "no ref $ref"; die 1 "cannot check out $ref"; }
  IMAGE="build:$checkout#$(git -C "$checkout" rev-parse HEAD)"
  ENV_FILE=.env.next
  say "compose build"
  compose build || { audit build failed "compose build"; die 1 "compose build failed"; }
  audit build ok "$ref"
  printf '%s\n' "$IMAGE"
}

cmd_health() {
  local app svc=$C_APP_SERVICE
  if [[ $C_BLUEGREEN == true ]]; then
    svc=$(colour_service "$(majority_colour "$(traffic_state "$C_BG_MARKER_DIR")")")
  fi
  app=$(container_of "$svc")
  running "$app" || die 1 "the $svc service is not running"
  C_HEALTH_TRIES=${1:-3}
  gate_app "$app" && gate_services || die 1 "$GATE_ERROR"
  say "healthy"
}

cmd_restore() {
  local file="" into=""
  while (($#)); do
    case $1 in
      --into) into=$2; shift 2 ;;
      --actor) ACTOR=$2; shift 2 ;;
      -*) die 2 "restore: unknown option $1" ;;
      *) file=$1; shift ;;
    esac
  done
  [[ -r $file ]] || die 2 "restore: no readable dump '$file' (see: wepppy-deploy backups)"
  [[ -z $into || $into =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || die 2 "restore: --into expects a database name"
  IMAGE=$(env_value WEPPCLOUD_IMAGE "$C_PROJECT_DIR/.env")
  acquire_lock restore
  verify_dump "$file" || { audit restore failed "$file does not read back whole"; die 1 "$file does not read back whole"; }
  local c
  c=$(container_of "$C_DB_SERVICE")
  if [[ -n $into ]]; then
    say "restoring $file into scratch database $into"
    docker exec -e INTO="$into" "$c" sh -c 'dropdb -U "$POSTGRES_USER" --if-exists "$INTO" && createdb -U "$POSTGRES_USER" "$INTO"'
    docker exec -i -e INTO="$into" "$c" sh -c 'pg_restore --no-owner -U "$POSTGRES_USER" -d "$INTO"' <"$file" ||
      { audit restore failed "into $into: $file"; die 1 "pg_restore into $into failed"; }
    audit restore ok "into scratch database $into: $file"
    return 0
  fi
  local stop=()
  read -ra stop <<<"${C_STOP_FOR_RESTORE:-$C_APP_SERVICE}"
  say "stopping ${stop[*]} for the restore"
  compose stop "${stop[@]}"
  say "restoring $file into the live database"
  if ! docker exec -i "$c" sh -c 'pg_restore --clean --if-exists --no-owner -U "$POSTGRES_USER" -d "$POSTGRES_DB"' <"$file"; then
    compose start "${stop[@]}" || true
    audit restore failed "$file"
    die 1 "pg_restore failed; services restarted on the database as it is"
  fi
  compose start "${stop[@]}"
  audit restore ok "$file; restarted ${stop[*]}"
  say "restored $file"
}

cmd_status() {
  local holder lock=null last_backup last_deploy
  holder=$(holder_line)
  [[ -z $holder ]] || lock="\"$(json "$holder")\""
  last_backup=$(ls -1t "$C_BACKUP_DIR"/*.dump 2>/dev/null | head -n1 || true)
  last_deploy=$(grep -s '"action":"deploy"' "$AUDIT_LOG" | grep '"result":"ok"' | tail -n1 || true)
  local bluegreen=null
  if [[ $C_BLUEGREEN == true ]]; then
    local colour c parts=() traffic
    traffic=$(traffic_state "$C_BG_MARKER_DIR" 2>/dev/null || echo mixed)
    for colour in blue green; do
      c=$(container_of "$(colour_service "$colour")")
      parts+=("\"$colour\":{\"service\":\"$(colour_service "$colour")\",\"image\":\"$(json "$(image_of "$c")")\",\"running\":$(running "$c" && echo true || echo false)}")
    done
    bluegreen="{\"traffic\":\"$traffic\",\"live\":\"$(json "$(env_value "$C_BG_LIVE_VAR" "$C_PROJECT_DIR/.env")")\",\"colours\":{${parts[0]},${parts[1]}},\"warmSeconds\":$C_BG_WARM_SECONDS}"
  fi
  printf '{"env":"%s","liveImage":"%s","lock":%s,"lastBackup":"%s","lastDeploy":%s,"bluegreen":%s}\n' \
    "$(json "$C_ENVIRONMENT")" "$(json "$(env_value WEPPCLOUD_IMAGE "$C_PROJECT_DIR/.env")")" \
    "$lock" "$(json "$last_backup")" "${last_deploy:-null}" "$bluegreen"
}

# --- root-only helpers (run with sudo by the stack) ------------------------------------

# Secrets arrive on stdin as "<name> <base64 value>" lines and never as arguments.
cmd_write_secrets() {
  local dir=$1 name value tmp n=0
  [[ $dir == /* ]] || die 2 "write-secrets: expects an absolute directory"
  install -d -o root -g docker -m 0750 "$dir"
  while read -r name value; do
    [[ $name =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ ]] || die 1 "write-secrets: bad secret name"
    tmp=$(mktemp "$dir/.tmp.XXXXXX")
    base64 -d <<<"$value" >"$tmp" || { rm -f -- "$tmp"; die 1 "write-secrets: $name is not base64"; }
    chown root:docker "$tmp"
    chmod 0640 "$tmp"
    mv -f -- "$tmp" "$dir/$name"
    n=$((n + 1))
  done
  say "wrote $n secret file(s) in $dir (0640 root:docker)"
}

cmd_install_file() { # path: stdin -> file, 0640 root:docker, atomically
  local path=$1 tmp
  [[ $path == /* ]] || die 2 "install-file: expects an absolute path"
  install -d -m 0750 "$(dirname "$path")"
  tmp=$(mktemp "$(dirname "$path")/.tmp.XXXXXX")
  cat >"$tmp"
  chown root:docker "$tmp"
  chmod 0640 "$tmp"
  mv -f -- "$tmp" "$path"
}

cmd_install_timer() {
  local calendar cron
  case $C_BACKUP_SCHEDULE in
    hourly) calendar=hourly cron='0 * * * *' ;;
    daily) calendar=daily cron='30 3 * * *' ;;
    none) cmd_remove_timer; return 0 ;;
    *) die 1 "unknown backup schedule '$C_BACKUP_SCHEDULE'" ;;
  esac
  local run="/bin/bash $ROOT/bin/wepppy-deploy backup --reason scheduled"
  if [[ -d /run/systemd/system ]]; then
    printf '[Unit]\nDescription=wepppy %s database backup\n\n[Service]\nType=oneshot\nUser=%s\nExecStart=%s\n' \
      "$C_ENVIRONMENT" "$C_DEPLOY_USER" "$run" >/etc/systemd/system/wepppy-backup.service
    printf '[Unit]\nDescription=wepppy %s database backup, %s\n\n[Timer]\nOnCalendar=%s\nPersistent=true\nRandomizedDelaySec=60\n\n[Install]\nWantedBy=timers.target\n' \
      "$C_ENVIRONMENT" "$calendar" "$calendar" >/etc/systemd/system/wepppy-backup.timer
    systemctl daemon-reload
    systemctl enable --now wepppy-backup.timer
    say "installed systemd timer wepppy-backup.timer ($calendar)"
  elif [[ -d /etc/cron.d ]]; then
    printf '# wepppy %s database backup (%s), installed by wepppy-cicd\n%s %s %s\n' \
      "$C_ENVIRONMENT" "$calendar" "$cron" "$C_DEPLOY_USER" "$run" >/etc/cron.d/wepppy-backup
    chmod 0644 /etc/cron.d/wepppy-backup
    say "installed /etc/cron.d/wepppy-backup ($calendar); this host has no systemd"
  else
    die 1 "this host has neither systemd nor /etc/cron.d: cannot schedule backups"
  fi
}

cmd_remove_timer() {
  if [[ -d /run/systemd/system && -e /etc/systemd/system/wepppy-backup.timer ]]; then
    systemctl disable --now wepppy-backup.timer || true
    rm -f /etc/systemd/system/wepppy-backup.timer /etc/systemd/system/wepppy-backup.service
    systemctl daemon-reload
  fi
  rm -f /etc/cron.d/wepppy-backup
  say "backup schedule removed"
}

# --- dispatch --------------------------------------------------------------------------

main() {
  local cmd=${1:-}
  shift || true
  case $cmd in
    write-secrets) cmd_write_secrets "$@"; return ;;
    install-file) cmd_install_file "$@"; return ;;
    traffic) cmd_traffic "$@"; return ;;
    switch) switch_traffic "${1:?switch DIR STATE}" "${2:?switch DIR STATE}"; return ;;
    '' | -h | --help | help) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; return ;;
  esac
  load_conf
  case $cmd in
    deploy) cmd_deploy "$@" ;;
    rollback)
      if [[ $C_BLUEGREEN == true ]]; then cmd_switch_back_by_hand "$@"; return; fi
      [[ -r $C_PROJECT_DIR/.env ]] || die 1 "no last good release (.env) on this host"
      cmd_deploy --from-live --note "rollback to the last good release" "$@"
      ;;
    health) cmd_health "$@" ;;
    build) cmd_build "$@" ;;
    backup)
      [[ ${1:-} == --reason ]] && shift
      local reason=${1:-manual}
      [[ $reason =~ ^[a-z-]+$ ]] || die 2 "backup: --reason expects a word"
      IMAGE=$(env_value WEPPCLOUD_IMAGE "$C_PROJECT_DIR/.env")
      backup "$reason" || die 1 "$GATE_ERROR"
      printf '%s\n' "$BACKUP_FILE"
      ;;
    verify-backup) verify_dump "${1:?verify-backup FILE}" && say "$1 reads back whole" || die 1 "$1 does not read back whole" ;;
    restore) cmd_restore "$@" ;;
    backups) ls -1t "$C_BACKUP_DIR"/*.dump 2>/dev/null || true ;;
    lock-status)
      local holder
      holder=$(holder_line)
      if [[ -z $holder ]]; then echo "unlocked"
      elif holder_alive "$holder"; then echo "held: $holder"
      else echo "stale: $holder"; fi
      ;;
    break-lock)
      local holder
      holder=$(holder_line)
      [[ -d $LOCK_DIR ]] || { echo "unlocked"; return 0; }
      holder_alive "$holder" && die 1 "the lock is held by a running deploy: $holder"
      rm -rf "$LOCK_DIR"
      audit break-lock ok "removed stale lock: $holder"
      say "removed stale lock: $holder"
      ;;
    audit)
      local n=50
      [[ ${1:-} == -n ]] && n=${2:?}
      tail -n "$n" "$AUDIT_LOG" 2>/dev/null || true
      ;;
    status) cmd_status ;;
    validate) cmd_validate ;;
    retire) cmd_retire "$@" ;;
    install-timer) cmd_install_timer ;;
    remove-timer) cmd_remove_timer ;;
    *) die 2 "unknown command '$cmd' (see: wepppy-deploy help)" ;;
  esac
}

main "$@"
