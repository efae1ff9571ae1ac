/* json.c: JSON text (RFC 8259) -> Lua values, read straight from the input bytes. Strings without
 * escapes are pushed from their slice of the input, arrays and objects are collected on the Lua
 * stack first so each table is created at its final size, integers are parsed exactly.
 * Bad input never raises: the answer is nil, "<what> at byte <n>". Only an error of Lua itself can
 * unwind through here (out of memory; on 5.1/LuaJIT also an error in a __gc metamethod that a
 * collection step runs), and nothing leaks then: the parse state is on the C stack and every byte
 * allocated is Lua's (values on the stack, luaL_Buffer, userdata). The input need not be
 * NUL-terminated (ig_json_decode can read a libcurl buffer as well as a Lua string). */
/***
 * @module instagram.core
 */
#include <float.h>
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include "core.h"

/* Stack slots that arrays and objects still being read may hold at once: elements wait on the
 * stack (so their table is created at its final size) until this budget is spent, then go
 * straight into a table. Below LuaJIT's 8000 slots per C call with room for IG_JSON_DEPTH_LIMIT
 * open containers (2 slots each: the table and a key). */
#define PENDING_BUDGET 2048
/* Free slots wanted before each value: the value, a luaL_Buffer (Lua 5.1's keeps up to ~10
 * pieces on the stack) and a container's own table and key. */
#define VALUE_SLOTS (LUA_MINSTACK + 4)

/* Objects at one depth tend to have the same members (the items of a page): once one object was
 * read at a depth, the next one's table is created at its size straight away and members go into
 * it as they are read, instead of waiting on the stack (a wrong guess only costs a resize). */
#define HINT_DEPTHS 32
#define HINT_MAX 64 /* a guess never makes a table larger than this: no amplification */

/* The same objects repeat their keys too: making a key string costs hashing and interning it
 * (Lua 5.4: every byte; and an allocation) each time. So the keys of objects after the first at a
 * depth are kept, by depth and position, in stack slots below the value for the length of one
 * decode; a key with the same bytes as the one kept at its place is pushed from there. Bounded: at
 * most KEPT_SLOTS strings of at most KEY_MAX_LEN bytes, and nothing outlives the decode. */
#define KEY_DEPTHS 8
#define KEY_SLOTS 32
#define KEY_MAX_LEN 64
/* Slots are numbered in the order strings are first kept (a page's items use 16: 9 keys, 7 values),
 * not by depth and position; a place found when all are taken keeps nothing. Slots, not a table:
 * a push from a slot costs less than a table read (Lua 5.4: 10K instructions of a page's 240K). */
#define KEPT_SLOTS 64
/* Short string values repeat at the same place too (media_type, media_product_type; an insight's
 * name, period and title): the value at each kept key's place is kept the same way, up to
 * VALUE_MAX_LEN bytes, until two values in a row differ from the one kept (an id, a timestamp):
 * then that place keeps nothing more in this decode, so unique values cost one comparison. */
#define VALUE_MAX_LEN 32
/* 16 bytes: a decode's C frame holds 2 x KEY_DEPTHS x KEY_SLOTS of them (8 KiB), and finalizers can
 * nest decodes */
typedef struct {
  const unsigned char *src; /* where the text had the kept bytes (the text lasts the decode) */
  uint32_t len;             /* at most KEY_MAX_LEN */
  uint16_t at;              /* its slot (at most KEPT_SLOTS), 0 for none yet */
  uint8_t set;              /* 0 when nothing is kept */
  uint8_t misses;           /* a value's place: values in a row unlike the kept one (2: no more) */
} kept_string;
typedef struct {
  int base;            /* stack index below the slots of kept strings (base+1 .. base+slots) */
  int slots;           /* KEPT_SLOTS, or 1 when the Lua stack had no room for them */
  int used;            /* slots in use (1..used) */
  int n[KEY_DEPTHS];   /* positions at each depth with an entry below */
  kept_string k[KEY_DEPTHS][KEY_SLOTS];
  kept_string v[KEY_DEPTHS][KEY_SLOTS];      /* the value last read after that key's place */
} key_cache;

typedef struct {
  lua_State *L;
  const unsigned char *s, *p, *end; /* the text, where the parse is, its end */
  int depth, max_depth;
  int array_mt;  /* stack index of the metatable of empty arrays, 0 for none */
  int numbers;   /* stack index of the table recording digit strings made of integers, 0 for none */
  lua_Integer recorded; /* how many new ones this decode recorded there */
  int pending;   /* slots held by the elements of unfinished arrays and objects */
  const char *point; /* the C library's decimal point (locale; may be several bytes), NULL until a
                      * fraction needs it */
  size_t point_len;
  int hint[HINT_DEPTHS]; /* members of the last object read at each depth (0: none yet) */
  key_cache *keys;
  const char *err; /* what went wrong (a static string) and where */
  const unsigned char *err_at;
} parser;

static const char E_DEPTH[] = "nested too deep"; /* reported with the limit (ig_json_decode) */
static const char E_STACK[] = "nested too deep for the Lua stack";

