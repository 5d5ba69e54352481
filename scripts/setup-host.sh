#!/usr/bin/env bash
# Installs everything vdsm-hosted-engine and its tests need on a Debian 12 machine, idempotently:
# Debian packages (sanlock, libvirt + qemu, the lab appliance's kernel and busybox, GlusterFS for the
# lab's --storage=gluster, ...), the system
# users/groups libvirt's qemu driver looks up, and the project venv (.venv) on Debian's python3 with
# --system-site-packages so it sees python3-sanlock / python3-libvirt / python3-lxml.
#
# Usage: scripts/setup-host.sh [VENV_DIR]      (run as root; a second run changes nothing)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
venv=${1:-$top/.venv}

packages=(
  sanlock python3-sanlock
  libvirt-daemon libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-sanlock libvirt-clients python3-libvirt
  qemu-system-x86 qemu-utils
  python3 python3-venv python3-dev python3-lxml python3-yaml
  busybox-static linux-image-cloud-amd64 kmod e2fsprogs libfuse2 util-linux
  iproute2 iputils-ping curl procps
  genisoimage tmux
  gcc libc6-dev make
  rpm rpmlint openssl
  glusterfs-server glusterfs-client attr xfsprogs iptables
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" != 0 ]; then
    echo "setup: must run as root to install packages" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# libvirt's qemu driver (Debian build) looks these up at start even when qemu.conf says root.
getent group kvm >/dev/null || groupadd --system kvm
getent group libvirt >/dev/null || groupadd --system libvirt
getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
id libvirt-qemu >/dev/null 2>&1 || useradd --system --no-create-home -g kvm -G libvirt-qemu libvirt-qemu

# The venv: Debian's interpreter (not a pyenv one on PATH), seeing the distribution's bindings.
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import sanlock, libvirt, lxml" 2>/dev/null; then
  echo "setup: creating venv $venv"
  rm -rf "$venv"
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
stamp=$venv/.installed-$(sha1sum "$top/setup.py" | cut -c1-12)
if [ ! -e "$stamp" ]; then
  echo "setup: installing the project and its test tools into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -e "$top[test]"
  rm -f "$venv"/.installed-*
  touch "$stamp"
fi
echo "setup: ok ($("$venv/bin/python" -c 'import sys; print(sys.version.split()[0])'), $(sanlock version 2>/dev/null || echo sanlock), $(virsh --version 2>/dev/null | sed 's/^/libvirt /'))"
