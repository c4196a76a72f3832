/* The text forms of Kata's network messages (types.proto Interface, Route, ARPNeighbor), parsed
 * strictly: every field is checked here before it reaches the kernel (network.c) or a policy
 * rule (policy.c). Where kata-agent's Rust parsers accept more (a "+24" prefix, a truncated
 * "10/8" network), these refuse it: the test agent is at least as strict. */
#pragma once

#include <stdbool.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

/* An IPv4 or IPv6 address: family AF_INET (the first 4 bytes used) or AF_INET6. */
struct ip_addr {
    int family;
    uint8_t bytes[16];
};

/* "aa:bb:cc:dd:ee:ff": six groups of one or two hex digits (kata-agent's parse_mac_address). */
bool parse_mac(const char *s, uint8_t mac[6]);

/* An address as inet_pton reads it: dotted quad, or IPv6 text (no zone, no prefix). family is
 * AF_INET or AF_INET6, or 0 for either. */
bool parse_ip(const char *s, int family, struct ip_addr *out);

/* A prefix length: decimal digits only, at most max (32 or 128). */
bool parse_prefix(const char *s, unsigned max, unsigned *out);

/* "addr/len", or a bare "addr" meaning the whole length (/32, /128), of the given family
 * (ipnetwork's FromStr, as kata-agent parses route destinations and sources). */
bool parse_net(const char *s, int family, struct ip_addr *addr, unsigned *prefix);

/* 127.0.0.0/8, ::1, or ::ffff:127.x (an IPv4 loopback written as IPv6). */
bool ip_is_loopback(const struct ip_addr *a);

/* A name the kernel takes for a link (dev_valid_name): 1 to 15 bytes, not "." or "..", no '/',
 * ':' or white space. */
bool valid_ifname(const char *s);

/* The address as text (inet_ntop) into buf of INET6_ADDRSTRLEN bytes; returns buf. */
const char *ip_to_text(const struct ip_addr *a, char *buf);

/* The number of address bytes of a family: 4 or 16. */
static inline unsigned ip_len(int family)
{
    return family == AF_INET6 ? 16 : 4;
}
