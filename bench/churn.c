/*
 * Connection churn for bench/reliability.sh soak: a loopback client-server pair that opens and
 * closes TCP connections at a steady rate, plus a standing population that stays put.
 *
 *   churn server --ports 7001,7002,7003,7004 --hold-port 7100
 *   churn client --ports 7001,7002,7003,7004 --hold-port 7100 --rate 2500
 *                [--sources 32] [--concurrency 512] [--hold 2000] [--half-closed 500]
 *                [--stats FILE]
 *
 * Server: epoll; on a churn port, every accepted connection reads one byte, answers one byte and
 * closes when it reads end-of-file (so it passes close_wait and last_ack); on the hold port it
 * accepts and keeps every connection without ever reading (close_wait stays close_wait).
 *
 * Client: first opens --hold connections to the hold port and keeps them, shutting down the
 * write side of the first --half-closed of them (client fin_wait2, server close_wait, both held
 * by a descriptor, so neither times out). Then, paced at --rate connections per second (a token
 * bucket checked every millisecond, at most --concurrency in flight), each connection: binds to
 * one of --sources addresses 127.0.1.N (IP_BIND_ADDRESS_NO_PORT), connects non-blocking to the
 * next churn port, sends one byte, reads the answer, and closes first (client time_wait, 60 s).
 * Every second it appends a line "seconds completed failed inflight" to --stats; on SIGUSR1 it
 * stops opening connections, lets those in flight finish, prints one JSON summary line on
 * stdout and keeps holding the standing population; SIGTERM or SIGINT exits.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_PORTS 64
#define MAX_FDS 262144

enum { S_FREE, S_LISTEN, S_HOLD_LISTEN, S_SERVE, S_CONNECTING, S_WAIT_ANSWER };

static unsigned char state[MAX_FDS];
static volatile sig_atomic_t stop_churn, quit;

static void on_signal(int sig) {
    if (sig == SIGUSR1) stop_churn = 1;
    else quit = 1;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what) {
    fprintf(stderr, "churn: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int parse_ports(const char *s, int *ports) {
    int n = 0;
    char *copy = strdup(s), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t && n < MAX_PORTS; t = strtok_r(NULL, ",", &save))
        ports[n++] = atoi(t);
    free(copy);
    return n;
}

static void raise_nofile(void) {
    struct rlimit r = {MAX_FDS, MAX_FDS};
    if (setrlimit(RLIMIT_NOFILE, &r) != 0) {
        getrlimit(RLIMIT_NOFILE, &r);
        r.rlim_cur = r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &r);
    }
}

static void epoll_add(int ep, int fd, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.fd = fd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl add");
}

static void epoll_mod(int ep, int fd, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.fd = fd};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) != 0) die("epoll_ctl mod");
}

static void close_fd(int fd) {
    state[fd] = S_FREE;
    close(fd);   /* also leaves the epoll set */
}

static int listen_on(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) die("bind listener");
    if (listen(fd, 65535) != 0) die("listen");
    return fd;
}

static int server(int nports, const int *ports, int hold_port) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    for (int i = 0; i < nports; i++) {
        int fd = listen_on(ports[i]);
        state[fd] = S_LISTEN;
        epoll_add(ep, fd, EPOLLIN);
    }
    int hfd = listen_on(hold_port);
    state[hfd] = S_HOLD_LISTEN;
    epoll_add(ep, hfd, EPOLLIN);
    printf("{\"server\": \"listening\"}\n");
    fflush(stdout);

    struct epoll_event evs[256];
    char buf[64];
    long held = 0;
    while (!quit) {
        int n = epoll_wait(ep, evs, 256, 200);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (state[fd] == S_LISTEN || state[fd] == S_HOLD_LISTEN) {
                for (;;) {
                    int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (c < 0) break;
                    if (c >= MAX_FDS) { close(c); continue; }
                    if (state[fd] == S_HOLD_LISTEN) {
                        state[c] = S_HOLD_LISTEN + 100;   /* held, never read */
                        held++;
                    } else {
                        state[c] = S_SERVE;
                        epoll_add(ep, c, EPOLLIN);
                    }
                }
            } else if (state[fd] == S_SERVE) {
                ssize_t r = read(fd, buf, sizeof buf);
                if (r > 0) {
                    if (write(fd, "y", 1) < 0) close_fd(fd);
                } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                    close_fd(fd);   /* the client closed first: close_wait, then last_ack */
                }
            }
        }
    }
    return 0;
}

struct client_opts {
    int nports, ports[MAX_PORTS], hold_port, sources, concurrency, hold, half_closed;
    double rate;
    const char *stats;
};

static int connect_from(const struct sockaddr_in *src, int port, int nonblock) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) return -1;
    if (fd >= MAX_FDS) { close(fd); errno = EMFILE; return -1; }
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *)src, sizeof *src) != 0) { int e = errno; close(fd); errno = e; return -1; }
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    if (connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0 && errno != EINPROGRESS) {
        int e = errno; close(fd); errno = e; return -1;
    }
    return fd;
}

