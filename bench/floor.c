/* The transport floor: one libcurl easy handle looping curl_easy_perform on a keep-alive
 * connection, the body discarded (no decoding). Prints wall and CPU seconds per call.
 *   floor URL CA_FILE N
 * With BENCH_WARMUP=W, W calls after the connecting one are made (and timed) before the N, and a
 * third figure is printed: wall seconds per call of those W (the first calls of a process). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>

static size_t sink(char *p, size_t s, size_t n, void *ud) { (void)p; (void)ud; return s * n; }

static double now(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 4) { fprintf(stderr, "usage: floor URL CA_FILE N\n"); return 2; }
  int n = atoi(argv[3]);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL *e = curl_easy_init();
  struct curl_slist *h = curl_slist_append(NULL, "Authorization: Bearer EAABBenchTokenZ0123456789abcdefBenchTokenZ0123456789abcdefBenchTokenZ0123456789abcdefBenchTokenZ0123456789abcdefBenchTokenZ0123456789abcdefBenchTokenZ0123456789abcdefBenchTokenZ0123456789abcdefBenchTo");
  curl_easy_setopt(e, CURLOPT_URL, argv[1]);
  curl_easy_setopt(e, CURLOPT_CAINFO, argv[2]);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
  /* HTTP/2, unless FLOOR_HTTP=1.1 */
  const char *v = getenv("FLOOR_HTTP");
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, v && strcmp(v, "1.1") == 0 ? (long)CURL_HTTP_VERSION_1_1
                                                                       : (long)CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  if (curl_easy_perform(e) != CURLE_OK) { fprintf(stderr, "floor: first request failed\n"); return 1; }
  const char *wv = getenv("BENCH_WARMUP");
  int warm = wv ? atoi(wv) : 0;
  double ws = now(CLOCK_MONOTONIC);
  for (int i = 0; i < warm; i++) {
    if (curl_easy_perform(e) != CURLE_OK) { fprintf(stderr, "floor: warm-up request %d failed\n", i); return 1; }
  }
  double we = now(CLOCK_MONOTONIC);
  double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
  for (int i = 0; i < n; i++) {
    if (curl_easy_perform(e) != CURLE_OK) { fprintf(stderr, "floor: request %d failed\n", i); return 1; }
  }
  double w1 = now(CLOCK_MONOTONIC), c1 = now(CLOCK_PROCESS_CPUTIME_ID);
  if (warm > 0) printf("%.9f %.9f %.9f\n", (w1 - w0) / n, (c1 - c0) / n, (we - ws) / warm);
  else printf("%.9f %.9f\n", (w1 - w0) / n, (c1 - c0) / n);
  curl_slist_free_all(h);
  curl_easy_cleanup(e);
  curl_global_cleanup();
  return 0;
}
