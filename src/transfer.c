/* transfer.c: what every kind of transfer shares (request, upload, many, start): argument
 * validation, the header list, the easy handle's options, libcurl's callbacks, the call's scratch
 * userdata and the results pushed back to Lua. */
/***
 * @module instagram.core
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <poll.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "session.h"

/* ---- the call's scratch userdata ----------------------------------------------------------- */

void ig_call_free(ig_call *c) {
  curl_slist_free_all(c->headers);
  c->headers = NULL;
  if (c->file) { fclose(c->file); c->file = NULL; }
  ig_buf_free(&c->x.body);
  ig_buf_free(&c->x.head);
}

static int l_call_gc(lua_State *L) {
  ig_call *c = (ig_call *)luaL_checkudata(L, 1, IG_CALL_MT);
  if (ig_rawlen(L, 1) != sizeof *c) return 0; /* (not one: the debug library can set any metatable) */
  if (!c->running) ig_call_free(c); /* (the collector only runs it once the call is over) */
  return 0;
}

/* The registry's slot for a spare call scratch: a finished call that holds nothing is kept for the
 * next one (~500 bytes a call less to allocate and collect: Lua 5.4's collector works in proportion
 * to the bytes allocated; measured -0.1 to -1.5 us a call. On LuaJIT, whose allocation is cheap,
 * the registry's look-ups cost more than they save: +0.7 to +1.7 us, so it allocates). false while
 * a call uses it, so a call a finalizer makes meanwhile gets one of its own; the slot exists from
 * the start, so neither taking nor giving back allocates. */
#if LUA_VERSION_NUM >= 503
#define SPARE_CALL 1
#else
#define SPARE_CALL 0
#endif
static const char spare_call = 0;

/* The spare, pushed and taken from its slot; or NULL, nothing pushed. */
static ig_call *take_spare(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&spare_call);
  lua_rawget(L, LUA_REGISTRYINDEX);
  ig_call *c = (ig_call *)luaL_testudata(L, -1, IG_CALL_MT);
  if (!c || ig_rawlen(L, -1) != sizeof *c || c->running || c->in_use) { /* (the debug library may put anything there) */
    lua_pop(L, 1);
    return NULL;
  }
  lua_pushlightuserdata(L, (void *)&spare_call);
  lua_pushboolean(L, 0);
  lua_rawset(L, LUA_REGISTRYINDEX);
  ig_call_free(c); /* (given back empty; in case) */
  return c;
}

ig_call *ig_call_new(lua_State *L, size_t max_body) {
  ig_call *c = SPARE_CALL ? take_spare(L) : NULL;
  if (!c) {
    c = (ig_call *)lua_newuserdata(L, sizeof *c);
    luaL_setmetatable(L, IG_CALL_MT); /* (allocates nothing: no finalizer sees it before the memset) */
  }
  memset(c, 0, sizeof *c);
  c->in_use = 1;
  c->x.body.max = max_body;
  c->x.head.max = IG_MAX_HEADER_BLOCK;
  return c;
}

void ig_call_spare(lua_State *L, int idx, ig_call *c) {
  if (!SPARE_CALL || c->headers || c->file || c->x.body.data || c->x.head.data || c->running) return;
  c->in_use = 0;
  idx = ig_absindex(L, idx);
  lua_pushlightuserdata(L, (void *)&spare_call);
  lua_pushvalue(L, idx);
  lua_rawset(L, LUA_REGISTRYINDEX);
}

/* core.regular_file(path) -> true | nil, message: can this be opened for reading without
 * blocking, and is it a regular file? (What the nginx transport asks before io.open: a FIFO
 * would block the whole worker.) */
/***
 * Can this path be opened for reading, and is it a regular file? Opened without blocking (a FIFO
 * would stall the caller; the nginx transport asks this before `io.open`).
 * @function regular_file
 * @tparam string path the path
 * @treturn[1] boolean true
 * @treturn[2] nil
 * @treturn[2] string message why not (not a regular file, cannot be opened)
 * @raise when `path` is not a string, is empty or holds a NUL byte
 * @usage assert(core.regular_file("/etc/ssl/certs/ca-certificates.crt"))
 */
static int l_regular_file(lua_State *L) {
  size_t len;
  const char *path = luaL_checklstring(L, 1, &len);
  if (len == 0 || strlen(path) != len) return luaL_argerror(L, 1, "a file path without NUL bytes");
  FILE *f = NULL;
  int err = ig_open_regular(path, &f);
  if (err == 0) { fclose(f); lua_pushboolean(L, 1); return 1; }
  lua_pushnil(L);
  if (err < 0) lua_pushfstring(L, "'%s' is not a regular file", path);
  else lua_pushfstring(L, "cannot open '%s' for reading", path);
  return 2;
}

