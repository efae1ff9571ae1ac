/* buffer.c: the byte buffer used for response bodies and header blocks. */
#include <stdlib.h>
#include <string.h>
#include "core.h"

int ig_buf_append(ig_buf *b, const char *p, size_t n) {
  if (n == 0) return 0;
  if (n > b->max || b->len > b->max - n) { b->overflow = 1; return -1; }
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) cap = cap > ((size_t)-1) / 2 ? b->len + n : cap * 2;
    char *d = realloc(b->data, cap);
    if (!d) return -1;
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

void ig_buf_reset(ig_buf *b) {
  b->len = 0;
  b->overflow = 0;
  /* Keep a modest allocation for the next response on this connection; drop a large one. */
  if (b->cap > (1u << 20)) { free(b->data); b->data = NULL; b->cap = 0; }
}

void ig_buf_free(ig_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}
