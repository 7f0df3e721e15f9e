#!/usr/bin/env bash
# Start a private Docker registry (distribution 2.8, Debian's docker-registry) on 127.0.0.1 only.
#
# Usage: registry-start.sh [--port N] [--auth none|htpasswd|token] [--tls] [--schema1]
#                          [--user U] [--password P] [--anon-pull] [--token-port N]
#   --port N        listen on 127.0.0.1:N (default 5000)
#   --auth htpasswd HTTP basic auth (bcrypt htpasswd file; user/password default testuser/testpassword)
#   --auth token    Bearer token auth: also starts token-server.cjs on 127.0.0.1:<token-port>
#                   (default port+10000); the registry answers 401 with
#                   WWW-Authenticate: Bearer realm="<scheme>://127.0.0.1:<token-port>/token",service="d2a-testenv-registry",scope="repository:<name>:pull"
#   --anon-pull     token mode: tokens for pull are also given without credentials (like Docker Hub)
#   --tls           HTTPS with a certificate for 127.0.0.1/localhost/::1 signed by a throw-away CA
#                   ($D2A_TESTENV_DIR/certs/ca.pem); the token server then uses HTTPS as well
#   --schema1       also accept pushes of Docker schema1 manifests (off by default). Note: with or
#                   without it, distribution 2.8 serves schema2 images as signed schema1 to clients
#                   whose Accept header lacks application/vnd.docker.distribution.manifest.v2+json
#
# Idempotent: if a registry started by this script already runs on that port with the same options,
# it is left as it is; with other options it is restarted (its stored images are kept only when
# the options are unchanged).
#
# stdout: shell "export" lines, so:  eval "$(registry-start.sh --tls --auth htpasswd --port 5001)"
# The same values are in $D2A_TESTENV_DIR/registry-<port>/env and env.json.
. "$(dirname "$0")/common.sh"

PORT=5000 AUTH=none TLS=0 SCHEMA1=0 ANON=0 TOKEN_PORT=""
USER_NAME=$TESTENV_USER_DEFAULT PASSWORD=$TESTENV_PASSWORD_DEFAULT
while [ $# -gt 0 ]; do
  case "$1" in
    --port) PORT=$2; shift 2 ;;
    --auth) AUTH=$2; shift 2 ;;
    --tls) TLS=1; shift ;;
    --schema1) SCHEMA1=1; shift ;;
    --user) USER_NAME=$2; shift 2 ;;
    --password) PASSWORD=$2; shift 2 ;;
    --anon-pull) ANON=1; shift ;;
    --token-port) TOKEN_PORT=$2; shift 2 ;;
    -h|--help) sed -n '2,/^\. /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1" ;;
  esac
done
case "$AUTH" in none|htpasswd|token) ;; *) die "--auth must be none, htpasswd or token" ;; esac
[[ "$PORT" =~ ^[0-9]+$ ]] || die "bad --port"
[ -n "$TOKEN_PORT" ] || TOKEN_PORT=$((PORT + 10000))
need docker-registry curl
[ "$AUTH" = htpasswd ] && need htpasswd
[ "$AUTH" = token ] && need node

STATE="$TESTENV_DIR/registry-$PORT"
OPTS="auth=$AUTH tls=$TLS schema1=$SCHEMA1 anon=$ANON user=$USER_NAME password=$PASSWORD token_port=$TOKEN_PORT"
SCHEME=http; [ "$TLS" = 1 ] && SCHEME=https
ADDR="$TESTENV_HOST:$PORT"

print_env() { sed 's/^/export /' "$STATE/env"; }

healthy() {
  local code
  local ca=()
  [ "$TLS" = 1 ] && ca=(--cacert "$TESTENV_DIR/certs/ca.pem")
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "${ca[@]}" "$SCHEME://$ADDR/v2/" || true)
  [ "$code" = 200 ] || [ "$code" = 401 ]
}

# --- already running? ------------------------------------------------------------------------
if pid_is "$STATE/pid" docker-registry; then
  if [ "$(cat "$STATE/opts" 2>/dev/null)" = "$OPTS" ] && healthy &&
     { [ "$AUTH" != token ] || pid_is "$STATE/token.pid" token-server.cjs; }; then
    log "registry already running at $SCHEME://$ADDR ($OPTS)"
    print_env
    exit 0
  fi
  log "registry on port $PORT runs with other options: restarting it"
  bash "$TESTENV_SCRIPTS/registry-stop.sh" --port "$PORT" >/dev/null
fi
stop_pid "$STATE/token.pid" token-server.cjs
port_busy "$PORT" && die "127.0.0.1:$PORT is in use by a process these scripts did not start"
[ "$AUTH" = token ] && port_busy "$TOKEN_PORT" && die "token port 127.0.0.1:$TOKEN_PORT is in use"

ensure_base
rm -rf "$STATE"
mkdir -p "$STATE/data" "$STATE/docker"
[ "$TLS" = 1 ] || [ "$AUTH" = token ] && ensure_certs
CERTS="$TESTENV_DIR/certs"