/* With the module table on the stack top. */
void ig_transfer_open(lua_State *L) {
  ig_new_class(L, IG_CALL_MT, NULL, l_call_gc, 0, NULL);
  lua_pop(L, 1);
  if (SPARE_CALL) {
    lua_pushlightuserdata(L, (void *)&spare_call);
    lua_pushboolean(L, 0);
    lua_rawset(L, LUA_REGISTRYINDEX);
  }
  lua_pushcfunction(L, l_regular_file);
  lua_setfield(L, -2, "regular_file");
}

/* The response moves from the session's buffers to the call's: after this the session may be
 * closed or reused by a finalizer while the call pushes what it holds. Never allocates. */
void ig_take_response(ig_xfer *from, ig_xfer *to) {
  ig_buf_free(&to->body);
  ig_buf_free(&to->head);
  size_t bmax = to->body.max, hmax = to->head.max;
  to->body = from->body;
  to->head = from->head;
  to->body.max = bmax;
  to->head.max = hmax;
  memcpy(to->errbuf, from->errbuf, sizeof to->errbuf);
  to->attempts = from->attempts;
  to->no_replay = from->no_replay;
  to->bad = from->bad;
  to->stale = from->stale;
  size_t fbmax = from->body.max, fhmax = from->head.max;
  memset(&from->body, 0, sizeof from->body);
  memset(&from->head, 0, sizeof from->head);
  from->body.max = fbmax;
  from->head.max = fhmax;
  from->errbuf[0] = '\0';
}

/* Once the results are on the stack: the session keeps the allocations for its next response,
 * if it is still open, idle, and has not made new ones meanwhile. */
void ig_give_back(ig_session *s, ig_xfer *x) {
  if (s->easy && !s->busy && !s->closing && !s->x.body.data && !s->x.head.data) {
    size_t bmax = s->x.body.max, hmax = s->x.head.max;
    s->x.body = x->body;
    s->x.head = x->head;
    s->x.body.max = bmax;
    s->x.head.max = hmax;
    ig_buf_reset(&s->x.body);
    ig_buf_reset(&s->x.head);
    memset(&x->body, 0, sizeof x->body);
    memset(&x->head, 0, sizeof x->head);
  } else {
    ig_buf_free(&x->body);
    ig_buf_free(&x->head);
  }
}

/* ---- validation ---------------------------------------------------------------------------- */

int ig_valid_method(const char *m, size_t len) {
  if (len == 0 || len > 16) return 0;
  for (size_t i = 0; i < len; i++)
    if (!isupper((unsigned char)m[i])) return 0;
  return 1;
}

static int valid_header_name(const char *k, size_t len) {
  if (len == 0 || len > 256) return 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)k[i];
    if (c == 0 || !(isalnum(c) || strchr("!#$%&'*+-.^_`|~", c))) return 0;
  }
  return 1;
}

static int valid_header_value(const char *v, size_t len) {
  if (len > 16384) return 0;
  for (size_t i = 0; i < len; i++)
    if (v[i] == '\r' || v[i] == '\n' || v[i] == '\0') return 0;
  return 1;
}

/* An http(s) URL of at most 64 KiB with no byte <= 0x20 and no DEL (no request splitting, no
 * NUL truncation: libcurl would see a different URL from the one checked). */
int ig_valid_url(const char *url, size_t len) {
  if (len == 0 || len > IG_MAX_URL) return 0;
  if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) return 0;
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] == 0x7f) return 0;
  return 1;
}

const char *ig_check_url(lua_State *L, int idx) {
  size_t ulen;
  const char *url = luaL_checklstring(L, idx, &ulen);
  if (!ig_valid_url(url, ulen))
    luaL_error(L, "bad url: an http:// or https:// URL of at most 64 KiB, without spaces or control bytes");
  return url;
}

/* Appends the table at idx (0: none) to *list, then "Expect:". Every line is on *list as soon as
 * it is made, so whoever owns *list frees it even when this raises halfway. */
/* A number's text as Lua's tostring writes it (integers as integers; floats "%.14g", on Lua 5.3+
 * with ".0" when that looks like an integer), formatted here rather than by lua_tolstring, which
 * allocates: a finalizer run from that allocation could run the __gc of what holds the list being
 * built by hand (the debug library reaches it), and the lines built so far were lost. */
static size_t number_text(lua_State *L, int idx, char *buf, size_t size) {
#if LUA_VERSION_NUM >= 503
  if (lua_isinteger(L, idx)) return (size_t)snprintf(buf, size, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, idx));
#endif
  int n = snprintf(buf, size, "%.14g", (double)lua_tonumber(L, idx));
#if LUA_VERSION_NUM >= 503
  if (n > 0 && (size_t)n + 2 < size && buf[strspn(buf, "-0123456789")] == '\0') {
    buf[n++] = lua_getlocaledecpoint();
    buf[n++] = '0';
    buf[n] = '\0';
  }
#endif
  return n > 0 ? (size_t)n : 0;
}

