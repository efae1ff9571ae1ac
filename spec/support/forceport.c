/* LD_PRELOAD shim for spec/stale_connection_spec.lua: the first TCP connect() of the process to each
 * destination port binds its socket to the local port $IG_FORCE_PORT first, so that two connections
 * of one session (to two servers) share a local port, as the kernel makes them do now and then. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static int seen[65536];

int connect(int fd, const struct sockaddr *a, socklen_t len) {
  static int (*real)(int, const struct sockaddr *, socklen_t);
  if (!real) real = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
  const char *fp = getenv("IG_FORCE_PORT");
  if (fp && a && a->sa_family == AF_INET) {
    int dport = ntohs(((const struct sockaddr_in *)a)->sin_port);
    if (!seen[dport]++) {
      int one = 1;
      struct sockaddr_in me;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      memset(&me, 0, sizeof me);
      me.sin_family = AF_INET;
      me.sin_port = htons((unsigned short)atoi(fp));
      me.sin_addr.s_addr = htonl(0x7f000001);
      bind(fd, (struct sockaddr *)&me, sizeof me);
    }
  }
  return real(fd, a, len);
}
