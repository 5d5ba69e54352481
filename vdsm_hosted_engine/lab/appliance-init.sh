# The init of the lab's Engine appliance (a busybox initramfs; see lab/appliance.py, which puts the
# "#!/bin/busybox sh" line in front when it builds the initramfs: here it is data, not a host script).
# Loads the virtio, CD-ROM and ACPI button modules, takes its address from the kernel command line
# (ip4=ADDR/LEN gw4=GW) or else from the cloud-init NoCloud seed on its CD-ROM (deploy/cloud_init.py),
# appends a boot record to its disk (/dev/vda, ext4: "<n> <boot id>", n = records before it + 1),
# and serves with busybox httpd:
#   /ovirt-engine/services/health   "DB Up!Welcome to Health Status!" (or "Engine down" when unhealthy)
#   /bootid                         this boot's id
#   /cgi-bin/engine?unhealthy|healthy   the switch the lab's engine-(un)healthy faults use
#   /cgi-bin/bootlog                the boot records on the disk
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
for m in $(cat /lib/modules/order); do
  insmod /lib/modules/$m.ko || echo "appliance: insmod $m failed"
done
IP=; GW=; SOURCE=cmdline
for a in $(cat /proc/cmdline); do case $a in ip4=*) IP=${a#ip4=};; gw4=*) GW=${a#gw4=};; esac; done
if [ -z "$IP" ]; then
  # No address on the command line: deploy's cloud-init NoCloud seed on the CD-ROM (label cidata):
  # the static address and default route of network-config v2, the hostname of meta-data.
  for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do [ -b /dev/sr0 ] && break; sleep 0.2; done
  mkdir -p /seed
  if mount -t iso9660 -o ro /dev/sr0 /seed; then
    SOURCE=cloud-init
    IP=$(sed -n 's|^ *- \([0-9.]*/[0-9]*\)$|\1|p' /seed/network-config | head -n 1)
    GW=$(sed -n 's|^ *via: \([0-9.]*\)$|\1|p' /seed/network-config | head -n 1)
    NAME=$(sed -n 's|^local-hostname: ||p' /seed/meta-data)
    [ -n "$NAME" ] && hostname "$NAME"
    [ -z "$IP" ] && echo "appliance: the seed has no static address (DHCP is not supported here)"
  fi
fi
[ -z "$IP" ] && { IP=192.168.222.100/24; GW=192.168.222.1; SOURCE=default; }
ip link set lo up
ip link set eth0 up && ip addr add $IP dev eth0 && ip route add default via $GW
BOOTID=$(cat /proc/sys/kernel/random/boot_id)
mkdir -p /www/ovirt-engine/services /www/cgi-bin /mnt
echo "DB Up!Welcome to Health Status!" > /www/ovirt-engine/services/health
echo "$BOOTID" > /www/bootid
for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda ] && break; sleep 0.2; done
if mount -t ext4 /dev/vda /mnt; then
  N=$(( $(cat /mnt/boot.log 2>/dev/null | wc -l) + 1 ))
  echo "$N $BOOTID" >> /mnt/boot.log
  sync
else
  echo "appliance: no disk" > /www/disk-error
fi
cat > /www/cgi-bin/engine <<'CGI'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
case "$QUERY_STRING" in
  unhealthy) echo "Engine down" > /www/ovirt-engine/services/health; echo unhealthy;;
  healthy) echo "DB Up!Welcome to Health Status!" > /www/ovirt-engine/services/health; echo healthy;;
  *) cat /www/ovirt-engine/services/health;;
esac
CGI
cat > /www/cgi-bin/bootlog <<'CGI'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
cat /mnt/boot.log
CGI
chmod +x /www/cgi-bin/engine /www/cgi-bin/bootlog
httpd -p 80 -h /www
# ACPI power button (virDomainShutdown) -> power off at once: the guest has nothing to flush but its disk.
# One read of a whole input_event (24 bytes; evdev refuses shorter reads) blocks until the press.
BUTTON=
for i in 1 2 3 4 5 6 7 8 9 10; do
  for e in /sys/class/input/event*; do
    [ "$(cat $e/device/name 2>/dev/null)" = "Power Button" ] && BUTTON=/dev/input/${e##*/}
  done
  [ -n "$BUTTON" ] && [ -c "$BUTTON" ] && break
  sleep 0.2
done
if [ -n "$BUTTON" ]; then
  ( dd if=$BUTTON bs=24 count=1 >/dev/null 2>&1 && { sync; umount /mnt; poweroff -f; } ) &
else
  echo "appliance: no power button: ACPI shutdown will not work"
fi
arping -U -c 2 -I eth0 ${IP%/*} >/dev/null 2>&1 &
echo "ENGINE APPLIANCE UP ip=$IP gw=$GW source=$SOURCE hostname=$(hostname) bootid=$BOOTID"
while true; do sleep 3600; done
