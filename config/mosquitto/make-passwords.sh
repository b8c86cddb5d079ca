#!/usr/bin/env bash
# Writes the password file for the users of dctwin.acl: dctwin-gateway, provisioning, one viewer
# and one operator, and the servers named on the command line (their username is their id).
# Each password is read from the environment when set (DCTWIN_PW_<USER>, with - and . as _),
# otherwise generated and printed once. Usage:
#   sudo config/mosquitto/make-passwords.sh [/etc/mosquitto/dctwin.passwd] [server-id ...]
set -euo pipefail
file=${1:-/etc/mosquitto/dctwin.passwd}
shift || true
users=(dctwin-gateway provisioning viewer operator "$@")
rm -f "$file"
touch "$file"
chmod 640 "$file"
for u in "${users[@]}"; do
  var="DCTWIN_PW_$(echo "$u" | tr 'a-z.-' 'A-Z__')"
  pw=${!var:-}
  if [ -z "$pw" ]; then
    pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
    echo "$u: $pw"
  fi
  mosquitto_passwd -b "$file" "$u" "$pw"
done
if getent group mosquitto >/dev/null; then chgrp mosquitto "$file"; fi
echo "wrote $file with ${#users[@]} users" >&2
