/* Unigram fast path; contracts in unigram.h, semantics in fastembed_core/_ref/unigram.py.
 *
 * Per text: (1) normalize through the ops into ping-pong scratch buffers (the Precompiled charsmap
 * is a darts-clone double-array trie over UTF-8 plus NUL-terminated replacement strings, applied
 * per code point as tokenizers applies it per grapheme cluster: texts with code points that could
 * form a multi-code-point cluster go to fallback, except CR LF which is handled); (2) pre-tokenize
 * (Metaspace, WhitespaceSplit) into word spans; (3) Viterbi per word over a double-array trie of
 * the pieces' bytes (one walk per start position finds every piece that starts there).
 */
#include "unigram.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "added.h"
#include "unicode.h"
#include "utf8.h"

#define UG_MAGIC "FEUGRAM3"
#define UG_MAXLEN 4096 /* longest piece in bytes */
#define UG_UNK_PENALTY 10.0
#define UG_MAX_UNITS ((uint64_t)1 << 30)
#define UG_FREE UINT32_MAX /* check of an unused unit */

#define UG_TERM 0x80000000u /* base flag: a piece ends at this unit */

/* One unit of the trie: what a lattice step reads, in 16 bytes (one cache line holds four). */
typedef struct {
    uint32_t base;  /* children at (base & ~UG_TERM) + byte */
    uint32_t check; /* the parent unit (UG_FREE: unused) */
    double score;   /* the score of the piece ending here (UG_TERM) */
} ug_node;

typedef struct {
    char magic[8];
    uint64_t total, n_units, cm_units, cm_norm_len, n_risky;
    int64_t n_pieces;
    int32_t unk_id, byte_fallback, maxlen, endian;
    double min_score;
    int32_t byte_ids[256];
    uint64_t off_da, off_ids, off_cm, off_cmnorm, off_risky;
} ug_header;

typedef struct {
    int kind;
    char *a, *b;
    int64_t a_len, b_len;
    int flag1, flag2;
} ug_op;

struct fe_ug {
    const ug_header *h;
    const ug_node *da;
    const int32_t *ids; /* per unit: the piece id ending there, or -1 */
    const uint32_t *cm;
    const char *cmnorm;
    const uint32_t *risky;
    ug_op *norm, *pre;
    int n_norm, n_pre;
    fe_added *added; /* the added tokens (csrc/added.c); NULL when there are none */
    uint8_t risky_bmp[0x10000 / 8]; /* BMP part of the risky set, as bits */
    int first_scheme;           /* a Metaspace(prepend_scheme="first") runs */
    uint8_t cm_plain[128];      /* ASCII bytes the charsmap maps to themselves (not CR) */
};

typedef struct {
    char *p;
    int64_t len, cap;
} ug_buf;

struct fe_ug_state {
    ug_buf b[3];
    int64_t *spans, spans_len, spans_cap;
    double *score;
    int64_t *start;
    uint32_t *nid; /* per lattice end: the unit of the best piece ending there, or UG_UNK_UNIT */
    int64_t vcap;
    int64_t *path;
    int64_t path_cap;
    int lead_removed; /* UG_LEAD_* bits: did the normalizers move the text's start off offset 0? */
    int seg_at_zero;  /* the segment being tokenized starts the text (no added token before it) */
    /* word -> ids cache (words repeat: Zipf), cleared when half full */
    struct ug_centry *cache;
    uint32_t cache_count;
    ug_buf ckeys;
    int32_t *cids;
    int64_t cids_len, cids_cap;
    fe_added_match *am[2]; /* added-token matches: in the text [0], in a normalized segment [1] */
    int64_t am_cap[2];
    ug_buf seg; /* a normalized segment split by normalized added tokens */
    uint32_t *cps; /* code points of a Unicode normal form being built */
    int64_t cps_cap;
};

typedef struct ug_centry {
    uint32_t hash, key_off, key_len, ids_off, n_ids; /* key_len == 0: empty */
} ug_centry;

#define UG_CACHE_SLOTS (1u << 15)
#define UG_CACHE_MAX_WORD 48

/* ---------------------------------------------------------------- small helpers */

/* Hash of s[0:n] for the in-memory word cache: 8 bytes per multiply, then a final mix. */
static inline uint32_t ug_hash(const char *s, int64_t n) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)n, v;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&v, s + i, 8);
        h = (h ^ v) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
    }
    for (v = 0; i < n; i++) v = (v << 8) | (uint8_t)s[i];
    h = (h ^ v) * 0x94d049bb133111ebull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return (uint32_t)(h ^ (h >> 32));
}

