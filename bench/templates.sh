# shellcheck shell=bash
# Sourced by the bench scripts (compare.sh, instructions.sh, syscalls.sh, profile.sh,
# smoke.sh): the one place the servers' configs come from. bench/templates/ holds one
# config per server, got-router's, HAProxy's and nginx's, with @NAME@ placeholders, one
# per server for TLS passthrough (SERVER-passthrough) and the passthrough runs' TLS origin.
#
#   render_config SERVER OUT NAME=VALUE...
#
# writes bench/templates/<SERVER's file> to OUT with each @NAME@ replaced by VALUE, and
# fails when a placeholder is left without a value. SERVER: got-router, haproxy, nginx,
# each with -passthrough, or origin.

templates_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/templates" && pwd)

render_config() {
    local server=$1 out=$2 template text pair
    shift 2
    case $server in
    got-router) template=got-router.yaml ;;
    haproxy) template=haproxy.cfg ;;
    nginx) template=nginx.conf ;;
    got-router-passthrough) template=got-router-passthrough.yaml ;;
    haproxy-passthrough) template=haproxy-passthrough.cfg ;;
    nginx-passthrough) template=nginx-passthrough.conf ;;
    origin) template=origin.cfg ;;
    *) echo "render_config: unknown server $server" >&2; return 1 ;;
    esac
    text=$(<"$templates_dir/$template")
    for pair in "$@"; do
        # Quoted pattern and replacement: a value is taken literally (no glob, no &).
        text=${text//"@${pair%%=*}@"/"${pair#*=}"}
    done
    if [[ $text =~ @[A-Z_]+@ ]]; then
        echo "render_config: $template: no value for ${BASH_REMATCH[0]}" >&2
        return 1
    fi
    printf '%s\n' "$text" >"$out"
}
