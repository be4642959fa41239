#!/bin/bash
# wepppy-runner: the runner host's side of wepppy-cicd's RunnerHost (issue 11).
#
# Installed root-owned at <root>/bin/wepppy-runner by the repository owner stack and run
# over SSH with `sudo -n bash <root>/bin/wepppy-runner <command> ...`; the job hooks run it
# as a runner's own account. Every value on its command line was validated by the stack's
# schema and is checked again here; the one secret, a registration token, comes on stdin.
#
#   ensure        install or upgrade one runner: account, verified release, registration,
#                 .env, service (a fresh token on stdin is used only if it is not registered)
#   remove        drain, stop and remove one runner and its account (its GitHub registration
#                 is removed by the stack through the API)
#   install-unit  write a systemd unit from stdin (root-owned), reload; --start enables it
#   remove-unit   disable and remove a unit
#   deploy-ssh    the deploy account's pinned known_hosts (stdin) and strict ssh config
#   health        each runner's service state, version, whether it runs a job, free disk
#   cleanup       runner logs older than --log-days, empty _work directories, unused releases
#   hook          (as a runner's account) job-started / job-completed: refuse what the zone
#                 does not run, wipe what a job left
set -euo pipefail
umask 077

# Tests put the system's unit directory and systemd's marker under a temporary directory.
PREFIX="${WR_PREFIX:-}"
SELF="$(readlink -f "$0")"
ROOT="$(cd "$(dirname "${SELF}")/.." && pwd)"
UNIT_DIR="${PREFIX}/etc/systemd/system"
SYSTEMD_MARKER="${PREFIX}/run/systemd/system"
RUNNER_PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ACCOUNT_MARK="wepppy-cicd runner"

die() { echo "wepppy-runner: $*" >&2; exit 1; }
say() { echo "wepppy-runner: $*"; }

# Copies stdin to a file atomically, with its owner and mode (stdin may be a socket: no /dev/stdin).
write_stdin_to() { # path mode owner group
  local tmp
  tmp="$(mktemp "$(dirname "$1")/.wepppy-runner.XXXXXX")"
  cat > "${tmp}"
  chown "$3:$4" "${tmp}"
  chmod "$2" "${tmp}"
  mv -f -- "${tmp}" "$1"
}

declare -A OPT=()
parse() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --*) [ $# -ge 2 ] || die "$1 needs a value"; OPT["${1#--}"]="$2"; shift 2 ;;
      *) die "unexpected argument: $1" ;;
    esac
  done
}

# Every option's shape; a value that does not match is refused before anything runs.
check() {
  local key=$1 pattern=$2 value="${OPT[$1]:-}"
  [ -n "${value}" ] || die "--${key} is required"
  [[ ${value} =~ ${pattern} ]] || die "--${key}: ${value} is not valid"
}
RE_NAME='^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'
RE_USER='^[a-z_][a-z0-9_-]{0,31}$'
RE_LABELS='^[A-Za-z0-9][A-Za-z0-9._-]*(,[A-Za-z0-9][A-Za-z0-9._-]*)*$'
RE_VERSION='^[0-9]+\.[0-9]+\.[0-9]+$'
RE_SHA='^[0-9a-f]{64}$'
RE_URL='^https?://[A-Za-z0-9.:/_~-]+$'
RE_REPO='^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+$'
RE_NUMBER='^[0-9]{1,5}$'

is_systemd() { [ -d "${SYSTEMD_MARKER}" ]; }
runner_dir() { echo "${ROOT}/runners/$1"; }
home_of() { echo "${ROOT}/home/$1"; }
unit_of() { echo "wepppy-runner-$1.service"; }
group_of() { id -gn "$1"; }
sha_of() { sha256sum "$1" | cut -d' ' -f1; }

with_lock() {
  install -d -o root -g root -m 0755 "${ROOT}/run"
  exec 9>"${ROOT}/run/lock"
  flock 9
}

layout() {
  install -d -o root -g root -m 0755 "${ROOT}" "${ROOT}/bin" "${ROOT}/versions" "${ROOT}/runners" "${ROOT}/home" "${ROOT}/run"
  install -d -o root -g root -m 0700 "${ROOT}/cache"
}

