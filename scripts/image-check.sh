#!/usr/bin/env bash
# The Docker images, built and run for real without a Docker engine (CI's image stage).
#
#   scripts/image-check.sh
#
# 1. Base images: scripts/image-base.sh (debootstrap, cached in /var/cache/got-router-ci).
# 2. Builds docker/Dockerfile, docker/gophernicus.Dockerfile and docker/pygopherd.Dockerfile
#    from the repository with `buildah build --isolation chroot --network host` (Docker's
#    image format: HEALTHCHECK kept), as `docker build` would.
# 3. The runtime image holds no compiler, no headers, no apt package lists; prints its size
#    and the layer it adds over debian:bookworm-slim.
# 4. Runs the compose topology (docker/docker-compose.yml) with `buildah run --isolation
#    chroot --network host`: both gopherds from their images, got-router from its image as
#    its USER (uid 10070) with docker/got-router.yaml (the same routing table; only the
#    listen, admin and backend addresses moved to free loopback ports) and certificates made
#    now by docker/make-certs.sh, mounted read-only. Then, from the host: every file of each
#    gopherd fetched through got-router (curl gophers:// with SNI, curl gopher://,
#    openssl s_client -alpn gopher) is byte-identical to what that gopherd serves directly;
#    the HEALTHCHECK of each image passes; SIGTERM drains (new connections refused, /readyz
#    503, an open TLS connection still gets its reply) and got-router exits 0.
#
# Fails on the first failed build or check. Removes every container it made and the three
# images at the end. Needs root (buildah). For working on the checks only:
# GOT_IMAGE_KEEP=1 keeps the images, and a later GOT_IMAGE_REUSE=1 run checks those
# instead of building (CI sets neither).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

tag=got-router-check
router_image=localhost/$tag:router
gophernicus_image=localhost/$tag:gophernicus
pygopherd_image=localhost/$tag:pygopherd

die() { echo "image-check: FAIL: $*" >&2; exit 1; }
ok() { echo "ok    $*"; }
[ "$(id -u)" -eq 0 ] || die "needs root (buildah)"

