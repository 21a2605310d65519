"""Generate csrc/unicode_tables.h: per-code-point behaviour of tokenizers' BertNormalizer and
BertPreTokenizer, measured on the installed ``tokenizers`` itself (not on Python's unicodedata).

Run:  python scripts/gen_unicode_tables.py            (about a minute; rewrites csrc/unicode_tables.h)

Each step of BertNormalizer is a per-character map in tokenizers (clean_text, handle_chinese_chars,
lowercase -- per char, so no final-sigma rule) except the NFD inside strip_accents, which also
reorders runs of combining marks. So every code point is probed alone, step by step:

  clean   BertNormalizer(clean_text only)         -> removed, " ", or kept
  cjk     BertNormalizer(handle_chinese_chars)    -> " c " or kept
  strip   BertNormalizer(strip_accents only)      -> NFD then non-spacing marks removed (0..n chars)
  lower   BertNormalizer(lowercase, no strip)     -> Rust char::to_lowercase (1..n chars)
  ws/punct  BertPreTokenizer on "a" + c + "a"     -> split away / isolated / part of the word

NFD reordering can only change the result when a kept (non-Mn) character with a non-zero canonical
combining class survives stripping: such code points (as tokenizers' NFD sees them, probed by
placing them next to U+1D165 / U+1D16D) get FE_U_FB_STRIP, and texts containing them go to
``tokenizers`` when strip_accents is on. For another ``tokenizers`` version than the one recorded
here the C path is stricter: FE_U_UNASSIGNED (unassigned for Python's unicodedata) and FE_U_CCC
(non-zero combining class or unassigned for Python, kept by strip) also send texts to tokenizers,
and fastembed_core.wordpiece verifies the assigned code points at runtime.

For the Unigram pipelines (csrc/unigram_norm.c) and added-token matching (csrc/added.c) it also records:

  word    Whitespace pre-tokenizer on "a" + c / "!" + c  -> regex \w (FE_U_WORD); its removed set
          must be Unicode White_Space (utf8.h fe_is_white_space), checked
  lower   Lowercase() must equal BertNormalizer's lowercase map (same NormalizedString::lowercase)
  NFD/NFKD  full decompositions (FE_U_NFD_MAP / FE_U_NFKD_MAP, Hangul algorithmic), canonical
          combining classes (FE_U_CCC_ANY + fe_u_ccc_*), canonical composition pairs (FE_U_COMP2 on
          second characters + fe_u_comp_*), from Python's unicodedata, then checked code point by
          code point against tokenizers' NFD / NFKD / NFC / NFKC. Decompositions, classes and
          composition are stable across Unicode versions for assigned characters, but tokenizers'
          unicode-normalization crate may predate Python's Unicode: code points on which the two
          disagree (a single-code-point form, a combining class probed by reordering against marks
          of known classes, a composition pair) get FE_U_NF_DIFF, and texts holding one, or a code
          point unassigned for Python (FE_U_UNASSIGNED), go to tokenizers.

The arrays are declared extern here and defined once, in csrc/unicode.c (FE_U_TABLES_IMPL).
"""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path

import tokenizers
from tokenizers import normalizers, pre_tokenizers

OUT = Path(__file__).resolve().parents[1] / "csrc" / "unicode_tables.h"

(CLEAN_REMOVE, CLEAN_SPACE, CJK, WS, PUNCT, STRIP_MAP, LOWER_MAP, FB_STRIP, UNASSIGNED, CCC, WORD, NFD_MAP, NFKD_MAP,
 CCC_ANY, COMP2, NF_DIFF) = (1 << i for i in range(16))
# Kept (non-Mn) characters with canonical combining classes 216 and 226 in every Unicode version.
PROBES = ("\U0001D165", "\U0001D16D")


def reorders(strip, x: str) -> bool:
    """Whether tokenizers' NFD gives x a non-zero combining class (it then moves past a probe)."""
    for p in PROBES:
        if x == p:
            return True
        for s in ("a" + p + x, "a" + x + p):
            if strip.normalize_str(s) != s:
                return True
    return False


def bert(clean=False, cjk=False, strip=False, lower=False):
    return normalizers.BertNormalizer(clean_text=clean, handle_chinese_chars=cjk, strip_accents=strip, lowercase=lower)