# --- accounts ------------------------------------------------------------------------

ensure_account() { # user zone docker: whether the account joins the docker group (root on this host)
  local user=$1 zone=$2 docker=$3 home
  home="$(home_of "${user}")"
  [ "${user}" != root ] || die "a runner never runs as root"
  if ! id -u "${user}" >/dev/null 2>&1; then
    getent group "${user}" >/dev/null || groupadd --system "${user}"
    useradd --system --gid "${user}" --home-dir "${home}" --no-create-home --shell /usr/sbin/nologin \
      --comment "${ACCOUNT_MARK} (${zone})" "${user}"
  fi
  install -d -o "${user}" -g "$(group_of "${user}")" -m 0700 "${home}"
  if getent group docker >/dev/null; then
    if [ "${docker}" = yes ]; then
      usermod -aG docker "${user}"
    elif id -nG "${user}" | tr ' ' '\n' | grep -qx docker; then
      gpasswd -d "${user}" docker >/dev/null
    fi
  fi
}

# Removes an account this script made, unless another runner still runs as it (a runner
# renamed under the same account) or its home holds the stacks' Pulumi state.
remove_account() { # user
  local user=$1 d
  id -u "${user}" >/dev/null 2>&1 || return 0
  case "$(getent passwd "${user}" | cut -d: -f5)" in
    "${ACCOUNT_MARK}"*) ;;
    *) say "account ${user} was not made by wepppy-runner: left in place"; return 0 ;;
  esac
  for d in "${ROOT}"/runners/*/; do
    if [ "$(cat "${d}.wepppy-user" 2>/dev/null || true)" = "${user}" ]; then
      say "account ${user}: runner $(basename "${d}") still runs as it: left in place"
      return 0
    fi
  done
  if [ -e "$(home_of "${user}")/.pulumi" ]; then
    say "account ${user}: its home holds Pulumi state ($(home_of "${user}")/.pulumi): left in place"
    return 0
  fi
  pkill -KILL -u "${user}" 2>/dev/null || true
  userdel "${user}" 2>/dev/null || true
  if getent group "${user}" >/dev/null; then groupdel "${user}" 2>/dev/null || true; fi
  rm -rf -- "$(home_of "${user}")"
}

# --- releases --------------------------------------------------------------------------

# Downloads the release and checks its sha256 before anything is unpacked; a mismatch
# stops here, before any running runner is touched.
ensure_version() { # version sha256 url
  local version=$1 sha=$2 url=$3 dir tmp got
  dir="${ROOT}/versions/${version}"
  if [ -f "${dir}/.wepppy-sha256" ] && [ "$(cat "${dir}/.wepppy-sha256")" = "${sha}" ] && [ -x "${dir}/run.sh" ]; then
    return 0
  fi
  tmp="$(mktemp -d "${ROOT}/cache/download.XXXXXX")"
  if ! curl -fsSL --retry 3 --max-time 600 -o "${tmp}/release.tar.gz" "${url}"; then
    rm -rf -- "${tmp}"
    die "runner ${version}: cannot download ${url}; nothing was changed"
  fi
  got="$(sha_of "${tmp}/release.tar.gz")"
  if [ "${got}" != "${sha}" ]; then
    rm -rf -- "${tmp}"
    die "runner ${version}: sha256 of ${url} is ${got}, but runner.sha256 is ${sha}: not unpacked; the installed runners are untouched"
  fi
  mkdir "${tmp}/unpacked"
  tar -xzf "${tmp}/release.tar.gz" -C "${tmp}/unpacked" --no-same-owner --no-same-permissions
  for f in config.sh run.sh bin; do
    [ -e "${tmp}/unpacked/${f}" ] || { rm -rf -- "${tmp}"; die "runner ${version}: ${url} has no ${f}: not a runner release"; }
  done
  chown -R root:root "${tmp}/unpacked"
  chmod -R go-w,go+rX "${tmp}/unpacked"
  rm -rf -- "${dir}"
  mv "${tmp}/unpacked" "${dir}"
  echo "${sha}" > "${dir}/.wepppy-sha256"
  chmod 0755 "${dir}"
  chmod 0644 "${dir}/.wepppy-sha256"
  rm -rf -- "${tmp}"
  say "runner ${version}: downloaded, sha256 verified, unpacked"
}

entries_of() { find "$1" -mindepth 1 -maxdepth 1 ! -name '.wepppy-*' -printf '%f\n'; }

# Functions that may change something set CHANGED=1 (an exit status would do, but bash
# ignores set -e inside a function whose status is tested).
CHANGED=0

# Puts a verified release's files in a runner's directory, root-owned, keeping its
# registration (.runner, .credentials*), .env, _work and _diag.
install_code() { # name user version drain
  local name=$1 user=$2 version=$3 drain_minutes=$4 dir current entry
  dir="$(runner_dir "${name}")"
  current="$(cat "${dir}/.wepppy-version" 2>/dev/null || true)"
  if [ "${current}" = "${version}" ] && [ -x "${dir}/run.sh" ]; then return 0; fi
  if [ -n "${current}" ] && service_running "${name}"; then
    drain "${name}" "${user}" "${drain_minutes}"
    say "runner ${name}: stopping for ${current} -> ${version}"
    service_stop "${name}"
  fi
  if [ -n "${current}" ] && [ -d "${ROOT}/versions/${current}" ]; then
    while IFS= read -r entry; do rm -rf -- "${dir:?}/${entry}"; done < <(entries_of "${ROOT}/versions/${current}")
  fi
  while IFS= read -r entry; do
    rm -rf -- "${dir:?}/${entry}"
    cp -a -- "${ROOT}/versions/${version}/${entry}" "${dir}/${entry}"
  done < <(entries_of "${ROOT}/versions/${version}")
  echo "${version}" > "${dir}/.wepppy-version"
  chmod 0644 "${dir}/.wepppy-version"
  CHANGED=1
  say "runner ${name}: release ${version} in place"
}

# --- registration ----------------------------------------------------------------------

# .runner is JSON the runner wrote (indented, with a UTF-8 byte-order mark: IOUtil.SaveObject).
# Every actions/runner release ships Node.js under externals/; the newest one reads it, so no
# shell tool parses JSON here.
runner_node() { # dir
  find "$1/externals" -mindepth 3 -maxdepth 3 -path "$1/externals/node*/bin/node" \( -type f -o -type l \) 2>/dev/null | sort -V | tail -n 1
}
registered_name() { # dir
  local node
  node="$(runner_node "$1")"
  [ -n "${node}" ] || die "$1 has no externals/node*/bin/node: not a runner release, cannot read its .runner"
  "${node}" -e '
    const text = require("fs").readFileSync(process.argv[1], "utf8").replace(/^\uFEFF/, "");
    const name = JSON.parse(text).agentName;
    if (typeof name !== "string") throw new Error("no agentName");
    process.stdout.write(name);' "$1/.runner" 2>/dev/null \
    || die "$1/.runner is not the runner's registration (JSON with an agentName): move it away to register again"
}

