#!/usr/bin/env bash
# Builds the Debian package, installs it with dpkg on this machine, checks files and unit
# (systemd-analyze verify), checks that an edited config survives a reinstall, and purges it.
# Needs root. Not part of the ctest suite because it changes the system.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
dpkg -s dpkg-dev >/dev/null 2>&1 || apt-get install -y -qq dpkg-dev >/dev/null
cmake -S . -B build-deb -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr -DDCTWIN_PACKAGE_DEB=ON \
  -DDCTWIN_BUILD_TESTS=OFF >/dev/null
cmake --build build-deb >/dev/null
(cd build-deb && cpack -G DEB >/dev/null)
deb=$(ls build-deb/dctwin_*.deb | head -1)
echo "package: $deb"
dpkg-deb -I "$deb" | sed -n '/Package:/,/Description:/p'
dpkg -i "$deb" >/dev/null
fail() { echo "FAIL: $*"; dpkg --purge dctwin >/dev/null || true; exit 1; }
for f in /usr/bin/dctwin-gateway /usr/bin/dctwinctl /usr/bin/dctwin-agent /etc/dctwin/dctwin.toml \
         /lib/systemd/system/dctwin-gateway.service /lib/systemd/system/dctwin-agent.service \
         /usr/share/dctwin/mosquitto/dctwin.acl /usr/share/dctwin/hmi/index.html /usr/share/dctwin/hmi/vendor/mqtt.min.js; do
  [ -e "$f" ] || fail "$f missing"
done
grep -qx /etc/dctwin/dctwin.toml /var/lib/dpkg/info/dctwin.conffiles || fail "config is not a conffile"
/usr/bin/dctwin-gateway --check-config --config /etc/dctwin/dctwin.toml || fail "shipped config does not check"
systemd-analyze verify /lib/systemd/system/dctwin-gateway.service || fail "unit does not verify"
systemd-analyze verify /lib/systemd/system/dctwin-agent.service || fail "the agent's unit does not verify"
grep -q '^ExecStart=/usr/bin/dctwin-gateway --config /etc/dctwin/dctwin.toml' /lib/systemd/system/dctwin-gateway.service \
  || fail "the unit does not start /usr/bin/dctwin-gateway with /etc/dctwin/dctwin.toml"
/usr/bin/dctwinctl --help > /dev/null || fail "dctwinctl does not run"
/usr/bin/dctwin-agent --help > /dev/null || fail "dctwin-agent does not run"
echo "exposure: $(systemd-analyze security --offline=true /lib/systemd/system/dctwin-gateway.service | tail -1)"
echo '# edited by the operator' >> /etc/dctwin/dctwin.toml
dpkg -i --force-confold "$deb" >/dev/null
grep -q 'edited by the operator' /etc/dctwin/dctwin.toml || fail "reinstall overwrote the edited config"
dpkg --purge dctwin >/dev/null
[ ! -e /usr/bin/dctwin-gateway ] && [ ! -e /etc/dctwin/dctwin.toml ] || fail "purge left files behind"
echo "package install, conffile, unit verify and purge: OK"
