/*
 * sink.c - a fast NNTP sink for benchmarking uploaders.
 *
 * Single thread, epoll (level triggered), non-blocking sockets.  Accepts POST and
 * throws the article away; answers the few other commands an uploader sends.
 *
 *   cc -O2 -o bench/.build/sink bench/sink.c
 *   bench/.build/sink [-d MS] [-b ADDR] PORT
 *
 *   -d MS    delay every reply by MS milliseconds (a simulated round trip).  Replies
 *            stay in order per connection; the wait is a timerfd, never a busy loop.
 *   -r       remember the Message-ID of every article received, so that STAT answers
 *            223 for those and 430 for any other (without -r, STAT answers 223 for any
 *            id: "everything is there").  The id comes from the article's Message-ID
 *            header, found in its first HDR_CAP bytes.
 *   -b ADDR  address to bind (default 127.0.0.1)
 *   PORT     0 picks a free port.
 *
 * Once listening it prints "sink listening on ADDR:PORT" to stdout.  On SIGTERM,
 * SIGINT or SIGUSR1 it prints one line of totals to stderr ("sink stats ..."); it
 * exits on SIGTERM/SIGINT.
 *
 * The article terminator "\r\n.\r\n" is found with memchr('.') plus a check of the
 * two bytes either side, so the scan runs at memchr speed; the last four bytes of each
 * read are kept for the next one, so a terminator split across reads is found.  Reads
 * go into one 1 MiB buffer shared by all connections (it stays in cache); a connection
 * keeps only its unprocessed bytes between reads.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
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
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#ifndef IN_BUF
#define IN_BUF (1u << 20)         /* the receive buffer, shared by all connections */
#endif
#define MAX_LINE 4096             /* longest command line */
#define OUT_HIGH (256u << 10)     /* stop reading while this much output is queued */
#define MAX_EVENTS 256
#define TERM_KEEP 4               /* bytes kept between reads while in an article */
#define HDR_CAP 4096              /* -r: bytes of an article searched for its Message-ID */

struct conn {
    int fd;
    uint32_t gen;
    char *left;                   /* input not yet processed (a partial line, or the */
    size_t left_len, left_cap;    /* last bytes of an article), kept between reads */
    int in_data;                  /* inside an article after POST/340 */
    char *hdr;                    /* -r: the start of the current article, */
    size_t hdr_len;               /* up to its blank line or HDR_CAP bytes */
    int hdr_done;
    int quitting;                 /* QUIT seen: close once output is flushed */
    int paused;                   /* not reading: too much output queued */
    uint32_t events;              /* epoll events currently registered */
    char *out;
    size_t out_cap;
    uint64_t out_base;            /* absolute offset of out[0] */
    uint64_t out_appended;        /* absolute offset of the end of queued output */
    uint64_t out_released;        /* bytes before this may be sent (delay mode) */
    uint64_t out_sent;
};

struct timed {                    /* a delayed release, in due order (all delays equal) */
    uint64_t due_ns;
    int fd;
    uint32_t gen;
    uint64_t release_to;
};

static int epfd, timerfd_, sigfd, lfd;
static char *rbuf;                /* every read lands here, after the reader's leftover */
static uint64_t delay_ns;
static struct conn **conns;
static size_t conns_cap;
static uint32_t next_gen = 1;
static struct timed *tq;
static size_t tq_cap, tq_head, tq_len;  /* ring buffer */
static int timer_armed;
static uint64_t timer_due;

static uint64_t st_conns, st_posts, st_bytes, st_cmds;

/* -r: the Message-IDs received, an open-addressing set of strings (never shrinks) */
static int remember;
static char **ids;
static size_t ids_cap, ids_len;

static void die(const char *what) {
    perror(what);
    exit(1);
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n);
    if (!q) die("realloc");
    return q;
}

static void set_events(struct conn *c, uint32_t ev) {
    if (ev == c->events) return;
    struct epoll_event e = {.events = ev, .data.fd = c->fd};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e) < 0) die("epoll_ctl mod");
    c->events = ev;
}

static void close_conn(struct conn *c) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    conns[c->fd] = NULL;
    free(c->left);
    free(c->out);
    free(c->hdr);
    free(c);
}

/* ---- timer queue ---------------------------------------------------------------- */