/* 1 for a byte that stands for itself inside a JSON string: not '"', '\\' or a control character.
 * Bytes >= 0x80 pass as they are (no UTF-8 validation, as lua-cjson). */
static const unsigned char PLAIN[256] = {
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x22 '"' */
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x5c '\\' */
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/* The first byte from p that is not PLAIN (or end). Strings are most of a Graph answer's bytes, so
 * they are scanned 16 bytes at a time with SSE2 (every x86-64), else 8 at a time in a uint64_t
 * (SWAR: a byte of x is zero, or below n, when (x - 0x01..01 * n) & ~x has its high bit set), and
 * the rest byte by byte. */
static const unsigned char *skip_plain(const unsigned char *p, const unsigned char *end) {
#if defined(__SSE2__) && !defined(IG_JSON_SWAR)
  const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), control = _mm_set1_epi8(0x1F);
  while (end - p >= 16) {
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)),
                               _mm_cmpeq_epi8(_mm_min_epu8(x, control), x)); /* x <= 0x1F */
    int mask = _mm_movemask_epi8(hit);
    if (mask) return p + __builtin_ctz((unsigned)mask);
    p += 16;
  }
#else
  const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
  while (end - p >= 8) {
    uint64_t w, q, b;
    memcpy(&w, p, 8);
    q = w ^ (ones * '"');
    b = w ^ (ones * '\\');
    if (((q - ones) & ~q & high) | ((b - ones) & ~b & high) | ((w - ones * 0x20) & ~w & high)) break;
    p += 8;
  }
#endif
  while (p < end && PLAIN[*p]) p++;
  return p;
}

static int fail(parser *j, const char *what, const unsigned char *at) {
  j->err = what;
  j->err_at = at;
  return -1;
}

