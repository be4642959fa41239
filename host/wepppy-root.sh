#!/usr/bin/env bash
# wepppy-root: the few host steps that need root, run by the stack with `sudo -n`.
#
#   write-secrets DIR UID:GID MODE    secrets on stdin as "<name> <base64 value>" lines, never as arguments;
#                                     each file owned UID:GID with MODE (wepppy reads them as ${UID}:${GID}, 0600),
#                                     and DIR/.sha256sums (their digests, for the agent) readable by the caller only
#   write-env-secrets DIR             an older compose layout's secrets on stdin as KEY=value lines, to DIR/.env-secrets,
#                                     readable by the caller only (the agent puts them into the project's .env)
#   install-file PATH [UID:GID MODE]  stdin to PATH (default 0:0 0644)
#   install-timer SCHEDULE USER ENV   scheduled backups (hourly|daily|none) as USER: a systemd timer, else cron.d
#   remove-timer
#
# Paths must lie under the deploy root (this script's ../) or the compose project directory
# (PROJECT= in the root-owned <root>/etc/agent.conf). Every write is a temp file made in the
# target's own directory, then renamed: the directory is entered once (cd -P) and checked
# there, so no symlink swapped in between a check and the write is followed, and the
# directory is root-owned, so nobody else can swap its entries.
set -Eeuo pipefail
umask 077

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
CONF=$ROOT/etc/agent.conf

say() { printf '[wepppy-root] %s\n' "$*" >&2; }
die() { say "error: $1"; exit "${2:-1}"; }

[[ $(id -u) == 0 ]] || die "run me with sudo" 2

# The project directory, from agent.conf only when root owns it and nobody else can write it.
project_dir() {
  local line
  [[ -f $CONF && $(stat -c %u "$CONF") == 0 && $(stat -c %A "$CONF") != ?????w* && $(stat -c %A "$CONF") != ????????w* ]] || return 0
  while IFS= read -r line || [[ -n $line ]]; do
    if [[ $line =~ ^PROJECT=(/[A-Za-z0-9._/-]*)$ && $line != *..* ]]; then printf '%s' "${BASH_REMATCH[1]}"; return 0; fi
  done <"$CONF"
}