void ig_build_headers(lua_State *L, int idx, struct curl_slist **list) {
  struct curl_slist *tmp;
  if (idx != 0) {
    luaL_checkstack(L, 4, "too many nested calls");
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
      size_t klen, vlen;
      if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "header names must be strings");
      if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
        luaL_error(L, "header values must be strings or numbers");
      const char *k = lua_tolstring(L, -2, &klen);
      char num[64];
      const char *v = num;
      if (lua_type(L, -1) == LUA_TSTRING) v = lua_tolstring(L, -1, &vlen); /* (nothing here allocates) */
      else vlen = number_text(L, -1, num, sizeof num);
      if (!valid_header_name(k, klen))
        luaL_error(L, "invalid header name: names are HTTP tokens of at most 256 bytes");
      if ((klen == 14 && strncasecmp(k, "content-length", 14) == 0) ||
          (klen == 17 && strncasecmp(k, "transfer-encoding", 17) == 0))
        luaL_error(L, "header '%s' is the transport's to set: a second framing header would split the request", k);
      if (!valid_header_value(v, vlen))
        luaL_error(L, "invalid header '%s': values have no CR, LF or NUL (at most 16 KiB)", k);
      char *line = malloc(klen + vlen + 3);
      if (!line) luaL_error(L, "out of memory");
      memcpy(line, k, klen);
      if (vlen == 0) { line[klen] = ';'; line[klen + 1] = '\0'; } /* curl's syntax for an empty value */
      else { line[klen] = ':'; line[klen + 1] = ' '; memcpy(line + klen + 2, v, vlen); line[klen + 2 + vlen] = '\0'; }
      tmp = curl_slist_append(*list, line);
      free(line);
      if (!tmp) luaL_error(L, "out of memory");
      *list = tmp;
      lua_pop(L, 1);
    }
  }
  tmp = curl_slist_append(*list, "Expect:"); /* no 100-continue round trip on POST bodies */
  if (!tmp) luaL_error(L, "out of memory");
  *list = tmp;
}

/* Opens a regular file for reading without ever blocking: a FIFO or a device would stall the
 * process in open() or later in read(). 0 on success; -1 when it is not a regular file; else an
 * errno value. */
int ig_open_regular(const char *path, FILE **out) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return errno ? errno : EIO;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) { close(fd); return -1; }
  int fl = fcntl(fd, F_GETFL);
  if (fl != -1) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  FILE *f = fdopen(fd, "rb");
  if (!f) { int e = errno; close(fd); return e ? e : EIO; }
  *out = f;
  return 0;
}

/* ---- libcurl: callbacks (never touch the Lua state) and options ----------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  ig_xfer *x = (ig_xfer *)ud;
  size_t total = size * n;
  return ig_buf_append(&x->body, p, total) == 0 ? total : 0;
}

/* Where on_header is: before a block's status line, in its fields, or past the final block
 * (chunked trailers come then: never merged into the headers, RFC 9110 6.5.1). */
enum { HEAD_STATUS = 0, HEAD_FIELDS = 1, HEAD_DONE = 2 };

void ig_xfer_start(ig_xfer *x) {
  x->errbuf[0] = '\0';
  x->attempts = 0;
  ig_buf_reset(&x->body);
  ig_buf_reset(&x->head);
  x->stale = 0;
  x->head_state = HEAD_STATUS;
  x->head_status = 0;
  x->head_length = -1;
  x->head_seen = 0;
  x->bad = NULL;
}

/* A Content-Length field's value: decimal numbers, all the same when there are several (a list,
 * or repeated fields: RFC 9112 6.3); libcurl 7.88 takes "0x8", "8abc", "2 8", and the last of two
 * that differ. */
static int content_length(ig_xfer *x, const char *v, size_t len) {
  const char *end = v + len;
  for (;;) {
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (v < end && *v == '0' && v + 1 < end && v[1] >= '0' && v[1] <= '9') v++; /* leading zeros */
    long long n = 0;
    int digits = 0;
    while (v < end && *v >= '0' && *v <= '9' && digits <= 18) n = n * 10 + (*v++ - '0'), digits++;
    if (digits == 0 || digits > 18) return -1;
    if (x->head_length >= 0 && x->head_length != n) return -1;
    x->head_length = n;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    if (v < end && *v == ',') { v++; continue; }
    while (v < end && (*v == '\r' || *v == '\n')) v++;
    return v == end ? 0 : -1;
  }
}

/* The status code of a status line as libcurl 7.88 reads it ("HTTP/1.1 200", "HTTP/2 200": after
 * the version one separator, then blanks, then up to three digits); -1 for none. */