# Registers the runner unless it is registered already under its name; labels of a
# registered runner are GitHub's, set by the stack through the API, so they need no token.
configure() { # name user labels repo-url
  local name=$1 user=$2 labels=$3 url=$4 dir token="" now
  dir="$(runner_dir "${name}")"
  if [ -f "${dir}/.runner" ]; then
    now="$(registered_name "${dir}")"
    [ "${now}" = "${name}" ] || die "runner ${name}: ${dir}/.runner is registered as '${now}'"
    if [ "$(cat "${dir}/.wepppy-labels" 2>/dev/null || true)" != "${labels}" ]; then
      echo "${labels}" > "${dir}/.wepppy-labels"
      say "runner ${name}: labels are now ${labels} (set on GitHub by the stack)"
    fi
    return 0
  fi
  IFS= read -r token || true
  [ -n "${token}" ] || die "runner ${name} is not registered on this host and no registration token came on stdin; a token kept from an earlier update has expired: run pulumi up --replace on this runner's command"
  # The token goes to config.sh in its environment (ACTIONS_RUNNER_INPUT_TOKEN), through a
  # pipe: never on a command line, never in a file.
  printf '%s\n' "${token}" | runuser -u "${user}" -- env -i HOME="$(home_of "${user}")" PATH="${RUNNER_PATH}" LANG=C.UTF-8 \
    bash -c 'cd "$1" && IFS= read -r t && ACTIONS_RUNNER_INPUT_TOKEN="${t}" exec ./config.sh --unattended --url "$2" --name "$3" --labels "$4" --work _work --disableupdate --replace' \
    config "${dir}" "${url}" "${name}" "${labels}" >/dev/null \
    || die "runner ${name}: config.sh failed (see ${dir}/_diag)"
  token=""
  echo "${labels}" > "${dir}/.wepppy-labels"
  chmod 0644 "${dir}/.wepppy-labels"
  CHANGED=1
  say "runner ${name}: registered with ${url} as ${labels}"
}

