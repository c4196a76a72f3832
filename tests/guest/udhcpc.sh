#!/bin/sh
# udhcpc's event script in the test guest (/etc/udhcpc.sh); busybox sets $mask to the prefix length.
# shellcheck disable=SC2154 # interface, ip, mask, router and dns come from udhcpc
case "$1" in
    deconfig)
        ip addr flush dev "$interface"
        ip link set "$interface" up
        ;;
    bound | renew)
        ip addr flush dev "$interface"
        ip addr add "$ip/$mask" dev "$interface"
        for r in $router; do
            ip route add default via "$r" dev "$interface"
            break
        done
        : > /etc/resolv.conf
        for d in $dns; do
            echo "nameserver $d" >> /etc/resolv.conf
        done
        echo "cocoon-init: dhcp $1: ip=$ip/$mask router=$router dns=$dns"
        ;;
esac
exit 0