work=$(mktemp -d /tmp/got-image-check.XXXXXX)
containers=()
pids=()
cleanup() {
  local rc=$? pid c
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    # A buildah run whose process ignores TERM: its own process group, then KILL.
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  if [ $rc -ne 0 ]; then
    for f in "$work"/*.log; do
      [ -f "$f" ] || continue
      echo "--- $(basename "$f")" >&2
      tail -40 "$f" >&2
    done
  fi
  for c in "${containers[@]}"; do buildah rm "$c" >/dev/null 2>&1 || true; done
  if [ "${GOT_IMAGE_KEEP:-}" != 1 ]; then
    buildah rmi "$router_image" "$gophernicus_image" "$pygopherd_image" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() { # port pid-of-its-buildah-run name
  for _ in $(seq 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || die "$3 exited before listening on $1"
    sleep 0.1
  done
  die "$3: nothing listening on 127.0.0.1:$1 after 30 s"
}

# The image's ENTRYPOINT + CMD (or a config field), one word a line, from its JSON config.
image_field() { # image python-expression-over-config
  buildah inspect --type image "$1" |
    python3 -c "import json, sys; c = json.load(sys.stdin)['Docker']['config']; print('\n'.join($2))"
}

# A descendant of PID (the process buildah run started) whose command is COMMAND.
descendant() { # pid command
  local pid=$1 child comm
  for child in $(ps -o pid= --ppid "$pid"); do
    comm=$(cat "/proc/$child/comm" 2>/dev/null || true)
    [ "$comm" = "$2" ] && { echo "$child"; return 0; }
    descendant "$child" "$2" && return 0
  done
  return 1
}

# --- 1. base images ----------------------------------------------------------------------
scripts/install-deps.sh # buildah, debootstrap, curl, openssl (no-op when installed)
started=$SECONDS
scripts/image-base.sh
echo "image-check: base images in $((SECONDS - started)) s"

# --- 2. builds ---------------------------------------------------------------------------
build() { # image dockerfile
  local t=$SECONDS
  if [ "${GOT_IMAGE_REUSE:-}" = 1 ] && buildah inspect --type image "$1" >/dev/null 2>&1; then
    echo "image-check: GOT_IMAGE_REUSE=1: NOT building $1, checking the kept image"
    return 0
  fi
  buildah build --isolation chroot --network host --format docker --pull=never \
    -f "$2" -t "$1" . >"$work/build-$(basename "$2").log" 2>&1 ||
    { tail -60 "$work/build-$(basename "$2").log" >&2; die "buildah build -f $2 failed"; }
  ok "built $1 from $2 in $((SECONDS - t)) s"
}
build "$router_image" docker/Dockerfile
build "$gophernicus_image" docker/gophernicus.Dockerfile
build "$pygopherd_image" docker/pygopherd.Dockerfile

# --- 3. what the runtime image holds -----------------------------------------------------
inspect=$(buildah from --pull=never "$router_image")
containers+=("$inspect")
root=$(buildah mount "$inspect")
for tool in gcc g++ cc c++ cpp clang ld as make cmake; do
  for dir in usr/bin usr/local/bin bin; do
    [ -e "$root/$dir/$tool" ] && die "the runtime image has a compiler/build tool: /$dir/$tool"
  done
done
compilers=$(find "$root/usr/bin" -regextype posix-extended -regex '.*/(x86_64-linux-gnu-)?(gcc|g\+\+|cpp|clang)(-[0-9]+)?' | head -3)
[ -z "$compilers" ] || die "the runtime image has a compiler: $compilers"
headers=$(find "$root/usr/include" "$root/usr/local/include" -type f 2>/dev/null | head -3)
[ -z "$headers" ] || die "the runtime image has headers: $headers"
lists=$(find "$root/var/lib/apt/lists" -type f ! -name lock 2>/dev/null | head -3)
[ -z "$lists" ] || die "the runtime image has apt package lists: $lists"
debs=$(find "$root/var/cache/apt" -name '*.deb' -o -name '*.bin' 2>/dev/null | head -3)
[ -z "$debs" ] || die "the runtime image has apt caches: $debs"
[ -x "$root/usr/local/bin/got-router" ] || die "no /usr/local/bin/got-router in the image"
ok "runtime image: no compiler, no headers, no apt lists or caches"
router_bytes=$(du -sb "$root" | cut -f1)
buildah umount "$inspect" >/dev/null

user=$(image_field "$router_image" "[c['User']]")
[ "$user" = "10070:10070" ] || die "the image's USER is '$user', not 10070:10070"
healthcheck=$(image_field "$router_image" "(c.get('Healthcheck') or {}).get('Test') or []")
[ "$(head -1 <<<"$healthcheck")" = CMD ] || die "the image has no exec-form HEALTHCHECK (built without --format docker?)"
mapfile -t healthcheck < <(tail -n +2 <<<"$healthcheck")
mapfile -t entrypoint < <(image_field "$router_image" "(c.get('Entrypoint') or []) + (c.get('Cmd') or [])")

# Sizes from buildah alone (no podman: install-deps.sh does not install it): the images as
# buildah lists them, the runtime image's files as mounted above and the slim base's, and
# the steps that made its layers.
slim=$(buildah from --pull=never docker.io/library/debian:bookworm-slim)
containers+=("$slim")
slim_bytes=$(du -sb "$(buildah mount "$slim")" | cut -f1)
buildah umount "$slim" >/dev/null
echo "image-check: sizes (buildah images):"
buildah images --format '  {{.Name}}:{{.Tag}}  {{.Size}}' | grep -E "debian:bookworm|$tag" || true
echo "image-check: $router_image holds $((router_bytes / 1000)) kB of files, $(((router_bytes - slim_bytes) / 1000)) kB over debian:bookworm-slim; its steps:"
buildah inspect --type image --format '{{range .History}}  {{.CreatedBy}}{{"\n"}}{{end}}' "$router_image" |
  cut -c1-120

# --- 4. the compose topology -------------------------------------------------------------
port=$(free_port)
admin=$(free_port)
gophernicus_port=$(free_port)
pygopherd_port=$(free_port)
certs=$work/certs
docker/make-certs.sh "$certs" >/dev/null
# docker/got-router.yaml with only its addresses moved: the containers share the host's
# network, so the compose service names become loopback ports.
sed -e "s/\"0\.0\.0\.0:70\"/\"127.0.0.1:$port\"/" \
  -e "s/\"gophernicus:7070\"/\"127.0.0.1:$gophernicus_port\"/" \
  -e "s/\"pygopherd:7070\"/\"127.0.0.1:$pygopherd_port\"/" \
  -e "s/\"127\.0\.0\.1:9070\"/\"127.0.0.1:$admin\"/" docker/got-router.yaml >"$work/got-router.yaml"
for address in "127.0.0.1:$port" "127.0.0.1:$gophernicus_port" "127.0.0.1:$pygopherd_port" "127.0.0.1:$admin"; do
  grep -qF "\"$address\"" "$work/got-router.yaml" || die "could not move an address of docker/got-router.yaml to $address (has it changed?)"
done
diff <(sed -E 's/"[^"]*:[0-9]+"/ADDR/' docker/got-router.yaml) <(sed -E 's/"[^"]*:[0-9]+"/ADDR/' "$work/got-router.yaml") >/dev/null ||
  die "the rewritten config differs from docker/got-router.yaml in more than addresses"
chmod 0644 "$work/got-router.yaml"
chmod 0755 "$work" "$certs"

start() { # name image port env... : buildah run of the image's command, in the background
  local name=$1 image=$2 listen=$3 ctr cmd
  shift 3
  ctr=$(buildah from --pull=never --name "$tag-$name-$$" "$image")
  containers+=("$ctr")
  local env=() mounts=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    case $1 in
      -v) mounts+=(-v "$2"); shift 2 ;;
      *) env+=(--env "$1"); shift ;;
    esac
  done
  [ "${1:-}" = -- ] && shift
  if [ $# -gt 0 ]; then cmd=("$@"); else mapfile -t cmd < <(image_field "$image" "(c.get('Entrypoint') or []) + (c.get('Cmd') or [])"); fi
  # setsid: its own process group, so cleanup can end all of it.
  setsid buildah run --isolation chroot --network host "${env[@]}" "${mounts[@]}" "$ctr" -- "${cmd[@]}" \
    >"$work/$name.log" 2>&1 &
  pids+=($!)
  eval "${name//-/_}_pid=$!"
  eval "${name//-/_}_ctr=$ctr"
  wait_port "$listen" "$!" "$name"
  ok "$name runs from $image on 127.0.0.1:$listen"
}
start gophernicus "$gophernicus_image" "$gophernicus_port" GOPHERD_PORT="$gophernicus_port" GOPHERD_BIND=127.0.0.1
start pygopherd "$pygopherd_image" "$pygopherd_port" GOPHERD_PORT="$pygopherd_port" GOPHERD_BIND=127.0.0.1
start got-router "$router_image" "$port" \
  -v "$work/got-router.yaml:/etc/got-router/got-router.yaml:ro" -v "$certs:/etc/got-router/certs:ro" -- "${entrypoint[@]}"
