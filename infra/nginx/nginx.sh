#!/usr/bin/env bash
# A real nginx with the Lua module for tests and local runs: the distribution's
# nginx (Debian: nginx + libnginx-mod-http-lua + lua-cjson), its own prefix
# directory, listening on 127.0.0.1 only, configured from ./test.conf.template
# with the operator snippets in lua/conf/ included as an operator would.
#
#   nginx.sh install  install the missing Debian packages (as root), else name them
#   nginx.sh start    install, render the config, `nginx -t`, start and wait until
#                     the port answers; when it already runs, reload it instead.
#                     Prints http://127.0.0.1:PORT on stdout.
#   nginx.sh stop     graceful stop (QUIT), then TERM, and wait for it to exit
#   nginx.sh status   exit 0 and print the URL if it runs
#   nginx.sh reload   re-render, test and reload the running nginx (picks up
#                     changed Lua modules: the Lua code cache lives until reload)
#   nginx.sh bin      print the nginx binary's path
#
# Environment: LOGWARDEN_NGINX_DIR (prefix: conf, logs, temp, pid; default
# infra/nginx/.run), LOGWARDEN_NGINX_PORT (18080), LOGWARDEN_SYSLOG (where the
# access log goes, host:port over UDP; 127.0.0.1:5514), LOGWARDEN_NGINX_WORKERS (2),
# LOGWARDEN_NGINX_BIN (an nginx or openresty binary; when set, no packages are
# checked or installed), LOGWARDEN_NGINX_MODULES (the distribution's
# module directory, read from `nginx -V`), LOGWARDEN_NGINX_CONTROL_PORT (when
# set, the control listener of lua/conf/logwarden-control.conf on 127.0.0.1 at
# this port; none otherwise) with LOGWARDEN_NGINX_CONTROL_SECRET (its secret,
# 16 to 128 characters of [A-Za-z0-9._~+/=-]), LOGWARDEN_NGINX_RULES_FILE (an
# absolute path: init_by_lua loads the reload fallback's file from it).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
run="${LOGWARDEN_NGINX_DIR:-$here/.run}"
port="${LOGWARDEN_NGINX_PORT:-18080}"
syslog="${LOGWARDEN_SYSLOG:-127.0.0.1:5514}"
workers="${LOGWARDEN_NGINX_WORKERS:-2}"
control_port="${LOGWARDEN_NGINX_CONTROL_PORT:-}"
control_secret="${LOGWARDEN_NGINX_CONTROL_SECRET:-}"
# The reload fallback's file (lua/logwarden/fallback.lua), loaded by init_by_lua when set.
rules_file="${LOGWARDEN_NGINX_RULES_FILE:-}"

# The Lua module needs NDK (Debian builds it against NDK), resty.core and
# lrucache (required at start since ngx_lua 0.10.16); apt pulls them in as
# dependencies, listed here so a half-removed install is noticed too.
packages=(nginx libnginx-mod-http-ndk libnginx-mod-http-lua lua-resty-core lua-resty-lrucache lua-cjson)

log() { printf 'nginx.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[[ $port =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] \
  || die "LOGWARDEN_NGINX_PORT must be a port number, not '$port'"
[[ $syslog =~ ^[A-Za-z0-9._-]+:[0-9]+$ || $syslog =~ ^\[[0-9A-Fa-f:.]+\]:[0-9]+$ ]] \
  || die "LOGWARDEN_SYSLOG must be host:port or [ipv6]:port, not '$syslog'"
[[ $workers =~ ^([0-9]+|auto)$ ]] || die "LOGWARDEN_NGINX_WORKERS must be a number or auto"
if [ -n "$control_port" ]; then
  [[ $control_port =~ ^[0-9]+$ ]] && [ "$control_port" -ge 1 ] && [ "$control_port" -le 65535 ] && [ "$control_port" != "$port" ] \
    || die "LOGWARDEN_NGINX_CONTROL_PORT must be a port number other than LOGWARDEN_NGINX_PORT, not '$control_port'"
  # The secret goes between double quotes in nginx.conf: no quotes, '$' or '\'.
  [[ $control_secret =~ ^[A-Za-z0-9._~+/=-]{16,128}$ ]] \
    || die "LOGWARDEN_NGINX_CONTROL_SECRET must be 16 to 128 characters of [A-Za-z0-9._~+/=-]"
fi

nginx_bin() {
  local bin="${LOGWARDEN_NGINX_BIN:-nginx}"
  # /usr/sbin is not on an ordinary user's PATH on Debian.
  command -v "$bin" 2>/dev/null || { [ -x "/usr/sbin/$bin" ] && echo "/usr/sbin/$bin"; } || return 1
}

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = 'install ok installed' ]; }

policy_rc=/usr/sbin/policy-rc.d
made_policy=