def probe() -> tuple[list[int], dict[int, str], dict[int, str]]:
    clean, cjk, strip, lower = bert(clean=True), bert(cjk=True), bert(strip=True), bert(lower=True)
    pre = pre_tokenizers.BertPreTokenizer()
    ws_pre = pre_tokenizers.Whitespace()
    lowercase = normalizers.Lowercase()
    flags = [0] * 0x110000
    strip_map: dict[int, str] = {}
    lower_map: dict[int, str] = {}
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue  # lone surrogates cannot reach tokenizers (nor us: UTF-8 encoding fails first)
        c = chr(cp)
        f = 0
        r = clean.normalize_str(c)
        if r == "":
            f |= CLEAN_REMOVE
        elif r == " " and c != " ":
            f |= CLEAN_SPACE
        elif r != c:
            raise AssertionError(f"clean_text maps U+{cp:04X} to {r!r}")
        r = cjk.normalize_str(c)
        if r == f" {c} ":
            f |= CJK
        elif r != c:
            raise AssertionError(f"handle_chinese_chars maps U+{cp:04X} to {r!r}")
        r = strip.normalize_str(c)
        if r != c:
            f |= STRIP_MAP
            strip_map[cp] = r
        if any(reorders(strip, x) for x in r):
            f |= FB_STRIP
        if any(unicodedata.combining(x) or unicodedata.category(x) == "Cn" for x in r):
            f |= CCC
        r = lower.normalize_str(c)
        if r != c:
            f |= LOWER_MAP
            lower_map[cp] = r
        parts = [p for p, _ in pre.pre_tokenize_str("a" + c + "a")]
        if parts == ["a", "a"]:
            f |= WS
        elif parts == ["a", c, "a"]:
            f |= PUNCT
        elif parts != ["a" + c + "a"]:
            raise AssertionError(f"BertPreTokenizer splits U+{cp:04X} as {parts!r}")
        if unicodedata.category(c) == "Cn":
            f |= UNASSIGNED
        if lowercase.normalize_str(c) != lower_map.get(cp, c):
            raise AssertionError(f"Lowercase and BertNormalizer(lowercase) differ on U+{cp:04X}")
        parts = [p for p, _ in ws_pre.pre_tokenize_str("a" + c)]
        if parts == ["a" + c]:
            f |= WORD
        elif parts == ["a"]:
            if not white_space(cp):
                raise AssertionError(f"Whitespace removes U+{cp:04X}, which is not White_Space")
        elif parts != ["a", c] or [p for p, _ in ws_pre.pre_tokenize_str("!" + c)] != ["!" + c]:
            raise AssertionError(f"Whitespace splits a + U+{cp:04X} as {parts!r}")
        if white_space(cp) and parts != ["a"]:
            raise AssertionError(f"Whitespace keeps White_Space U+{cp:04X}")
        flags[cp] = f
    return flags, strip_map, lower_map


def white_space(cp: int) -> bool:
    """Unicode White_Space, as csrc/utf8.h fe_is_white_space."""
    return (9 <= cp <= 13 or cp in (0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000)
            or 0x2000 <= cp <= 0x200A)


SBASE, LBASE, VBASE, TBASE, LCOUNT, VCOUNT, TCOUNT = 0xAC00, 0x1100, 0x1161, 0x11A7, 19, 21, 28
NCOUNT = VCOUNT * TCOUNT
SCOUNT = LCOUNT * NCOUNT


