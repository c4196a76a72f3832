#include "netaddr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

bool parse_mac(const char *s, uint8_t mac[6])
{
    for (int i = 0; i < 6; i++) {
        int hi = hex_digit(s[0]);
        if (hi < 0)
            return false;
        int lo = hex_digit(s[1]);
        s += lo < 0 ? 1 : 2;
        mac[i] = (uint8_t)(lo < 0 ? hi : hi * 16 + lo);
        if (*s != (i == 5 ? '\0' : ':'))
            return false;
        s++;
    }
    return true;
}

bool parse_ip(const char *s, int family, struct ip_addr *out)
{
    memset(out, 0, sizeof(*out));
    if ((family == 0 || family == AF_INET) && inet_pton(AF_INET, s, out->bytes) == 1) {
        out->family = AF_INET;
        return true;
    }
    if ((family == 0 || family == AF_INET6) && inet_pton(AF_INET6, s, out->bytes) == 1) {
        out->family = AF_INET6;
        return true;
    }
    return false;
}

bool parse_prefix(const char *s, unsigned max, unsigned *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 3 || strspn(s, "0123456789") != n)
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (unsigned)(s[i] - '0');
    if (v > max)
        return false;
    *out = v;
    return true;
}

bool parse_net(const char *s, int family, struct ip_addr *addr, unsigned *prefix)
{
    unsigned max = family == AF_INET6 ? 128 : 32;
    const char *slash = strchr(s, '/');
    _cleanup_free_ char *ip = slash ? xstrndup(s, (size_t)(slash - s)) : xstrdup(s);
    if (!parse_ip(ip, family, addr))
        return false;
    if (!slash) {
        *prefix = max;
        return true;
    }
    return parse_prefix(slash + 1, max, prefix);
}

bool ip_is_loopback(const struct ip_addr *a)
{
    static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t v6_loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (a->family == AF_INET)
        return a->bytes[0] == 127;
    if (!memcmp(a->bytes, v4_mapped, sizeof(v4_mapped)))
        return a->bytes[12] == 127;
    return !memcmp(a->bytes, v6_loopback, sizeof(v6_loopback));
}

bool valid_ifname(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 15 || !strcmp(s, ".") || !strcmp(s, ".."))
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '/' || s[i] == ':' || isspace((unsigned char)s[i]))
            return false;
    return true;
}

const char *ip_to_text(const struct ip_addr *a, char *buf)
{
    if (!inet_ntop(a->family, a->bytes, buf, INET6_ADDRSTRLEN))
        strcpy(buf, "?");
    return buf;
}
