/* Lowercase and the Unicode normal forms for the fast paths; contracts in unicode.h. The generated
 * tables are defined here, once (FE_U_TABLES_IMPL). */
#define FE_U_TABLES_IMPL
#include "unicode.h"

#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/* Hangul syllables (Unicode 3.12, algorithmic) */
enum { U_SBASE = 0xAC00, U_LBASE = 0x1100, U_VBASE = 0x1161, U_TBASE = 0x11A7, U_LCOUNT = 19, U_VCOUNT = 21,
       U_TCOUNT = 28, U_NCOUNT = 21 * 28, U_SCOUNT = 19 * 21 * 28 };

static unsigned u_ccc(uint32_t cp) {
    if (cp < 0x300 || !(fe_u_flags(cp) & FE_U_CCC_ANY)) return 0;
    int lo = 0, hi = FE_U_CCC_N;
    while (lo < hi) {
        int mid = (lo + hi) >> 1;
        if (fe_u_ccc_keys[mid] < cp) lo = mid + 1;
        else hi = mid;
    }
    return lo < FE_U_CCC_N && fe_u_ccc_keys[lo] == cp ? fe_u_ccc_vals[lo] : 0;
}

/* The canonical composite of (a, b), or 0. */
static uint32_t u_compose(uint32_t a, uint32_t b) {
    if (a >= U_LBASE && a < U_LBASE + U_LCOUNT && b >= U_VBASE && b < U_VBASE + U_VCOUNT)
        return U_SBASE + ((a - U_LBASE) * U_VCOUNT + (b - U_VBASE)) * U_TCOUNT;
    if (a >= U_SBASE && a < U_SBASE + U_SCOUNT && (a - U_SBASE) % U_TCOUNT == 0 && b > U_TBASE &&
        b < U_TBASE + U_TCOUNT)
        return a + (b - U_TBASE);
    if (!(fe_u_flags(b) & FE_U_COMP2)) return 0;
    uint64_t key = ((uint64_t)a << 21) | b;
    int lo = 0, hi = FE_U_COMP_N;
    while (lo < hi) {
        int mid = (lo + hi) >> 1;
        if (fe_u_comp_keys[mid] < key) lo = mid + 1;
        else hi = mid;
    }
    return lo < FE_U_COMP_N && fe_u_comp_keys[lo] == key ? fe_u_comp_vals[lo] : 0;
}