static void arm_timer(void) {
    if (tq_len == 0) {
        if (timer_armed) {
            struct itimerspec its = {0};
            timerfd_settime(timerfd_, 0, &its, NULL);
            timer_armed = 0;
        }
        return;
    }
    uint64_t due = tq[tq_head].due_ns;
    if (timer_armed && timer_due == due) return;
    struct itimerspec its = {0};
    its.it_value.tv_sec = (time_t)(due / 1000000000u);
    its.it_value.tv_nsec = (long)(due % 1000000000u);
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
    if (timerfd_settime(timerfd_, TFD_TIMER_ABSTIME, &its, NULL) < 0) die("timerfd_settime");
    timer_armed = 1;
    timer_due = due;
}

static void tq_push(struct timed t) {
    if (tq_len == tq_cap) {
        size_t ncap = tq_cap ? tq_cap * 2 : 1024;
        struct timed *n = xrealloc(NULL, ncap * sizeof *n);
        for (size_t i = 0; i < tq_len; i++) n[i] = tq[(tq_head + i) % tq_cap];
        free(tq);
        tq = n;
        tq_cap = ncap;
        tq_head = 0;
    }
    tq[(tq_head + tq_len) % tq_cap] = t;
    tq_len++;
    if (tq_len == 1) arm_timer();
}

/* ---- output --------------------------------------------------------------------- */

static void update_events(struct conn *c);

/* Send what is released.  Returns -1 if the connection was closed. */
static int flush_out(struct conn *c) {
    while (c->out_sent < c->out_released) {
        size_t off = (size_t)(c->out_sent - c->out_base);
        size_t n = (size_t)(c->out_released - c->out_sent);
        ssize_t w = send(c->fd, c->out + off, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            close_conn(c);
            return -1;
        }
        c->out_sent += (uint64_t)w;
    }
    if (c->out_sent == c->out_appended) {  /* all gone: reuse the buffer from the start */
        c->out_base = c->out_appended;
        if (c->quitting) {
            close_conn(c);
            return -1;
        }
    }
    update_events(c);
    return 0;
}

static void queue_reply(struct conn *c, const char *s, size_t n) {
    size_t used = (size_t)(c->out_appended - c->out_base);
    size_t unsent_off = (size_t)(c->out_sent - c->out_base);
    if (unsent_off > 0 && used + n > c->out_cap) {  /* drop what was sent */
        memmove(c->out, c->out + unsent_off, used - unsent_off);
        c->out_base += unsent_off;
        used -= unsent_off;
    }
    if (used + n > c->out_cap) {
        size_t ncap = c->out_cap ? c->out_cap : 4096;
        while (used + n > ncap) ncap *= 2;
        c->out = xrealloc(c->out, ncap);
        c->out_cap = ncap;
    }
    memcpy(c->out + used, s, n);
    c->out_appended += n;
    if (delay_ns == 0) {
        c->out_released = c->out_appended;
    } else {
        struct timed t = {now_ns() + delay_ns, c->fd, c->gen, c->out_appended};
        tq_push(t);
    }
}

static void reply(struct conn *c, const char *s) { queue_reply(c, s, strlen(s)); }

static void update_events(struct conn *c) {
    uint64_t pending = c->out_appended - c->out_sent;
    c->paused = c->quitting || pending > OUT_HIGH;
    uint32_t ev = 0;
    if (!c->paused) ev |= EPOLLIN;
    if (c->out_sent < c->out_released) ev |= EPOLLOUT;
    set_events(c, ev);
}

/* ---- remembered Message-IDs (-r) ------------------------------------------------ */

static uint64_t hash_id(const char *s, size_t n) {
    uint64_t h = 1469598103934665603u;  /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211u;
    return h;
}

/* The slot holding id s[0, n), or the empty slot where it would go. */
static size_t id_slot(const char *s, size_t n) {
    size_t i = (size_t)hash_id(s, n) & (ids_cap - 1);
    while (ids[i] && !(strlen(ids[i]) == n && memcmp(ids[i], s, n) == 0))
        i = (i + 1) & (ids_cap - 1);
    return i;
}

static int id_known(const char *s, size_t n) {
    return ids_cap && ids[id_slot(s, n)] != NULL;
}

static void id_add(const char *s, size_t n) {
    if (2 * (ids_len + 1) > ids_cap) {
        char **old = ids;
        size_t old_cap = ids_cap;
        ids_cap = ids_cap ? ids_cap * 2 : 4096;
        ids = calloc(ids_cap, sizeof *ids);
        if (!ids) die("calloc");
        for (size_t i = 0; i < old_cap; i++)
            if (old[i]) ids[id_slot(old[i], strlen(old[i]))] = old[i];
        free(old);
    }
    size_t i = id_slot(s, n);
    if (ids[i]) return;
    ids[i] = strndup(s, n);
    if (!ids[i]) die("strndup");
    ids_len++;
}