static int client(const struct client_opts *o) {
    struct sockaddr_in *src = calloc(o->sources, sizeof *src);
    for (int i = 0; i < o->sources; i++) {
        src[i].sin_family = AF_INET;
        src[i].sin_addr.s_addr = htonl(0x7f000100u + 1 + (i % 254));   /* 127.0.1.N */
    }
    /* the standing population: blocking connects, kept until exit */
    for (int i = 0; i < o->hold; i++) {
        int fd = connect_from(&src[i % o->sources], o->hold_port, 0);
        if (fd < 0) die("connect (hold)");
        if (i < o->half_closed && shutdown(fd, SHUT_WR) != 0) die("shutdown (hold)");
    }
    FILE *stats = o->stats ? fopen(o->stats, "w") : NULL;
    if (o->stats && !stats) die("open --stats");

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct epoll_event evs[512];
    long started = 0, completed = 0, failed = 0, inflight = 0, next = 0;
    long fail_connect = 0, fail_socket = 0, fail_io = 0;
    double t0 = now(), last_stats = t0, stopped_at = 0;
    char buf[16];
    printf("{\"client\": \"churning\", \"held\": %d}\n", o->hold);
    fflush(stdout);
    while (!quit) {
        double t = now();
        if (stop_churn && stopped_at == 0) stopped_at = t;
        if (!stop_churn) {
            long due = (long)((t - t0) * o->rate) - started;
            while (due-- > 0 && inflight < o->concurrency) {
                int fd = connect_from(&src[next % o->sources], o->ports[next % o->nports], 1);
                next++;
                started++;
                if (fd < 0) {
                    failed++;
                    fail_socket++;
                    continue;
                }
                state[fd] = S_CONNECTING;
                epoll_add(ep, fd, EPOLLOUT);
                inflight++;
            }
        } else if (inflight == 0) {
            break;
        }
        int n = epoll_wait(ep, evs, 512, 1);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (state[fd] == S_CONNECTING) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err != 0 || write(fd, "x", 1) != 1) {
                    close_fd(fd); inflight--; failed++; fail_connect++;
                    continue;
                }
                state[fd] = S_WAIT_ANSWER;
                epoll_mod(ep, fd, EPOLLIN);
            } else if (state[fd] == S_WAIT_ANSWER) {
                ssize_t r = read(fd, buf, sizeof buf);
                if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                close_fd(fd);   /* the client closes first: time_wait on this side */
                inflight--;
                if (r == 1) completed++;
                else { failed++; fail_io++; }
            }
        }
        if (stats && t - last_stats >= 1.0) {
            last_stats = t;
            fprintf(stats, "%.3f %ld %ld %ld\n", t - t0, completed, failed, inflight);
            fflush(stats);
        }
    }
    double end = stopped_at ? stopped_at : now();
    printf("{\"seconds\": %.3f, \"started\": %ld, \"completed\": %ld, \"failed\": %ld, "
           "\"failed_socket_or_connect_call\": %ld, \"failed_handshake\": %ld, \"failed_exchange\": %ld, "
           "\"rate\": %.1f, \"held\": %d, \"half_closed\": %d}\n",
           end - t0, started, completed, failed, fail_socket, fail_connect, fail_io,
           completed / (end - t0), o->hold, o->half_closed);
    fflush(stdout);
    if (stats) fclose(stats);
    while (!quit) pause();   /* keep the standing population until told to exit */
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || (strcmp(argv[1], "server") && strcmp(argv[1], "client"))) {
        fprintf(stderr, "usage: churn server|client --ports P,P,... --hold-port P [client options]\n");
        return 2;
    }
    struct client_opts o = {.hold_port = 7100, .sources = 32, .concurrency = 512, .hold = 2000,
                            .half_closed = 500, .rate = 2500};
    o.nports = parse_ports("7001,7002,7003,7004", o.ports);
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--ports")) o.nports = parse_ports(v, o.ports);
        else if (!strcmp(k, "--hold-port")) o.hold_port = atoi(v);
        else if (!strcmp(k, "--rate")) o.rate = atof(v);
        else if (!strcmp(k, "--sources")) o.sources = atoi(v);
        else if (!strcmp(k, "--concurrency")) o.concurrency = atoi(v);
        else if (!strcmp(k, "--hold")) o.hold = atoi(v);
        else if (!strcmp(k, "--half-closed")) o.half_closed = atoi(v);
        else if (!strcmp(k, "--stats")) o.stats = v;
        else { fprintf(stderr, "churn: unknown option %s\n", k); return 2; }
    }
    if (o.nports < 1 || o.sources < 1 || o.sources > 254 || o.rate <= 0 || o.concurrency < 1) {
        fprintf(stderr, "churn: bad options\n");
        return 2;
    }
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    return strcmp(argv[1], "server") == 0 ? server(o.nports, o.ports, o.hold_port) : client(&o);
}