static int u_reserve(char **p, int64_t *cap, int64_t need) {
    if (need <= *cap) return 0;
    int64_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    char *q = (char *)realloc(*p, (size_t)c);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

/* Appends cp with canonical ordering: a non-starter moves before the non-starters of a higher class
 * ending the buffer (a stable insertion sort, as the crate's decomposition does). */
static void u_push(uint32_t *cps, int64_t *m, uint32_t cp) {
    unsigned cc = u_ccc(cp);
    int64_t i = *m;
    if (cc)
        while (i > 0) {
            unsigned prev = u_ccc(cps[i - 1]);
            if (prev <= cc || prev == 0) break;
            cps[i] = cps[i - 1];
            i--;
        }
    cps[i] = cp;
    (*m)++;
}

int fe_uni_transform(int form, const char *s, int64_t n, char **p, int64_t *len, int64_t *cap, uint32_t **cps,
                     int64_t *cps_cap) {
    if (form == FE_UNI_LOWERCASE) {
        for (int64_t i = 0; i < n;) {
            if (u_reserve(p, cap, *len + 16)) return -1;
            uint8_t c = (uint8_t)s[i];
            if (c < 0x80) {
                (*p)[(*len)++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
                i++;
                continue;
            }
            uint32_t cp = 0;
            i += fe_utf8_get((const uint8_t *)s + i, n - i, &cp);
            unsigned f = fe_u_flags(cp);
            if (f & FE_U_UNASSIGNED) return 1;
            int k = 0;
            const uint32_t *m = (f & FE_U_LOWER_MAP)
                                    ? fe_u_map(fe_u_lower_keys, fe_u_lower_offs, fe_u_lower_pool, FE_U_LOWER_N, cp, &k)
                                    : NULL;
            if (!m) *len += fe_utf8_put(*p + *len, cp);
            else
                for (int j = 0; j < k && j < 3; j++) *len += fe_utf8_put(*p + *len, m[j]);
        }
        return 0;
    }
    const int compat = form == FE_UNI_NFKD || form == FE_UNI_NFKC;
    const unsigned dmask = compat ? FE_U_NFKD_MAP : FE_U_NFD_MAP;
    /* decompositions expand at most 18 code points per code point (NFKD of U+FDFA) */
    if (*cps_cap < n * 18 + 1) {
        uint32_t *q = (uint32_t *)realloc(*cps, (size_t)(n * 18 + 1) * sizeof(uint32_t));
        if (!q) return -1;
        *cps = q;
        *cps_cap = n * 18 + 1;
    }
    uint32_t *b = *cps;
    int64_t m = 0;
    for (int64_t i = 0; i < n;) {
        uint32_t cp = 0;
        i += fe_utf8_get((const uint8_t *)s + i, n - i, &cp);
        if (cp < 0x80) {
            b[m++] = cp;
            continue;
        }
        unsigned f = fe_u_flags(cp);
        if (f & (FE_U_UNASSIGNED | FE_U_NF_DIFF)) return 1;
        if (cp >= U_SBASE && cp < U_SBASE + U_SCOUNT) {
            uint32_t k = cp - U_SBASE;
            b[m++] = U_LBASE + k / U_NCOUNT;
            b[m++] = U_VBASE + (k % U_NCOUNT) / U_TCOUNT;
            if (k % U_TCOUNT) b[m++] = U_TBASE + k % U_TCOUNT;
            continue;
        }
        int k = 0;
        const uint32_t *d = NULL;
        if (f & dmask)
            d = compat ? fe_u_map(fe_u_nfkd_keys, fe_u_nfkd_offs, fe_u_nfkd_pool, FE_U_NFKD_N, cp, &k)
                       : fe_u_map(fe_u_nfd_keys, fe_u_nfd_offs, fe_u_nfd_pool, FE_U_NFD_N, cp, &k);
        if (!d) u_push(b, &m, cp);
        else
            for (int j = 0; j < k && j < 18; j++) u_push(b, &m, d[j]);
    }
    if ((form == FE_UNI_NFC || form == FE_UNI_NFKC) && m > 1) {
        int64_t starter = 0, w = 1;
        unsigned last = u_ccc(b[0]) ? 256 : 0;
        for (int64_t r = 1; r < m; r++) {
            uint32_t c = b[r];
            unsigned cc = u_ccc(c);
            uint32_t comp = (last < cc || last == 0) ? u_compose(b[starter], c) : 0;
            if (comp && (last < cc || last == 0) && !(last == 0 && w - 1 != starter)) {
                b[starter] = comp;
                continue;
            }
            if (cc == 0) starter = w;
            last = cc;
            b[w++] = c;
        }
        m = w;
    }
    if (u_reserve(p, cap, *len + m * 4)) return -1;
    for (int64_t i = 0; i < m; i++) *len += fe_utf8_put(*p + *len, b[i]);
    return 0;
}

/* 0 White_Space, 1 \w, 2 neither, -1 unknown; *k = the code point's length. */
static int u_ws_class(const char *s, int64_t n, int *k) {
    uint32_t cp = 0;
    *k = fe_utf8_get((const uint8_t *)s, n, &cp);
    if (!*k) return -1;
    if (fe_is_white_space(cp)) return 0;
    int w = fe_uni_word(cp);
    return w < 0 ? -1 : w ? 1 : 2;
}

int fe_uni_ws_next(const char *s, int64_t n, int64_t *pos, int64_t *a, int64_t *z) {
    int64_t i = *pos;
    int k, c = 0;
    while (i < n && (c = u_ws_class(s + i, n - i, &k)) == 0) i += k;
    if (c < 0) return -1;
    if (i >= n) {
        *pos = n;
        return 0;
    }
    *a = i;
    int cls = c, c2;
    i += k;
    while (i < n && (c2 = u_ws_class(s + i, n - i, &k)) == cls) i += k;
    if (i < n && c2 < 0) return -1;
    *z = *pos = i;
    return 1;
}