apt_install() {
  # Installing Debian's nginx starts its system service on port 80, and a busy
  # port 80 fails the package's configuration. We never use that service: tell
  # invoke-rc.d not to start anything for the length of this install.
  if [ ! -e "$policy_rc" ]; then
    trap 'if [ -n "$made_policy" ]; then rm -f "$policy_rc"; fi' EXIT
    made_policy=1
    printf '#!/bin/sh\nexit 101\n' >"$policy_rc"
    chmod 755 "$policy_rc"
  fi
  local apt=(apt-get -q -o DPkg::Lock::Timeout=300)
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends "$@" >&2 \
    || { "${apt[@]}" update >&2 && DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends "$@" >&2; } \
    || die "apt-get could not install $* (see above)"
  if [ -n "$made_policy" ]; then rm -f "$policy_rc"; made_policy=; fi
}

missing_packages() {
  local p
  for p in "${packages[@]}"; do installed "$p" || echo "$p"; done
}

install() {
  local missing=()
  if [ -n "${LOGWARDEN_NGINX_BIN:-}" ]; then
    # Someone else's nginx (OpenResty, a custom build): not ours to install.
    nginx_bin >/dev/null || die "LOGWARDEN_NGINX_BIN=$LOGWARDEN_NGINX_BIN is not an executable"
    return 0
  fi
  if ! command -v dpkg-query >/dev/null; then
    nginx_bin >/dev/null \
      || die "no nginx found and this is not a Debian system: install nginx with the Lua module (or OpenResty) and set LOGWARDEN_NGINX_BIN"
    return 0
  fi
  mapfile -t missing < <(missing_packages)
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null \
      || die "missing Debian packages: ${missing[*]}; install them (sudo apt-get install -y ${missing[*]}) or run this as root so it can"
    # Parallel test files may all find the packages missing: one installs,
    # the others wait and find them installed.
    exec 8>"${TMPDIR:-/tmp}/logwarden-nginx-install.lock"
    flock -w 900 8 || die "timed out waiting for another nginx.sh install"
    mapfile -t missing < <(missing_packages)
    if [ ${#missing[@]} -gt 0 ]; then
      log "installing ${missing[*]}"
      apt_install "${missing[@]}"
    fi
    exec 8>&-
  fi
  nginx_bin >/dev/null || die "nginx is installed but not found on PATH or in /usr/sbin"
}

# Empty when the Lua module is compiled in (OpenResty), else the load_module lines.
load_modules() {
  local bin v dir
  bin=$(nginx_bin)
  v=$("$bin" -V 2>&1)
  # OpenResty compiles it in (--add-module=../ngx_lua-0.10.x).
  if grep -Eq -- '--add-module=[^ ]*(ngx_lua-|lua-nginx-module)' <<<"$v"; then
    return 0
  fi
  dir="${LOGWARDEN_NGINX_MODULES:-$(sed -n 's/.*--modules-path=\([^ ]*\).*/\1/p' <<<"$v")}"
  dir="${dir:-/usr/lib/nginx/modules}"
  [ -f "$dir/ngx_http_lua_module.so" ] || die "no ngx_http_lua_module.so in $dir (package libnginx-mod-http-lua)"
  # The prefix is ours, so module paths must be absolute; NDK first: the Lua
  # module links against its symbols.
  [ -f "$dir/ndk_http_module.so" ] && echo "load_module $dir/ndk_http_module.so;"
  echo "load_module $dir/ngx_http_lua_module.so;"
}

# The directory of cjson.so built for LuaJIT (Lua 5.1 ABI), as a cpath entry.
cjson_cpath() {
  local f
  if command -v dpkg-query >/dev/null && installed lua-cjson; then
    f=$(dpkg -L lua-cjson | grep -m1 '/lua/5\.1/cjson\.so$' || true)
  fi
  if [ -z "${f:-}" ]; then
    for f in /usr/lib/*/lua/5.1/cjson.so /usr/lib/lua/5.1/cjson.so /usr/local/lib/lua/5.1/cjson.so /usr/local/openresty/lualib/cjson.so; do
      [ -f "$f" ] && break
    done
  fi
  [ -f "${f:-}" ] || die "cjson.so for Lua 5.1 not found (package lua-cjson)"
  echo "$(dirname "$f")/?.so"
}

# Escapes a value for the right-hand side of a sed s||| command.
sed_rhs() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }

render() {
  local out="$1" user_line='' mods cpath
  case "$run$repo" in *[\ \"\'\;{}\$\\]*) die "paths with spaces, quotes, ';', braces, '\$' or '\\' cannot go into nginx.conf: $run, $repo" ;; esac
  grep -qF '/etc/logwarden/lua' "$repo/lua/conf/logwarden-http.conf" \
    || die "lua/conf/logwarden-http.conf no longer names /etc/logwarden/lua: update render() in $0"
  grep -qF 'syslog:server=127.0.0.1:5514' "$repo/lua/conf/logwarden-server.conf" \
    || die "lua/conf/logwarden-server.conf no longer names syslog:server=127.0.0.1:5514: update render() in $0"
  # As root, workers would run as nobody, who may not be able to read the
  # repository's Lua files; run them as the repository's owner instead.
  if [ "$(id -u)" -eq 0 ]; then
    user_line="user $(stat -c %U "$repo/lua") $(stat -c %G "$repo/lua");"
  fi
  mods=$(load_modules)
  cpath=$(cjson_cpath)
  mkdir -p "$out"
  local control_include=''
  if [ -n "$control_port" ]; then
    grep -qF 'listen 127.0.0.1:8091;' "$repo/lua/conf/logwarden-control.conf" \
      && grep -qF 'set $logwarden_control_secret "";' "$repo/lua/conf/logwarden-control.conf" \
      || die "lua/conf/logwarden-control.conf no longer has the listen/secret lines render() edits: update $0"
    control_include="include $out/logwarden-control.conf;"
    # The operator's two edits: the listen port and the secret.
    sed -e "s|listen 127\.0\.0\.1:8091;|listen 127.0.0.1:$control_port;|" \
        -e "s|set \$logwarden_control_secret \"\";|set \$logwarden_control_secret \"$(sed_rhs "$control_secret")\";|" \
      "$repo/lua/conf/logwarden-control.conf" >"$out/logwarden-control.conf"
  fi
  sed -e "s|@PREFIX@|$(sed_rhs "$run")|g" \
      -e "s|@CONF@|$(sed_rhs "$out")|g" \
      -e "s|@CONTROL_INCLUDE@|$(sed_rhs "$control_include")|" \
      -e "s|@PORT@|$port|g" \
      -e "s|@WORKERS@|$workers|g" \
      -e "s|@USER@|$(sed_rhs "$user_line")|" \
      -e "s|@CJSON_CPATH@|$(sed_rhs "$cpath")|" \
      -e "/@LOAD_MODULES@/{
r /dev/stdin
d
}" "$here/test.conf.template" <<<"$mods" >"$out/nginx.conf"
  # The two edits an operator makes to the snippets: where lua/ lives, and
  # where the ingester listens.
  local init_opts=''
  if [ -n "$rules_file" ]; then
    case "$rules_file" in /*) ;; *) die "LOGWARDEN_NGINX_RULES_FILE must be an absolute path" ;; esac
    case "$rules_file" in *[\ \"\'\;{}\$\\\|\&]*) die "LOGWARDEN_NGINX_RULES_FILE cannot go into nginx.conf: $rules_file" ;; esac
    grep -qF 'init_by_lua_block { require("logwarden.state").init() }' "$repo/lua/conf/logwarden-http.conf" \
      || die "lua/conf/logwarden-http.conf no longer has the init_by_lua line render() edits: update $0"
    init_opts="{ rules_file = \"$rules_file\" }"
  fi
  sed -e "s|/etc/logwarden/lua|$(sed_rhs "$repo/lua")|g" \
      -e "s|^init_by_lua_block { require(\"logwarden.state\").init() }|init_by_lua_block { require(\"logwarden.state\").init($init_opts) }|" \
    "$repo/lua/conf/logwarden-http.conf" >"$out/logwarden-http.conf"
  sed -e "s|syslog:server=127\.0\.0\.1:5514|syslog:server=$(sed_rhs "$syslog")|" \
    "$repo/lua/conf/logwarden-server.conf" >"$out/logwarden-server.conf"
}

running_pid() {
  local pid
  [ -f "$run/nginx.pid" ] || return 1
  pid=$(<"$run/nginx.pid")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # A pid file left by a crash may name an unrelated process by now.
  grep -qa 'nginx' "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

children() {
  local s line rest ppid
  for s in /proc/[0-9]*/stat; do
    { read -r line <"$s"; } 2>/dev/null || continue
    rest=${line##*) }
    read -r _ ppid _ <<<"$rest"
    [ "$ppid" = "$1" ] && { s=${s#/proc/}; echo "${s%/stat}"; }
  done
  return 0
}

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

lock() {
  mkdir -p "$run"
  exec 9>"$run/lock"
  flock -w 60 9 || die "timed out waiting for another nginx.sh in $run"
}

# Renders into conf.new, tests it, then swaps it in; a bad config never
# replaces the one a running nginx would re-read.
prepare_config() {
  local bin
  bin=$(nginx_bin)
  mkdir -p "$run/logs" "$run/tmp"
  rm -rf "$run/conf.new"
  render "$run/conf.new"
  if ! "$bin" -t -q -p "$run/" -c "$run/conf.new/nginx.conf" -e "$run/logs/error.log" 2>"$run/logs/test.out" 9>&-; then
    cat "$run/logs/test.out" >&2
    die "the rendered config failed nginx -t (it is in $run/conf.new)"
  fi
  # The snippets are included by absolute path: point them at conf/ before the swap.
  sed -i "s|$(sed_rhs "$run/conf.new/")|$(sed_rhs "$run/conf/")|g" "$run/conf.new/nginx.conf"
  rm -rf "$run/conf.old"
  [ -d "$run/conf" ] && mv "$run/conf" "$run/conf.old"
  mv "$run/conf.new" "$run/conf"
  rm -rf "$run/conf.old"
  echo "http://127.0.0.1:$port" >"$run/url"
}

wait_for_port() {
  local pid="$1" deadline=$((SECONDS + 30))
  until answers "$port"; do
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$run/logs/error.log" >&2 || true; die "nginx exited during start (log: $run/logs/error.log)"; }
    [ $SECONDS -lt $deadline ] || die "nginx did not answer on 127.0.0.1:$port within 30 s (log: $run/logs/error.log)"
    sleep 0.1
  done
}

# HUP is asynchronous: wait until new workers run, so the caller's next request
# is served (and logged) by the new config.
hup_and_wait() {
  local pid="$1" old new fresh w deadline=$((SECONDS + 30)) want
  old=" $(children "$pid" | tr '\n' ' ') "
  kill -HUP "$pid"
  want=$workers
  [ "$want" = auto ] && want=1
  while :; do
    fresh=0
    new=$(children "$pid")
    for w in $new; do [[ $old == *" $w "* ]] || fresh=$((fresh + 1)); done
    [ "$fresh" -ge "$want" ] && return 0
    [ $SECONDS -lt $deadline ] || die "nginx did not start new workers within 30 s after reload (log: $run/logs/error.log)"
    sleep 0.1
  done
}

version() { "$(nginx_bin)" -v 2>&1 | sed 's/^nginx version: //'; }

start() {
  local bin pid
  lock
  run=$(cd "$run" && pwd)
  install
  bin=$(nginx_bin)
  prepare_config
  if pid=$(running_pid); then
    hup_and_wait "$pid"
    wait_for_port "$pid"
    log "$(version) was running in $run; reloaded it (127.0.0.1:$port, syslog to $syslog)"
  else
    rm -f "$run/nginx.pid"
    # daemon on: nginx detaches itself and outlives this shell and the test
    # process; fd 9 (the lock) must not go with it.
    "$bin" -p "$run/" -c "$run/conf/nginx.conf" -e "$run/logs/error.log" \
      </dev/null >"$run/logs/start.out" 2>&1 9>&- \
      || { cat "$run/logs/start.out" >&2; tail -n 20 "$run/logs/error.log" >&2 || true; die "nginx failed to start"; }
    local deadline=$((SECONDS + 10))
    until pid=$(running_pid); do
      [ $SECONDS -lt $deadline ] || die "nginx wrote no pid file (log: $run/logs/error.log)"
      sleep 0.05
    done
    wait_for_port "$pid"
    log "$(version) started in $run on 127.0.0.1:$port (syslog to $syslog)"
  fi
  echo "http://127.0.0.1:$port"
}

stop() {
  local pid workers_of w
  [ -d "$run" ] || { log "not running"; return 0; }
  lock
  pid=$(running_pid) || { log "not running"; rm -f "$run/nginx.pid"; return 0; }
  workers_of=$(children "$pid")
  kill -QUIT "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "no graceful stop within 10 s; sending TERM"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  if kill -0 "$pid" 2>/dev/null; then
    log "nginx ignored TERM for 5 s; killing it and its workers"
    # Workers outlive a killed master; they are ours, so end them by pid.
    kill -KILL "$pid" 2>/dev/null || true
    for w in $workers_of; do kill -KILL "$w" 2>/dev/null || true; done
  fi
  rm -f "$run/nginx.pid"
  log "stopped"
}

reload() {
  local pid
  lock
  run=$(cd "$run" && pwd)
  pid=$(running_pid) || die "not running (start it with: nginx.sh start)"
  prepare_config
  hup_and_wait "$pid"
  wait_for_port "$pid"
  log "reloaded"
  cat "$run/url"
}

status() {
  local pid
  pid=$(running_pid) || { log "not running"; return 1; }
  local url
  url=$(cat "$run/url" 2>/dev/null || echo "http://127.0.0.1:$port")
  answers "${url##*:}" || { log "nginx (pid $pid) runs but ${url} does not answer"; return 1; }
  echo "$url"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  reload) reload ;;
  bin) nginx_bin ;;
  *) die "usage: nginx.sh install|start|stop|status|reload|bin" ;;
esac