static int status_code(const char *p, size_t len) {
  size_t i = 5; /* past "HTTP/" */
  while (i < len && p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n') i++;
  i++;
  while (i < len && (p[i] == ' ' || p[i] == '\t')) i++;
  int code = -1;
  for (int d = 0; d < 3 && i < len && p[i] >= '0' && p[i] <= '9'; d++, i++) code = (code < 0 ? 0 : code * 10) + (p[i] - '0');
  return code;
}

/* One line of an answer's header blocks (libcurl calls this for 1xx blocks, the final one, and
 * chunked trailers; a proxy's CONNECT answer never: CURLOPT_SUPPRESS_CONNECT_HEADERS). The last
 * block is kept, every block counts against the header limit, nothing after the final block is
 * kept, and what libcurl would guess at is refused: a 101 (no upgrade is ever asked for: the
 * connection speaks something else now), a bad or conflicting Content-Length, a folded line. A
 * refusal ends the transfer (libcurl then closes the connection) with x->bad saying why. */
static size_t on_header(char *p, size_t size, size_t n, void *ud) {
  ig_xfer *x = (ig_xfer *)ud;
  size_t total = size * n;
  if (x->head_seen > x->head.max || total > x->head.max - x->head_seen) { x->head.overflow = 1; return 0; }
  x->head_seen += total;
  if (total == 0 || x->head_state == HEAD_DONE) return total; /* trailers: read, never kept */
  if (x->head_state == HEAD_STATUS) { /* a block starts: its status line (after 1xx) */
    int code = total >= 5 && memcmp(p, "HTTP/", 5) == 0 ? status_code(p, total) : -1;
    if (code == 101) { x->bad = "a 101 Switching Protocols to a request that asked for no upgrade"; return 0; }
    x->head_status = code;
    x->head_length = -1;
    x->head_state = HEAD_FIELDS;
    x->head.len = 0;
  } else if (p[0] == '\r' || p[0] == '\n') { /* the block's end, as libcurl sees it */
    x->head_state = x->head_status >= 100 && x->head_status < 200 ? HEAD_STATUS : HEAD_DONE;
  } else if (total >= 5 && memcmp(p, "HTTP/", 5) == 0) {
    return total; /* "HTTP/x: y" among the fields: no field at all ('/' is in no field name) */
  } else if (x->head_status >= 200) {
    if (p[0] == ' ' || p[0] == '\t') { x->bad = "a folded header line (obs-fold)"; return 0; }
    if (total > 15 && strncasecmp(p, "content-length:", 15) == 0 && content_length(x, p + 15, total - 15) != 0) {
      x->bad = "a Content-Length that is not one decimal number (or two that differ)";
      return 0;
    }
  }
  return ig_buf_append(&x->head, p, total) == 0 ? total : 0;
}

/* libcurl's sockets, as it would make and close them, noted in the session's list (a socket past
 * the list's room is made all the same; the look at sending does not find it, and a batch transfer
 * then does not reuse its connection). */
static curl_socket_t on_open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a) {
  ig_sockets *set = (ig_sockets *)ud;
  (void)purpose;
  curl_socket_t fd = socket(a->family, a->socktype, a->protocol);
  if (fd != CURL_SOCKET_BAD && set->n < IG_MAX_TRACKED) {
    set->s[set->n].fd = fd;
    set->s[set->n].lport = set->s[set->n].rport = 0;
    set->n++;
  }
  return fd;
}

static int on_close_socket(void *ud, curl_socket_t fd) {
  ig_sockets *set = (ig_sockets *)ud;
  for (int i = 0; i < set->n; i++)
    if (set->s[i].fd == fd) { set->s[i] = set->s[--set->n]; break; }
  return close(fd);
}

/* Whether libcurl's OpenSSL is the one this library links (the same version): only then may an
 * SSL* libcurl hands out be asked anything. Decided once. */
static int same_openssl(void) {
  static int same = -1;
  if (same < 0) {
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    const char *theirs = v && v->ssl_version ? v->ssl_version : "", *ours = OpenSSL_version(OPENSSL_VERSION);
    char a[32] = "", b[32] = "";
    if (sscanf(theirs, "OpenSSL/%31[0-9.]", a) == 1 && sscanf(ours, "OpenSSL %31[0-9.]", b) == 1) same = strcmp(a, b) == 0;
    else same = 0;
  }
  return same;
}

/* libcurl asks OpenSSL to give back a connection's read and write buffers (~33 KiB) whenever it
 * goes idle (SSL_MODE_RELEASE_BUFFERS): on a handle making one request after another, two large
 * allocations and frees a call, each of which has glibc consolidate every small chunk the Lua
 * collector freed since the one before (bench/run, Lua 5.4). The one-at-a-time handles' TLS
 * connections keep them. */