/* Keep the first bytes of the article being received, p[0, n) being the next ones. */
static void capture(struct conn *c, const char *p, size_t n) {
    if (!remember || c->hdr_done) return;
    if (!c->hdr) {
        c->hdr = malloc(HDR_CAP);
        if (!c->hdr) die("malloc");
    }
    size_t from = c->hdr_len > 3 ? c->hdr_len - 3 : 0;
    size_t take = n < HDR_CAP - c->hdr_len ? n : HDR_CAP - c->hdr_len;
    memcpy(c->hdr + c->hdr_len, p, take);
    c->hdr_len += take;
    char *end = memmem(c->hdr + from, c->hdr_len - from, "\r\n\r\n", 4);
    if (end) c->hdr_len = (size_t)(end - c->hdr) + 2;  /* up to the last header's CRLF */
    if (end || c->hdr_len == HDR_CAP) c->hdr_done = 1;
}

/* The article is complete: remember its Message-ID.  The captured bytes begin with
 * the CRLF that consume() puts before every article, so each header follows a CRLF. */
static void remember_article(struct conn *c) {
    static const char name[] = "\r\nmessage-id:";
    size_t nl = sizeof name - 1;
    for (size_t i = 0; c->hdr && i + nl <= c->hdr_len; i++) {
        if (strncasecmp(c->hdr + i, name, nl) != 0) continue;
        size_t a = i + nl, e;
        while (a < c->hdr_len && (c->hdr[a] == ' ' || c->hdr[a] == '\t')) a++;
        for (e = a; e < c->hdr_len && c->hdr[e] != '\r' && c->hdr[e] != ' '; e++) {}
        if (e > a) id_add(c->hdr + a, e - a);
        break;
    }
    c->hdr_len = 0;
    c->hdr_done = 0;
}

/* ---- input ---------------------------------------------------------------------- */

/* Offset of the first "\r\n.\r\n" in p[0, n), or -1.  A match must start at or after
 * p[0]; the caller keeps the last TERM_KEEP bytes when nothing is found. */
static ssize_t find_term(const char *p, size_t n) {
    size_t i = 2;
    while (i + 2 < n) {
        const char *d = memchr(p + i, '.', n - 2 - i);
        if (!d) return -1;
        size_t j = (size_t)(d - p);
        if (p[j - 1] == '\n' && p[j - 2] == '\r' && p[j + 1] == '\r' && p[j + 2] == '\n')
            return (ssize_t)(j - 2);
        i = j + 1;
    }
    return -1;
}

static int word_is(const char *w, size_t wl, const char *lit) {
    return wl == strlen(lit) && strncasecmp(w, lit, wl) == 0;
}

static void format_date(char *buf, size_t n) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "111 %Y%m%d%H%M%S\r\n", &tm);
}

/* Handle one command line (without its line ending). */
static void command(struct conn *c, char *line, size_t len) {
    st_cmds++;
    size_t i = 0;
    while (i < len && line[i] == ' ') i++;
    char *w = line + i;
    size_t wl = 0;
    while (i + wl < len && line[i + wl] != ' ') wl++;
    char *arg = w + wl;
    size_t al = len - i - wl;
    while (al && *arg == ' ') arg++, al--;
    while (al && (arg[al - 1] == ' ' || arg[al - 1] == '\t')) al--;

    if (word_is(w, wl, "POST")) {
        reply(c, "340 send article\r\n");
        c->in_data = 1;
        c->hdr_len = 0;
        c->hdr_done = 0;
    } else if (word_is(w, wl, "STAT")) {
        if (al == 0) {
            reply(c, "412 no newsgroup selected\r\n");
        } else if (remember && !id_known(arg, al)) {
            char buf[MAX_LINE + 32];
            int n = snprintf(buf, sizeof buf, "430 no such article %.*s\r\n", (int)al, arg);
            queue_reply(c, buf, (size_t)n);
        } else {
            char buf[MAX_LINE + 16];
            int n = snprintf(buf, sizeof buf, "223 0 %.*s\r\n", (int)al, arg);
            queue_reply(c, buf, (size_t)n);
        }
    } else if (word_is(w, wl, "MODE")) {
        reply(c, "200 reader mode, posting ok\r\n");
    } else if (word_is(w, wl, "CAPABILITIES")) {
        reply(c, "101 capability list follows\r\nVERSION 2\r\nREADER\r\nPOST\r\n.\r\n");
    } else if (word_is(w, wl, "AUTHINFO")) {
        size_t sl = 0;
        while (sl < al && arg[sl] != ' ') sl++;
        if (word_is(arg, sl, "USER"))
            reply(c, "381 password required\r\n");
        else if (word_is(arg, sl, "PASS"))
            reply(c, "281 authentication accepted\r\n");
        else
            reply(c, "501 unknown authinfo\r\n");
    } else if (word_is(w, wl, "DATE")) {
        char buf[64];
        format_date(buf, sizeof buf);
        reply(c, buf);
    } else if (word_is(w, wl, "QUIT")) {
        reply(c, "205 bye\r\n");
        c->quitting = 1;
    } else {
        reply(c, "500 unknown command\r\n");
    }
}