write_env() { # name user zone branch repository
  local name=$1 user=$2 zone=$3 branch=$4 repository=$5 dir group
  dir="$(runner_dir "${name}")"
  group="$(group_of "${user}")"
  {
    echo "LANG=C.UTF-8"
    echo "ACTIONS_RUNNER_HOOK_JOB_STARTED=${ROOT}/bin/job-started.sh"
    echo "ACTIONS_RUNNER_HOOK_JOB_COMPLETED=${ROOT}/bin/job-completed.sh"
    echo "WEPPPY_RUNNER_ZONE=${zone}"
    echo "WEPPPY_RUNNER_BRANCH=${branch}"
    echo "WEPPPY_RUNNER_REPOSITORY=${repository}"
  } | install -m 0600 -o "${user}" -g "${group}" /dev/stdin "${dir}/.env"
  echo "${RUNNER_PATH}" | install -m 0600 -o "${user}" -g "${group}" /dev/stdin "${dir}/.path"
  echo "${user}" > "${dir}/.wepppy-user"
  echo "${zone}" > "${dir}/.wepppy-zone"
  chmod 0644 "${dir}/.wepppy-user" "${dir}/.wepppy-zone"
}

write_hooks() {
  local phase
  for phase in started completed; do
    printf '#!/bin/bash\nexec /bin/bash %s hook %s\n' "${ROOT}/bin/wepppy-runner" "${phase}" \
      | install -m 0755 -o root -g root /dev/stdin "${ROOT}/bin/job-${phase}.sh"
  done
}

# --- the service -----------------------------------------------------------------------

pidfile() { echo "${ROOT}/run/$1.pid"; }

main_pid() { # name
  if is_systemd; then
    systemctl show -p MainPID --value "$(unit_of "$1")" 2>/dev/null || echo 0
  else
    cat "$(pidfile "$1")" 2>/dev/null || echo 0
  fi
}

service_running() { # name
  if is_systemd; then
    systemctl is-active --quiet "$(unit_of "$1")"
  else
    local pid
    pid="$(main_pid "$1")"
    [ "${pid}" != 0 ] && kill -0 "${pid}" 2>/dev/null
  fi
}

# Without systemd (the rig's container hosts), the unit as written is what starts the
# service: its User, WorkingDirectory, Environment and ExecStart.
supervise_start() { # name
  local name=$1 file exec_start user dir line
  local -a envs=()
  file="${UNIT_DIR}/$(unit_of "${name}")"
  exec_start="$(sed -n 's/^ExecStart=//p' "${file}" | head -n 1)"
  user="$(sed -n 's/^User=//p' "${file}" | head -n 1)"
  dir="$(sed -n 's/^WorkingDirectory=//p' "${file}" | head -n 1)"
  [ -n "${exec_start}" ] && [ -n "${user}" ] && [ -n "${dir}" ] || die "${file}: no ExecStart, User or WorkingDirectory"
  while IFS= read -r line; do envs+=("${line}"); done < <(sed -n 's/^Environment=//p' "${file}")
  setsid runuser -u "${user}" -- env -i HOME="$(home_of "${user}")" PATH="${RUNNER_PATH}" "${envs[@]}" \
    bash -c 'cd "$1" && exec "$2"' service "${dir}" "${exec_start}" </dev/null >>"${ROOT}/run/${name}.log" 2>&1 9>&- &
  echo "$!" > "$(pidfile "${name}")"
  chmod 0644 "$(pidfile "${name}")"
}