/* RFC 8259 whitespace: space, tab, line feed, carriage return; nothing else. */
static const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end) {
  while (p < end && *p <= ' ' && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
  return p;
}

static int is_digit(const unsigned char *p, const unsigned char *end) {
  return p < end && *p >= '0' && *p <= '9';
}

static int value(parser *j);

/* The string on top of the stack has the digits of an integer: numbers[s] = true when it came
 * from a JSON number (unless the same digits came as a JSON string: false stays), false when it
 * came from a JSON string, so an encoder writes back as numbers only the digits that were. */
static void record(parser *j, int from_number) {
  lua_State *L = j->L;
  if (!j->numbers) return;
  lua_pushvalue(L, -1);
  lua_rawget(L, j->numbers);
  int was = lua_isnil(L, -1) ? -1 : lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (was == -1 || (was == 1 && !from_number)) {
    lua_pushvalue(L, -1);
    lua_pushboolean(L, from_number);
    lua_rawset(L, j->numbers);
    if (was == -1) j->recorded++;
  }
}

/* Could the decoder have made these bytes of a JSON string from a number: -?[1-9][0-9]* with as
 * many digits as only a string holds exactly on this runtime? */
#if LUA_VERSION_NUM >= 503
#define STRING_DIGITS 19 /* beyond int64 */
#else
#define STRING_DIGITS 16 /* beyond 2^53 */
#endif
static int integer_digits(const unsigned char *s, size_t len) {
  if (len && *s == '-') s++, len--;
  if (len < STRING_DIGITS || len > 400 || *s < '1' || *s > '9') return 0;
  for (size_t i = 1; i < len; i++)
    if (s[i] < '0' || s[i] > '9') return 0;
  return 1;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at j->p. An integer (no fraction, no exponent)
 * within what the runtime holds exactly is pushed as one (lua_Integer on 5.3+, |n| <= 2^53 as a
 * double on 5.1/LuaJIT); a longer one as a string of its digits; "-0" is 0. Anything else goes
 * through strtod, so it is correctly rounded; an infinite result is refused. */
static int number(parser *j) {
  lua_State *L = j->L;
  const unsigned char *start = j->p, *p = start, *end = j->end;
  int neg = 0, is_float = 0;
  if (*p == '-') { neg = 1; p++; }
  const unsigned char *digits = p;
  uint64_t u = 0; /* exact while there are at most 19 digits */
  if (!is_digit(p, end)) return fail(j, "invalid number", start);
  if (*p == '0') {
    p++;
    if (is_digit(p, end)) return fail(j, "invalid number (leading zero)", start);
  } else {
    while (is_digit(p, end)) u = u * 10 + (uint64_t)(*p++ - '0');
  }
  size_t ndigits = (size_t)(p - digits);
  if (p < end && *p == '.') {
    p++;
    if (!is_digit(p, end)) return fail(j, "invalid number (no digit after '.')", start);
    while (is_digit(p, end)) p++;
    is_float = 1;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < end && (*p == '+' || *p == '-')) p++;
    if (!is_digit(p, end)) return fail(j, "invalid number (no digit in the exponent)", start);
    while (is_digit(p, end)) p++;
    is_float = 1;
  }
  size_t n = (size_t)(p - start);
  if (!is_float) {
    j->p = p;
#if LUA_VERSION_NUM >= 503
    if (ndigits <= 19) { /* 10^19 - 1 < 2^64 */
      if (u == 0) { lua_pushinteger(L, 0); return 0; }
      if (!neg && u <= (uint64_t)LUA_MAXINTEGER) { lua_pushinteger(L, (lua_Integer)u); return 0; }
      if (neg && u - 1 <= (uint64_t)LUA_MAXINTEGER) { lua_pushinteger(L, -(lua_Integer)(u - 1) - 1); return 0; }
    }
#else
    if (ndigits <= 16 && u <= ((uint64_t)1 << 53)) {
      lua_pushnumber(L, neg && u ? -(lua_Number)u : (lua_Number)u);
      return 0;
    }
#endif
    lua_pushlstring(L, (const char *)start, n); /* beyond the runtime's exact integers: the digits */
    record(j, 1);
    return 0;
  }
  /* strtod needs a NUL-terminated copy, with the locale's decimal point for '.' (strtod reads
   * that one, and it may be several bytes): on the C stack, or in a userdata for a long one. */
  const unsigned char *dot = memchr(start, '.', n);
  if (dot && !j->point) {
    const char *dp = localeconv()->decimal_point;
    j->point = dp && *dp ? dp : ".";
    j->point_len = strlen(j->point);
    if (j->point_len > 16) j->point = ".", j->point_len = 1; /* (no such locale; never overflow) */
  }
  size_t plen = dot ? j->point_len : 1, total = n - 1 + plen;
  char small[80], *b = small;
  if (total >= sizeof small) b = (char *)lua_newuserdata(L, total + 1);
  if (dot) {
    size_t head = (size_t)(dot - start);
    memcpy(b, start, head);
    memcpy(b + head, j->point, plen);
    memcpy(b + head + plen, dot + 1, n - head - 1);
  } else {
    memcpy(b, start, n);
    total = n;
  }
  b[total] = '\0';
  char *stop;
  double d = strtod(b, &stop);
  int whole = stop == b + total;
  if (b != small) lua_pop(L, 1);
  if (!whole) return fail(j, "invalid number", start);
  if (d > DBL_MAX || d < -DBL_MAX) return fail(j, "number out of range", start);
  j->p = p;
  lua_pushnumber(L, (lua_Number)d);
  return 0;
}

static int hex4(const unsigned char *p) {
  int v = 0;
  for (int i = 0; i < 4; i++) {
    unsigned char c = p[i];
    int d = c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

static void add_utf8(luaL_Buffer *b, unsigned long cp) {
  if (cp < 0x80) luaL_addchar(b, (char)cp);
  else if (cp < 0x800) {
    luaL_addchar(b, (char)(0xC0 | (cp >> 6)));
    luaL_addchar(b, (char)(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    luaL_addchar(b, (char)(0xE0 | (cp >> 12)));
    luaL_addchar(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
    luaL_addchar(b, (char)(0x80 | (cp & 0x3F)));
  } else {
    luaL_addchar(b, (char)(0xF0 | (cp >> 18)));
    luaL_addchar(b, (char)(0x80 | ((cp >> 12) & 0x3F)));
    luaL_addchar(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
    luaL_addchar(b, (char)(0x80 | (cp & 0x3F)));
  }
}

/* The rest of a string that has an escape at p (its opening quote at open), into a luaL_Buffer.
 * \uXXXX becomes UTF-8; a surrogate pair one code point; a lone surrogate U+FFFD. Not inlined:
 * the luaL_Buffer (8 KiB on LuaJIT) must not sit in every frame of the recursion. */
static __attribute__((noinline)) int escaped_string(parser *j, const unsigned char *open,
                                                    const unsigned char *p) {
  const unsigned char *end = j->end, *run = open + 1;
  luaL_Buffer b;
  luaL_buffinit(j->L, &b);
  for (;;) {
    if (p > run) luaL_addlstring(&b, (const char *)run, (size_t)(p - run));
    if (p >= end) return fail(j, "unterminated string", open);
    if (*p == '"') break;
    if (*p < 0x20) return fail(j, "control character in a string", p);
    const unsigned char *esc = p++; /* *esc == '\\' */
    if (p >= end) return fail(j, "unterminated string", open);
    switch (*p++) {
      case '"': luaL_addchar(&b, '"'); break;
      case '\\': luaL_addchar(&b, '\\'); break;
      case '/': luaL_addchar(&b, '/'); break;
      case 'b': luaL_addchar(&b, '\b'); break;
      case 'f': luaL_addchar(&b, '\f'); break;
      case 'n': luaL_addchar(&b, '\n'); break;
      case 'r': luaL_addchar(&b, '\r'); break;
      case 't': luaL_addchar(&b, '\t'); break;
      case 'u': {
        int cp = end - p >= 4 ? hex4(p) : -1;
        if (cp < 0) return fail(j, "invalid \\u escape", esc);
        p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) { /* a high surrogate: a low one must follow */
          int lo = end - p >= 6 && p[0] == '\\' && p[1] == 'u' ? hex4(p + 2) : -1;
          if (lo >= 0xDC00 && lo <= 0xDFFF) {
            add_utf8(&b, 0x10000 + (((unsigned long)cp - 0xD800) << 10) + ((unsigned long)lo - 0xDC00));
            p += 6;
          } else {
            add_utf8(&b, 0xFFFD);
          }
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          add_utf8(&b, 0xFFFD);
        } else {
          add_utf8(&b, (unsigned long)cp);
        }
        break;
      }
      default: return fail(j, "invalid escape", esc);
    }
    run = p;
    p = skip_plain(p, end);
  }
  luaL_pushresult(&b);
  j->p = p + 1;
  return 0;
}

/* The string without escapes from its opening quote open to its closing quote close. */
static void push_plain(parser *j, const unsigned char *open, const unsigned char *close) {
  size_t len = (size_t)(close - open - 1);
  lua_pushlstring(j->L, (const char *)(open + 1), len);
  if (j->numbers && len >= STRING_DIGITS && open[1] <= '9' && integer_digits(open + 1, len)) record(j, 0);
  j->p = close + 1;
}

/* A string at j->p (its opening quote): without escapes, pushed straight from the input. */
static int string(parser *j) {
  const unsigned char *open = j->p, *end = j->end, *p = skip_plain(open + 1, end);
  if (p < end && *p == '"') {
    push_plain(j, open, p);
    return 0;
  }
  return escaped_string(j, open, p);
}

/* Whether the n bytes at a and b are the same: keys are short, and a call of memcmp for each would
 * cost more than the comparison (8 bytes at a time, the last 8 overlapping). */
static int same_bytes(const unsigned char *a, const unsigned char *b, size_t n) {
  uint64_t x, y;
  if (n < 8) {
    for (size_t i = 0; i < n; i++) if (a[i] != b[i]) return 0;
    return 1;
  }
  for (size_t i = 0; i + 8 < n; i += 8) {
    memcpy(&x, a + i, 8);
    memcpy(&y, b + i, 8);
    if (x != y) return 0;
  }
  memcpy(&x, a + n - 8, 8);
  memcpy(&y, b + n - 8, 8);
  return x == y;
}

/* The string at j->p (its opening quote) from its slot, when its bytes are those kept in *e (and
 * then its closing quote: a kept string has no quote, backslash or control byte, so the scan
 * would stop there): 1 when pushed so. The bytes compared are both the text's, never a Lua
 * string's: nothing a finalizer does to a slot (debug.setlocal: writing into a C frame, outside
 * the promises) makes the decoder read memory it does not own; it changes the value pushed. */
static int push_kept(parser *j, const kept_string *e) {
  const unsigned char *open = j->p;
  size_t len = e->len;
  if (!e->set || (size_t)(j->end - open) <= len + 1 || open[len + 1] != '"' || !same_bytes(e->src, open + 1, len))
    return 0;
  lua_pushvalue(j->L, j->keys->base + e->at);
  j->p = open + len + 2;
  return 1;
}

/* Keeps the string on top of the stack (made from the len bytes of the text at src, no escape) in
 * *e: in its slot, or in a new one while there are free ones. */
static void keep(parser *j, kept_string *e, const unsigned char *src, size_t len) {
  lua_State *L = j->L;
  key_cache *c = j->keys;
  if (!e->at) {
    if (c->used == c->slots) { e->set = 0; return; }
    e->at = (uint16_t)++c->used;
  }
  lua_pushvalue(L, -1);
  lua_replace(L, c->base + e->at);
  e->set = 1;
  e->src = src;
  e->len = (uint32_t)len;
}

/* The key at j->p (its opening quote), position i of an object at depth d < KEY_DEPTHS that is
 * not the first at its depth: pushed from the cache when the bytes are those kept at (d, i), else
 * made and kept there (a key with escapes or longer than KEY_MAX_LEN leaves the place empty). A
 * new place starts with no value kept. */
static int key(parser *j, int d, int i) {
  key_cache *c = j->keys;
  const unsigned char *open = j->p, *end = j->end;
  int known = i < c->n[d];
  if (known && push_kept(j, &c->k[d][i])) return 0;
  if (!known) {
    c->k[d][i].at = c->v[d][i].at = 0;
    c->v[d][i].set = 0;
    c->v[d][i].misses = 0;
  }
  const unsigned char *p = skip_plain(open + 1, end);
  if (p < end && *p == '"') {
    size_t len = (size_t)(p - open - 1);
    if (push_plain(j, open, p), len <= KEY_MAX_LEN) keep(j, &c->k[d][i], open + 1, len);
    else c->k[d][i].set = 0;
    if (!known) c->n[d] = i + 1;
    return 0;
  }
  if (escaped_string(j, open, p)) return -1;
  c->k[d][i].set = 0;
  if (!known) c->n[d] = i + 1;
  return 0;
}

/* The string value at j->p (its opening quote) of the member read by key(j, d, i): pushed from the
 * cache when it is the one kept there, else made, and kept unless two in a row were not. */
static int kept_value(parser *j, int d, int i) {
  key_cache *c = j->keys;
  kept_string *e = &c->v[d][i];
  if (push_kept(j, e)) {
    e->misses = 0;
    return 0;
  }
  const unsigned char *open = j->p, *end = j->end, *p = skip_plain(open + 1, end);
  if (p >= end || *p != '"') return escaped_string(j, open, p);
  size_t len = (size_t)(p - open - 1);
  push_plain(j, open, p);
  if (e->misses >= 2) return 0; /* this place keeps nothing more */
  if (len > VALUE_MAX_LEN || (e->set && ++e->misses >= 2)) {
    e->set = 0;
    e->misses = 2;
    return 0;
  }
  keep(j, e, open + 1, len);
  return 0;
}

/* n elements at base+1.. -> one table at base+1, created for n (more may follow: then the table
 * grows as any Lua table). The elements no longer count as pending. */
static void array_to_table(parser *j, int base, int n) {
  lua_State *L = j->L;
  lua_createtable(L, n, 0);
  lua_insert(L, base + 1);
  for (int i = n; i >= 1; i--) lua_rawseti(L, base + 1, i); /* pops element i */
  j->pending -= n;
}

/* n key/value pairs at base+1.. -> one table at base+1; set in order, so the last of duplicate
 * keys wins. */
static void object_to_table(parser *j, int base, int n) {
  lua_State *L = j->L;
  lua_createtable(L, 0, n);
  for (int i = 0; i < n; i++) {
    lua_pushvalue(L, base + 2 * i + 1);
    lua_pushvalue(L, base + 2 * i + 2);
    lua_rawset(L, -3);
  }
  if (n > 0) { /* the table over the first key, the rest popped */
    lua_replace(L, base + 1);
    lua_settop(L, base + 1);
  }
  j->pending -= 2 * n;
}

typedef void (*to_table_fn)(parser *j, int base, int n);

/* Before each element: while the budget allows, elements wait on the stack (*table_mode 0); when it
 * is spent, or the stack cannot grow, the waiting ones go into their table and the rest follow
 * them there. 0, or -1 when even that leaves no room for one more value. In table mode every
 * element starts at the same height (its table on top), so the room found there once serves the
 * rest (*table_mode 2). A collection may shrink the stack meanwhile: Lua 5.4 keeps up to the top
 * lua_checkstack gave the frame; LuaJIT halves only a stack of over 94 slots and over 4 times what
 * is in use, which leaves more than 23 free above the top, more than an element in table mode
 * needs (its key, and a scalar with a luaL_Buffer's pieces; a nested container checks for
 * itself). The check per element had that same bound once a collection ran inside an element. */
static int room(parser *j, int *table_mode, to_table_fn to_table, int base, int n) {
  if (*table_mode == 2) return 0;
  if (!*table_mode && j->pending >= PENDING_BUDGET) {
    to_table(j, base, n);
    *table_mode = 1;
  }
  if (lua_checkstack(j->L, VALUE_SLOTS)) {
    if (*table_mode) *table_mode = 2;
    return 0;
  }
  if (!*table_mode) {
    to_table(j, base, n);
    *table_mode = 2;
    if (lua_checkstack(j->L, VALUE_SLOTS)) return 0;
  }
  return fail(j, E_STACK, j->p);
}

static int array(parser *j) {
  lua_State *L = j->L;
  const unsigned char *end = j->end;
  if (++j->depth > j->max_depth) return fail(j, E_DEPTH, j->p);
  const unsigned char *p = skip_ws(j->p + 1, end);
  if (p < end && *p == ']') {
    lua_createtable(L, 0, 0);
    if (j->array_mt) {
      lua_pushvalue(L, j->array_mt);
      lua_setmetatable(L, -2);
    }
    j->p = p + 1;
    j->depth--;
    return 0;
  }
  int base = lua_gettop(L), n = 0, table_mode = 0;
  for (;;) {
    j->p = p;
    if (room(j, &table_mode, array_to_table, base, n) || value(j)) return -1;
    n++;
    if (table_mode) lua_rawseti(L, base + 1, n);
    else j->pending++;
    p = skip_ws(j->p, end);
    if (p < end && *p == ',') { p = skip_ws(p + 1, end); continue; }
    if (p < end && *p == ']') break;
    return fail(j, "expected ',' or ']'", p);
  }
  if (!table_mode) array_to_table(j, base, n);
  j->p = p + 1;
  j->depth--;
  return 0;
}

static int object(parser *j) {
  lua_State *L = j->L;
  const unsigned char *end = j->end;
  if (++j->depth > j->max_depth) return fail(j, E_DEPTH, j->p);
  const unsigned char *p = skip_ws(j->p + 1, end);
  if (p < end && *p == '}') {
    lua_createtable(L, 0, 0);
    j->p = p + 1;
    j->depth--;
    return 0;
  }
  int base = lua_gettop(L), n = 0, table_mode = 0, d = j->depth;
  int hint = d < HINT_DEPTHS ? j->hint[d] : 0;
  int keys_kept = hint > 0 && d < KEY_DEPTHS; /* not the first object at its depth */
  if (hint > 0) {
    lua_createtable(L, 0, hint);
    table_mode = 1;
  }
  for (;;) {
    if (p >= end || *p != '"') return fail(j, "expected a string (an object key)", p);
    j->p = p;
    if (room(j, &table_mode, object_to_table, base, n)) return -1;
    int cached = keys_kept && n < KEY_SLOTS;
    if (cached ? key(j, d, n) : string(j)) return -1;
    p = skip_ws(j->p, end);
    if (p >= end || *p != ':') return fail(j, "expected ':'", p);
    j->p = p = skip_ws(p + 1, end);
    if (cached && p < end && *p == '"' ? kept_value(j, d, n) : value(j)) return -1;
    n++;
    if (table_mode) lua_rawset(L, base + 1);
    else j->pending += 2;
    p = skip_ws(j->p, end);
    if (p < end && *p == ',') { p = skip_ws(p + 1, end); continue; }
    if (p < end && *p == '}') break;
    return fail(j, "expected ',' or '}'", p);
  }
  if (!table_mode) object_to_table(j, base, n);
  if (d < HINT_DEPTHS) j->hint[d] = n < HINT_MAX ? n : HINT_MAX;
  j->p = p + 1;
  j->depth--;
  return 0;
}

static int literal(parser *j, const char *word, size_t len) {
  if ((size_t)(j->end - j->p) < len || memcmp(j->p, word, len) != 0) return fail(j, "expected a value", j->p);
  j->p += len;
  return 0;
}

/* The value at j->p (whitespace before it already skipped). */
static int value(parser *j) {
  lua_State *L = j->L;
  const unsigned char *p = j->p;
  if (p >= j->end) return fail(j, "expected a value", p);
  switch (*p) {
    case '{': return object(j);
    case '[': return array(j);
    case '"': return string(j);
    case 't': if (literal(j, "true", 4)) return -1; lua_pushboolean(L, 1); return 0;
    case 'f': if (literal(j, "false", 5)) return -1; lua_pushboolean(L, 0); return 0;
    case 'n': if (literal(j, "null", 4)) return -1; lua_pushlightuserdata(L, NULL); return 0;
    case '-': case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': case '8':
    case '9': return number(j);
    default: return fail(j, "expected a value", p);
  }
}

/* numbers.n += j->recorded (raw; a count that is not a number starts again). */
static void count_recorded(parser *j) {
  lua_State *L = j->L;
  if (!j->recorded) return;
  lua_pushliteral(L, "n");
  lua_rawget(L, j->numbers);
  /* a count that is not a whole number from 0 to 2^40 (tampered with) starts again */
  lua_Number c = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : -1;
  lua_Integer n = c >= 0 && c <= 1099511627776.0 && c == (lua_Number)(lua_Integer)c ? (lua_Integer)c : 0;
  lua_pop(L, 1);
  lua_pushliteral(L, "n");
  lua_pushinteger(L, n + j->recorded);
  lua_rawset(L, j->numbers);
}

/* One decode, its parser's state in *j, with room for `slots` kept strings (KEPT_SLOTS, or 1: then
 * none are kept) when the stack has it. */
static int decode_slots(lua_State *L, const char *text, size_t len, const ig_json_opts *o, parser *j,
                        int slots) {
  memset(j, 0, sizeof *j);
  j->L = L;
  j->s = j->p = (const unsigned char *)text;
  j->end = j->s + len;
  j->max_depth = o->max_depth;
  j->array_mt = o->array_mt ? ig_absindex(L, o->array_mt) : 0;
  j->numbers = o->numbers ? ig_absindex(L, o->numbers) : 0;
  int base = lua_gettop(L);
  key_cache keys; /* only base, slots, used and n[] need a start: k and v are read below n[d] */
  keys.base = base;
  keys.used = 0;
  memset(keys.n, 0, sizeof keys.n);
  j->keys = &keys;
  /* the slots, nil, message, the count; at the stack's limit, one slot (as when they were not) */
  keys.slots = slots > 1 && lua_checkstack(L, slots + 4) ? slots : 1;
  if (keys.slots == 1) luaL_checkstack(L, 5, "out of Lua stack");
  lua_settop(L, base + keys.slots); /* the kept strings' slots, nil */
  j->p = skip_ws(j->p, j->end);
  if (!lua_checkstack(L, VALUE_SLOTS)) fail(j, E_STACK, j->p);
  else if (value(j) == 0) {
    const unsigned char *rest = skip_ws(j->p, j->end);
    if (rest == j->end) {
      lua_replace(L, base + 1); /* the value over the kept strings' slots */
      lua_settop(L, base + 1);
      count_recorded(j);
      return 1;
    }
    fail(j, "expected the end of the text", rest);
  }
  lua_settop(L, base); /* also closes a luaL_Buffer's box (Lua 5.4) */
  count_recorded(j);
  char msg[160];
  size_t at = (size_t)(j->err_at - j->s) + 1;
  const char *eot = j->err_at >= j->end ? " (the end of the text)" : "";
  if (j->err == E_DEPTH) snprintf(msg, sizeof msg, "JSON nested deeper than %d levels at byte %zu", j->max_depth, at);
  else snprintf(msg, sizeof msg, "%s at byte %zu%s", j->err, at, eot);
  lua_pushnil(L);
  lua_pushstring(L, msg);
  return 2;
}

/* The decode, its parser's state in *j (the caller's: on LuaJIT it is read after a raise), with
 * `slots` for kept strings. A decode the Lua stack refuses with them is made again without them,
 * so that they never cost a document that fits without them. */
static int decode_here(lua_State *L, const char *text, size_t len, const ig_json_opts *o, parser *j,
                       int slots) {
  int n = decode_slots(L, text, len, o, j, slots);
  if (n == 2 && j->err == E_STACK && slots > 1) {
    lua_pop(L, 2);
    n = decode_slots(L, text, len, o, j, 1);
  }
  return n;
}

#if LUA_VERSION_NUM < 502
/* LuaJIT (luajit2 before 2.1-20231006; Debian's is 2.1-20230119): lua_checkstack raises "stack
 * overflow" at the thread stack's limit (65500 slots) where Lua 5.4's returns 0, so a decode runs
 * under one protected call, and that error becomes nil, message like the rest (what a decode with
 * room to spare on Lua 5.4 would have put in tables instead fails here). Any other error (a
 * finalizer's) is raised again. The function is kept in the registry (pushing a new one allocates);
 * what hostile code left in its place instead (the registry is reachable) is never called: a new
 * one is made and stored there. Its argument points
 * into a C frame: a finalizer can take both from the stack (debug library) and call it later, or
 * during the decode, so it runs only for the innermost decode of this thread, and once. */
typedef struct decode_args {
  const char *text;
  size_t len;
  const ig_json_opts *o; /* the caller's: its stack indexes are the caller frame's */
  int started;
  int slots;  /* for decode_here */
  int nested; /* 1 for a decode inside no other, 2 for one a finalizer ran inside it, ... */
  struct decode_args *outer; /* the decode this one runs inside (from a finalizer), or NULL */
  parser j;
} decode_args;

/* Decodes a finalizer may run inside one another on a thread: each takes C stack (up to a
 * document's depth of recursion), and LuaJIT does not bound how deep finalizers that decode
 * nest (a process died at 410). */
#define NESTED_MAX 8

static _Thread_local decode_args *innermost;
static const char PROTECTED_KEY = 0;

static int decode_protected(lua_State *L) { /* (args, array_mt|nil, numbers|nil) */
  decode_args *a = (decode_args *)lua_touserdata(L, 1);
  if (!a || a != innermost || a->started) return luaL_error(L, "no decode to run");
  a->started = 1;
  ig_json_opts o = *a->o;
  o.array_mt = lua_istable(L, 2) ? 2 : 0;
  o.numbers = lua_istable(L, 3) ? 3 : 0;
  return decode_here(L, a->text, a->len, &o, &a->j, a->slots);
}

/* One protected decode with a->slots; LUA_OK, or the error on top. */
static int decode_once(lua_State *L, decode_args *a) {
  const ig_json_opts *o = a->o;
  a->started = 0;
  a->j.s = a->j.p = NULL;
  lua_pushlightuserdata(L, (void *)&PROTECTED_KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
  if (lua_tocfunction(L, -1) != decode_protected) { /* (may run a finalizer: before a is the innermost) */
    lua_pop(L, 1);
    lua_pushcfunction(L, decode_protected);
    lua_pushlightuserdata(L, (void *)&PROTECTED_KEY);
    lua_pushvalue(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);
  }
  lua_pushlightuserdata(L, a);
  if (o->array_mt) lua_pushvalue(L, o->array_mt); else lua_pushnil(L);
  if (o->numbers) lua_pushvalue(L, o->numbers); else lua_pushnil(L);
  a->outer = innermost;
  innermost = a; /* (nothing allocates from here to the call) */
  int rc = lua_pcall(L, 3, LUA_MULTRET, 0);
  innermost = a->outer;
  return rc;
}

/* At the stack's limit LuaJIT's lua_checkstack raises "stack overflow" where Lua 5.4's returns 0:
 * a decode that raised it with the kept strings' slots is made again without them, as
 * decode_here does for a refusal. */
int ig_json_decode(lua_State *L, const char *text, size_t len, const ig_json_opts *o) {
  decode_args a;
  a.text = text;
  a.len = len;
  a.o = o;
  luaL_checkstack(L, 4, "out of Lua stack"); /* (a C function is given 20) */
  a.nested = innermost ? innermost->nested + 1 : 1;
  if (a.nested > NESTED_MAX) {
    lua_pushnil(L);
    lua_pushfstring(L, "JSON decodes nested more than %d deep (finalizers that decode during a decode)", NESTED_MAX);
    return 2;
  }
  int top = lua_gettop(L);
  for (a.slots = KEPT_SLOTS;; a.slots = 1) {
    int rc = decode_once(L, &a);
    if (rc == 0) return lua_gettop(L) - top;
    const char *e = lua_tostring(L, -1);
    if (rc != LUA_ERRRUN || !e || strcmp(e, "stack overflow") != 0) return lua_error(L);
    lua_pop(L, 1);
    if (a.slots > 1) continue;
    lua_pushnil(L);
    size_t at = a.j.s ? (size_t)(a.j.p - a.j.s) : 0;
    lua_pushfstring(L, "%s at byte %d", E_STACK, (int)(at < 0x7ffffffe ? at + 1 : 0x7fffffff));
    return 2;
  }
}
#else
int ig_json_decode(lua_State *L, const char *text, size_t len, const ig_json_opts *o) {
  parser j;
  return decode_here(L, text, len, o, &j, KEPT_SLOTS);
}
#endif

void ig_json_check_opts(lua_State *L, int t, const char *what, ig_json_opts *o) {
  o->max_depth = IG_JSON_MAX_DEPTH;
  o->array_mt = o->numbers = 0;
  luaL_checkstack(L, 3, "out of Lua stack");
  if (t == 0) {
    lua_pushnil(L);
    lua_pushnil(L);
    return;
  }
  t = ig_absindex(L, t);
  lua_pushliteral(L, "max_depth");
  lua_rawget(L, t);
  if (!lua_isnil(L, -1)) {
    lua_Number d = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : 0;
    if (!(d >= 1 && d <= IG_JSON_DEPTH_LIMIT && d == (lua_Number)(int)d))
      luaL_error(L, "%s.max_depth must be a whole number from 1 to %d", what, IG_JSON_DEPTH_LIMIT);
    o->max_depth = (int)d;
  }
  lua_pop(L, 1);
  static const char *const names[] = {"array_mt", "numbers"};
  for (int i = 0; i < 2; i++) {
    lua_pushstring(L, names[i]);
    lua_rawget(L, t);
    if (!lua_isnil(L, -1) && !lua_istable(L, -1)) luaL_error(L, "%s.%s must be a table", what, names[i]);
    if (lua_istable(L, -1)) *(i == 0 ? &o->array_mt : &o->numbers) = lua_gettop(L);
  }
}

/* json_decode(text [, opts]) -> value | nil, message */
/***
 * Decodes JSON text (RFC 8259) into Lua values, reading the bytes in place: strings without escapes
 * go straight from the text into Lua strings, tables are created at their final size.
 *
 * - Objects become tables (the last of duplicate keys wins), arrays tables from 1; an empty array
 *   gets `array_mt` as its metatable, so it encodes back as `[]` (nothing else gets a metatable).
 * - `null` is a light userdata NULL: the same value as `cjson.null` and @{instagram.json.null}.
 * - A number written as an integer (no fraction, no exponent) is exact: a Lua integer on Lua 5.3+
 *   (int64), a number on LuaJIT and Lua 5.1 when |n| <= 2^53; beyond that it is a string of its
 *   digits (`"9223372036854775808"`), never a rounded number. `-0` is the integer 0.
 * - Other numbers are floats, correctly rounded (`strtod`, whatever the C locale). `NaN`,
 *   `Infinity`, hex, a `+` sign, leading zeros are refused, as is a number beyond a double's range
 *   (`1e999`); underflow (`1e-999`) gives 0.
 * - Strings: every escape; `\uXXXX` becomes UTF-8, a surrogate pair one code point, a lone surrogate
 *   U+FFFD; `\u0000` a NUL byte. Other bytes are kept as they are (no UTF-8 check, as lua-cjson).
 *   A raw control character (below 0x20) is refused.
 * - Whitespace is space, tab, CR and LF only; the text is one value (a scalar too) and nothing but
 *   whitespace after it; an empty text is refused.
 * @function json_decode
 * @tparam string text the JSON text
 * @tparam[opt] table opts the options (read raw, no metamethods):
 * @tparam[opt=512] integer opts.max_depth how deep arrays and objects may nest (the outermost is
 *   level 1), 1 to 1000
 * @tparam[opt] table opts.array_mt the metatable of each empty array (@{instagram.json.array_mt})
 * @tparam[opt] table opts.numbers a table where each integer returned as a string of digits is
 *   recorded: `numbers[digits] = true`, and `numbers.n` counts the new ones (how
 *   @{instagram.json.encode} knows to write them back as numbers)
 * @treturn[1] any the value
 * @treturn[2] nil
 * @treturn[2] string message what is wrong and its byte offset (the first byte is 1; the end of
 *   the text is `#text + 1`), e.g. `"expected ',' or '}' at byte 1234"`
 * @raise when `text` is not a string, `opts` not a table, `opts.max_depth` not a whole number from
 *   1 to 1000, `opts.array_mt` or `opts.numbers` not a table; never for what the text holds (only an error of Lua itself propagates: out of memory, or
 *   on LuaJIT and 5.1 one raised by a `__gc` metamethod while the decoder allocates)
 * @usage local v = assert(core.json_decode('{"id":17841405822304915,"data":[]}'))
 * print(v.id) --> 17841405822304915 (Lua 5.4: an integer; LuaJIT: the string "17841405822304915")
 */
static int l_json_decode(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  ig_json_opts o;
  ig_json_check_opts(L, lua_isnil(L, 2) ? 0 : 2, "opts", &o);
  return ig_json_decode(L, text, len, &o);
}

static const luaL_Reg json_funcs[] = {
  {"json_decode", l_json_decode},
  {NULL, NULL}
};

void ig_json_open(lua_State *L) {
  luaL_setfuncs(L, json_funcs, 0);
#if LUA_VERSION_NUM < 502
  lua_pushlightuserdata(L, (void *)&PROTECTED_KEY);
  lua_pushcfunction(L, decode_protected);
  lua_rawset(L, LUA_REGISTRYINDEX);
#endif
}
