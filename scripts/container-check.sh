#!/usr/bin/env bash
# Proves the Dockerfile without a Docker engine, by replaying it:
#
#  1. build stage: copies the build context as .dockerignore filters it, then
#     runs the stage's own WORKDIR/COPY/ENV/RUN instructions, read from the
#     Dockerfile, in a scratch directory standing in for WORKDIR. The host's
#     Rust toolchain of the same version and Debian release stands in for the
#     rust image; cache mounts become persistent directories under
#     target/container-cache/, so a second run is incremental.
#  2. runtime stage: builds the base image's root filesystem with mmdebstrap
#     (minbase, the variant the slim images are made from) and runs the stage's
#     RUN instructions in it (cached, keyed by them), then applies its
#     WORKDIR and COPY instructions.
#  3. runs the image as Docker would: ENTRYPOINT + CMD as PID 1 of its own PID
#     namespace, as the image's USER, in WORKDIR, with the image's ENV, on a
#     read-only root, against a local tenant (the binary's own `dev` issuer on
#     loopback). Checks the HEALTHCHECK command, /readyz, a token round trip,
#     and that STOPSIGNAL (SIGTERM) drains and exits 0 in time.
#
# Usage: scripts/container-check.sh [-f Dockerfile]
# Needs root (mounts, chroot, mmdebstrap), Debian bookworm, rustup; installs
# python3, mmdebstrap, curl and the build stage's apt packages when missing.
# Environment: CONTAINER_CHECK_CACHE (default target/container-cache),
# CONTAINER_CHECK_BUILD_TIMEOUT (seconds, default 3600).
# What this proves and what it does not: docs/container.md.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

dockerfile=Dockerfile
while [ $# -gt 0 ]; do
  case $1 in
    -f) dockerfile=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "container-check: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -f "$dockerfile" ] || { echo "container-check: no $dockerfile" >&2; exit 2; }
dockerfile=$(realpath "$dockerfile")

started=$(date +%s)
cache=${CONTAINER_CHECK_CACHE:-$repo/target/container-cache}
build_timeout=${CONTAINER_CHECK_BUILD_TIMEOUT:-3600}
# The base images' PATH (Docker's default too).
image_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
summary=()

say() { echo "container-check: $*"; }
fail() {
  echo "container-check: FAILED: $*" >&2
  exit 1
}
pass() {
  summary+=("ok   $*")
  say "ok: $*"
}
elapsed() { echo $(($(date +%s) - $1)); }

[ "$(id -u)" = 0 ] || fail "run as root: it mounts, chroots and runs mmdebstrap"
. /etc/os-release
[ "${VERSION_CODENAME:-}" = bookworm ] || fail "needs a Debian bookworm host (found ${PRETTY_NAME:-unknown})"

# ---------------------------------------------------------------- tools
apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    apt-get update -q >/dev/null
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null
}
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
need=()
for pkg in python3 mmdebstrap curl util-linux; do installed "$pkg" || need+=("$pkg"); done
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  apt_install "${need[@]}"
fi
py3=/usr/bin/python3
command -v rustup >/dev/null || fail "needs rustup to provide the rust image's toolchain"

# The Dockerfile and .dockerignore readers and the process launcher live in
# Python, because they are parsers; see its docstring.
helper=$repo/scripts/container-check.py
py() { "$py3" "$helper" "$@"; }