supervise_stop() { # name
  local pid
  pid="$(main_pid "$1")"
  [ "${pid}" != 0 ] || return 0
  kill -TERM -- "-${pid}" 2>/dev/null || kill -TERM "${pid}" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "${pid}" 2>/dev/null || break; sleep 0.2; done
  kill -KILL -- "-${pid}" 2>/dev/null || true
  rm -f -- "$(pidfile "$1")"
}

service_start() { # name
  if is_systemd; then
    systemctl enable --quiet "$(unit_of "$1")"
    systemctl start "$(unit_of "$1")"
  else
    supervise_start "$1"
  fi
}

service_stop() { # name
  if is_systemd; then
    systemctl stop "$(unit_of "$1")" 2>/dev/null || true
  else
    supervise_stop "$1"
  fi
}

busy() { # name user: a Runner.Worker runs a job (the program itself, not a command line that names it)
  pgrep -u "$2" -f "^(/usr)?(/bin/bash )?$(runner_dir "$1")/bin/Runner\.Worker( |$)" >/dev/null 2>&1
}

drain() { # name user minutes
  local deadline minutes=$3
  deadline=$(( $(date +%s) + 10#${minutes} * 60 ))
  while busy "$1" "$2"; do
    [ "$(date +%s)" -lt "${deadline}" ] || die "runner $1 is still running a job after $3 minutes; nothing was changed (wait, or raise runner.drainMinutes)"
    say "runner $1 is running a job: waiting for it to finish"
    sleep 10
  done
}

# --- commands --------------------------------------------------------------------------

cmd_ensure() {
  parse "$@"
  check zone '^(ci|deploy)$'; check name "${RE_NAME}"; check user "${RE_USER}"; check labels "${RE_LABELS}"
  check repo-url "${RE_URL}"; check repository "${RE_REPO}"; check branch "${RE_NAME}"
  check version "${RE_VERSION}"; check sha256 "${RE_SHA}"; check tarball-url "${RE_URL}"
  check docker '^(yes|no)$'; check drain-minutes "${RE_NUMBER}"; check unit-sha "${RE_SHA}"; check script-sha "${RE_SHA}"
  local name="${OPT[name]}" user="${OPT[user]}" zone="${OPT[zone]}" dir unit_file restart=0
  [ "$(sha_of "${SELF}")" = "${OPT[script-sha]}" ] || die "the installed ${SELF} is not the one this stack declares"
  with_lock
  layout
  # First what can fail without touching a running runner: the release and its checksum.
  ensure_version "${OPT[version]}" "${OPT[sha256]}" "${OPT[tarball-url]}"
  unit_file="${UNIT_DIR}/$(unit_of "${name}")"
  [ -f "${unit_file}" ] && [ "$(sha_of "${unit_file}")" = "${OPT[unit-sha]}" ] || die "runner ${name}: ${unit_file} is not the declared unit (install-unit first)"
  ensure_account "${user}" "${zone}" "${OPT[docker]}"
  dir="$(runner_dir "${name}")"
  install -d -o root -g "$(group_of "${user}")" -m 1770 "${dir}"
  CHANGED=0
  install_code "${name}" "${user}" "${OPT[version]}" "${OPT[drain-minutes]}"
  configure "${name}" "${user}" "${OPT[labels]}" "${OPT[repo-url]}"
  restart="${CHANGED}"
  write_hooks
  write_env "${name}" "${user}" "${zone}" "${OPT[branch]}" "${OPT[repository]}"
  if [ "$(cat "${dir}/.wepppy-unit-sha" 2>/dev/null || true)" != "${OPT[unit-sha]}" ]; then
    if is_systemd; then systemctl daemon-reload; fi
    restart=1
  fi
  if ! service_running "${name}"; then
    service_start "${name}"
    say "runner ${name}: started"
  elif [ "${restart}" = 1 ]; then
    drain "${name}" "${user}" "${OPT[drain-minutes]}"
    service_stop "${name}"
    service_start "${name}"
    say "runner ${name}: restarted"
  else
    if is_systemd; then systemctl enable --quiet "$(unit_of "${name}")"; fi
    say "runner ${name}: unchanged"
  fi
  echo "${OPT[unit-sha]}" > "${dir}/.wepppy-unit-sha"
  chmod 0644 "${dir}/.wepppy-unit-sha"
}

cmd_remove() {
  parse "$@"
  check name "${RE_NAME}"; check user "${RE_USER}"; check drain-minutes "${RE_NUMBER}"
  local name="${OPT[name]}" user="${OPT[user]}" dir unit_file
  with_lock
  dir="$(runner_dir "${name}")"
  unit_file="${UNIT_DIR}/$(unit_of "${name}")"
  if [ -d "${dir}" ]; then
    drain "${name}" "${user}" "${OPT[drain-minutes]}"
    service_stop "${name}"
    if is_systemd; then systemctl disable --quiet "$(unit_of "${name}")" 2>/dev/null || true; fi
    if [ -f "${dir}/.runner" ] && id -u "${user}" >/dev/null 2>&1; then
      runuser -u "${user}" -- env -i HOME="$(home_of "${user}")" PATH="${RUNNER_PATH}" LANG=C.UTF-8 \
        bash -c 'cd "$1" && ./config.sh remove --local' remove "${dir}" >/dev/null 2>&1 \
        || say "runner ${name}: config.sh remove --local failed; removing its files"
    fi
    rm -rf -- "${dir}"
  fi
  rm -f -- "${unit_file}" "$(pidfile "${name}")" "${ROOT}/run/${name}.log"
  if is_systemd; then systemctl daemon-reload; fi
  remove_account "${user}"
  say "runner ${name}: removed from this host"
}

cmd_install_unit() { # unit-name [--start yes]
  local unit=$1 file tmp
  shift
  [[ ${unit} =~ ^wepppy-runner-[A-Za-z0-9._-]+\.(service|timer)$ ]] || die "${unit}: not a wepppy-runner unit"
  parse "$@"
  file="${UNIT_DIR}/${unit}"
  install -d -o root -g root -m 0755 "${UNIT_DIR}"
  tmp="$(mktemp "${UNIT_DIR}/.${unit}.XXXXXX")"
  cat > "${tmp}"
  chmod 0644 "${tmp}"
  if [ -f "${file}" ] && cmp -s "${tmp}" "${file}"; then
    rm -f -- "${tmp}"
  else
    mv -f -- "${tmp}" "${file}"
    if is_systemd; then systemctl daemon-reload; fi
    say "${unit}: written"
  fi
  if [ "${OPT[start]:-no}" = yes ] && is_systemd; then
    systemctl enable --now --quiet "${unit}"
  fi
}

cmd_remove_unit() { # unit-name
  local unit=$1
  [[ ${unit} =~ ^wepppy-runner-[A-Za-z0-9._-]+\.(service|timer)$ ]] || die "${unit}: not a wepppy-runner unit"
  if is_systemd; then systemctl disable --now --quiet "${unit}" 2>/dev/null || true; fi
  rm -f -- "${UNIT_DIR:?}/${unit}"
  if is_systemd; then systemctl daemon-reload; fi
  say "${unit}: removed"
}

# The deploy account's ~/.ssh: known_hosts from stdin (the targets' pinned keys) and a config
# that checks them strictly, both root-owned so no job can change them.
cmd_deploy_ssh() {
  parse "$@"
  check user "${RE_USER}"
  local user="${OPT[user]}" dir group
  id -u "${user}" >/dev/null 2>&1 || die "no account ${user}: ensure the deploy runner first"
  group="$(group_of "${user}")"
  dir="$(home_of "${user}")/.ssh"
  install -d -o root -g "${group}" -m 0750 "${dir}"
  write_stdin_to "${dir}/known_hosts" 0640 root "${group}"
  printf '%s\n' \
    "# Written by wepppy-cicd: the deploy targets' host keys are pinned in known_hosts." \
    "Host *" \
    "  StrictHostKeyChecking yes" \
    "  UserKnownHostsFile ${dir}/known_hosts" \
    "  GlobalKnownHostsFile /dev/null" \
    "  UpdateHostKeys no" \
    "  CheckHostIP no" \
    "  HashKnownHosts no" \
    "  BatchMode yes" \
    "  IdentitiesOnly yes" \
    | install -m 0640 -o root -g "${group}" /dev/stdin "${dir}/config"
  say "deploy account ${user}: $(grep -cv '^#' "${dir}/known_hosts" || true) pinned host key(s)"
}

# One tab-separated line per fact, read by parseRunnerHealth (render/runnerCommands.ts):
#   root <dir> | free-disk-bytes <n> | runner <name> <zone> <user> <version> <service> <registered> <busy>
# Every value was checked against its pattern when the runner was made, so none holds a tab.
cmd_health() {
  local dir name user zone version state busy_now registered free
  free="$(df -B1 --output=avail "${ROOT}" | tail -n 1)"
  printf 'root\t%s\nfree-disk-bytes\t%s\n' "${ROOT}" "${free// /}"
  for dir in "${ROOT}"/runners/*/; do
    [ -d "${dir}" ] || continue
    dir="${dir%/}"
    name="$(basename "${dir}")"
    user="$(cat "${dir}/.wepppy-user" 2>/dev/null || echo '?')"
    zone="$(cat "${dir}/.wepppy-zone" 2>/dev/null || echo '?')"
    version="$(cat "${dir}/.wepppy-version" 2>/dev/null || echo '-')"
    if service_running "${name}"; then state=active; else state=inactive; fi
    if busy "${name}" "${user}"; then busy_now=yes; else busy_now=no; fi
    if [ -f "${dir}/.runner" ]; then registered=yes; else registered=no; fi
    printf 'runner\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${name}" "${zone}" "${user}" "${version}" "${state}" "${registered}" "${busy_now}"
  done
}

cmd_cleanup() {
  parse "$@"
  check log-days "${RE_NUMBER}"
  local days="${OPT[log-days]}" minutes used dir version
  minutes=$(( 10#${days} * 1440 ))
  find "${ROOT}"/runners/*/_diag -type f -mmin "+${minutes}" -delete 2>/dev/null || true
  find "${ROOT}"/runners/*/_work -mindepth 1 -type d -empty -delete 2>/dev/null || true
  used=" "
  for dir in "${ROOT}"/runners/*/; do
    [ -f "${dir}.wepppy-version" ] && used+="$(cat "${dir}.wepppy-version") "
  done
  for dir in "${ROOT}"/versions/*/; do
    [ -d "${dir}" ] || continue
    version="$(basename "${dir}")"
    case "${used}" in *" ${version} "*) ;; *) rm -rf -- "${dir}"; say "release ${version}: no runner uses it, removed" ;; esac
  done
  find "${ROOT}/cache" -mindepth 1 -maxdepth 1 -mmin +1440 -exec rm -rf -- {} + 2>/dev/null || true
}

# --- job hooks (as the runner's own account) -------------------------------------------

refuse() { echo "::error::the deploy runner refuses this job: $*"; exit 1; }

# Only jobs of the protected branch, from a push, a dispatch or a schedule, reach the deploy
# runner; anything else (a pull request that asks for its label) fails before its first step.
gate_deploy() {
  local branch="${WEPPPY_RUNNER_BRANCH:-}" repository="${WEPPPY_RUNNER_REPOSITORY:-}"
  [ -n "${branch}" ] && [ -n "${repository}" ] || refuse "WEPPPY_RUNNER_BRANCH and WEPPPY_RUNNER_REPOSITORY are not set"
  [ "${GITHUB_REPOSITORY:-}" = "${repository}" ] || refuse "repository ${GITHUB_REPOSITORY:-?} is not ${repository}"
  case "${GITHUB_EVENT_NAME:-}" in
    push | workflow_dispatch | schedule) ;;
    *) refuse "event ${GITHUB_EVENT_NAME:-?} never runs here (push, workflow_dispatch and schedule do)" ;;
  esac
  [ "${GITHUB_REF:-}" = "refs/heads/${branch}" ] || refuse "ref ${GITHUB_REF:-?} is not refs/heads/${branch}"
}

ppid_of() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f2 || echo 1; }

descends_from() { # pid ancestor
  local p=$1
  while [ -n "${p}" ] && [ "${p}" -gt 1 ]; do
    [ "${p}" = "$2" ] && return 0
    p="$(ppid_of "${p}")"
  done
  return 1
}

# What a job left running outside the runner's own process tree is ended.
kill_strays() { # name
  local main pid
  main="$(main_pid "$1")"
  for pid in $(pgrep -u "$(id -u)" || true); do
    [ "${pid}" = "$$" ] && continue
    if [ "${main}" != 0 ] && descends_from "${pid}" "${main}"; then continue; fi
    descends_from "$$" "${pid}" && continue
    kill -KILL "${pid}" 2>/dev/null || true
  done
}

# Everything this account can write that a later job could find: its workspace (all of
# _work after a job; at a job's start all but this job's _actions and _temp), its home
# (the deploy account keeps its Pulumi state), and its files in the temporary directories.
wipe() { # phase zone dir
  local phase=$1 zone=$2 dir=$3 home me left
  me="$(id -un)"
  # The home this script made for the account (never a home the account may have had before).
  home="$(home_of "${me}")"
  kill_strays "$(basename "${dir}")"
  if [ "${phase}" = started ]; then
    find "${dir}/_work" -mindepth 1 -maxdepth 1 ! -name _actions ! -name _temp -exec rm -rf -- {} + 2>/dev/null || true
  else
    find "${dir}/_work" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} + 2>/dev/null || true
  fi
  if [ -n "${home}" ] && [ -d "${home}" ]; then
    if [ "${zone}" = deploy ]; then
      find "${home}" -mindepth 1 -maxdepth 1 ! -name .pulumi ! -name .ssh -exec rm -rf -- {} + 2>/dev/null || true
    else
      find "${home}" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} + 2>/dev/null || true
    fi
  fi
  find "${PREFIX}/tmp" "${PREFIX}/var/tmp" "${PREFIX}/dev/shm" -mindepth 1 -maxdepth 1 -user "${me}" -exec rm -rf -- {} + 2>/dev/null || true
  if [ "${phase}" = completed ]; then
    left="$(find "${dir}/_work" -mindepth 1 -maxdepth 1 2>/dev/null | head -n 3 | tr '\n' ' ' || true)"
  else
    left="$(find "${dir}/_work" -mindepth 1 -maxdepth 1 ! -name _actions ! -name _temp 2>/dev/null | head -n 3 | tr '\n' ' ' || true)"
  fi
  [ -z "${left}" ] || echo "::warning::the workspace keeps files this account cannot remove (made by a container as root?): ${left}"
}

cmd_hook() { # started|completed
  local phase=${1:-} zone="${WEPPPY_RUNNER_ZONE:-}" me dir=""
  case "${phase}" in started | completed) ;; *) die "hook: started or completed" ;; esac
  [ "$(id -u)" != 0 ] || die "hooks run as a runner's account, not root"
  me="$(id -un)"
  for d in "${ROOT}"/runners/*/; do
    [ "$(cat "${d}.wepppy-user" 2>/dev/null || true)" = "${me}" ] && dir="${d%/}"
  done
  [ -n "${dir}" ] || { echo "::error::no runner of account ${me} under ${ROOT}"; exit 1; }
  [ "$(cat "${dir}/.wepppy-zone")" = "${zone}" ] || { echo "::error::WEPPPY_RUNNER_ZONE is not this runner's zone: refusing the job"; exit 1; }
  if [ "${phase}" = started ] && [ "${zone}" = deploy ]; then gate_deploy; fi
  wipe "${phase}" "${zone}" "${dir}"
}

main() {
  local cmd=${1:-}
  shift || true
  case "${cmd}" in
    ensure) cmd_ensure "$@" ;;
    remove) cmd_remove "$@" ;;
    install-unit) cmd_install_unit "$@" ;;
    remove-unit) cmd_remove_unit "$@" ;;
    deploy-ssh) cmd_deploy_ssh "$@" ;;
    health) cmd_health "$@" ;;
    cleanup) cmd_cleanup "$@" ;;
    hook) cmd_hook "$@" ;;
    *) echo "usage: wepppy-runner ensure|remove|install-unit|remove-unit|deploy-ssh|health|cleanup|hook ..." >&2; exit 2 ;;
  esac
}

case "${1:-}" in
  hook | "") ;;
  *) [ "$(id -u)" = 0 ] || die "${1} runs as root (sudo -n)" ;;
esac
main "$@"