static CURLcode keep_tls_buffers(CURL *e, void *ssl_ctx, void *ud) {
  (void)e, (void)ud;
  SSL_CTX_clear_mode((SSL_CTX *)ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
  return CURLE_OK;
}

#if LIBCURL_VERSION_NUM >= 0x075000
/* An address's port, and whether it is the address ip (text, as libcurl gives it) and port. */
static int port_of(const struct sockaddr_storage *sa) {
  if (sa->ss_family == AF_INET) return ntohs(((const struct sockaddr_in *)sa)->sin_port);
  if (sa->ss_family == AF_INET6) return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
  return 0;
}

static int same_address(const struct sockaddr_storage *sa, const char *ip, int port) {
  unsigned char want[16];
  char text[64];
  if (!ip || port_of(sa) != port) return 0;
  size_t n = strcspn(ip, "%"); /* (an IPv6 scope, "fe80::1%eth0": the address is before it) */
  if (n >= sizeof text) return 0;
  memcpy(text, ip, n);
  text[n] = '\0';
  ip = text;
  if (sa->ss_family == AF_INET)
    return inet_pton(AF_INET, ip, want) == 1 && memcmp(&((const struct sockaddr_in *)sa)->sin_addr, want, 4) == 0;
  if (sa->ss_family == AF_INET6)
    return inet_pton(AF_INET6, ip, want) == 1 && memcmp(&((const struct sockaddr_in6 *)sa)->sin6_addr, want, 16) == 0;
  return 0;
}

/* The socket of the connection from local_ip:local_port to ip:port (what the pre-request callback
 * is told), or -1. Two connections of a session may share a local port (to different servers, or
 * over IPv4 and IPv6): the ports, asked once per socket, pick the candidates; both addresses decide. */
static int socket_of(ig_sockets *set, const char *ip, int port, const char *local_ip, int local_port) {
  if (!set || local_port <= 0) return -1;
  for (int i = 0; i < set->n; i++) {
    struct sockaddr_storage here, there;
    socklen_t hl = sizeof here, tl = sizeof there;
    int asked = 0;
    if (set->s[i].lport == 0 || set->s[i].rport == 0) { /* (not connected yet: asked again next time) */
      if (getsockname(set->s[i].fd, (struct sockaddr *)&here, &hl) != 0 ||
          getpeername(set->s[i].fd, (struct sockaddr *)&there, &tl) != 0) continue;
      set->s[i].lport = port_of(&here);
      set->s[i].rport = port_of(&there);
      asked = 1;
    }
    if (set->s[i].lport != local_port || set->s[i].rport != port) continue;
    if (!asked && (getsockname(set->s[i].fd, (struct sockaddr *)&here, &hl) != 0 ||
                   getpeername(set->s[i].fd, (struct sockaddr *)&there, &tl) != 0)) continue;
    if (same_address(&here, local_ip, local_port) && same_address(&there, ip, port)) return (int)set->s[i].fd;
  }
  return -1;
}

/* Bytes (or an end) waiting on a descriptor, without waiting. */
static int readable(int fd) {
  struct pollfd p = { fd, POLLIN, 0 };
  return fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR));
}

/* A reused HTTP/1.x connection holding bytes past the last answer, which this request would read
 * as its own: over TLS inside OpenSSL (bytes that came in the answer's last record; libcurl read no
 * further than the answer's length, so the socket shows nothing), and on its socket. One at a time
 * the socket sets (ig_socks_stale) looked just before; a transfer of a get_many batch, which may
 * take up a connection another of the batch freed, has its socket found from the addresses libcurl
 * tells the pre-request callback (libcurl 7.88 names no socket then, and gives OpenSSL a BIO of its
 * own: SSL_get_fd is -1), and one not found is not reused. The request is refused before a byte
 * leaves, libcurl closes the connection, and the caller tries again on another (ig_stale_retry).
 * Over TLS only when libcurl's OpenSSL is the one linked (else it cannot be told whether the
 * connection speaks HTTP/2, whose frames may wait on it by right: answers carry their stream's id). */
static int reused_holds_bytes(ig_xfer *x, const char *ip, int port, const char *local_ip, int local_port) {
  long made = 0;
  struct curl_tlssessioninfo *info = NULL;
  if (!x->easy || (!x->tls && !x->in_batch) || (x->tls && !same_openssl())) return 0;
  if (curl_easy_getinfo(x->easy, CURLINFO_NUM_CONNECTS, &made) != CURLE_OK || made != 0) return 0; /* new */
  if (x->tls) { /* (plain: HTTP/1.x here, never h2c) */
    if (curl_easy_getinfo(x->easy, CURLINFO_TLS_SSL_PTR, &info) != CURLE_OK || !info) return 0;
    if (info->backend != CURLSSLBACKEND_OPENSSL || !info->internals) return 0;
    SSL *ssl = (SSL *)info->internals;
    const unsigned char *alpn = NULL;
    unsigned int alen = 0;
    SSL_get0_alpn_selected(ssl, &alpn, &alen);
    if (alen == 2 && memcmp(alpn, "h2", 2) == 0) return 0;
    if (SSL_pending(ssl) > 0 || SSL_has_pending(ssl)) return 1;
    int fd = SSL_get_fd(ssl);
    if (fd >= 0 || !x->in_batch) return readable(fd);
  }
  int fd = socket_of(x->sockets, ip, port, local_ip, local_port);
  return fd < 0 || readable(fd);
}