/* Work through rbuf[0, len): the connection's leftover followed by what was just read.
 * All connections share rbuf, so it stays in cache; each keeps only what it has not
 * processed (usually a few bytes).  Returns -1 if the connection was closed. */
static int consume(struct conn *c, size_t len) {
    size_t start = 0;
again:;
    int out_full = 0;
    while (start < len && !c->quitting) {
        if (c->out_appended - c->out_sent > OUT_HIGH) {
            out_full = 1;
            break;
        }
        char *p = rbuf + start;
        size_t n = len - start;
        if (c->in_data) {
            ssize_t t = find_term(p, n);
            if (t < 0) {
                /* keep the tail: a terminator may straddle this read and the next */
                size_t keep = n < TERM_KEEP ? n : TERM_KEEP;
                capture(c, p, n - keep);
                st_bytes += n - keep;
                start = len - keep;
                break;
            }
            if (remember) {
                capture(c, p, (size_t)t + 2);
                remember_article(c);
            }
            st_bytes += (uint64_t)t + 5;
            st_posts++;
            start += (size_t)t + 5;
            c->in_data = 0;
            reply(c, "240 article received\r\n");
        } else {
            char *nl = memchr(p, '\n', n);
            if (!nl) {
                if (n > MAX_LINE) {
                    reply(c, "500 line too long\r\n");
                    c->quitting = 1;
                }
                break;
            }
            size_t linelen = (size_t)(nl - p);
            size_t used = linelen + 1;
            if (linelen && p[linelen - 1] == '\r') linelen--;
            start += used;
            command(c, p, linelen);
            if (c->in_data) {
                /* The article starts after the command's line ending; scan from two
                 * bytes before it, made "\r\n", so an empty article (".\r\n" at once)
                 * is found too.  The command line is at least "POST\n", so start >= 5. */
                start -= 2;
                rbuf[start] = '\r';
                rbuf[start + 1] = '\n';
            }
        }
    }
    size_t n = len - start;
    if (n > c->left_cap) {
        c->left_cap = n < 64 ? 64 : n;
        c->left = xrealloc(c->left, c->left_cap);
    }
    if (n) memcpy(c->left, rbuf + start, n);
    c->left_len = n;
    if (flush_out(c) < 0) return -1;
    if (out_full && !c->paused && n) {
        /* the output went out at once: carry on, as no further read may come to do it */
        memcpy(rbuf, c->left, n);
        start = 0;
        len = n;
        goto again;
    }
    return 0;
}

/* Process the leftover again, after a pause for output. */
static int resume(struct conn *c) {
    if (c->paused || c->left_len == 0) return 0;
    memcpy(rbuf, c->left, c->left_len);
    return consume(c, c->left_len);
}

static void on_readable(struct conn *c) {
    size_t have = c->left_len;
    if (have >= IN_BUF) {  /* a full buffer of unprocessed input */
        close_conn(c);
        return;
    }
    if (have) memcpy(rbuf, c->left, have);
    ssize_t r = recv(c->fd, rbuf + have, IN_BUF - have, 0);
    if (r == 0) {
        close_conn(c);
        return;
    }
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        close_conn(c);
        return;
    }
    consume(c, have + (size_t)r);
}

