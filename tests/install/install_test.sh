#!/usr/bin/env bash
# `cmake --install BUILD --prefix PREFIX` lays out what the contract says, and the unit it
# installs starts the binary and config of that prefix (not /usr/bin and /etc).
set -euo pipefail
build=$1
prefix=$(mktemp -d -t dctwin-install.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" > /dev/null
fail() { echo "FAIL: $*"; exit 1; }
for f in bin/dctwin-gateway bin/dctwinctl bin/dctwin-agent etc/dctwin/dctwin.toml lib/systemd/system/dctwin-gateway.service \
         lib/systemd/system/dctwin-agent.service \
         share/dctwin/hmi/index.html share/dctwin/hmi/vendor/mqtt.min.js share/dctwin/mosquitto/dctwin.acl; do
  [ -e "$prefix/$f" ] || fail "$f missing under the prefix"
done
unit="$prefix/lib/systemd/system/dctwin-gateway.service"
grep -qx "ExecStart=$prefix/bin/dctwin-gateway --config $prefix/etc/dctwin/dctwin.toml --state /var/lib/dctwin/dctwin.db" "$unit" \
  || fail "ExecStart does not name the prefix: $(grep ExecStart "$unit")"
"$prefix/bin/dctwin-gateway" --check-config --config "$prefix/etc/dctwin/dctwin.toml" > /dev/null \
  || fail "the installed config does not check"
grep -qx "ExecStart=$prefix/bin/dctwin-agent --hooks-dir /etc/dctwin/agent.d" "$prefix/lib/systemd/system/dctwin-agent.service" \
  || fail "the agent's ExecStart does not name the prefix: $(grep ExecStart "$prefix/lib/systemd/system/dctwin-agent.service")"
"$prefix/bin/dctwin-agent" --help > /dev/null || fail "dctwin-agent does not run"
echo "1 passed, 0 failed"
