/* varstore: UTF-8 validation, per RFC 3629's table of well-formed byte
 * sequences. */
#include "utf8.h"

size_t vs__utf8_seq(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned char lo = 0x80, hi = 0xbf;
    size_t len, k;
    if (n == 0)
        return 0;
    if (p[0] < 0x80)
        return 1;
    if (p[0] < 0xc2 || p[0] > 0xf4)
        return 0; /* a continuation byte, an overlong lead, or too high */
    len = p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : 4;
    if (p[0] == 0xe0)
        lo = 0xa0; /* overlong */
    else if (p[0] == 0xed)
        hi = 0x9f; /* surrogates */
    else if (p[0] == 0xf0)
        lo = 0x90; /* overlong */
    else if (p[0] == 0xf4)
        hi = 0x8f; /* above U+10FFFF */
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (k = 2; k < len; k++)
        if (p[k] < 0x80 || p[k] > 0xbf)
            return 0;
    return len;
}

int vs__utf8_valid(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t l = vs__utf8_seq(s + i, n - i);
        if (l == 0)
            return 0;
        i += l;
    }
    return 1;
}