allowed() { # physical path -> 0 when under the deploy root or the project dir
  local p=$1 project
  project=$(project_dir)
  [[ $p == "$ROOT" || $p == "$ROOT"/* ]] && return 0
  [[ -n $project && ($p == "$project" || $p == "$project"/*) ]] && return 0
  return 1
}

# Enters DIR (made root-owned with MODE, created in its existing parent if missing); refuses
# what is outside the allowed directories before anything is created or changed.
enter_dir() { # dir mode group
  local dir=$1 mode=$2 group=$3 name here
  [[ $dir == /* && $dir != *..* && $dir =~ ^/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$ ]] || die "expects an absolute plain path, not '$dir'" 2
  name=$(basename -- "$dir")
  cd -P -- "$(dirname -- "$dir")" 2>/dev/null || die "$(dirname -- "$dir") does not exist" 2
  allowed "$(pwd -P)/$name" || die "$(pwd -P)/$name is outside the deploy root and the project directory" 2
  # The stack writes the file secrets and the .env secrets at once: on a new host both may make DIR.
  mkdir -m "$mode" -- "./$name" 2>/dev/null || [[ -d ./$name ]] || die "cannot create $dir"
  cd -P -- "./$name" || die "cannot enter $dir"
  here=$(pwd -P)
  allowed "$here" || die "$here is outside the deploy root and the project directory" 2
  # The deploy root and the project directory stay the deploy user's: files go into subdirectories.
  [[ $here != "$ROOT" && $here != "$(project_dir)" ]] || die "$here: write into a subdirectory (etc/, secrets/), which root owns" 2
  if [[ $(stat -c %u .) != 0 ]]; then chown root .; fi
  chgrp "$group" .
  chmod "$mode" .
}

owner_ok() { [[ $1 =~ ^[0-9]{1,10}:[0-9]{1,10}$ ]]; }
mode_ok() { [[ $1 =~ ^0?[0-7]{3}$ ]]; }

cmd_write_secrets() {
  local dir=${1:-} owner=${2:-} mode=${3:-} name value tmp n=0 caller_gid=${SUDO_GID:-0}
  owner_ok "$owner" || die "write-secrets: expects DIR UID:GID MODE" 2
  mode_ok "$mode" || die "write-secrets: MODE expects an octal mode such as 0600" 2
  [[ $caller_gid =~ ^[0-9]+$ ]] || caller_gid=0
  enter_dir "$dir" 0750 "$caller_gid"
  while read -r name value; do
    [[ $name =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ ]] || die "write-secrets: bad secret name"
    tmp=$(mktemp ./.tmp.XXXXXX)
    if ! base64 -d <<<"$value" >"$tmp" 2>/dev/null; then rm -f -- "$tmp"; die "write-secrets: $name is not base64"; fi
    chown "$owner" "$tmp"
    chmod "$mode" "$tmp"
    mv -f -- "$tmp" "./$name"
    n=$((n + 1))
  done
  # Digests of every secret here, so the agent sees which changed without reading them.
  tmp=$(mktemp ./.tmp.XXXXXX)
  for name in *; do
    [[ -f $name && ! -L $name ]] && sha256sum -- "$name" >>"$tmp"
  done
  chown "root:$caller_gid" "$tmp"
  chmod 0640 "$tmp"
  mv -f -- "$tmp" ./.sha256sums
  say "wrote $n secret file(s) in $dir ($owner, $mode)"
}

cmd_write_env_secrets() {
  local dir=${1:-} line tmp n=0 caller_gid=${SUDO_GID:-0} LC_ALL=C
  [[ -n $dir ]] || die "write-env-secrets: expects DIR" 2
  [[ $caller_gid =~ ^[0-9]+$ ]] || caller_gid=0
  enter_dir "$dir" 0750 "$caller_gid"
  tmp=$(mktemp ./.tmp.XXXXXX)
  # What compose's .env parsing reads back unchanged: a plain name, printable ASCII without quotes, $, # or \.
  while IFS= read -r line; do
    if [[ ! $line =~ ^[A-Za-z_][A-Za-z0-9_]{0,127}=[!-~]*$ || $line == *[\"\'\`\$#\\]* ]]; then
      rm -f -- "$tmp"
      die "write-env-secrets: line $((n + 1)) is not NAME=value with a value .env carries unchanged"
    fi
    printf '%s\n' "$line" >>"$tmp"
    n=$((n + 1))
  done
  chown "root:$caller_gid" "$tmp"
  chmod 0640 "$tmp"
  mv -f -- "$tmp" ./.env-secrets
  say "wrote $n .env secret(s) in $dir"
}

cmd_install_file() {
  local target=${1:-} owner=${2:-0:0} mode=${3:-0644} base tmp
  owner_ok "$owner" || die "install-file: UID:GID expected" 2
  mode_ok "$mode" || die "install-file: MODE expects an octal mode" 2
  base=$(basename -- "$target")
  [[ $base =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ ]] || die "install-file: bad file name" 2
  enter_dir "$(dirname -- "$target")" 0755 0
  tmp=$(mktemp ./.tmp.XXXXXX)
  cat >"$tmp"
  chown "$owner" "$tmp"
  chmod "$mode" "$tmp"
  mv -f -- "$tmp" "./$base"
}

cmd_install_timer() {
  local schedule=${1:-} user=${2:-} env=${3:-} calendar cron
  [[ $user =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || die "install-timer: USER expected" 2
  [[ $env =~ ^[a-z][a-z0-9-]{0,31}$ ]] || die "install-timer: ENV expected" 2
  case $schedule in
    hourly) calendar=hourly cron='0 * * * *' ;;
    daily) calendar=daily cron='30 3 * * *' ;;
    none) cmd_remove_timer; return 0 ;;
    *) die "install-timer: unknown schedule '$schedule'" 2 ;;
  esac
  local run="/bin/bash $ROOT/bin/wepppy-deploy backup --reason scheduled"
  if [[ -d /run/systemd/system ]]; then
    write_root_file /etc/systemd/system/wepppy-backup.service 0644 <<UNIT
[Unit]
Description=wepppy $env database backup
After=docker.service

[Service]
Type=oneshot
User=$user
ExecStart=$run
UNIT
    write_root_file /etc/systemd/system/wepppy-backup.timer 0644 <<UNIT
[Unit]
Description=wepppy $env database backup, $calendar

[Timer]
OnCalendar=$calendar
Persistent=true
RandomizedDelaySec=60

[Install]
WantedBy=timers.target
UNIT
    systemctl daemon-reload
    systemctl enable --now wepppy-backup.timer
    say "installed systemd timer wepppy-backup.timer ($calendar)"
  elif [[ -d /etc/cron.d ]]; then
    write_root_file /etc/cron.d/wepppy-backup 0644 <<CRON
# wepppy $env database backup ($calendar), installed by wepppy-cicd
$cron $user $run
CRON
    say "installed /etc/cron.d/wepppy-backup ($calendar); this host has no systemd"
  else
    die "this host has neither systemd nor /etc/cron.d: cannot schedule backups"
  fi
}

write_root_file() { # path mode, text on stdin: temp file beside it, then rename
  local tmp
  tmp=$(mktemp "$(dirname -- "$1")/.wepppy.XXXXXX")
  cat >"$tmp"
  chmod "$2" "$tmp"
  mv -f -- "$tmp" "$1"
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

cmd=${1:-}
shift || true
case $cmd in
  write-secrets) cmd_write_secrets "$@" ;;
  write-env-secrets) cmd_write_env_secrets "$@" ;;
  install-file) cmd_install_file "$@" ;;
  install-timer) cmd_install_timer "$@" ;;
  remove-timer) cmd_remove_timer ;;
  *) die "unknown command '$cmd' (write-secrets, write-env-secrets, install-file, install-timer, remove-timer)" 2 ;;
esac
