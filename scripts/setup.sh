#!/usr/bin/env bash
# Set-up (`npm run setup`, the README's quick start): every Debian package a test runs a command
# from, then the npm dependencies. On a machine set up this way no test is skipped for want of a
# tool; under CI (CI=true) a test whose tool is missing fails (test/support/tools.ts).
# apt-get runs only when something is missing, and needs root then.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${PATH}:/usr/sbin:/sbin"

# "command package": what the tests run, and the Debian package that has it.
needs=(
  "caddy caddy"                   # unit: caddy adapt on the blue/green Caddyfile
  "shellcheck shellcheck"         # unit: the host scripts are linted
  "docker-compose docker-compose" # unit: compose v1 config on the compose files; agent tests
  "jq jq"                         # unit: the workflows' SARIF step, run
  "systemd-analyze systemd"       # unit: the runner's units verified
  "runuser util-linux"            # unit: runner hooks run as their accounts
  "useradd passwd"                # unit: the runner's accounts made and removed
  "groupadd passwd"
  "getent libc-bin"
  "pgrep procps"
  "git git"                       # unit: release records, adoption, dev's host build
  "ssh-keygen openssh-client"     # unit: deploy keys; rig: ssh to its hosts
  "ssh openssh-client"
  "python3 python3-minimal"       # unit: a stale agent socket made
  "curl curl"                     # rig and agent tests: pages fetched
  "openssl openssl"               # rig: its certificates
  "debootstrap debootstrap"       # rig: its base image
  "dockerd docker.io"             # rig and agent tests: the outer engine (and the docker group)
  "docker docker.io"
  "wrk wrk"                       # unit and bench switch: the independent load beside the bench's clients
)

need_root() {
  if ((EUID != 0)); then
    echo "setup: $1 needs root; run it as root, or do it yourself: $2" >&2
    exit 1
  fi
}

missing=()
for need in "${needs[@]}"; do
  read -r cmd pkg <<<"${need}"
  if ! command -v "${cmd}" >/dev/null 2>&1 && [[ " ${missing[*]} " != *" ${pkg} "* ]]; then
    missing+=("${pkg}")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "== system packages: all present"
else
  echo "== system packages: installing ${missing[*]}"
  need_root "installing packages" "apt-get install -y ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q "${missing[@]}" >/dev/null
fi

# A runner host has a docker group (a workflow step reads its gid); docker.io makes it, an
# engine installed otherwise may not have.
if ! getent group docker >/dev/null; then
  echo "== docker group"
  need_root "making the docker group" "groupadd --system docker"
  groupadd --system docker
fi

echo "== npm dependencies"
npm ci --no-audit --no-fund
