#!/usr/bin/env bash
# Install opensipsg on Debian 12 and start it on the embedded default configuration
# (registrar + record-routing proxy, no database server needed). Run as root from
# the project folder. Re-running it upgrades the code and keeps an edited config.
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX=/opt/opensipsg
missing=""
for pkg in python3 python3-venv lsb-base; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing
fi

[ -x "$PREFIX/bin/python" ] || python3 -m venv "$PREFIX"
"$PREFIX/bin/python" -m pip install -q --upgrade pip >/dev/null
"$PREFIX/bin/python" -m pip install -q .

getent group opensipsg >/dev/null || groupadd --system opensipsg
getent passwd opensipsg >/dev/null || useradd --system --gid opensipsg --home-dir /var/lib/opensipsg \
    --shell /usr/sbin/nologin opensipsg
install -d -o opensipsg -g opensipsg /var/lib/opensipsg
install -d /etc/opensipsg
[ -e /etc/opensipsg/opensipsg.cfg ] || install -m 0644 etc/opensipsg.cfg /etc/opensipsg/opensipsg.cfg
# the same with digest authentication against the embedded SQLite database (see README)
install -m 0644 etc/opensipsg-auth.cfg /etc/opensipsg/opensipsg-auth.cfg.sample
if [ ! -e /etc/opensipsg/opensipsctlrc ]; then
    install -m 0640 etc/opensipsctlrc /etc/opensipsg/opensipsctlrc
    printf '\n# installed by scripts/install-server.sh: the embedded default database\nDBENGINE=SQLITE\nDB_PATH=/var/lib/opensipsg/opensips.sqlite\n' \
        >> /etc/opensipsg/opensipsctlrc
fi
[ -e /etc/default/opensipsg ] || install -m 0644 etc/default.opensipsg /etc/default/opensipsg
install -m 0755 etc/init.d/opensipsg /etc/init.d/opensipsg
install -d /etc/systemd/system
install -m 0644 etc/opensipsg.service /etc/systemd/system/opensipsg.service
ln -sf "$PREFIX/bin/opensipsg" /usr/local/sbin/opensipsg
ln -sf "$PREFIX/bin/opensipsctl" /usr/local/sbin/opensipsctl
# the subscriber database (SQLite, 1.6 schema): created once, owned by the server's user
if [ ! -e /var/lib/opensipsg/opensips.sqlite ]; then
    "$PREFIX/bin/opensipsctl" db create
fi
chown opensipsg:opensipsg /var/lib/opensipsg/opensips.sqlite

"$PREFIX/bin/opensipsg" -c -f /etc/opensipsg/opensipsg.cfg

if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable opensipsg >/dev/null 2>&1
    systemctl restart opensipsg
    systemctl --no-pager status opensipsg | head -n 5
else
    update-rc.d opensipsg defaults >/dev/null 2>&1 || true
    /etc/init.d/opensipsg restart
    /etc/init.d/opensipsg status
fi
echo "opensipsg is running with /etc/opensipsg/opensipsg.cfg (SIP on port 5060, UDP and TCP)"
