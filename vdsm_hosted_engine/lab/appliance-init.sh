# The init of the lab's Engine appliance (a busybox initramfs; see lab/appliance.py, which puts the
# "#!/bin/busybox sh" line in front when it builds the initramfs: here it is data, not a host script).
# Loads the virtio and ACPI button modules, takes its address from the kernel command line (ip4=ADDR/LEN gw4=GW),
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
IP=192.168.222.100/24; GW=192.168.222.1
for a in $(cat /proc/cmdline); do case $a in ip4=*) IP=${a#ip4=};; gw4=*) GW=${a#gw4=};; esac; done
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
echo "ENGINE APPLIANCE UP ip=$IP bootid=$BOOTID"
while true; do sleep 3600; done