static void on_accept(void) {
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE) return;
            die("accept4");
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if ((size_t)fd >= conns_cap) {
            size_t ncap = conns_cap ? conns_cap : 1024;
            while ((size_t)fd >= ncap) ncap *= 2;
            conns = xrealloc(conns, ncap * sizeof *conns);
            memset(conns + conns_cap, 0, (ncap - conns_cap) * sizeof *conns);
            conns_cap = ncap;
        }
        struct conn *c = calloc(1, sizeof *c);
        if (!c) die("calloc");
        c->fd = fd;
        c->gen = next_gen++;
        conns[fd] = c;
        st_conns++;
        struct epoll_event e = {.events = EPOLLIN, .data.fd = fd};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) < 0) die("epoll_ctl add");
        c->events = EPOLLIN;
        reply(c, "200 sink ready (posting ok)\r\n");
        flush_out(c);
    }
}

static void on_timer(void) {
    uint64_t expirations;
    if (read(timerfd_, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
        die("read timerfd");
    timer_armed = 0;
    uint64_t now = now_ns();
    while (tq_len && tq[tq_head].due_ns <= now) {
        struct timed t = tq[tq_head];
        tq_head = (tq_head + 1) % tq_cap;
        tq_len--;
        struct conn *c = (size_t)t.fd < conns_cap ? conns[t.fd] : NULL;
        if (!c || c->gen != t.gen) continue;  /* closed since */
        if (t.release_to > c->out_released) c->out_released = t.release_to;
        if (flush_out(c) == 0) resume(c);
    }
    arm_timer();
}

static void print_stats(void) {
    fprintf(stderr,
            "sink stats connections=%llu posts=%llu article_bytes=%llu commands=%llu"
            " ids=%llu\n",
            (unsigned long long)st_conns, (unsigned long long)st_posts,
            (unsigned long long)st_bytes, (unsigned long long)st_cmds,
            (unsigned long long)ids_len);
}

static int on_signal(void) {
    struct signalfd_siginfo si;
    if (read(sigfd, &si, sizeof si) != sizeof si) return 0;
    print_stats();
    return si.ssi_signo != SIGUSR1;
}

static void usage(void) {
    fprintf(stderr, "usage: sink [-d DELAY_MS] [-r] [-b ADDR] PORT\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *addr = "127.0.0.1";
    long delay_ms = 0;
    int opt;
    while ((opt = getopt(argc, argv, "d:rb:h")) != -1) {
        char *endp;
        switch (opt) {
        case 'd':
            delay_ms = strtol(optarg, &endp, 10);
            if (*endp || delay_ms < 0) usage();
            break;
        case 'r':
            remember = 1;
            break;
        case 'b':
            addr = optarg;
            break;
        default:
            usage();
        }
    }
    if (optind != argc - 1) usage();
    char *endp;
    long port = strtol(argv[optind], &endp, 10);
    if (*endp || port < 0 || port > 65535) usage();
    delay_ns = (uint64_t)delay_ms * 1000000u;

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGUSR1);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sigfd < 0) die("signalfd");

    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) die("socket");
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) usage();
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0) die("bind");
    if (listen(lfd, 512) < 0) die("listen");
    socklen_t sl = sizeof sa;
    getsockname(lfd, (struct sockaddr *)&sa, &sl);

    rbuf = malloc(IN_BUF);
    if (!rbuf) die("malloc");
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1");
    timerfd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (timerfd_ < 0) die("timerfd_create");
    /* the fixed fds are told apart from connections by their (negative) tags */
    struct epoll_event e = {.events = EPOLLIN, .data.fd = -1};
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &e);
    e.data.fd = -2;
    epoll_ctl(epfd, EPOLL_CTL_ADD, timerfd_, &e);
    e.data.fd = -3;
    epoll_ctl(epfd, EPOLL_CTL_ADD, sigfd, &e);

    printf("sink listening on %s:%d\n", addr, ntohs(sa.sin_port));
    fflush(stdout);

    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(epfd, evs, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == -1) {
                on_accept();
            } else if (fd == -2) {
                on_timer();
            } else if (fd == -3) {
                if (on_signal()) return 0;
            } else {
                struct conn *c = (size_t)fd < conns_cap ? conns[fd] : NULL;
                if (!c) continue;  /* closed earlier in this batch */
                uint32_t ev = evs[i].events;
                if (ev & EPOLLOUT) {
                    if (flush_out(c) < 0) continue;
                    if (resume(c) < 0) continue;
                }
                if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                    if (c->paused && !(ev & (EPOLLHUP | EPOLLERR))) continue;
                    on_readable(c);
                }
            }
        }
    }
}