int ig_stale_retry(ig_xfer *x) {
  /* (attempts: a request of this transfer went out before, on a connection that died: libcurl's own
   * re-send met the stale one. It may have reached the server: no more tries, reported so.) */
  if (!x->stale || x->attempts > 0 || ++x->stale_tries >= 3) return 0;
  ig_xfer_start(x);
  return 1;
}

/* Called by libcurl right before each request it sends on a connection. libcurl re-sends a request
 * by itself when a reused connection dies before any answer byte, whatever the method: a POST the
 * server has read would be carried out twice. The second attempt of such a request is refused. */
static int on_prereq(void *ud, char *ip, char *local_ip, int port, int local_port) {
  ig_xfer *x = (ig_xfer *)ud;
  if (x->attempts > 0 && x->no_replay) { /* (before the look: a replay refused stays refused) */
    x->attempts++;
    return CURL_PREREQFUNC_ABORT;
  }
  if (reused_holds_bytes(x, ip, port, local_ip, local_port)) {
    x->stale = 1;
    return CURL_PREREQFUNC_ABORT;
  }
  x->attempts++;
  return CURL_PREREQFUNC_OK;
}
#endif

int ig_looked_at_when_sent(const ig_xfer *x) {
#if LIBCURL_VERSION_NUM >= 0x075000
  return !x->tls || same_openssl();
#else
  (void)x;
  return 0;
#endif
}

void ig_socks_note(ig_socks *set, CURL *e) {
  curl_socket_t sock = CURL_SOCKET_BAD;
  long version = 0;
  if (curl_easy_getinfo(e, CURLINFO_ACTIVESOCKET, &sock) != CURLE_OK || sock == CURL_SOCKET_BAD) return;
  if (curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &version) == CURLE_OK && version >= CURL_HTTP_VERSION_2_0) return;
  for (int i = 0; i < set->n; i++)
    if (set->fd[i] == sock) return;
  if (set->n < IG_MAX_SOCKS) set->fd[set->n++] = sock;
  else set->full = 1;
}

int ig_socks_stale(ig_socks *set) {
  struct pollfd pfd[IG_MAX_SOCKS];
  int stale = set->full;
  for (int i = 0; i < set->n; i++) pfd[i].fd = set->fd[i], pfd[i].events = POLLIN, pfd[i].revents = 0;
  if (!stale && set->n > 0 && poll(pfd, (nfds_t)set->n, 0) > 0) {
    for (int i = 0; i < set->n; i++) /* (POLLNVAL: a descriptor libcurl closed since; nothing to fear) */
      if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) stale = 1;
  }
  if (stale) set->n = set->full = 0;
  return stale;
}

/* Bytes waiting on a connection s->easy keeps (ig_socks_stale): the handle is replaced by a new one,
 * which closes every connection of the old. (request and upload: the same handle.) */
void ig_drop_stale_connections(ig_session *s) {
  if (!ig_socks_stale(&s->req_socks)) return;
  CURL *e = curl_easy_init();
  if (!e) return; /* (out of memory: libcurl's own liveness check is all there is) */
  curl_easy_cleanup(s->easy);
  s->easy = e;
  s->prepared = 0;
}

/* Resets an easy handle and sets what every transfer shares; x collects the response. */
void ig_setup_easy(ig_session *s, CURL *e, ig_xfer *x, const char *url, struct curl_slist *headers,
                   long timeout_ms) {
  curl_easy_reset(e); /* keeps live connections, DNS and TLS session caches */
  ig_xfer_start(x);
  x->easy = e;
  x->sockets = &s->sockets;
  x->in_batch = 0;
  x->tls = ig_url_is_tls(url);
  x->stale_tries = 0;
  x->no_replay = 0;
  curl_easy_setopt(e, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
  long connect_ms = s->connect_timeout_ms;
  if (timeout_ms > 0 && timeout_ms < connect_ms) connect_ms = timeout_ms;
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
  curl_easy_setopt(e, CURLOPT_USERAGENT, s->user_agent ? s->user_agent
                                                       : "instagram-graph-lua/" IG_CORE_VERSION);
  /* HTTP/2 pays where requests run at once (many(): one connection, multiplexed); one at a time,
   * HTTP/1.1 on a kept-alive connection costs less on both ends (bench/run: ~30K instructions and
   * ~20 us a call on loopback). */
  int one_at_a_time = e == s->easy || e == s->async_easy;
  int h2 = s->http2 == IG_HTTP2_ALWAYS || (s->http2 == IG_HTTP2_CONCURRENT && !one_at_a_time);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, h2 ? (long)CURL_HTTP_VERSION_2TLS : (long)CURL_HTTP_VERSION_1_1);
  if (one_at_a_time && same_openssl()) curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, keep_tls_buffers);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  if (s->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, s->ca_file);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L); /* a proxy's CONNECT answer is no answer */
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, &s->sockets);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, &s->sockets);
#if LIBCURL_VERSION_NUM >= 0x075000
  curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
  curl_easy_setopt(e, CURLOPT_PREREQDATA, x);