def normal_forms(flags: list[int]) -> tuple[dict[int, str], dict[int, str], dict[int, int], dict[tuple[int, int], int]]:
    """NFD / NFKD maps (Hangul syllables left to the C code), combining classes and composition pairs,
    from unicodedata; flags updated; each checked against tokenizers on every assigned code point."""
    nfd_map: dict[int, str] = {}
    nfkd_map: dict[int, str] = {}
    ccc: dict[int, int] = {}
    comp: dict[tuple[int, int], int] = {}
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000 or flags[cp] & UNASSIGNED:
            continue
        c = chr(cp)
        if unicodedata.combining(c):
            ccc[cp] = unicodedata.combining(c)
            flags[cp] |= CCC_ANY
        if SBASE <= cp < SBASE + SCOUNT:
            continue
        d, kd = unicodedata.normalize("NFD", c), unicodedata.normalize("NFKD", c)
        if d != c:
            nfd_map[cp] = d
            flags[cp] |= NFD_MAP
        if kd != c:
            nfkd_map[cp] = kd
            flags[cp] |= NFKD_MAP
        raw = unicodedata.decomposition(c)
        if raw and not raw.startswith("<"):
            parts = [int(x, 16) for x in raw.split()]
            if len(parts) == 2 and unicodedata.normalize("NFC", chr(parts[0]) + chr(parts[1])) == c:
                comp[(parts[0], parts[1])] = cp
                flags[parts[1]] |= COMP2
    forms = {name: getattr(normalizers, name)() for name in ("NFD", "NFKD", "NFC", "NFKC")}
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000 or flags[cp] & UNASSIGNED:
            continue
        c = chr(cp)
        if any(norm.normalize_str(c) != unicodedata.normalize(name, c) for name, norm in forms.items()):
            flags[cp] |= NF_DIFF
    probes = {}  # one mark per class, among those of Unicode 3.2 (which every crate version knows)
    for cp, k in ccc.items():
        if unicodedata.ucd_3_2_0.category(chr(cp)) != "Cn" and unicodedata.ucd_3_2_0.combining(chr(cp)) == k:
            probes.setdefault(k, chr(cp))
    nfd = forms["NFD"]
    for cp, k in ccc.items():
        x = chr(cp)
        for pk, p in probes.items():
            if pk == k:
                continue
            want = "a" + (x + p if k < pk else p + x)
            if nfd.normalize_str("a" + x + p) != want or nfd.normalize_str("a" + p + x) != want:
                flags[cp] |= NF_DIFF
                break
    for (a, b), cp in list(comp.items()):
        if forms["NFC"].normalize_str(chr(a) + chr(b)) != chr(cp):
            flags[a] |= NF_DIFF
            flags[b] |= NF_DIFF
    return nfd_map, nfkd_map, ccc, comp


def check_composition(flags, strip_map, lower_map) -> None:
    """The composed per-char map equals the full normalizer on single code points (all 16 configs)."""
    import random

    rng = random.Random(0)
    interesting = STRIP_MAP | LOWER_MAP | CLEAN_SPACE | WS | PUNCT | FB_STRIP | CCC
    cps = [c for c in range(0x110000) if flags[c] & interesting]
    cps += rng.sample([c for c in range(0x110000) if not 0xD800 <= c < 0xE000], 20000)
    for cfg in range(16):
        cl, cj, st, lo = (bool(cfg & (1 << i)) for i in range(4))
        norm = bert(cl, cj, st, lo)
        for cp in cps:
            out = compose(cp, flags, strip_map, lower_map, cl, cj, st, lo)
            got = norm.normalize_str(chr(cp))
            if got != out:
                raise AssertionError(f"config {cfg}: U+{cp:04X} composes to {out!r}, tokenizers gives {got!r}")


def compose(cp, flags, strip_map, lower_map, clean, cjk, strip, lower) -> str:
    f = flags[cp]
    c = chr(cp)
    if clean and f & CLEAN_REMOVE:
        return ""
    if clean and f & CLEAN_SPACE:
        c = " "
    s = f" {c} " if cjk and c != " " and f & CJK else c
    if strip:
        s = "".join(strip_map.get(ord(x), x) for x in s)
    if lower:
        s = "".join(lower_map.get(ord(x), x) for x in s)
    return s


def c_array(name: str, ctype: str, values: list[int], per_line: int = 24) -> str:
    """Declared extern; defined where FE_U_TABLES_IMPL is (csrc/unicode.c), so one copy is linked."""
    lines = [f"extern const {ctype} {name}[{len(values)}];", "#ifdef FE_U_TABLES_IMPL",
             f"const {ctype} {name}[{len(values)}] = {{"]
    for i in range(0, len(values), per_line):
        lines.append("  " + ",".join(str(v) for v in values[i:i + per_line]) + ",")
    lines += ["};", "#endif"]
    return "\n".join(lines)


def max_expansion(flags, strip_map, lower_map) -> int:
    """The most UTF-8 bytes one code point normalizes to, over the configurations."""
    out = 0
    for cp in range(0x110000):
        if flags[cp] & (CJK | STRIP_MAP | LOWER_MAP):
            for st in (False, True):
                for lo in (False, True):
                    out = max(out, len(compose(cp, flags, strip_map, lower_map, False, True, st, lo).encode()))
    return out