static int ug_reserve(ug_buf *b, int64_t extra) {
    if (b->len + extra <= b->cap) return 0;
    int64_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    char *p = (char *)realloc(b->p, (size_t)cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int ug_put(ug_buf *b, const char *s, int64_t n) {
    if (ug_reserve(b, n)) return -1;
    if (n) memcpy(b->p + b->len, s, (size_t)n);
    b->len += n;
    return 0;
}

/* ---------------------------------------------------------------- the piece table */

/* A double-array trie over the pieces' UTF-8 bytes: the child of node x by byte c is unit
 * p = base(x) + c when check(p) == x; the root is unit 0; a unit's id is the piece ending there.
 * Nothing read from a blob is trusted: every unit index is checked against n_units and every id
 * against n_pieces where it is used (a blob is not scanned at open, so only the pages used are read). */

/* The piece id at unit x (< n_units), or -1. */
static inline int64_t ug_unit_id(const int32_t *ids, int64_t n_pieces, uint64_t x) {
    int32_t id = ids[x];
    return id >= 0 && id < n_pieces ? id : -1;
}

/* The unit of s[0:n], or -1 (no piece or prefix of a piece). */
static int64_t ug_walk(const ug_node *da, uint64_t n_units, const char *s, int64_t n) {
    uint64_t x = 0;
    for (int64_t i = 0; i < n; i++) {
        uint64_t p = (uint64_t)(da[x].base & ~UG_TERM) + (uint8_t)s[i];
        if (p >= n_units || da[p].check != x) return -1;
        x = p;
    }
    return (int64_t)x;
}

typedef struct {
    const uint8_t *p;
    uint32_t len;
    int32_t id;
} ug_key;

static int ug_key_cmp(const void *a, const void *b) { /* bytes, then shorter first, then id */
    const ug_key *x = (const ug_key *)a, *y = (const ug_key *)b;
    int c = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* The trie under construction: units, and the free ones (check UG_FREE) in a doubly linked list
 * in index order (UG_END terminates it). A free unit that failed too many placements leaves the
 * list (it stays unused), which bounds the search. */
#define UG_END UINT32_MAX
#define UG_GAVE_UP 255
typedef struct {
    uint32_t base, check;
    int32_t id;
} ug_bnode;

typedef struct {
    ug_bnode *da;
    uint32_t *next, *prev;
    uint8_t *fails;
    uint64_t cap, head, tail, top; /* top: 1 + the highest unit in use */
} ug_dab;

static void ug_dab_unlink(ug_dab *b, uint64_t p) {
    uint32_t nx = b->next[p], pv = b->prev[p];
    if (pv == UG_END) b->head = nx;
    else b->next[pv] = nx;
    if (nx == UG_END) b->tail = pv;
    else b->prev[nx] = pv;
}

static int ug_dab_grow(ug_dab *b, uint64_t need) {
    if (need <= b->cap) return 0;
    uint64_t cap = b->cap ? b->cap : 1024;
    while (cap < need) cap *= 2;
    if (cap > UG_MAX_UNITS) return -1;
    ug_bnode *da = (ug_bnode *)realloc(b->da, cap * sizeof(ug_bnode));
    if (da) b->da = da;
    uint32_t *nx = (uint32_t *)realloc(b->next, cap * 4);
    if (nx) b->next = nx;
    uint32_t *pv = (uint32_t *)realloc(b->prev, cap * 4);
    if (pv) b->prev = pv;
    uint8_t *f = (uint8_t *)realloc(b->fails, cap);
    if (f) b->fails = f;
    if (!da || !nx || !pv || !f) return -1;
    for (uint64_t p = b->cap; p < cap; p++) { /* append [old cap, cap) to the free list */
        b->da[p] = (ug_bnode){0, UG_FREE, -1};
        b->next[p] = p + 1 < cap ? (uint32_t)(p + 1) : UG_END;
        b->prev[p] = p > b->cap ? (uint32_t)(p - 1) : (uint32_t)b->tail;
        b->fails[p] = 0;
    }
    if (b->tail == UG_END) b->head = b->cap;
    else b->next[b->tail] = (uint32_t)b->cap;
    b->tail = cap - 1;
    b->cap = cap;
    return 0;
}

static int ug_dab_take(ug_dab *b, uint64_t p, uint32_t parent) {
    if (ug_dab_grow(b, p + 1)) return -1;
    if (b->fails[p] != UG_GAVE_UP) ug_dab_unlink(b, p);
    b->da[p] = (ug_bnode){0, parent, -1};
    if (p + 1 > b->top) b->top = p + 1;
    return 0;
}

/* The lowest base (from the free list) at which every label's unit is free; -1 out of memory. */
static int64_t ug_dab_base(ug_dab *b, const uint8_t *labels, int k) {
    for (;;) {
        if (b->head == UG_END && ug_dab_grow(b, b->cap + 1)) return -1;
        for (uint64_t p = b->head; p != UG_END;) {
            uint64_t nx = b->next[p];
            if (p >= labels[0]) {
                uint64_t base = p - labels[0];
                int ok = 1;
                for (int j = 1; j < k && ok; j++)
                    ok = base + labels[j] >= b->cap || b->da[base + labels[j]].check == UG_FREE;
                if (ok) return (int64_t)base;
                if (++b->fails[p] >= 32) { /* give up on this unit: it leaves the list, unused */
                    ug_dab_unlink(b, p);
                    b->fails[p] = UG_GAVE_UP;
                }
            }
            p = nx;
        }
        if (ug_dab_grow(b, b->cap * 2)) return -1; /* no room: a free tail always fits */
    }
}

#ifndef UG_BFS_DEPTH
#define UG_BFS_DEPTH 4
#endif

/* Builds the trie of keys[0:n] (sorted, distinct) into b; 0 or -1 (out of memory / too large).
 * Layout: the nodes of depth < UG_BFS_DEPTH breadth first (the levels every walk reads stay
 * together, in few cache lines), then each deeper subtree depth first (a walk's path stays close). */
static int ug_dab_build(ug_dab *b, const ug_key *keys, int64_t n) {
    typedef struct {
        uint32_t unit, lo, hi, depth;
    } item;
    int64_t cap = 256, qhead = 0, qtail = 0, scap = 256, sp = 0;
    item *queue = (item *)malloc((size_t)cap * sizeof(item)), *stack = (item *)malloc((size_t)scap * sizeof(item));
    int rc = -1;
    if (!queue || !stack || ug_dab_grow(b, 1024)) goto done;
    ug_dab_unlink(b, 0); /* the root */
    b->da[0] = (ug_bnode){0, UG_FREE - 1, -1};
    b->top = 1;
    queue[qtail++] = (item){0, 0, (uint32_t)n, 0};
    uint8_t labels[256];
    uint32_t from[257];
    while (qhead < qtail || sp > 0) {
        item it = qhead < qtail ? queue[qhead++] : stack[--sp];
        uint32_t lo = it.lo;
        if (lo < it.hi && keys[lo].len == it.depth) b->da[it.unit].id = keys[lo++].id;
        if (lo == it.hi) continue;
        int k = 0;
        for (uint32_t i = lo; i < it.hi; i++) {
            uint8_t c = keys[i].p[it.depth];
            if (k == 0 || labels[k - 1] != c) {
                labels[k] = c;
                from[k++] = i;
            }
        }
        from[k] = it.hi;
        int64_t base = ug_dab_base(b, labels, k);
        if (base < 0) goto done;
        int fail = 0;
        for (int j = 0; j < k; j++) fail |= ug_dab_take(b, (uint64_t)base + labels[j], it.unit);
        if (fail) goto done;
        b->da[it.unit].base = (uint32_t)base;
        if (it.depth + 1 < UG_BFS_DEPTH) {
            if (qtail + k > cap) {
                item *q2 = (item *)realloc(queue, (size_t)(cap = 2 * cap + k) * sizeof(item));
                if (!q2) goto done;
                queue = q2;
            }
            for (int j = 0; j < k; j++)
                queue[qtail++] = (item){(uint32_t)base + labels[j], from[j], from[j + 1], it.depth + 1};
        } else {
            if (sp + k > scap) {
                item *s2 = (item *)realloc(stack, (size_t)(scap = 2 * scap + k) * sizeof(item));
                if (!s2) goto done;
                stack = s2;
            }
            for (int j = k - 1; j >= 0; j--) /* lowest label first */
                stack[sp++] = (item){(uint32_t)base + labels[j], from[j], from[j + 1], it.depth + 1};
        }
    }
    rc = 0;
done:
    free(queue);
    free(stack);
    return rc;
}

static int64_t ug_align(int64_t x) { return (x + 7) & ~(int64_t)7; }

int fe_ug_build(const char *pieces, const int64_t *offs, const double *scores, int64_t n, int32_t unk_id,
                int byte_fallback, const uint8_t *charsmap, int64_t charsmap_len, const uint32_t *risky,
                int64_t n_risky, uint8_t **blob, int64_t *blob_len) {
    *blob = NULL;
    *blob_len = 0;
    if (n < 0 || n > INT32_MAX || unk_id >= n || n_risky < 0 || charsmap_len < 0) return -2;
    int64_t maxlen = 0;
    for (int64_t k = 0; k < n; k++) {
        int64_t len = offs[k + 1] - offs[k];
        if (len <= 0 || len > UG_MAXLEN || !fe_utf8_valid(pieces + offs[k], len)) return -2;
        if (len > maxlen) maxlen = len;
    }
    uint64_t cm_units = 0, cm_norm_len = 0;
    if (charsmap_len) {
        if (charsmap_len < 4) return -3;
        uint32_t trie_bytes = (uint32_t)charsmap[0] | ((uint32_t)charsmap[1] << 8) | ((uint32_t)charsmap[2] << 16) |
                              ((uint32_t)charsmap[3] << 24);
        if (trie_bytes % 4 || (int64_t)trie_bytes > charsmap_len - 4 || trie_bytes == 0) return -3;
        cm_units = trie_bytes / 4;
        cm_norm_len = (uint64_t)(charsmap_len - 4 - trie_bytes);
    }
    /* Sort the pieces; of duplicates the last wins (tokenizers' token_to_ids map). */
    ug_key *keys = (ug_key *)malloc((size_t)(n > 0 ? n : 1) * sizeof(ug_key));
    if (!keys) return -1;
    for (int64_t k = 0; k < n; k++)
        keys[k] = (ug_key){(const uint8_t *)pieces + offs[k], (uint32_t)(offs[k + 1] - offs[k]), (int32_t)k};
    qsort(keys, (size_t)n, sizeof(ug_key), ug_key_cmp);
    int64_t m = 0;
    for (int64_t k = 0; k < n; k++) {
        if (k + 1 < n && keys[k].len == keys[k + 1].len && memcmp(keys[k].p, keys[k + 1].p, keys[k].len) == 0)
            continue;
        keys[m++] = keys[k];
    }
    ug_dab dab = {NULL, NULL, NULL, NULL, 0, UG_END, UG_END, 0};
    int rc = ug_dab_build(&dab, keys, m);
    free(keys);
    free(dab.next);
    free(dab.prev);
    free(dab.fails);
    if (rc) {
        free(dab.da);
        return -1;
    }
    uint64_t n_units = dab.top;
    ug_header hd;
    memset(&hd, 0, sizeof hd);
    memcpy(hd.magic, UG_MAGIC, 8);
    int64_t at = ug_align((int64_t)sizeof hd);
    hd.off_da = (uint64_t)at;
    at = ug_align(at + (int64_t)(n_units * sizeof(ug_node)));
    hd.off_ids = (uint64_t)at;
    at = ug_align(at + (int64_t)n_units * 4);
    hd.off_cm = (uint64_t)at;
    at = ug_align(at + (int64_t)cm_units * 4);
    hd.off_risky = (uint64_t)at;
    at = ug_align(at + n_risky * 8);
    hd.off_cmnorm = (uint64_t)at;
    at = ug_align(at + (int64_t)cm_norm_len + 1);
    hd.total = (uint64_t)at;
    hd.n_units = n_units;
    hd.cm_units = cm_units;
    hd.cm_norm_len = cm_norm_len;
    hd.n_risky = (uint64_t)n_risky;
    hd.n_pieces = n;
    hd.unk_id = unk_id < 0 ? -1 : unk_id;
    hd.byte_fallback = byte_fallback ? 1 : 0;
    hd.maxlen = (int32_t)maxlen;
    hd.endian = 0x01020304;
    uint8_t *b = (uint8_t *)calloc(1, (size_t)at);
    if (!b) {
        free(dab.da);
        return -1;
    }
    ug_node *da = (ug_node *)(b + hd.off_da);
    int32_t *ids = (int32_t *)(b + hd.off_ids);
    for (uint64_t x = 0; x < n_units; x++) {
        ug_bnode u = dab.da[x];
        da[x] = (ug_node){u.base | (u.id >= 0 ? UG_TERM : 0), u.check, u.id >= 0 ? scores[u.id] : 0.0};
        ids[x] = u.id;
    }
    free(dab.da);
    double min_score = INFINITY;
    for (int64_t k = 0; k < n; k++)
        if (scores[k] < min_score) min_score = scores[k];
    hd.min_score = min_score;
    for (int c = 0; c < 256; c++) {
        static const char hex[] = "0123456789ABCDEF";
        char key[6] = {'<', '0', 'x', hex[c >> 4], hex[c & 15], '>'};
        int64_t x = ug_walk(da, n_units, key, 6);
        hd.byte_ids[c] = x < 0 ? -1 : (int32_t)ug_unit_id(ids, n, (uint64_t)x);
    }
    uint32_t *cm = (uint32_t *)(b + hd.off_cm);
    for (uint64_t i = 0; i < cm_units; i++) {
        const uint8_t *u = charsmap + 4 + 4 * i;
        cm[i] = (uint32_t)u[0] | ((uint32_t)u[1] << 8) | ((uint32_t)u[2] << 16) | ((uint32_t)u[3] << 24);
    }
    if (cm_norm_len) memcpy(b + hd.off_cmnorm, charsmap + 4 + cm_units * 4, cm_norm_len);
    if (n_risky) memcpy(b + hd.off_risky, risky, (size_t)n_risky * 8);
    memcpy(b, &hd, sizeof hd);
    *blob = b;
    *blob_len = at;
    return 0;
}

static int ug_section_ok(const ug_header *h, uint64_t off, uint64_t size) {
    return off % 8 == 0 && off >= sizeof(ug_header) && off <= h->total && size <= h->total - off;
}

int fe_ug_check(const uint8_t *blob, int64_t len) {
    if (!blob || len < (int64_t)sizeof(ug_header) || ((uintptr_t)blob & 7)) return -1;
    const ug_header *h = (const ug_header *)blob;
    if (memcmp(h->magic, UG_MAGIC, 8) || h->endian != 0x01020304 || h->total != (uint64_t)len) return -2;
    if (h->n_pieces < 0 || h->n_pieces > INT32_MAX || h->n_units < 1 || h->n_units > UG_MAX_UNITS ||
        h->maxlen < 0 || h->maxlen > UG_MAXLEN || h->unk_id < -1 || h->unk_id >= h->n_pieces ||
        h->cm_units > ((uint64_t)1 << 40) || h->n_risky > ((uint64_t)1 << 40) || h->cm_norm_len > ((uint64_t)1 << 40))
        return -3;
    if (!ug_section_ok(h, h->off_da, h->n_units * sizeof(ug_node)) ||
        !ug_section_ok(h, h->off_ids, h->n_units * 4) || !ug_section_ok(h, h->off_cm, h->cm_units * 4) ||
        !ug_section_ok(h, h->off_risky, h->n_risky * 8) || !ug_section_ok(h, h->off_cmnorm, h->cm_norm_len + 1))
        return -4;
    for (int c = 0; c < 256; c++)
        if (h->byte_ids[c] < -1 || h->byte_ids[c] >= h->n_pieces) return -5;
    if (blob[h->off_cmnorm + h->cm_norm_len] != 0) return -8; /* the replacements end with a NUL */
    return 0;
}

/* ---------------------------------------------------------------- open / free */

static int ug_cm_lookup(const fe_ug *ug, const uint8_t *s, int64_t n, const char **rep, int64_t *rep_len);

static int ug_is_risky(const fe_ug *ug, uint32_t cp) {
    if (cp < 0x10000) return (ug->risky_bmp[cp >> 3] >> (cp & 7)) & 1;
    int64_t lo = 0, hi = (int64_t)ug->h->n_risky - 1;
    while (lo <= hi) {
        int64_t mid = (lo + hi) / 2;
        if (cp < ug->risky[2 * mid]) hi = mid - 1;
        else if (cp > ug->risky[2 * mid + 1]) lo = mid + 1;
        else return 1;
    }
    return 0;
}

static void ug_free_ops(ug_op *ops, int n) {
    if (!ops) return;
    for (int i = 0; i < n; i++) {
        free(ops[i].a);
        free(ops[i].b);
    }
    free(ops);
}

static ug_op *ug_copy_ops(const fe_ug_op *src, int n) {
    ug_op *ops = (ug_op *)calloc((size_t)(n > 0 ? n : 1), sizeof(ug_op));
    if (!ops) return NULL;
    for (int i = 0; i < n; i++) {
        ops[i].kind = src[i].kind;
        ops[i].flag1 = src[i].flag1;
        ops[i].flag2 = src[i].flag2;
        ops[i].a_len = src[i].a_len;
        ops[i].b_len = src[i].b_len;
        ops[i].a = (char *)malloc((size_t)src[i].a_len + 1);
        ops[i].b = (char *)malloc((size_t)src[i].b_len + 1);
        if (!ops[i].a || !ops[i].b || src[i].a_len < 0 || src[i].b_len < 0) {
            ug_free_ops(ops, i + 1);
            return NULL;
        }
        if (src[i].a_len) memcpy(ops[i].a, src[i].a, (size_t)src[i].a_len);
        if (src[i].b_len) memcpy(ops[i].b, src[i].b, (size_t)src[i].b_len);
    }
    return ops;
}

fe_ug *fe_ug_open(const uint8_t *blob, int64_t blob_len, const fe_ug_op *norm, int n_norm, const fe_ug_op *pre,
                  int n_pre, const char *added_blob, const int64_t *added_offs, const uint8_t *added_flags,
                  const int32_t *added_ids, int64_t n_added) {
    if (fe_ug_check(blob, blob_len) || n_norm < 0 || n_pre < 0 || n_added < 0) return NULL;
    for (int i = 0; i < n_norm; i++)
        if (norm[i].kind < FE_UG_N_PRECOMPILED || norm[i].kind > FE_UG_N_NFKC) return NULL;
    for (int i = 0; i < n_pre; i++)
        if (pre[i].kind != FE_UG_P_METASPACE && pre[i].kind != FE_UG_P_WSSPLIT && pre[i].kind != FE_UG_P_WHITESPACE)
            return NULL;
    for (int i = 0; i < n_pre; i++) /* Metaspace needs a replacement; First only as the first op */
        if (pre[i].kind == FE_UG_P_METASPACE && (pre[i].a_len <= 0 || (pre[i].flag1 == 1 && i > 0))) return NULL;
    for (int i = 0; i < n_norm; i++)
        if ((norm[i].kind == FE_UG_N_REPLACE || norm[i].kind == FE_UG_N_START) && norm[i].a_len <= 0) return NULL;
    fe_ug *ug = (fe_ug *)calloc(1, sizeof(fe_ug));
    if (!ug) return NULL;
    const ug_header *h = (const ug_header *)blob;
    ug->h = h;
    ug->da = (const ug_node *)(blob + h->off_da);
    ug->ids = (const int32_t *)(blob + h->off_ids);
    ug->cm = (const uint32_t *)(blob + h->off_cm);
    ug->cmnorm = (const char *)(blob + h->off_cmnorm);
    ug->risky = (const uint32_t *)(blob + h->off_risky);
    for (uint64_t r = 0; r < h->n_risky; r++)
        for (uint32_t c = ug->risky[2 * r]; c <= ug->risky[2 * r + 1] && c < 0x10000; c++)
            ug->risky_bmp[c >> 3] |= (uint8_t)(1u << (c & 7));
    for (int i = 0; i < n_pre; i++) ug->first_scheme |= pre[i].kind == FE_UG_P_METASPACE && pre[i].flag1 == 1;
    for (int c = 0; c < 128; c++) {
        uint8_t b = (uint8_t)c;
        const char *rep;
        int64_t rep_len;
        ug->cm_plain[c] = c != '\r' && ug_cm_lookup(ug, &b, 1, &rep, &rep_len) == 0;
    }
    ug->norm = ug_copy_ops(norm, n_norm);
    ug->pre = ug_copy_ops(pre, n_pre);
    if (!ug->norm || !ug->pre ||
        (n_added && !(ug->added = fe_added_new(added_blob, added_offs, added_flags, added_ids, n_added)))) {
        fe_ug_free(ug);
        return NULL;
    }
    ug->n_norm = n_norm;
    ug->n_pre = n_pre;
    return ug;
}

void fe_ug_free(fe_ug *ug) {
    if (!ug) return;
    ug_free_ops(ug->norm, ug->n_norm);
    ug_free_ops(ug->pre, ug->n_pre);
    fe_added_free(ug->added);
    free(ug);
}

fe_ug_state *fe_ug_state_new(void) { return (fe_ug_state *)calloc(1, sizeof(fe_ug_state)); }

void fe_ug_state_free(fe_ug_state *st) {
    if (!st) return;
    for (int i = 0; i < 3; i++) free(st->b[i].p);
    free(st->spans);
    free(st->score);
    free(st->start);
    free(st->nid);
    free(st->path);
    free(st->cache);
    free(st->ckeys.p);
    free(st->cids);
    free(st->am[0]);
    free(st->am[1]);
    free(st->seg.p);
    free(st->cps);
    free(st);
}

/* ---------------------------------------------------------------- normalization */

/* The replacement of the shortest charsmap key that is a prefix of s[0:n] (darts-clone
 * common-prefix search, first result). 1 found (*rep, *rep_len), 0 none, -1 an entry out of range
 * or not UTF-8 (tokenizers would fail: fallback). */
static int ug_cm_lookup(const fe_ug *ug, const uint8_t *s, int64_t n, const char **rep, int64_t *rep_len) {
    uint64_t units = ug->h->cm_units, pos = 0;
    if (!units) return 0;
#define UG_OFFSET(u) (((u) >> 10) << (((u) & (1u << 9)) >> 6))
    uint32_t unit = ug->cm[0];
    pos ^= UG_OFFSET(unit);
    for (int64_t i = 0; i < n; i++) {
        if (s[i] == 0) return 0;
        pos ^= s[i];
        if (pos >= units) return -1;
        unit = ug->cm[pos];
        if ((unit & (0x80000000u | 0xFFu)) != s[i]) return 0;
        pos ^= UG_OFFSET(unit);
        if ((unit >> 8) & 1) {
            if (pos >= units) return -1;
            uint64_t v = ug->cm[pos] & 0x7FFFFFFFu;
            if (v >= ug->h->cm_norm_len) return -1;
            const char *r = ug->cmnorm + v;
            int64_t len = (int64_t)strlen(r); /* the section ends with a NUL (checked) */
            if (!fe_utf8_valid(r, len)) return -1;
            *rep = r;
            *rep_len = len;
            return 1;
        }
    }
#undef UG_OFFSET
    return 0;
}

/* Metaspace(prepend_scheme="first") prepends only when the normalized text still starts at original
 * offset 0. Removing leading original characters (Replace with "", Strip) moves it (CUT); a
 * replacement emitted at the start keeps it at 0 (TOUCHED), and what a later removal then does
 * depends on alignments not tracked here (UNSURE: such texts go to tokenizers). */
enum { UG_LEAD_CUT = 1, UG_LEAD_TOUCHED = 2, UG_LEAD_UNSURE = 4 };

static void ug_lead_cut(int *lr) {
    if (!(*lr & UG_LEAD_CUT)) *lr |= (*lr & UG_LEAD_TOUCHED) ? UG_LEAD_UNSURE : UG_LEAD_CUT;
}

/* Precompiled: returns 0, 1 fallback, -1 OOM. */
static int ug_precompiled(const fe_ug *ug, const char *s, int64_t n, ug_buf *o, int *lr) {
    const uint8_t *u = (const uint8_t *)s;
    for (int64_t i = 0; i < n;) {
        int64_t j = i; /* a run of ASCII the charsmap leaves as it is: one copy */
        while (j < n && u[j] < 0x80 && ug->cm_plain[u[j]]) j++;
        if (j > i && ug_put(o, s + i, j - i)) return -1;
        if ((i = j) == n) break;
        uint32_t cp;
        int k = fe_utf8_get(u + i, n - i, &cp);
        if (!k) return 1;
        if (cp >= 0x80 && ug_is_risky(ug, cp)) return 1;
        if (cp == '\r' && i + 1 < n && u[i + 1] == '\n') k = 2; /* one grapheme cluster */
        const char *rep;
        int64_t rep_len;
        int r = ug_cm_lookup(ug, u + i, k, &rep, &rep_len);
        if (r < 0) return 1;
        if (r == 0 && k == 2 && cp == '\r') { /* no key is a prefix of "\r\n": per code point */
            if (ug_put(o, "\r", 1)) return -1;
            r = ug_cm_lookup(ug, u + i + 1, 1, &rep, &rep_len);
            if (r < 0) return 1;
            i++;
            k = 1;
        }
        if (r == 1 && o->len == 0) *lr |= UG_LEAD_TOUCHED;
        if (r == 1 ? ug_put(o, rep, rep_len) : ug_put(o, s + i, k)) return -1;
        i += k;
    }
    return 0;
}

/* The first i >= from with s[i:i+len] == a (len > 0), or n. */
static int64_t ug_find_lit(const char *s, int64_t n, int64_t from, const char *a, int64_t len) {
    while (from + len <= n) {
        const char *c = (const char *)memchr(s + from, a[0], (size_t)(n - len + 1 - from));
        if (!c) break;
        from = c - s;
        if (memcmp(c, a, (size_t)len) == 0) return from;
        from++;
    }
    return n;
}

static int ug_replace(const char *s, int64_t n, const ug_op *op, ug_buf *o, int *lead_removed) {
    for (int64_t i = 0; i < n;) {
        int64_t j = ug_find_lit(s, n, i, op->a, op->a_len);
        if (j > i && ug_put(o, s + i, j - i)) return -1; /* the run before the next match */
        if (j == n) break;
        if (o->len == 0) op->b_len ? (void)(*lead_removed |= UG_LEAD_TOUCHED) : ug_lead_cut(lead_removed);
        if (ug_put(o, op->b, op->b_len)) return -1;
        i = j + op->a_len;
    }
    return 0;
}

static int ug_multispace(const char *s, int64_t n, const ug_op *op, ug_buf *o, int *lead_removed) {
    for (int64_t i = 0; i < n;) {
        int64_t j = ug_find_lit(s, n, i, "  ", 2), k = j; /* the next run of >= 2 spaces: [j, k) */
        if (j > i && ug_put(o, s + i, j - i)) return -1;
        if (j == n) break;
        while (k < n && s[k] == ' ') k++;
        if (o->len == 0) op->b_len ? (void)(*lead_removed |= UG_LEAD_TOUCHED) : ug_lead_cut(lead_removed);
        if (ug_put(o, op->b, op->b_len)) return -1;
        i = k;
    }
    return 0;
}

static int ug_edgespace(const char *s, int64_t n, const ug_op *op, ug_buf *o, int *lead_removed) {
    int64_t a = 0, z = n;
    while (a < n && s[a] == ' ') a++;
    if (a == n) return n ? ug_put(o, op->b, op->b_len) : 0;
    while (z > a && s[z - 1] == ' ') z--;
    if (a && ug_put(o, op->b, op->b_len)) return -1;
    if (a) op->b_len ? (void)(*lead_removed |= UG_LEAD_TOUCHED) : ug_lead_cut(lead_removed);
    if (ug_put(o, s + a, z - a)) return -1;
    if (z < n && ug_put(o, op->b, op->b_len)) return -1;
    return 0;
}

static int64_t ug_space_len(const char *s, int64_t n) { /* bytes of a leading White_Space char, 0 if none */
    uint32_t cp;
    int k = fe_utf8_get((const uint8_t *)s, n, &cp);
    return k && fe_is_white_space(cp) ? k : 0;
}

static int64_t ug_space_len_back(const char *s, int64_t n) { /* trailing White_Space char */
    int64_t i = n - 1;
    while (i > 0 && ((uint8_t)s[i] & 0xC0) == 0x80) i--;
    return i >= 0 && ug_space_len(s + i, n - i) == n - i ? n - i : 0;
}

static int ug_strip(const char *s, int64_t n, const ug_op *op, ug_buf *o, int *lead_removed) {
    int64_t a = 0, z = n, k;
    if (op->flag1)
        while (a < z && (k = ug_space_len(s + a, z - a))) a += k;
    if (op->flag2)
        while (z > a && (k = ug_space_len_back(s + a, z - a))) z -= k;
    if (a) ug_lead_cut(lead_removed);
    return ug_put(o, a ? s + a : s, z - a); /* s may be NULL when n == 0: no NULL + 0 (UB) */
}

/* Normalizes text into st->b[result]; returns the buffer index, -2 fallback, -1 OOM. */
static int ug_normalize(const fe_ug *ug, fe_ug_state *st, const char *text, int64_t len) {
    const char *cur = text;
    int64_t cur_len = len;
    int which = -1, *lr = &st->lead_removed;
    *lr = 0;
    for (int i = 0; i < ug->n_norm; i++) {
        const ug_op *op = &ug->norm[i];
        int dst = which == 0 ? 1 : 0;
        ug_buf *o = &st->b[dst];
        o->len = 0;
        int rc = 0;
        switch (op->kind) {
        case FE_UG_N_PRECOMPILED: rc = ug_precompiled(ug, cur, cur_len, o, lr); break;
        case FE_UG_N_REPLACE: rc = ug_replace(cur, cur_len, op, o, lr); break;
        case FE_UG_N_MULTISPACE: rc = ug_multispace(cur, cur_len, op, o, lr); break;
        case FE_UG_N_EDGESPACE: rc = ug_edgespace(cur, cur_len, op, o, lr); break;
        case FE_UG_N_START:
            if (cur_len >= op->a_len && memcmp(cur, op->a, (size_t)op->a_len) == 0) {
                rc = ug_put(o, op->b, op->b_len) || ug_put(o, cur + op->a_len, cur_len - op->a_len) ? -1 : 0;
                op->b_len ? (void)(*lr |= UG_LEAD_TOUCHED) : ug_lead_cut(lr);
            }
            else rc = ug_put(o, cur, cur_len);
            break;
        case FE_UG_N_STRIP: rc = ug_strip(cur, cur_len, op, o, lr); break;
        case FE_UG_N_LOWERCASE:
        case FE_UG_N_NFD:
        case FE_UG_N_NFKD:
        case FE_UG_N_NFC:
        case FE_UG_N_NFKC: {
            static const int form[] = {FE_UNI_LOWERCASE, FE_UNI_NFD, FE_UNI_NFKD, FE_UNI_NFC, FE_UNI_NFKC};
            rc = fe_uni_transform(form[op->kind - FE_UG_N_LOWERCASE], cur, cur_len, &o->p, &o->len, &o->cap, &st->cps,
                                  &st->cps_cap);
            uint32_t c0 = 0, c1 = 0; /* a rewritten first character: see UG_LEAD_TOUCHED */
            if (!rc && cur_len && o->len && (fe_utf8_get((const uint8_t *)cur, cur_len, &c0) !=
                                                 fe_utf8_get((const uint8_t *)o->p, o->len, &c1) || c0 != c1))
                *lr |= UG_LEAD_TOUCHED;
            break;
        }
        case FE_UG_N_PREPEND:
            rc = cur_len ? (ug_put(o, op->a, op->a_len) || ug_put(o, cur, cur_len) ? -1 : 0) : 0;
            if (cur_len) *lr |= UG_LEAD_TOUCHED;
            break;
        default: return -2;
        }
        if (rc < 0) return -1;
        if (rc > 0) return -2;
        which = dst;
        cur = o->p;
        cur_len = o->len;
    }
    if (which < 0) {
        st->b[0].len = 0;
        if (ug_put(&st->b[0], text, len)) return -1;
        which = 0;
    }
    return which;
}

/* ---------------------------------------------------------------- pre-tokenization */

static int ug_span(fe_ug_state *st, int64_t a, int64_t z) {
    if (st->spans_len + 2 > st->spans_cap) {
        int64_t cap = st->spans_cap ? st->spans_cap * 2 : 64;
        int64_t *p = (int64_t *)realloc(st->spans, (size_t)cap * sizeof(int64_t));
        if (!p) return -1;
        st->spans = p;
        st->spans_cap = cap;
    }
    st->spans[st->spans_len++] = a;
    st->spans[st->spans_len++] = z;
    return 0;
}

/* One op on segment s[0:n] (at original offset 0 when first), appending words to o + spans.
 * 0, -1 OOM, -2 fallback. */
static int ug_pre_one(const ug_op *op, const char *s, int64_t n, int first, ug_buf *o, fe_ug_state *st) {
    if (op->kind == FE_UG_P_WHITESPACE) {
        int64_t pos = 0, a, z;
        int r;
        while ((r = fe_uni_ws_next(s, n, &pos, &a, &z)) > 0) {
            int64_t at = o->len;
            if (ug_put(o, s + a, z - a) || ug_span(st, at, o->len)) return -1;
        }
        return r < 0 ? -2 : 0;
    }
    if (op->kind == FE_UG_P_WSSPLIT) {
        for (int64_t i = 0; i < n;) {
            int64_t k = ug_space_len(s + i, n - i);
            if (k) {
                i += k;
                continue;
            }
            int64_t j = i;
            uint32_t cp;
            while (j < n && !ug_space_len(s + j, n - j)) j += fe_utf8_get((const uint8_t *)s + j, n - j, &cp);
            int64_t at = o->len;
            if (ug_put(o, s + i, j - i) || ug_span(st, at, o->len)) return -1;
            i = j;
        }
        return 0;
    }
    /* Metaspace */
    int64_t at = o->len;
    /* tokenizers replaces ' ' first, then prepends unless the result starts with the replacement */
    int starts = (n > 0 && s[0] == ' ') || (n >= op->a_len && memcmp(s, op->a, (size_t)op->a_len) == 0);
    int prepend = n > 0 && (op->flag1 == 0 || (op->flag1 == 1 && first)) && !starts;
    if (prepend && ug_put(o, op->a, op->a_len)) return -1;
    /* split (MergedWithNext) before every replacement but one that starts the word: when the
     * replacement's first byte is in neither s nor the rest of the replacement, the replacements are
     * exactly those written here for ' ' (direct); otherwise the output is searched afterwards. */
    int direct = op->flag2 && !memchr(op->a + 1, op->a[0], (size_t)op->a_len - 1) &&
                 (n == 0 || !memchr(s, op->a[0], (size_t)n));
    int64_t w = at;
    for (int64_t i = 0; i < n;) { /* runs without ' ', each ' ' as the replacement */
        const char *sp = (const char *)memchr(s + i, ' ', (size_t)(n - i));
        int64_t j = sp ? sp - s : n;
        if (j > i && ug_put(o, s + i, j - i)) return -1;
        if (j == n) break;
        if (direct && o->len > w) {
            if (ug_span(st, w, o->len)) return -1;
            w = o->len;
        }
        if (ug_put(o, op->a, op->a_len)) return -1;
        i = j + 1;
    }
    int64_t end = o->len;
    if (!op->flag2) return end > at ? ug_span(st, at, end) : 0;
    if (direct) return end > w ? ug_span(st, w, end) : 0;
    for (int64_t i = at; (i = ug_find_lit(o->p, end, i, op->a, op->a_len)) < end; i += op->a_len) {
        if (i > w) {
            if (ug_span(st, w, i)) return -1;
            w = i;
        }
    }
    return end > w ? ug_span(st, w, end) : 0;
}

/* Pre-tokenizes norm[0:n] into words: returns the buffer index holding them (spans in st), -1 OOM,
 * -2 fallback. */
static int ug_pretokenize(const fe_ug *ug, fe_ug_state *st, int src, int64_t n) {
    st->spans_len = 0;
    if (ug_span(st, 0, n)) return -1;
    if (n == 0) st->spans_len = 0;
    int cur = src;
    for (int i = 0; i < ug->n_pre; i++) {
        int dst = (cur + 1) % 3;
        ug_buf *o = &st->b[dst];
        o->len = 0;
        int64_t nspans = st->spans_len, small[16];
        int64_t *old = nspans <= 16 ? small : (int64_t *)malloc((size_t)nspans * sizeof(int64_t));
        if (!old) return -1;
        if (nspans) memcpy(old, st->spans, (size_t)nspans * sizeof(int64_t));
        st->spans_len = 0;
        for (int64_t k = 0; k < nspans; k += 2) {
            int first = k == 0 && old[k] == 0 && !(st->lead_removed & UG_LEAD_CUT) && st->seg_at_zero;
            int rc = ug_pre_one(&ug->pre[i], st->b[cur].p + old[k], old[k + 1] - old[k], first, o, st);
            if (rc) {
                if (old != small) free(old);
                return rc;
            }
        }
        if (old != small) free(old);
        cur = dst;
    }
    return cur;
}

/* ---------------------------------------------------------------- Viterbi */

static int ug_vreserve(fe_ug_state *st, int64_t n) {
    if (n + 1 <= st->vcap) return 0;
    int64_t cap = st->vcap ? st->vcap : 64;
    while (cap < n + 1) cap *= 2;
    double *sc = (double *)realloc(st->score, (size_t)cap * sizeof(double));
    if (sc) st->score = sc;
    int64_t *sa = (int64_t *)realloc(st->start, (size_t)cap * sizeof(int64_t));
    if (sa) st->start = sa;
    uint32_t *ni = (uint32_t *)realloc(st->nid, (size_t)cap * sizeof(uint32_t));
    if (ni) st->nid = ni;
    int64_t *pa = (int64_t *)realloc(st->path, (size_t)cap * 2 * sizeof(int64_t));
    if (pa) st->path = pa;
    if (!sc || !sa || !ni || !pa) return -1;
    st->vcap = cap;
    return 0;
}

static int ug_emit(fe_ug_ids *out, int32_t id) {
    if (out->len == out->cap) {
        int64_t cap = out->cap ? out->cap * 2 : 1024;
        int32_t *p = (int32_t *)realloc(out->data, (size_t)cap * sizeof(int32_t));
        if (!p) return -1;
        out->data = p;
        out->cap = cap;
    }
    out->data[out->len++] = id;
    return 0;
}

/* The ids of one token string (as tokenizers' Unigram::tokenize maps it). */
static int ug_token_ids(const fe_ug *ug, const char *s, int64_t n, fe_ug_ids *out) {
    const ug_header *h = ug->h;
    int64_t x = ug_walk(ug->da, h->n_units, s, n);
    int64_t id = x < 0 ? -1 : ug_unit_id(ug->ids, h->n_pieces, (uint64_t)x);
    if (id >= 0) return ug_emit(out, (int32_t)id);
    if (h->byte_fallback) {
        int ok = 1;
        for (int64_t k = 0; k < n; k++) ok &= h->byte_ids[(uint8_t)s[k]] >= 0;
        if (ok) {
            for (int64_t k = 0; k < n; k++)
                if (ug_emit(out, h->byte_ids[(uint8_t)s[k]])) return -1;
            return 0;
        }
    }
    return ug_emit(out, h->unk_id);
}

#define UG_UNK_UNIT UINT32_MAX /* nid: the unknown piece */

/* Appends the ids of word w[0:n]; 0, 1 fallback (no unk id, or a corrupted id), -1 OOM. */
static int ug_viterbi(const fe_ug *ug, fe_ug_state *st, const char *w, int64_t n, fe_ug_ids *out) {
    const ug_header *h = ug->h;
    if (ug_vreserve(st, n)) return -1;
    double *score = st->score;
    int64_t *start = st->start;
    uint32_t *nid = st->nid;
    for (int64_t i = 0; i <= n; i++) start[i] = -1;
    score[0] = 0.0;
    const double unk_score = h->min_score - UG_UNK_PENALTY;
    const ug_node *da = ug->da;
    const uint64_t n_units = h->n_units;
    for (int64_t s = 0; s < n;) {
        uint32_t cp;
        int mblen = (uint8_t)w[s] < 0x80 ? 1 : fe_utf8_get((const uint8_t *)w + s, n - s, &cp);
        if (!mblen) return 1;
        double base = score[s];
        int single = 0;
        /* One walk down the trie from s gives every piece starting at s, shortest first. */
        uint64_t x = 0;
        for (int64_t e = s; e < n;) {
            uint64_t p = (uint64_t)(da[x].base & ~UG_TERM) + (uint8_t)w[e];
            if (p >= n_units || da[p].check != x) break;
            x = p;
            e++;
            if (da[x].base & UG_TERM) {
                double cand = da[x].score + base;
                if (start[e] < 0 || cand > score[e]) {
                    score[e] = cand;
                    start[e] = s;
                    nid[e] = (uint32_t)x;
                }
                if (e - s == mblen) single = 1;
            }
        }
        if (!single) {
            if (h->unk_id < 0) return 1; /* tokenizers: MissingUnkId error */
            int64_t e = s + mblen;
            double cand = unk_score + base;
            if (start[e] < 0 || cand > score[e]) {
                score[e] = cand;
                start[e] = s;
                nid[e] = UG_UNK_UNIT;
            }
        }
        s += mblen;
    }
    /* Backwards: (start, piece id) of each node on the best path; then forwards, fusing unknowns. */
    int64_t np = 0, *path = st->path;
    for (int64_t e = n; e > 0; e = start[e]) {
        int64_t id = nid[e] == UG_UNK_UNIT ? h->unk_id : ug_unit_id(ug->ids, h->n_pieces, nid[e]);
        if (id < 0) return 1; /* a corrupted id */
        path[2 * np] = start[e];
        path[2 * np + 1] = id;
        np++;
    }
    for (int64_t k = np - 1; k >= 0; k--) {
        int64_t a = path[2 * k], id = path[2 * k + 1];
        if (id == h->unk_id) { /* fuse consecutive unknowns: the token is w[a:end of the run] */
            while (k - 1 >= 0 && path[2 * (k - 1) + 1] == h->unk_id) k--;
            int64_t z = k > 0 ? path[2 * (k - 1)] : n;
            if (ug_token_ids(ug, w + a, z - a, out)) return -1;
        } else if (ug_emit(out, (int32_t)id)) {
            return -1;
        }
    }
    return 0;
}

static const int32_t *ug_cache_get(const fe_ug_state *st, const char *w, int64_t n, uint32_t h, int64_t *n_ids) {
    if (!st->cache) return NULL;
    for (uint32_t i = h & (UG_CACHE_SLOTS - 1);; i = (i + 1) & (UG_CACHE_SLOTS - 1)) {
        const ug_centry *e = &st->cache[i];
        if (e->key_len == 0) return NULL;
        if (e->hash == h && e->key_len == (uint64_t)n && memcmp(st->ckeys.p + e->key_off, w, (size_t)n) == 0) {
            *n_ids = e->n_ids;
            return st->cids + e->ids_off;
        }
    }
}

static void ug_cache_put(fe_ug_state *st, const char *w, int64_t n, uint32_t h, const int32_t *ids, int64_t n_ids) {
    if (!st->cache && !(st->cache = (ug_centry *)calloc(UG_CACHE_SLOTS, sizeof(ug_centry)))) return;
    if (st->cache_count >= UG_CACHE_SLOTS / 2) {
        memset(st->cache, 0, UG_CACHE_SLOTS * sizeof(ug_centry));
        st->cache_count = 0;
        st->ckeys.len = st->cids_len = 0;
    }
    if (st->cids_len + n_ids > st->cids_cap) {
        int64_t cap = st->cids_cap ? st->cids_cap * 2 : 4096;
        while (cap < st->cids_len + n_ids) cap *= 2;
        int32_t *p = (int32_t *)realloc(st->cids, (size_t)cap * sizeof(int32_t));
        if (!p) return; /* the cache is an optimization: skip it when out of memory */
        st->cids = p;
        st->cids_cap = cap;
    }
    int64_t key_off = st->ckeys.len;
    if (ug_put(&st->ckeys, w, n)) return;
    uint32_t i = h & (UG_CACHE_SLOTS - 1);
    while (st->cache[i].key_len != 0) i = (i + 1) & (UG_CACHE_SLOTS - 1);
    if (n_ids) memcpy(st->cids + st->cids_len, ids, (size_t)n_ids * sizeof(int32_t));
    st->cache[i] = (ug_centry){h, (uint32_t)key_off, (uint32_t)n, (uint32_t)st->cids_len, (uint32_t)n_ids};
    st->cids_len += n_ids;
    st->cache_count++;
}

/* The ids of one word through the cache; 0, 1 fallback, -1 OOM. */
static int ug_word(const fe_ug *ug, fe_ug_state *st, const char *w, int64_t n, fe_ug_ids *out) {
    if (n == 0 || n > UG_CACHE_MAX_WORD) return ug_viterbi(ug, st, w, n, out);
    uint32_t h = ug_hash(w, n);
    int64_t n_ids;
    const int32_t *ids = ug_cache_get(st, w, n, h, &n_ids);
    if (ids) {
        for (int64_t k = 0; k < n_ids; k++)
            if (ug_emit(out, ids[k])) return -1;
        return 0;
    }
    int64_t at = out->len;
    int rc = ug_viterbi(ug, st, w, n, out);
    if (rc == 0) ug_cache_put(st, w, n, h, out->data + at, out->len - at);
    return rc;
}

/* ---------------------------------------------------------------- encode */

/* Pre-tokenizes and tokenizes normalized text st->b[nb][0:nlen]; 0, 1 fallback, -1 OOM. */
static int ug_words(const fe_ug *ug, fe_ug_state *st, int nb, int64_t nlen, fe_ug_ids *out) {
    int wb = ug_pretokenize(ug, st, nb, nlen);
    if (wb < 0) return wb == -2 ? 1 : -1;
    for (int64_t k = 0; k < st->spans_len; k += 2) {
        int rc = ug_word(ug, st, st->b[wb].p + st->spans[k], st->spans[k + 1] - st->spans[k], out);
        if (rc) return rc;
    }
    return 0;
}

/* One segment between raw added tokens (at byte `at` of the text): normalize, split out the
 * normalized added tokens, pre-tokenize and Viterbi the pieces between them. */
static int ug_segment(const fe_ug *ug, fe_ug_state *st, const char *text, int64_t len, int64_t at, fe_ug_ids *out) {
    int nb = ug_normalize(ug, st, text, len);
    if (nb == -1) return -1;
    if (nb == -2) return 1;
    int64_t nlen = st->b[nb].len;
    if ((st->lead_removed & UG_LEAD_UNSURE) && ug->first_scheme) return 1;
    st->seg_at_zero = at == 0;
    int64_t k = ug->added ? fe_added_find(ug->added, 1, st->b[nb].p, nlen, &st->am[1], &st->am_cap[1]) : 0;
    if (k == -2) return -1;
    /* Metaspace "first" prepends to a piece that starts at original offset 0. A piece after a match
     * starts at normalized offset > 0, which is original offset > 0 unless the normalizers emitted
     * a replacement at the start (TOUCHED: alignments not tracked here, so tokenizers decides). */
    if (k == -1 || (k && ug->first_scheme && at == 0 && (st->lead_removed & (UG_LEAD_TOUCHED | UG_LEAD_UNSURE))))
        return 1;
    if (!k) return ug_words(ug, st, nb, nlen, out);
    st->seg.len = 0;
    if (ug_put(&st->seg, st->b[nb].p, nlen)) return -1;
    int64_t pos = 0;
    for (int64_t j = 0; j <= k; j++) {
        int64_t z = j < k ? st->am[1][j].start : nlen;
        if (pos < z) {
            st->b[0].len = 0;
            if (ug_put(&st->b[0], st->seg.p + pos, z - pos)) return -1;
            st->seg_at_zero = at == 0 && pos == 0;
            int rc = ug_words(ug, st, 0, z - pos, out);
            if (rc) return rc;
        }
        if (j < k) {
            if (ug_emit(out, st->am[1][j].id)) return -1;
            pos = st->am[1][j].stop;
        }
    }
    return 0;
}

/* Ids of one text appended to out; 0, 1 fallback, -1 OOM. Raw (non-normalized) added tokens are
 * split out first, as tokenizers' AddedVocabulary does (csrc/added.c). */
static int ug_text(const fe_ug *ug, fe_ug_state *st, const char *text, int64_t len, fe_ug_ids *out) {
    int64_t k = ug->added ? fe_added_find(ug->added, 0, text, len, &st->am[0], &st->am_cap[0]) : 0;
    if (k == -2) return -1;
    if (k == -1) return 1;
    int64_t seg = 0;
    for (int64_t j = 0; j < k; j++) {
        int64_t start = st->am[0][j].start, stop = st->am[0][j].stop;
        int32_t id = st->am[0][j].id;
        if (seg < start) {
            int rc = ug_segment(ug, st, text + seg, start - seg, seg, out);
            if (rc) return rc;
        }
        if (ug_emit(out, id)) return -1;
        seg = stop;
    }
    return seg < len || len == 0 ? ug_segment(ug, st, text + seg, len - seg, seg, out) : 0;
}

int fe_ug_encode(const fe_ug *ug, fe_ug_state *st, const char *const *texts, const int64_t *lens, int64_t n,
                 int64_t max_tokens, int64_t drop_id, fe_ug_ids *out, int64_t *counts, uint8_t *fallback) {
    for (int64_t i = 0; i < n; i++) {
        int64_t at = out->len;
        int rc = ug_text(ug, st, texts[i], lens[i], out);
        if (rc < 0) return -1;
        fallback[i] = (uint8_t)(rc > 0);
        if (rc > 0) out->len = at;
        if (max_tokens >= 0 && out->len - at > max_tokens) out->len = at + max_tokens;
        if (drop_id >= 0) {
            int64_t w = at;
            for (int64_t k = at; k < out->len; k++)
                if (out->data[k] != drop_id) out->data[w++] = out->data[k];
            out->len = w;
        }
        counts[i] = out->len - at;
    }
    return 0;
}

int fe_ug_normalize(const fe_ug *ug, fe_ug_state *st, const char *text, int64_t len, char **norm,
                    int64_t *norm_len) {
    *norm = NULL;
    *norm_len = 0;
    int nb = ug_normalize(ug, st, text, len);
    if (nb == -1) return -2;
    if (nb == -2) return -1;
    *norm = (char *)malloc((size_t)st->b[nb].len + 1);
    if (!*norm) return -2;
    memcpy(*norm, st->b[nb].p, (size_t)st->b[nb].len);
    *norm_len = st->b[nb].len;
    return 0;
}

/* ---------------------------------------------------------------- fuzzing entry point */

int fe_ug_fuzz_one(const uint8_t *data, int64_t size) {
    /* data: [u16 charsmap length][charsmap][text]; a fixed small vocabulary; every stage runs.
     * Bit 0 of data[0]: the blob is corrupted with (u16 position, xor byte) triples from the text. */
    static const char pieces[] = "\xe2\x96\x81" "a" "ab" "b" "\xe2\x96\x81" "ab" "<0x61>" "<unk>" "c";
    static const int64_t offs[] = {0, 3, 4, 6, 7, 12, 18, 23, 24};
    static const double scores[] = {-1.0, -2.0, -1.5, -3.0, -0.5, -4.0, 0.0, -2.5};
    static const uint32_t risky[] = {0x300, 0x36F};
    if (size < 2) return 0;
    int64_t cm_len = data[0] | (data[1] << 8);
    if (cm_len > size - 2) cm_len = size - 2;
    uint8_t *blob = NULL;
    int64_t blob_len = 0;
    if (fe_ug_build(pieces, offs, scores, 8, 6, 1, data + 2, cm_len, risky, 1, &blob, &blob_len)) {
        if (fe_ug_build(pieces, offs, scores, 8, 6, 1, NULL, 0, risky, 1, &blob, &blob_len)) return 0;
    }
    if (data[0] & 1) { /* a corrupted vocabulary blob (up to 8 bytes flipped): rejected at open, or safe */
        const uint8_t *t = data + 2 + cm_len;
        for (int64_t k = 0; k + 3 <= size - 2 - cm_len && k < 24; k += 3)
            blob[((uint64_t)t[k] | (uint64_t)t[k + 1] << 8) % (uint64_t)blob_len] ^= t[k + 2];
    }
    fe_ug_op norm[] = {{FE_UG_N_PRECOMPILED, "", 0, "", 0, 0, 0}, {FE_UG_N_MULTISPACE, "", 0, " ", 1, 0, 0},
                       {FE_UG_N_EDGESPACE, "", 0, "", 0, 0, 0}, {FE_UG_N_STRIP, "", 0, "", 0, 1, 1}};
    fe_ug_op pre[] = {{FE_UG_P_METASPACE, "\xe2\x96\x81", 3, "", 0, 0, 1}};
    int64_t aoffs[] = {0, 3};
    uint8_t aflags[] = {(uint8_t)(data[0] & 15)}; /* normalized / single_word / lstrip / rstrip from the input */
    int32_t aids[] = {0};
    fe_ug *ug = fe_ug_open(blob, blob_len, norm, 4, pre, 1, "<s>", aoffs, aflags, aids, 1);
    fe_ug_state *st = fe_ug_state_new();
    if (ug && st) {
        const char *text = (const char *)data + 2 + cm_len;
        int64_t len = size - 2 - cm_len;
        fe_ug_ids out = {NULL, 0, 0};
        int64_t count;
        uint8_t fb;
        if (fe_utf8_valid(text, len)) {
            fe_ug_encode(ug, st, &text, &len, 1, -1, -1, &out, &count, &fb);
            /* the Unicode steps (csrc/unicode.c) and the Whitespace pre-tokenizer, a normalized added token */
            fe_ug_op norm2[] = {{FE_UG_N_NFKC, "", 0, "", 0, 0, 0}, {FE_UG_N_LOWERCASE, "", 0, "", 0, 0, 0},
                                {FE_UG_N_NFD, "", 0, "", 0, 0, 0}, {FE_UG_N_NFC, "", 0, "", 0, 0, 0},
                                {FE_UG_N_NFKD, "", 0, "", 0, 0, 0}};
            fe_ug_op pre2[] = {{FE_UG_P_WHITESPACE, "", 0, "", 0, 0, 0},
                               {FE_UG_P_METASPACE, "\xe2\x96\x81", 3, "", 0, (int)(data[1] % 3), 1}};
            uint8_t aflags2[] = {(uint8_t)(FE_UG_ADDED_NORMALIZED | (data[1] & 14))};
            int64_t aoffs2[] = {0, 2};
            fe_ug *ug2 = fe_ug_open(blob, blob_len, norm2, 5, pre2, 2, "ab", aoffs2, aflags2, aids, 1);
            if (ug2) fe_ug_encode(ug2, st, &text, &len, 1, 3, 0, &out, &count, &fb);
            fe_ug_free(ug2);
        }
        free(out.data);
    }
    fe_ug_state_free(st);
    fe_ug_free(ug);
    free(blob);
    return 0;
}