#endif
}

/* The method and body of a request (the body must outlive the transfer). Every call states the
 * method from scratch, so a handle can go from one request to the next without a reset. */
void ig_set_method(CURL *e, ig_xfer *x, const char *method, const char *body, size_t blen) {
  static const char *const idempotent[] = { "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE", NULL };
  x->no_replay = 1;
  for (int i = 0; idempotent[i]; i++)
    if (strcmp(method, idempotent[i]) == 0) x->no_replay = 0;
#if LIBCURL_VERSION_NUM < 0x075000
  /* No pre-request callback to refuse libcurl's own re-send: never reuse a connection for it. */
  curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, (long)x->no_replay);
#endif
  curl_easy_setopt(e, CURLOPT_HTTPGET, 1L); /* clears POST, NOBODY and UPLOAD */
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
  if (strcmp(method, "GET") == 0 && !body) return;
  if (strcmp(method, "HEAD") == 0) { curl_easy_setopt(e, CURLOPT_NOBODY, 1L); return; }
  if (strcmp(method, "POST") == 0 || body) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "");
  }
  if (strcmp(method, "POST") != 0) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
}

/* ---- results ------------------------------------------------------------------------------- */

static const char *error_kind(CURLcode rc) {
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT: return "timeout";
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT: return "connect";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_USE_SSL_FAILED: return "tls";
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL: return "invalid";
    default: return "network";
  }
}

/* Pushes status, headers, body, or nil, kind, message, for a finished transfer (only the headers
 * want names, when want is not NULL). x must belong to the caller's scratch (not to a session):
 * pushing allocates, and finalizers may run. */