# ---------------------------------------------------------------- scratch space
tmp=$(mktemp -d /tmp/container-check.XXXXXX)
ctx=$tmp/context   # the build context, as .dockerignore filters it
build=$tmp/build   # stands in for the build stage's WORKDIR
root=$tmp/rootfs   # the runtime image's root filesystem
logs=$tmp/logs
mkdir -p "$ctx" "$build" "$root" "$logs" "$cache"
tenant_pid='' box_pid='' box_child=''
cleanup() {
  local rc=$?
  set +e
  for pid in $box_child $box_pid $tenant_pid; do
    kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  # The mounts live in the container's own mount namespace, gone with it;
  # never delete through a mount that would still be there.
  if findmnt -rn -o TARGET | grep -qF "$tmp"; then
    echo "container-check: mounts remain under $tmp; not deleting it" >&2
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

py plan "$dockerfile" "$tmp/plan" || fail "cannot replay $dockerfile"

# ---------------------------------------------------------------- 1. build stage
phase=$(date +%s)
ctx_summary=$(py context "$repo" "$ctx")
say "build context: $ctx_summary"

line='?'
build_env=()
wd=.
shadowed=()
b_from() {
  local version=$1 release=$2
  [ "$release" = "$VERSION_CODENAME" ] || fail "the build stage is rust on $release; this host is $VERSION_CODENAME"
  # rust:1.95 is the newest 1.95.x; any installed 1.95.x toolchain stands in.
  local tc='' t v
  for t in $(rustup toolchain list | awk '{print $1}'); do
    v=$(rustc +"$t" --version 2>/dev/null | awk '{print $2}')
    case $v in "$version" | "$version".*) [[ $v == *-* ]] || tc=$t ;; esac
  done
  if [ -z "$tc" ]; then
    say "installing Rust $version (the rust image's toolchain)"
    rustup toolchain install --profile minimal "$version" >/dev/null
    tc=$version
  fi
  sysroot=$(rustc +"$tc" --print sysroot)
  say "build stage: rust $version-$release stood in for by $("$sysroot/bin/rustc" --version) on the host"
  # The rust slim images add gcc and libc6-dev (the linker) to Debian.
  local pkgs=() p
  for p in gcc libc6-dev; do installed "$p" || pkgs+=("$p"); done
  [ ${#pkgs[@]} -eq 0 ] || apt_install "${pkgs[@]}"
}
b_workdir() {
  wd=$1
  mkdir -p "$build/$wd"
}
b_env() { build_env+=("$1=$2"); }
# copy_into FROM DEST DEST_IS_DIR SRC...: COPY's rules for files and directories.
copy_into() {
  local from=$1 dest=$2 isdir=$3 src s
  shift 3
  for src in "$@"; do
    s=$from/$src
    [ -e "$s" ] || [ -L "$s" ] || fail "Dockerfile:$line: COPY $src: not in the $(basename "$from") (left out by .dockerignore?)"
    if [ -d "$s" ] && [ ! -L "$s" ]; then
      mkdir -p "$dest"
      cp -a "$s/." "$dest/"
    elif [ "$isdir" = 1 ] || [ -d "$dest" ]; then
      mkdir -p "$dest"
      cp -a "$s" "$dest/"
    else
      mkdir -p "$(dirname "$dest")"
      cp -a "$s" "$dest"
    fi
  done
}
b_copy() {
  local dest=$1 isdir=$2
  shift 2
  copy_into "$ctx" "$build/$dest" "$isdir" "$@"
}
b_apt() {
  local p missing=()
  for p in "$@"; do installed "$p" || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing the build stage's ${missing[*]}"
    apt_install "${missing[@]}"
  fi
  pass "build stage apt packages present on the host: $*"
}
b_run() {
  local cmd=$1 m rel dir links=() n=0
  shift
  mkdir -p "$cache/cargo-home"
  for m in "$@"; do
    case $m in
      wd:*)
        # A cache mount over WORKDIR/rel: a persistent directory linked in
        # for this RUN only; what COPY put there is hidden meanwhile.
        rel=${m#wd:}
        dir=$cache/mounts/${rel//\//_}
        mkdir -p "$dir"
        if [ -e "$build/$rel" ] || [ -L "$build/$rel" ]; then
          n=$((n + 1))
          mkdir -p "$tmp/shadow/$n"
          mv "$build/$rel" "$tmp/shadow/$n/"
          shadowed+=("$tmp/shadow/$n/$(basename "$rel")=$build/$rel")
        fi
        mkdir -p "$(dirname "$build/$rel")"
        ln -s "$dir" "$build/$rel"
        links+=("$build/$rel")
        ;;
      cargo:*) mkdir -p "$cache/cargo-home/${m#cargo:}" ;;
    esac
  done
  say "RUN (Dockerfile:$line) ${cmd:0:100}"
  # The rust image's environment: CARGO_HOME=/usr/local/cargo (here a
  # persistent directory, so no host cargo config leaks in), its toolchain
  # on PATH, HOME=/root; then the stage's ENV.
  local status=0
  (cd "$build/$wd" && timeout --kill-after=30 "$build_timeout" nice -n 10 env -i \
    PATH="$sysroot/bin:$image_path" HOME=/root CARGO_HOME="$cache/cargo-home" \
    ${build_env[@]+"${build_env[@]}"} /bin/sh -c "$cmd") >"$logs/run-$line.log" 2>&1 || status=$?
  for m in ${links[@]+"${links[@]}"}; do rm -f "$m"; done
  for m in ${shadowed[@]+"${shadowed[@]}"}; do mv "${m%%=*}" "${m#*=}"; done
  shadowed=()
  if [ "$status" != 0 ]; then
    tail -n 30 "$logs/run-$line.log" >&2
    fail "build stage RUN at Dockerfile:$line exited $status"
  fi
}
# shellcheck source=/dev/null
. "$tmp/plan/build.sh"
pass "build stage replayed on the filtered context with its own COPY/RUN ($(elapsed "$phase") s)"
build_secs=$(elapsed "$phase")

# ---------------------------------------------------------------- 2. runtime filesystem
phase=$(date +%s)
rt_runs=() rt_packages=()
r_from() { rt_release=$1 rt_slim=$2; }
r_run() { rt_runs+=("$1"); }
r_apt() { rt_packages+=("$@"); }
for f in r_workdir r_copy_context r_copy_build r_env r_user r_expose r_stopsignal r_healthcheck r_entrypoint r_cmd; do
  eval "$f() { :; }"
done
# shellcheck source=/dev/null
. "$tmp/plan/runtime.sh"

sources=/etc/apt/sources.list.d/debian.sources
[ -f "$sources" ] || fail "no $sources to take the Debian mirror from"
mmdebstrap_opts=(--variant=minbase --mode=root --format=tar)
if [ "$rt_slim" = 1 ]; then
  # The path excludes of the -slim images (debuerreotype's slimify).
  for p in '/usr/share/doc/*' '/usr/share/groff/*' '/usr/share/info/*' '/usr/share/linda/*' \
    '/usr/share/lintian/overrides/*' '/usr/share/locale/*' '/usr/share/man/*'; do
    mmdebstrap_opts+=(--dpkgopt="path-exclude=$p")
  done
  mmdebstrap_opts+=(--dpkgopt='path-include=/usr/share/doc/*/copyright')
fi
key=$( {
  echo "rootfs recipe 1"
  echo "$rt_release"
  printf '%s\n' "${mmdebstrap_opts[@]}"
  cat "$sources"
  printf '%s\n' ${rt_runs[@]+"${rt_runs[@]}"}
} | sha256sum | cut -c1-16)
tarball=$cache/rootfs/$rt_release-$key.tar
if [ ! -f "$tarball" ]; then
  say "building the $rt_release root filesystem with mmdebstrap (cached as $(basename "$tarball"))"
  mkdir -p "$cache/rootfs" "$tmp/hook"
  i=0
  for cmd in ${rt_runs[@]+"${rt_runs[@]}"}; do
    i=$((i + 1))
    printf '%s' "$cmd" >"$tmp/hook/run-$i"
  done
  cat >"$tmp/hook/customize" <<EOF
#!/bin/sh
# The runtime stage's RUN instructions, as root in / with the image's PATH.
set -eu
chroot "\$1" dpkg-query -W -f '\${Package}\n' >"$tmp/hook/base-packages"
for run in "$tmp"/hook/run-*; do
  [ -e "\$run" ] || continue
  chroot "\$1" /usr/bin/env -i PATH=$image_path HOME=/root /bin/sh -c "\$(cat "\$run")"
done
EOF
  chmod +x "$tmp/hook/customize"
  timeout --kill-after=30 1800 nice -n 10 mmdebstrap "${mmdebstrap_opts[@]}" \
    --customize-hook="$tmp/hook/customize" "$rt_release" "$tarball.$$" "$sources" \
    >"$logs/mmdebstrap.log" 2>&1 || {
    tail -n 30 "$logs/mmdebstrap.log" >&2
    rm -f "$tarball.$$"
    fail "mmdebstrap or a runtime RUN failed"
  }
  mv "$tmp/hook/base-packages" "$tarball.base-packages"
  mv "$tarball.$$" "$tarball"
fi
# Keep the tarballs of recipes used in the last week.
touch "$tarball" "$tarball.base-packages"
find "$cache/rootfs" -name '*.tar*' -mtime +7 -delete
tar -C "$root" --numeric-owner -xpf "$tarball"
# Docker provides /etc/hosts and /etc/hostname at run time (and
# /etc/resolv.conf, which mmdebstrap left as the host's).
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
echo container-check >"$root/etc/hostname"

installed_now=$(chroot "$root" dpkg-query -W -f '${Package}\n' | sort)
added=$(comm -13 <(sort "$tarball.base-packages") <(echo "$installed_now") | xargs)
for p in ${rt_packages[@]+"${rt_packages[@]}"}; do
  [ "$(chroot "$root" dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] ||
    fail "the runtime image lacks $p"
done
pass "runtime root filesystem: $rt_release minbase$([ "$rt_slim" = 1 ] && echo ' (slim)') + ${rt_packages[*]:-nothing}; the RUN added: ${added:-nothing} ($(elapsed "$phase") s)"

# Apply the rest of the runtime stage: WORKDIR, COPY, and the image config.
rt_workdir=/ rt_user=0 rt_env=() rt_expose=() rt_stopsignal=SIGTERM rt_health=() rt_entry=() rt_cmd=()
r_run() { :; }
r_apt() { :; }
r_workdir() {
  rt_workdir=$1
  mkdir -p "$root$1"
}
r_copy_context() {
  local dest=$1 isdir=$2
  shift 2
  copy_into "$ctx" "$root$dest" "$isdir" "$@"
}
r_copy_build() {
  local dest=$1 isdir=$2
  shift 2
  copy_into "$build" "$root$dest" "$isdir" "$@"
}
r_env() { rt_env+=("$1=$2"); }
r_user() { rt_user=$1; }
r_expose() { rt_expose+=("$1"); }
r_stopsignal() { rt_stopsignal=$1; }
r_healthcheck() {
  hc_interval=$1 hc_timeout=$2 hc_start=$3 hc_retries=$4
  shift 4
  rt_health=("$@")
}
r_entrypoint() { rt_entry=("$@"); }
r_cmd() { rt_cmd=("$@"); }
# shellcheck source=/dev/null
. "$tmp/plan/runtime.sh"
[ ${#rt_entry[@]} -gt 0 ] || [ ${#rt_cmd[@]} -gt 0 ] || fail "the image has neither ENTRYPOINT nor CMD"
[ ${#rt_health[@]} -gt 0 ] || fail "the image has no HEALTHCHECK"
user_uid=$(awk -F: -v u="${rt_user%%:*}" '$1 == u || $3 == u {print $3; exit}' "$root/etc/passwd")
[ -n "$user_uid" ] || fail "USER $rt_user is not in the image's /etc/passwd"

# ---------------------------------------------------------------- 3. run the image
phase=$(date +%s)
env_get() { # NAME: the image's ENV value
  local kv
  for kv in ${rt_env[@]+"${rt_env[@]}"}; do
    if [ "${kv%%=*}" = "$1" ]; then echo "${kv#*=}"; fi
  done
}
app_env=$(env_get APP_ENVIRONMENT)
port=$(py freeport)
tenant_port=$(py freeport)
audience=https://container-check.invalid
# `docker run -e`: a free port instead of 8080 (this host's network is
# shared), and the local tenant.
printf '%s\0' "PATH=$image_path" "HOSTNAME=container-check" ${rt_env[@]+"${rt_env[@]}"} \
  "PORT=$port" "AUTH0_ISSUER_BASE_URL=http://127.0.0.1:$tenant_port" "AUTH0_AUDIENCE=$audience" >"$tmp/env"
in_image() { # SECS CMD...: a fresh container from the image (`docker run`)
  timeout --kill-after=2 "$1" unshare --mount --propagation private -- \
    "$py3" "$helper" exec "$root" "$rt_workdir" "$rt_user" "$tmp/env" -- "${@:2}"
}
in_box() { # SECS CMD...: in the running container (`docker exec`)
  timeout --kill-after=2 "$1" nsenter --target "$box_child" --mount --pid -- \
    "$py3" "$helper" exec --enter "$root" "$rt_workdir" "$rt_user" "$tmp/env" -- "${@:2}"
}

# The binary finds every library it links in the image.
entry=("${rt_entry[@]}" ${rt_cmd[@]+"${rt_cmd[@]}"})
ldd_out=$(in_image 30 /bin/sh -c 'ldd "$(command -v "$1")"' sh "${entry[0]}" 2>&1) || fail "ldd in the image: $ldd_out"
! grep -q 'not found' <<<"$ldd_out" || fail "the image lacks libraries: $(grep 'not found' <<<"$ldd_out" | xargs)"
pass "ldd in the image: $(awk '/=>/ {print $1}' <<<"$ldd_out" | xargs)"

# The local tenant: the same binary's `dev` issuer, on the host's loopback,
# serving discovery and JWKS (never a production path).
binary=$root$(chroot "$root" /bin/sh -c "PATH=$image_path command -v '${entry[0]}'")
mkdir -p "$tmp/tenant"
tenant_env=(env -i PATH="$image_path" HOME="$tmp/tenant" RUST_LOG=warn PORT="$tenant_port"
  APP_CONFIG_DIR="$ctx/config" APP_DEV__KEY_FILE="$tmp/tenant/issuer-key.pem")
(cd "$tmp/tenant" && exec "${tenant_env[@]}" "$binary" dev) >"$logs/tenant.out" 2>"$logs/tenant.err" &
tenant_pid=$!
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$tenant_port/.well-known/openid-configuration" 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null "http://127.0.0.1:$tenant_port/.well-known/jwks.json" ||
  fail "the local tenant did not start: $(tail -n 5 "$logs/tenant.err")"

# The HEALTHCHECK must not pass when nothing listens.
if in_image "$hc_timeout" "${rt_health[@]}" >"$logs/health-before.log" 2>&1; then
  fail "HEALTHCHECK ${rt_health[*]} exits 0 with no server running"
fi
pass "HEALTHCHECK fails while the server is down ($(head -c 100 "$logs/health-before.log" | tr '\n' ' '))"

# The container: PID 1 of a PID namespace, read-only root, USER, WORKDIR, ENV.
unshare --mount --pid --fork --kill-child --propagation private -- \
  "$py3" "$helper" exec "$root" "$rt_workdir" "$rt_user" "$tmp/env" -- "${entry[@]}" \
  >"$logs/container.out" 2>"$logs/container.err" &
box_pid=$!
box_started=$(date +%s.%N)
box_child=''
for _ in $(seq 1 50); do
  box_child=$(cat "/proc/$box_pid/task/$box_pid/children" 2>/dev/null | awk '{print $1}')
  [ -n "$box_child" ] && [ "$(basename "$(readlink "/proc/$box_child/exe" 2>/dev/null)")" = "$(basename "$binary")" ] && break
  sleep 0.1
done
[ -n "$box_child" ] || fail "the container did not start: $(tail -n 5 "$logs/container.err")"
[ "$(awk '/^NSpid:/ {print $NF}' "/proc/$box_child/status")" = 1 ] || fail "the entrypoint is not PID 1 of its namespace"
box_dead() { ! kill -0 "$box_pid" 2>/dev/null; }
box_logs() { tail -n 20 "$logs/container.out" "$logs/container.err" >&2; }

# HEALTHCHECK: the first success within the start period, each try bounded
# by its --timeout, as `docker exec` in the running container.
healthy=''
deadline=$(awk -v s="$box_started" -v p="$hc_start" 'BEGIN {print s + (p > 0 ? p : 10)}')
while :; do
  box_dead && { box_logs; fail "the container exited during start-up"; }
  if in_box "$hc_timeout" "${rt_health[@]}" >"$logs/health.log" 2>&1; then
    healthy=$(awk -v s="$box_started" -v now="$(date +%s.%N)" 'BEGIN {printf "%.1f", now - s}')
    break
  fi
  awk -v d="$deadline" -v now="$(date +%s.%N)" 'BEGIN {exit !(now > d)}' && break
  sleep 0.5
done
[ -n "$healthy" ] || { box_logs; fail "HEALTHCHECK ${rt_health[*]} did not pass within the start period (${hc_start}s): $(cat "$logs/health.log")"; }
pass "HEALTHCHECK ${rt_health[*]} exits 0, ${healthy} s after start (interval ${hc_interval}s, timeout ${hc_timeout}s, start period ${hc_start}s, retries ${hc_retries})"

# What the process really runs as.
# Real, effective, saved and filesystem ids all agree; no capabilities.
status_uid=$(awk '/^Uid:/ && $2 == $3 && $3 == $4 && $4 == $5 {print $2}' "/proc/$box_child/status")
status_gid=$(awk '/^Gid:/ && $2 == $3 && $3 == $4 && $4 == $5 {print $2}' "/proc/$box_child/status")
cap_eff=$(awk '/^CapEff:/ {print $2}' "/proc/$box_child/status")
root_opts=$(awk '$5 == "/" {print $6}' "/proc/$box_child/mountinfo" | tail -1)
[ "$status_uid" = "$user_uid" ] || fail "the process runs as uid ${status_uid:-(mixed)}, not $user_uid"
[ "$status_uid" != 0 ] || fail "the process runs as root"
[ -n "$status_gid" ] || fail "the process's group ids differ"
[ "$cap_eff" = 0000000000000000 ] || fail "the process has capabilities $cap_eff"
[[ ",$root_opts," == *,ro,* ]] || fail "the root filesystem is mounted $root_opts, not read-only"
[ "$(readlink "/proc/$box_child/cwd")" = "$root${rt_workdir%/}" ] || [ "$rt_workdir" = / ] ||
  fail "the process's working directory is $(readlink "/proc/$box_child/cwd")"
pass "PID 1 of its namespace runs ${entry[*]} as uid $status_uid gid $status_gid, no capabilities, in $rt_workdir, on a read-only root ($root_opts)"

# Readiness: the key set has come from the tenant.
ready=''
for _ in $(seq 1 120); do
  box_dead && { box_logs; fail "the container exited before it was ready"; }
  code=$(curl -s -o "$logs/readyz" -w '%{http_code}' "http://127.0.0.1:$port/readyz" || true)
  if [ "$code" = 200 ]; then
    ready=$(awk -v s="$box_started" -v now="$(date +%s.%N)" 'BEGIN {printf "%.1f", now - s}')
    break
  fi
  sleep 0.25
done
[ -n "$ready" ] || { box_logs; fail "GET /readyz did not turn 200 within 30 s (last: $code $(cat "$logs/readyz" 2>/dev/null))"; }
pass "GET /readyz answers 200, ${ready} s after start"

# A token round trip: TLS-free, but it proves discovery, JWKS and RS256
# verification work inside the image. The token is never printed.
token=$(cd "$tmp/tenant" && "${tenant_env[@]}" "$binary" token --scope read:messages --aud "$audience")
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/private")
[ "$code" = 401 ] || fail "GET /api/private without a token answered $code, not 401"
code=$(curl -s -o "$logs/private" -w '%{http_code}' -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/private-scoped")
[ "$code" = 200 ] && grep -q '"user_id":"local-dev-user"' "$logs/private" ||
  fail "GET /api/private-scoped with a tenant token answered $code: $(head -c 200 "$logs/private")"
pass "GET /api/private: 401 without a token; /api/private-scoped: 200 with a token from the tenant"

# STOPSIGNAL: /readyz turns 503 during the drain, then exit 0 in time.
drain=$(py settings "$root$rt_workdir/config" "${app_env:-local}" shutdown drain_delay_secs)
grace=$(py settings "$root$rt_workdir/config" "${app_env:-local}" shutdown grace_secs)
budget=$((drain + grace + 5))
kill -s "${rt_stopsignal#SIG}" "$box_child"
stopped=$(date +%s.%N)
drained=''
while ! box_dead; do
  if [ -z "$drained" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz" || true)" = 503 ]; then
    drained=yes
  fi
  awk -v s="$stopped" -v b="$budget" -v now="$(date +%s.%N)" 'BEGIN {exit !(now - s > b)}' && {
    box_logs
    fail "still running ${budget} s after $rt_stopsignal (drain ${drain} s + grace ${grace} s + 5)"
  }
  sleep 0.2
done
took=$(awk -v s="$stopped" -v now="$(date +%s.%N)" 'BEGIN {printf "%.1f", now - s}')
rc=0
wait "$box_pid" || rc=$?
box_pid='' box_child=''
[ "$rc" = 0 ] || { box_logs; fail "exit status $rc after $rt_stopsignal"; }
if [ "$drain" -gt 0 ]; then
  [ -n "$drained" ] || fail "/readyz never answered 503 during the ${drain} s drain"
fi
pass "$rt_stopsignal: /readyz 503 during the drain, exit 0 after ${took} s (drain ${drain} s, limit ${budget} s)"

if [ "$app_env" = production ]; then
  py jsonlines "$logs/container.out"
  py jsonlines "$logs/container.err"
  grep -q "0.0.0.0" "$logs/container.out" "$logs/container.err" || fail "production did not log a bind on 0.0.0.0"
  pass "APP_ENVIRONMENT=production: JSON log lines only, listening on 0.0.0.0"
fi
run_secs=$(elapsed "$phase")

echo
echo "container-check summary ($dockerfile)"
printf '  %s\n' "${summary[@]}"
echo "  time: build stage ${build_secs} s, run ${run_secs} s, total $(elapsed "$started") s"