# --- config.yml -------------------------------------------------------------------------------
{
  cat <<EOF
version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $STATE/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: $ADDR
  secret: d2a-testenv-secret-$PORT
  headers:
    X-Content-Type-Options: [nosniff]
EOF
  if [ "$TLS" = 1 ]; then
    cat <<EOF
  tls:
    certificate: $CERTS/server.pem
    key: $CERTS/server-key.pem
EOF
  fi
  case "$AUTH" in
    htpasswd)
      htpasswd -Bbn "$USER_NAME" "$PASSWORD" > "$STATE/htpasswd" 2>/dev/null
      cat <<EOF
auth:
  htpasswd:
    realm: d2a-testenv
    path: $STATE/htpasswd
EOF
      ;;
    token)
      cat <<EOF
auth:
  token:
    realm: $SCHEME://$TESTENV_HOST:$TOKEN_PORT/token
    service: d2a-testenv-registry
    issuer: d2a-testenv-issuer
    rootcertbundle: $CERTS/token.pem
EOF
      ;;
  esac
  if [ "$SCHEMA1" = 1 ]; then
    cat <<EOF
compatibility:
  schema1:
    enabled: true
EOF
  fi
} > "$STATE/config.yml"

# --- start ------------------------------------------------------------------------------------
set +m   # without job control the background child is no group leader, so setsid does not fork
if [ "$AUTH" = token ]; then
  TOKEN_ARGS=(--port "$TOKEN_PORT" --key "$CERTS/token-key.pem" --cert "$CERTS/token.pem"
              --user "$USER_NAME" --password "$PASSWORD")
  [ "$TLS" = 1 ] && TOKEN_ARGS+=(--tls-key "$CERTS/server-key.pem" --tls-cert "$CERTS/server.pem")
  [ "$ANON" = 1 ] && TOKEN_ARGS+=(--anon-pull)
  setsid node "$TESTENV_SCRIPTS/token-server.cjs" "${TOKEN_ARGS[@]}" \
    > "$STATE/token.log" 2>&1 < /dev/null &
  echo $! > "$STATE/token.pid"
fi
# clean environment: the registry reads every REGISTRY_* variable as a config override
setsid env -i PATH="$PATH" HOME="$STATE" docker-registry serve "$STATE/config.yml" \
  > "$STATE/registry.log" 2>&1 < /dev/null &
echo $! > "$STATE/pid"

ok=0
for _ in $(seq 1 100); do
  if healthy && { [ "$AUTH" != token ] || port_busy "$TOKEN_PORT"; }; then ok=1; break; fi
  pid_is "$STATE/pid" docker-registry || break
  sleep 0.1
done
if [ "$ok" != 1 ]; then
  tail -20 "$STATE/registry.log" >&2 || true
  [ -f "$STATE/token.log" ] && tail -5 "$STATE/token.log" >&2
  stop_pid "$STATE/pid" docker-registry
  stop_pid "$STATE/token.pid" token-server.cjs
  die "registry did not come up on $SCHEME://$ADDR"
fi
echo "$OPTS" > "$STATE/opts"

# --- docker config.json with the credentials (for clients that read ~/.docker/config.json) ----
if [ "$AUTH" != none ]; then
  AUTHB64=$(printf '%s:%s' "$USER_NAME" "$PASSWORD" | base64 -w0)
  jq -n --arg a "$ADDR" --arg b "localhost:$PORT" --arg auth "$AUTHB64" \
    '{auths: {($a): {auth: $auth}, ($b): {auth: $auth}}}' > "$STATE/docker/config.json"
else
  echo '{"auths":{}}' > "$STATE/docker/config.json"
fi

# --- env --------------------------------------------------------------------------------------
{
  echo "D2A_REGISTRY=$ADDR"
  echo "D2A_REGISTRY_URL=$SCHEME://$ADDR"
  echo "D2A_REGISTRY_SCHEME=$SCHEME"
  echo "D2A_REGISTRY_AUTH=$AUTH"
  echo "D2A_REGISTRY_TLS=$TLS"
  echo "D2A_REGISTRY_SCHEMA1=$SCHEMA1"
  echo "D2A_REGISTRY_PID=$(cat "$STATE/pid")"
  echo "D2A_REGISTRY_STATE=$STATE"
  echo "D2A_REGISTRY_LOG=$STATE/registry.log"
  echo "D2A_REGISTRY_DOCKER_CONFIG=$STATE/docker"
  if [ "$AUTH" != none ]; then
    echo "D2A_REGISTRY_USER=$USER_NAME"
    echo "D2A_REGISTRY_PASSWORD=$PASSWORD"
  fi
  [ "$TLS" = 1 ] && echo "D2A_REGISTRY_CA=$CERTS/ca.pem"
  if [ "$AUTH" = token ]; then
    echo "D2A_REGISTRY_TOKEN_REALM=$SCHEME://$TESTENV_HOST:$TOKEN_PORT/token"
    echo "D2A_REGISTRY_TOKEN_SERVICE=d2a-testenv-registry"
    echo "D2A_REGISTRY_TOKEN_LOG=$STATE/token.log"
    echo "D2A_REGISTRY_TOKEN_ANON_PULL=$ANON"
  fi
} > "$STATE/env"
jq -Rn '[inputs | capture("^(?<k>[^=]+)=(?<v>.*)$") | {(.k): .v}] | add' < "$STATE/env" > "$STATE/env.json"

log "registry running at $SCHEME://$ADDR (auth=$AUTH tls=$TLS schema1=$SCHEMA1) pid $(cat "$STATE/pid")"
print_env
