#!/bin/sh
# udhcpc's event script in the test guest (/etc/udhcpc.sh); busybox sets $mask to the prefix length.
# The lease's router is not made a default route: the user-network NIC only reaches its own
# subnet (the test registry, 10.0.2.2), and the pod's default route comes from UpdateRoutes.
# shellcheck disable=SC2154 # interface, ip, mask, router and dns come from udhcpc
case "$1" in
    deconfig)
        ip addr flush dev "$interface"
        ip link set "$interface" up
        ;;
    bound | renew)
        ip addr flush dev "$interface"
        ip addr add "$ip/$mask" dev "$interface"
        : > /etc/resolv.conf
        for d in $dns; do
            echo "nameserver $d" >> /etc/resolv.conf
        done
        echo "cocoon-init: dhcp $1: ip=$ip/$mask dns=$dns (router $router not used)"
        ;;
esac
exit 0