def emit(flags, strip_map, lower_map, nfd_map, nfkd_map, ccc, comp) -> str:
    blocks: dict[tuple, int] = {}
    stage1, stage2 = [], []
    for hi in range(0x110000 // 256):
        block = tuple(flags[hi * 256:(hi + 1) * 256])
        if block not in blocks:
            blocks[block] = len(blocks)
            stage2.extend(block)
        stage1.append(blocks[block])
    assert len(blocks) < 65536

    def map_arrays(prefix: str, m: dict[int, str]) -> str:
        keys = sorted(m)
        offs, pool = [0], []
        for k in keys:
            pool.extend(ord(x) for x in m[k])
            offs.append(len(pool))
        assert len(pool) < 65536, "offsets are uint16"
        return "\n".join([
            f"#define FE_U_{prefix.upper()}_N {len(keys)}",
            c_array(f"fe_u_{prefix}_keys", "uint32_t", keys, 12),
            c_array(f"fe_u_{prefix}_offs", "uint16_t", offs),
            c_array(f"fe_u_{prefix}_pool", "uint32_t", pool or [0], 12),
        ])

    return "\n".join([
        "/* GENERATED by scripts/gen_unicode_tables.py from tokenizers "
        f"{tokenizers.__version__} (Python unicodedata {unicodedata.unidata_version}). Do not edit. */",
        "#ifndef FE_UNICODE_TABLES_H",
        "#define FE_UNICODE_TABLES_H",
        "#include <stdint.h>",
        f'#define FE_U_TOKENIZERS_VERSION "{tokenizers.__version__}"',
        f'#define FE_U_UNIDATA_VERSION "{unicodedata.unidata_version}"',
        f"#define FE_U_MAX_EXPANSION {max_expansion(flags, strip_map, lower_map)}",
        "enum { FE_U_CLEAN_REMOVE = 1, FE_U_CLEAN_SPACE = 2, FE_U_CJK = 4, FE_U_WS = 8, FE_U_PUNCT = 16,",
        "       FE_U_STRIP_MAP = 32, FE_U_LOWER_MAP = 64, FE_U_FB_STRIP = 128, FE_U_UNASSIGNED = 256, FE_U_CCC = 512,",
        "       FE_U_WORD = 1024, FE_U_NFD_MAP = 2048, FE_U_NFKD_MAP = 4096, FE_U_CCC_ANY = 8192, FE_U_COMP2 = 16384,",
        "       FE_U_NF_DIFF = 32768 };",
        c_array("fe_u_stage1", "uint16_t", stage1),
        c_array("fe_u_stage2", "uint16_t", stage2),
        "static inline unsigned fe_u_flags(uint32_t cp) {",
        "  return fe_u_stage2[((uint32_t)fe_u_stage1[cp >> 8] << 8) | (cp & 255)];",
        "}",
        map_arrays("strip", strip_map),
        map_arrays("lower", lower_map),
        map_arrays("nfd", nfd_map),
        map_arrays("nfkd", nfkd_map),
        f"#define FE_U_CCC_N {len(ccc)}",
        c_array("fe_u_ccc_keys", "uint32_t", sorted(ccc), 12),
        c_array("fe_u_ccc_vals", "uint8_t", [ccc[k] for k in sorted(ccc)]),
        f"#define FE_U_COMP_N {len(comp)}",
        c_array("fe_u_comp_keys", "uint64_t", [(a << 21) | b for a, b in sorted(comp)], 8),
        c_array("fe_u_comp_vals", "uint32_t", [comp[k] for k in sorted(comp)], 12),
        "#endif",
        "",
    ])


def main() -> None:
    flags, strip_map, lower_map = probe()
    check_composition(flags, strip_map, lower_map)
    nfd_map, nfkd_map, ccc, comp = normal_forms(flags)
    OUT.write_text(emit(flags, strip_map, lower_map, nfd_map, nfkd_map, ccc, comp))
    print(f"wrote {OUT} ({len(strip_map)} strip, {len(lower_map)} lower mappings)", file=sys.stderr)


if __name__ == "__main__":
    main()