int ig_push_result(lua_State *L, long status, ig_xfer *x, CURLcode rc, const ig_want *want) {
  luaL_checkstack(L, 4, "too many nested calls");
  if (rc != CURLE_OK) {
    lua_pushnil(L);
    if (rc == CURLE_WRITE_ERROR && x->body.overflow) {
      lua_pushliteral(L, "size");
      lua_pushfstring(L, "response body larger than max_body (%d bytes)",
                      (int)(x->body.max > 0x7fffffff ? 0x7fffffff : x->body.max));
    } else if (rc == CURLE_WRITE_ERROR && x->head.overflow) {
      lua_pushliteral(L, "size");
      lua_pushliteral(L, "response headers larger than 256 KiB");
    } else if (rc == CURLE_ABORTED_BY_CALLBACK && x->stale && x->attempts == 0) {
      lua_pushliteral(L, "connect");
      lua_pushliteral(L, "every kept-alive connection tried held bytes past its last answer (they would have been "
                         "read as this request's answer); nothing was sent");
    } else if (rc == CURLE_WRITE_ERROR && x->bad) {
      lua_pushliteral(L, "network");
      lua_pushfstring(L, "refused an answer with %s (it may have been acted on)", x->bad);
    } else if (rc == CURLE_ABORTED_BY_CALLBACK && x->attempts > 0) { /* (a replay refused, or met a stale one) */
      lua_pushliteral(L, "network");
      lua_pushliteral(L, "libcurl would have sent the request again on another connection (the first one "
                         "closed before an answer, or an HTTP/2 server refused the stream); it may have "
                         "reached the server, so it was not sent again");
    } else {
      const char *kind = error_kind(rc);
      /* A request handed to a connection may have reached the server even if what failed last was
       * a reconnect (libcurl's own retry): never "connect", which means "nothing was sent". */
      if (x->attempts > 0 && strcmp(kind, "connect") == 0) kind = "network";
      lua_pushstring(L, kind);
      lua_pushstring(L, x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
    }
    return 3;
  }
  lua_pushinteger(L, (lua_Integer)status);
  ig_push_headers(L, x->head.data, x->head.len, want);
  lua_pushlstring(L, x->body.data ? x->body.data : "", x->body.len);
  return 3;
}

/* As ig_push_result, but the body is decoded as JSON straight from the buffer (json.c, options o):
 * status, headers, body | nil, value | nil, message | nil. The body becomes a Lua string only when
 * it is wanted: empty (""), not JSON (then message says why), or an answer that is not 2xx (an
 * error's text). A failed transfer gives nil, kind, message, as ig_push_result. */
int ig_push_decoded(lua_State *L, long status, ig_xfer *x, CURLcode rc, const ig_json_opts *o,
                    const ig_want *want) {
  if (rc != CURLE_OK) return ig_push_result(L, status, x, rc, want);
  luaL_checkstack(L, 6, "too many nested calls");
  const char *body = x->body.data ? x->body.data : "";
  lua_pushinteger(L, (lua_Integer)status);
  ig_push_headers(L, x->head.data, x->head.len, want);
  if (x->body.len == 0) {
    lua_pushliteral(L, "");
    lua_pushnil(L);
    lua_pushnil(L);
    return 5;
  }
  int keep = status < 200 || status >= 300;
  if (keep) lua_pushlstring(L, body, x->body.len);
  else lua_pushnil(L);
  if (ig_json_decode(L, body, x->body.len, o) == 1) {
    lua_pushnil(L);
  } else if (!keep) {
    lua_pushlstring(L, body, x->body.len);
    lua_replace(L, -4);
  }
  return 5;
}

int ig_pusher_ready(lua_State *L, lua_CFunction fn, int owner) {
  owner = ig_absindex(L, owner);
  luaL_checkstack(L, IG_PUSH_SLOTS, "too many nested calls"); /* (the push's, before sending) */
  lua_pushvalue(L, owner);
  lua_pushcclosure(L, fn, 1);
  lua_pushvalue(L, -1);
  if (lua_pcall(L, 0, 0, 0) != 0) lua_error(L); /* the probe */
  return lua_gettop(L);
}

int ig_pcall_busy(lua_State *L, int fn, int nargs, int *busy, void (*cleanup)(void *), void *ud) {
  int args = lua_gettop(L) - nargs; /* (the arguments above it stay, for another try) */
  int stopped = 0;
  for (int tries = 1;; tries++) {
    lua_pushvalue(L, fn); /* (room: IG_PUSH_SLOTS, checked before sending) */
    for (int i = 1; i <= nargs; i++) lua_pushvalue(L, args + i);
    *busy = 1; /* from here to the protected call nothing allocates or raises, on either runtime */
    int rc = lua_pcall(L, nargs, LUA_MULTRET, 0);
    *busy = 0;
    if (stopped) lua_gc(L, LUA_GCRESTART, 0);
    if (rc == 0) return lua_gettop(L) - args - nargs;
    if ((rc != LUA_ERRRUN && rc != LUA_ERRMEM) || tries == IG_PUSH_TRIES) {
      cleanup(ud);
      return lua_error(L);
    }
    lua_pop(L, 1); /* (a finalizer's error on LuaJIT, where they are raised from any allocation, its call's
                    * stack overflow, or its allocation that failed: what was pushed is gone, the answer's
                    * buffers are whole) */
    if (tries == IG_PUSH_TRIES - 1 || rc == LUA_ERRMEM) { /* the last try runs no finalizer */
      tries = IG_PUSH_TRIES - 1;
#ifdef LUA_GCISRUNNING /* (Lua 5.2+ and LuaJIT; plain Lua 5.1 cannot tell, and leaves it running) */
      stopped = lua_gc(L, LUA_GCISRUNNING, 0) == 1;
      if (stopped) lua_gc(L, LUA_GCSTOP, 0);
#endif
    }
  }
}

/* What ig_call_push hands the function it runs under lua_pcall, through the call (c->push is set
 * only meanwhile: the function, which the debug library can take from the stack, does nothing
 * once it is over). */
typedef struct {
  const ig_want *want;
  int decode, max_depth;
} push_args;

static int push_call(lua_State *L) { /* (array_mt|nil, numbers|nil) -> the answer; () -> nothing */
  ig_call *c = (ig_call *)lua_touserdata(L, lua_upvalueindex(1));
  if (lua_gettop(L) == 0) return 0; /* (ig_pusher_ready's probe) */
  if (!c->running || !c->push) return luaL_error(L, "no answer to push");
  const push_args *a = (const push_args *)c->push;
  ig_json_opts o;
  o.max_depth = a->max_depth;
  o.array_mt = lua_istable(L, 1) ? 1 : 0;
  o.numbers = lua_istable(L, 2) ? 2 : 0;
  return a->decode ? ig_push_decoded(L, c->status, &c->x, c->rc, &o, a->want)
                   : ig_push_result(L, c->status, &c->x, c->rc, a->want);
}

int ig_call_ready(lua_State *L, int idx) { return ig_pusher_ready(L, push_call, idx); }

static void call_cleanup(void *ud) {
  ig_call *c = (ig_call *)ud;
  c->push = NULL;
  ig_call_free(c);
}

int ig_call_push(lua_State *L, int fn, ig_call *c, const ig_json_opts *o, const ig_want *want) {
  push_args a = { want, o != NULL, o ? o->max_depth : 0 };
  if (o && o->array_mt) lua_pushvalue(L, o->array_mt); else lua_pushnil(L);
  if (o && o->numbers) lua_pushvalue(L, o->numbers); else lua_pushnil(L);
  c->push = &a; /* (push_call heeds it only while c is marked running) */
  int n = ig_pcall_busy(L, fn, 2, &c->running, call_cleanup, c);
  c->push = NULL;
  return n;
}
