/* SSE fan-out load: opens N Server-Sent Events connections to one URL and reads them all with
 * epoll until SIGTERM/SIGINT, counting the `event: epoch` lines each connection received.
 * On exit prints: connected=<n> closed=<n> epoch_events_min=<n> epoch_events_max=<n> bytes=<n>
 *
 *   cc -O2 -o sse_clients bench/sse/sse_clients.c
 *   ./sse_clients 127.0.0.1 8080 /api/v1/events 200
 *
 * Plain C99 + POSIX/Linux (epoll). A marker line `ready` goes to stdout once every connection
 * has received its response head, so a script can start measuring only then. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CLIENTS 4096

struct client {
    int fd;
    int head_done;
    int closed;
    long epochs;
    /* The last bytes of the previous read, so a marker split across reads still counts. */
    char tail[16];
    size_t tail_len;
};

static volatile sig_atomic_t stop_requested = 0;
static void on_signal(int sig) { (void)sig; stop_requested = 1; }

static const char marker[] = "event: epoch\n";

/* Counts markers in tail+data and keeps the new tail. */
static void scan(struct client *c, const char *data, size_t n) {
    static char joined[65536 + 16];
    size_t len = c->tail_len;
    memcpy(joined, c->tail, len);
    memcpy(joined + len, data, n);
    len += n;
    size_t m = sizeof marker - 1;
    for (size_t i = 0; i + m <= len; i++) {
        if (joined[i] == 'e' && memcmp(joined + i, marker, m) == 0) {
            c->epochs++;
            i += m - 1;
        }
    }
    size_t keep = len < m - 1 ? len : m - 1;
    memcpy(c->tail, joined + len - keep, keep);
    c->tail_len = keep;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s host port path clients\n", argv[0]);
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]);
    const char *path = argv[3];
    int count = atoi(argv[4]);
    if (count < 1 || count > MAX_CLIENTS || port <= 0 || port > 65535) {
        fprintf(stderr, "clients must be 1-%d and port 1-65535\n", MAX_CLIENTS);
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);

    static struct client clients[MAX_CLIENTS];
    int ep = epoll_create1(0);
    char request[1024];
    int request_len = snprintf(request, sizeof request,
                               "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", path, host);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "host must be an IPv4 address\n");
        return 2;
    }
    for (int i = 0; i < count; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
            fprintf(stderr, "connect %d failed: %s\n", i, strerror(errno));
            return 1;
        }
        if (write(fd, request, (size_t)request_len) != request_len) {
            fprintf(stderr, "request %d failed\n", i);
            return 1;
        }
        clients[i].fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (unsigned)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }

    int heads = 0, closed = 0, announced = 0;
    long long bytes = 0;
    static char buffer[65536];
    struct epoll_event events[256];
    while (!stop_requested && closed < count) {
        int n = epoll_wait(ep, events, 256, 200);
        for (int k = 0; k < n; k++) {
            struct client *c = &clients[events[k].data.u32];
            ssize_t got = read(c->fd, buffer, sizeof buffer);
            if (got <= 0) {
                if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->closed = 1;
                closed++;
                continue;
            }
            bytes += got;
            if (!c->head_done && memmem(buffer, (size_t)got, "\r\n\r\n", 4) != NULL) {
                c->head_done = 1;
                heads++;
            }
            scan(c, buffer, (size_t)got);
        }
        if (!announced && heads == count) {
            printf("ready\n");
            fflush(stdout);
            announced = 1;
        }
    }
    long min = -1, max = 0;
    for (int i = 0; i < count; i++) {
        if (min < 0 || clients[i].epochs < min) min = clients[i].epochs;
        if (clients[i].epochs > max) max = clients[i].epochs;
    }
    printf("connected=%d closed=%d epoch_events_min=%ld epoch_events_max=%ld bytes=%lld\n", heads, closed, min, max, bytes);
    return 0;
}
