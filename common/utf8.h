/* varstore: UTF-8 validation (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF). */
#ifndef VS_COMMON_UTF8_H
#define VS_COMMON_UTF8_H

#include <stddef.h>

/* The length (1 to 4) of the valid UTF-8 sequence s[0..n) starts with;
 * 0 when it does not start with one (or n is 0). */
size_t vs__utf8_seq(const char *s, size_t n);

/* 1 when the n bytes of s are valid UTF-8, else 0. */
int vs__utf8_valid(const char *s, size_t n);

#endif /* VS_COMMON_UTF8_H */
