/* backend: the plaintext Gopher server that benchmarks put behind a router.
 *
 * `backend PORT` listens on 127.0.0.1:PORT (0: any free port) and prints the port it
 * bound on one line of stdout. Each connection sends one selector line; the reply is
 *   size/N  (or /size/N): exactly N bytes from a static buffer (N up to 2^63),
 *   anything else:        a fixed Gopher menu of exactly 100 bytes,
 * and then the connection is closed. Single-threaded, nonblocking, level-triggered
 * epoll: it should cost its CPU next to nothing, so that the figures measure the
 * router in front of it. `backend PORT ADDRESS` binds another IPv4 address.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* Exactly 100 bytes: one info line and the terminating dot. */
static char const small_reply[] =
    "iThe got-bench backend: a small reply of exactly one hundred bytes in all, Gopher"
    "\t\terror.host\t1\r\n"
    ".\r\n";
#define SMALL_REPLY_SIZE (sizeof small_reply - 1)
_Static_assert(SMALL_REPLY_SIZE == 100, "the small reply is documented as 100 bytes");

#define CHUNK_SIZE (1u << 20)
static char chunk[CHUNK_SIZE];

#define LINE_MAX_BYTES 1024

struct conn
{
    int fd;
    int writing;       /* 0: reading the selector; 1: sending the reply */
    size_t line_len;   /* bytes of the selector line read so far */
    char const* small; /* non-NULL: the small reply, from `small_off` */
    size_t small_off;
    unsigned long long bulk; /* bytes of `size/N` still to send */
    char line[LINE_MAX_BYTES];
};

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void close_conn(int ep, struct conn* c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

/* The reply for one selector line (without its CR LF). */
static void choose_reply(struct conn* c, char const* line, size_t len)
{
    char const* p = line;
    size_t n = len;
    if (n > 0 && p[0] == '/') {
        ++p;
        --n;
    }
    if (n > 5 && memcmp(p, "size/", 5) == 0) {
        unsigned long long v = 0;
        size_t i = 5;
        for (; i < n && p[i] >= '0' && p[i] <= '9'; ++i) {
            v = v * 10 + (unsigned long long)(p[i] - '0');
            if (v > (1ull << 62))
                break;
        }
        if (i == n) {
            c->bulk = v;
            c->small = NULL;
            return;
        }
    }
    c->small = small_reply;
    c->small_off = 0;
    c->bulk = 0;
}

/* Returns 1 when the reply is complete, 0 when the socket is full, -1 on error. */
static int send_some(struct conn* c)
{
    for (;;) {
        char const* data;
        size_t len;
        if (c->small) {
            data = c->small + c->small_off;
            len = SMALL_REPLY_SIZE - c->small_off;
        } else {
            data = chunk;
            len = c->bulk < CHUNK_SIZE ? (size_t)c->bulk : CHUNK_SIZE;
        }
        if (len == 0)
            return 1;
        ssize_t w = send(c->fd, data, len, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        }
        if (c->small)
            c->small_off += (size_t)w;
        else
            c->bulk -= (unsigned long long)w;
    }
}

/* Reads what the client sent; on a complete line switches to writing.
 * Returns 1 to keep the connection, 0 to close it. */
static int on_readable(int ep, struct conn* c)
{
    for (;;) {
        size_t room = sizeof c->line - c->line_len;
        ssize_t r = recv(c->fd, c->line + c->line_len, room, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK;
        }
        if (r == 0)
            return 0; /* closed before a full line */
        size_t start = c->line_len;
        c->line_len += (size_t)r;
        char* nl = memchr(c->line + start, '\n', c->line_len - start);
        if (!nl && c->line_len < sizeof c->line)
            continue;
        size_t len = nl ? (size_t)(nl - c->line) : c->line_len;
        if (len > 0 && c->line[len - 1] == '\r')
            --len;
        char* tab = memchr(c->line, '\t', len);
        if (tab)
            len = (size_t)(tab - c->line);
        choose_reply(c, c->line, len);
        c->writing = 1;
        int done = send_some(c);
        if (done != 0)
            return 0;
        struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        return 1;
    }
}

static void accept_all(int ep, int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                perror("backend: accept");
            return;
        }
        struct conn* c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            free(c);
        }
    }
}

int main(int argc, char** argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: backend PORT [IPV4-ADDRESS]\n");
        return 2;
    }
    char* end = NULL;
    long port = strtol(argv[1], &end, 10);
    if (*end != '\0' || port < 0 || port > 65535) {
        fprintf(stderr, "backend: bad port %s\n", argv[1]);
        return 2;
    }
    char const* address = argc == 3 ? argv[2] : "127.0.0.1";

    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    for (size_t i = 0; i < CHUNK_SIZE; ++i)
        chunk[i] = (char)('a' + i % 26);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, address, &sa.sin_addr) != 1) {
        fprintf(stderr, "backend: bad IPv4 address %s\n", address);
        return 2;
    }
    if (bind(lfd, (struct sockaddr*)&sa, sizeof sa) != 0 || listen(lfd, 4096) != 0) {
        perror("backend: bind/listen");
        return 1;
    }
    socklen_t slen = sizeof sa;
    getsockname(lfd, (struct sockaddr*)&sa, &slen);
    printf("%u\n", (unsigned)ntohs(sa.sin_port));
    fflush(stdout);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);

    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(ep, events, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("backend: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; ++i) {
            struct conn* c = events[i].data.ptr;
            if (!c) {
                accept_all(ep, lfd);
                continue;
            }
            if (!c->writing) {
                if (!on_readable(ep, c))
                    close_conn(ep, c);
                continue;
            }
            if (events[i].events & (EPOLLERR | EPOLLHUP)) {
                close_conn(ep, c);
                continue;
            }
            if (send_some(c) != 0)
                close_conn(ep, c);
        }
    }
}
