# shellcheck shell=bash
# Shared by scripts/demo and scripts/test: create or reuse the project's virtual
# environment and install the project into it when pyproject.toml has changed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${NICHE_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

log() { printf '\033[1m[niche]\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else return 1; fi
}

apt_install() {  # apt_install PACKAGE...: install Debian packages (root or sudo needed)
  if ! command -v apt-get >/dev/null 2>&1; then
    log "apt-get not found: please install $* yourself"; return 1
  fi
  log "installing Debian packages: $*"
  as_root apt-get update -qq >/dev/null || true
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_redis_server() {  # the Redis integration tests start their own redis-server / cluster
  # redis-cli (Debian package redis-tools, a dependency of redis-server) forms the test cluster.
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
  if [ "${#missing[@]}" = 0 ]; then
    return
  fi
  apt_install "${missing[@]}" || log "could not install ${missing[*]}: the Redis tests will fail"
}

ensure_venv() {
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    return
  fi
  if ! command -v "$PYTHON" >/dev/null 2>&1; then
    log "$PYTHON not found; install Python >= 3.10 (Debian: apt-get install python3)"; exit 1
  fi
  log "creating virtual environment in $VENV"
  if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
    rm -rf "$VENV"
    pyver="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    apt_install "python${pyver}-venv" || apt_install python3-venv || {
      log "'$PYTHON -m venv' failed: install python3-venv"; exit 1; }
    "$PYTHON" -m venv "$VENV"
  fi
}

install_project() {  # install_project EXTRAS (comma-separated, may be empty)
  local extras="$1" spec stamp want
  spec="$ROOT"
  [ -n "$extras" ] && spec="$ROOT[$extras]"
  stamp="$VENV/.niche-installed${extras:+-$extras}"
  want="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return
  fi
  log "installing langchain-niche${extras:+[$extras]} into $VENV (first run takes about a minute)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$spec"
  echo "$want" > "$stamp"
}
