#!/usr/bin/env bash
# `make run`: build, start a local PostgreSQL unless DATABASE_URL is set, migrate, seed the demo, print a
# token and serve in the foreground.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
echo "building (release) …" >&2
swift build -c release --product bulwark >&2
bin="$root/.build/release/bulwark"
if [ -z "${DATABASE_URL:-}" ]; then
    base=$(scripts/local-postgres.sh bulwark)
    export DATABASE_URL="$base/bulwark"
    # The private cluster trusts local logins: the service logs in as its own role, below row-level security.
    export BULWARK_SERVICE_DATABASE_URL="${base/postgres@/bulwark_app@}/bulwark"
fi
export BULWARK_HOME="$root"
listen=${BULWARK_LISTEN:-127.0.0.1:8080}
host=${listen%:*}
host=${host#[}
host=${host%]}
port=${listen##*:}
if [ "$port" != 0 ] && (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
    echo "something already listens on $listen: stop it, or choose another address with BULWARK_LISTEN" >&2
    exit 1
fi
"$bin" migrate
"$bin" seed
# One live make-run token at a time: the previous run's is revoked.
token=$("$bin" token create --role admin --name "make-run admin" --replace)
cat >&2 <<MSG

  Bulwark is starting on http://$listen
  Admin token (shown once): $token

  Try:  curl -H "Authorization: Bearer $token" http://$listen/v1/vendors

MSG
exec "$bin" serve
