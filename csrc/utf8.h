/* Strict UTF-8 decoding shared by the tokenizers' C code (wordpiece.c, unigram.c, added.c). */
#ifndef FE_UTF8_H
#define FE_UTF8_H
#include <stdint.h>

/* Decodes one strict UTF-8 code point (no surrogates, no overlongs, <= U+10FFFF) at s, n >= 1 bytes
 * left: returns its length (1..4) and sets *cp, or 0 when s does not start with a valid one. */
static inline int fe_utf8_get(const uint8_t *s, int64_t n, uint32_t *cp) {
    uint32_t c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF && n >= 2 && (s[1] & 0xC0) == 0x80) {
        *cp = ((c & 0x1F) << 6) | (s[1] & 0x3F);
        return 2;
    }
    if (c >= 0xE0 && c <= 0xEF && n >= 3 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80) {
        uint32_t v = ((c & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        if (v < 0x800 || (v >= 0xD800 && v < 0xE000)) return 0;
        *cp = v;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4 && n >= 4 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80 &&
        (s[3] & 0xC0) == 0x80) {
        uint32_t v = ((c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) | ((uint32_t)(s[2] & 0x3F) << 6) |
                     (s[3] & 0x3F);
        if (v < 0x10000 || v > 0x10FFFF) return 0;
        *cp = v;
        return 4;
    }
    return 0;
}

/* Encodes cp (a valid scalar value) at o; returns the bytes written (1..4). */
static inline int fe_utf8_put(char *o, uint32_t cp) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* 1 when s[0:n] is strict UTF-8 (fe_utf8_get's rules), else 0. */
static inline int fe_utf8_valid(const char *s, int64_t n) {
    uint32_t cp;
    for (int64_t i = 0; i < n;) {
        int k = fe_utf8_get((const uint8_t *)s + i, n - i, &cp);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

/* Start of the code point that ends at s[n] (n > 0): the index of its lead byte. */
static inline int64_t fe_utf8_back(const char *s, int64_t n) {
    int64_t i = n - 1;
    while (i > 0 && ((uint8_t)s[i] & 0xC0) == 0x80) i--;
    return i;
}

/* Rust char::is_whitespace = Unicode White_Space (also regex \s). */
static inline int fe_is_white_space(uint32_t c) {
    return (c >= 9 && c <= 13) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}
#endif