# shellcheck disable=SC2154 # set by start's eval
router_pid=$(descendant "$got_router_pid" got-router) || die "no got-router process under buildah run"
uid=$(awk '/^Uid:/ {print $2 "," $3}' "/proc/$router_pid/status")
[ "$uid" = "10070,10070" ] || die "got-router runs as uid $uid, not the image's 10070"
ok "got-router runs as uid 10070 (pid $router_pid on the host)"

# Each image's HEALTHCHECK, in its running container (the router's admin address moved).
# shellcheck disable=SC2154
buildah run --isolation chroot --network host --env GOT_ROUTER_ADMIN="127.0.0.1:$admin" "$got_router_ctr" -- \
  "${healthcheck[@]}" >"$work/health.out" 2>&1 || die "got-router's HEALTHCHECK failed: $(cat "$work/health.out")"
grep -q " 200" "$work/health.out" || die "got-router's HEALTHCHECK did not see 200: $(cat "$work/health.out")"
ok "got-router HEALTHCHECK (${healthcheck[*]}): $(head -1 "$work/health.out" | tr -d '\r')"
for name in gophernicus pygopherd; do
  image_var=${name}_image ctr_var=${name}_ctr port_var=${name}_port
  mapfile -t hc < <(image_field "${!image_var}" "((c.get('Healthcheck') or {}).get('Test') or ['none'])[1:]")
  [ ${#hc[@]} -gt 0 ] || die "$name image has no HEALTHCHECK"
  # The gopherd images check their own port (7070 in compose): run it against this one.
  hc=("${hc[@]//7070/${!port_var}}")
  buildah run --isolation chroot --network host "${!ctr_var}" -- "${hc[@]}" || die "$name HEALTHCHECK failed"
  ok "$name HEALTHCHECK (${hc[*]})"
done

# --- files through got-router, byte for byte -----------------------------------------------
fetch() { # output curl-args...
  local out=$1
  shift
  curl -sS --max-time 15 -o "$out" "$@" || die "curl $* failed"
}
compare() { # description expected actual
  cmp -s "$2" "$3" || die "$1: not byte-identical ($(wc -c <"$2") vs $(wc -c <"$3") bytes)"
  ok "$1 ($(wc -c <"$3") bytes, identical)"
}
n=0
check_gopherd() { # name port sni root-dir
  local name=$1 gport=$2 sni=$3 dir=$4 f rel direct
  # The menu, then every file: direct from the container, through got-router.
  local selectors=("")
  while IFS= read -r f; do
    rel=${f#"$dir"}
    [ "$(basename "$f")" = gophermap ] && continue
    selectors+=("$rel")
  done < <(find "$dir" -type f | sort)
  for rel in "${selectors[@]}"; do
    n=$((n + 1))
    direct=$work/direct.$n
    fetch "$direct" "gopher://127.0.0.1:$gport/9$rel"
    [ -s "$direct" ] || die "$name served nothing for '$rel'"
    # The file itself, not an error item (gophernicus ends text files its own way).
    if [ -n "$rel" ]; then
      grep -qF -- "$(head -1 "$dir$rel")" "$direct" || die "$name does not serve $rel: $(head -c 200 "$direct")"
    fi
    fetch "$work/tls.$n" -k --connect-to "$sni:70:127.0.0.1:$port" "gophers://$sni/9$rel"
    compare "gophers://$sni/9$rel (SNI $sni) = $name" "$direct" "$work/tls.$n"
    printf '%s\r\n' "$rel" | timeout 15 openssl s_client -quiet -connect "127.0.0.1:$port" \
      -servername "$sni" -alpn gopher >"$work/alpn.$n" 2>"$work/alpn.$n.err" ||
      die "openssl s_client -alpn gopher '$rel' failed: $(cat "$work/alpn.$n.err")"
    compare "openssl s_client -servername $sni -alpn gopher '${rel:-<empty>}' = $name" "$direct" "$work/alpn.$n"
  done
}
check_gopherd gophernicus "$gophernicus_port" gopher.test "$repo/examples/gopherroot"
check_gopherd pygopherd "$pygopherd_port" www.demo.test "$repo/examples/demo-root"
# Plaintext and TLS without SNI go to the default route (gophernicus).
fetch "$work/direct-about" "gopher://127.0.0.1:$gophernicus_port/9/about.txt"
fetch "$work/plain" "gopher://127.0.0.1:$port/9/about.txt"
compare "gopher://127.0.0.1/9/about.txt (plaintext) = gophernicus" "$work/direct-about" "$work/plain"
fetch "$work/plain-menu" "gopher://127.0.0.1:$port/"
fetch "$work/direct-menu" "gopher://127.0.0.1:$gophernicus_port/"
compare "gopher://127.0.0.1/ (plaintext menu) = gophernicus" "$work/direct-menu" "$work/plain-menu"
printf '/about.txt\r\n' | timeout 15 openssl s_client -quiet -connect "127.0.0.1:$port" -noservername \
  -alpn gopher >"$work/nosni" 2>"$work/nosni.err" || die "openssl s_client -noservername failed: $(cat "$work/nosni.err")"
compare "openssl s_client -noservername -alpn gopher '/about.txt' = gophernicus" "$work/direct-about" "$work/nosni"
# The negotiated ALPN, as the router reports it to s_client.
echo | timeout 15 openssl s_client -connect "127.0.0.1:$port" -servername www.demo.test -alpn gopher \
  </dev/null >"$work/alpn.txt" 2>&1 || true
grep -q "ALPN protocol: gopher" "$work/alpn.txt" || die "openssl s_client -alpn gopher: no 'ALPN protocol: gopher' in: $(grep -i alpn "$work/alpn.txt")"
ok "openssl s_client -alpn gopher: ALPN protocol: gopher"

# --- SIGTERM: drain, then exit 0 --------------------------------------------------------------
python3 - "$port" "$router_pid" "$repo/examples/demo-root/hello.txt" "127.0.0.1:$admin" <<'EOF' || die "SIGTERM drain check failed"
import os, signal, socket, ssl, subprocess, sys, time
port, pid, expected, admin = int(sys.argv[1]), int(sys.argv[2]), open(sys.argv[3], "rb").read(), sys.argv[4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
ctx.set_alpn_protocols(["gopher"])
conn = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="www.demo.test")
assert conn.selected_alpn_protocol() == "gopher", conn.selected_alpn_protocol()
os.kill(pid, signal.SIGTERM)
deadline = time.monotonic() + 5
while True:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except (ConnectionRefusedError, ConnectionResetError):
        break
    if time.monotonic() > deadline:
        sys.exit("still accepting 5 s after SIGTERM")
    time.sleep(0.1)
print("ok    SIGTERM: new connections refused")
ready = subprocess.run(["docker/healthcheck.sh", admin, "/readyz"], capture_output=True, text=True)
if ready.returncode == 0 or "503" not in ready.stderr:
    sys.exit(f"/readyz during the drain: {ready.stdout} {ready.stderr}")
print("ok    SIGTERM: /readyz answers 503 while draining")
os.kill(pid, 0)  # still running: one connection is open
conn.sendall(b"/hello.txt\r\n")
reply = b""
while chunk := conn.recv(65536):
    reply += chunk
if reply != expected:
    sys.exit(f"the open connection's reply after SIGTERM differs: {reply[:200]!r}")
print(f"ok    SIGTERM: the connection open at the signal got its reply ({len(reply)} bytes)")
EOF
for _ in $(seq 100); do kill -0 "$got_router_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$got_router_pid" 2>/dev/null && die "got-router still running 10 s after its last connection closed"
status=0
wait "$got_router_pid" || status=$?
[ $status -eq 0 ] || die "got-router (buildah run) exited $status after SIGTERM"
grep -q "all connections finished; exiting" "$work/got-router.log" || die "got-router's log does not say it drained"
ok "SIGTERM: got-router drained and exited 0"
echo "image-check: passed in $SECONDS s"
