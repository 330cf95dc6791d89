/*
 * listen.c: listening sockets (see listen.h).
 */
#include "net/listen.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/http.h>

int listen_addr_parse(const char *addr, char *host, size_t hostlen,
                      uint16_t *port, struct errctx *e)
{
    const char *colon, *h = addr, *end;
    char *endp;
    size_t n;
    long p;

    if (addr == NULL || addr[0] == '\0') {
        return err_set(e, PC_EINVAL, "empty address");
    }
    if (addr[0] == '[') {
        end = strchr(addr, ']');
        if (end == NULL || end[1] != ':') {
            return err_set(e, PC_EINVAL,
                           "address \"%s\": expected [host]:port", addr);
        }
        h = addr + 1;
        colon = end + 1;
    } else {
        colon = strrchr(addr, ':');
        if (colon == NULL) {
            return err_set(e, PC_EINVAL, "address \"%s\": expected host:port",
                           addr);
        }
        end = colon;
        if (memchr(addr, ':', (size_t)(colon - addr)) != NULL) {
            return err_set(e, PC_EINVAL,
                           "address \"%s\": IPv6 hosts need brackets "
                           "([::1]:port)",
                           addr);
        }
    }
    n = (size_t)(end - h);
    if (n >= hostlen) {
        return err_set(e, PC_EINVAL, "address \"%s\": host too long", addr);
    }
    errno = 0;
    p = strtol(colon + 1, &endp, 10);
    if (colon[1] == '\0' || *endp != '\0' || errno != 0 || p < 0 ||
        p > 65535 || colon[1] == '-' || colon[1] == '+') {
        return err_set(e, PC_EINVAL, "address \"%s\": bad port", addr);
    }
    memcpy(host, h, n);
    host[n] = '\0';
    *port = (uint16_t)p;
    return PC_OK;
}

/* Creates, binds and listens one socket for ai; -1 with errno set. */
static int listen_one(const struct addrinfo *ai, int backlog)
{
    int one = 1, saved, fd;

    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                ai->ai_protocol);
    if (fd < 0) {
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* With both families bound for ":port", the IPv6 socket must not
     * claim the IPv4 port as well. */
    if (ai->ai_family == AF_INET6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
        listen(fd, backlog) != 0) {
        saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static uint16_t listen_fd_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        return 0;
    }
    if (ss.ss_family == AF_INET6) {
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void listen_set_port(struct addrinfo *ai, uint16_t port)
{
    if (ai->ai_family == AF_INET6) {
        ((struct sockaddr_in6 *)ai->ai_addr)->sin6_port = htons(port);
    } else {
        ((struct sockaddr_in *)ai->ai_addr)->sin_port = htons(port);
    }
}

/* Whether a failed bind of one resolved address may be skipped: the family
 * is missing, or (port 0) the first socket's port is taken in the other. */
static int listen_skippable(int err, int n, uint16_t port)
{
    return err == EAFNOSUPPORT || err == EADDRNOTAVAIL ||
           (n > 0 && err == EADDRINUSE && port == 0);
}

static int listen_bind_all(struct addrinfo *res, uint16_t port, int backlog,
                           struct listen_set *ls)
{
    struct addrinfo *ai;
    int fd;

    for (ai = res; ai != NULL && ls->n < LISTEN_MAX_FDS; ai = ai->ai_next) {
        if (ls->n > 0 && port == 0) {
            listen_set_port(ai, ls->port);
        }
        fd = listen_one(ai, backlog);
        if (fd < 0) {
            if (!listen_skippable(errno, ls->n, port)) {
                return errno;
            }
            continue;
        }
        if (ls->n == 0) {
            ls->port = listen_fd_port(fd);
        }
        ls->fds[ls->n++] = fd;
    }
    return ls->n > 0 ? 0 : EADDRNOTAVAIL;
}

int listen_open(const char *who, const char *addr, int backlog,
                struct listen_set *ls, struct errctx *e)
{
    struct addrinfo hints, *res = NULL;
    char host[LISTEN_HOST_MAX], service[8];
    struct errctx pe;
    uint16_t port;
    int rc, err;

    memset(ls, 0, sizeof(*ls));
    rc = listen_addr_parse(addr, host, sizeof(host), &port, &pe);
    if (rc != PC_OK) {
        return err_set(e, rc, "%s: %s", who, pe.msg);
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(service, sizeof(service), "%u", (unsigned)port);
    rc = getaddrinfo(host[0] != '\0' ? host : NULL, service, &hints, &res);
    if (rc != 0) {
        return err_set(e, PC_EIO, "%s: cannot resolve %s: %s", who, addr,
                       gai_strerror(rc));
    }
    err = listen_bind_all(res, port, backlog, ls);
    freeaddrinfo(res);
    if (err != 0) {
        listen_close(ls);
        return err_set(e, PC_EIO, "%s: cannot listen on %s: %s", who, addr,
                       err_errno(err));
    }
    return PC_OK;
}

void listen_close(struct listen_set *ls)
{
    while (ls->n > 0) {
        close(ls->fds[--ls->n]);
    }
}

int listen_serve_http(struct evhttp *http, struct listen_set *ls)
{
    int i;

    for (i = 0; i < ls->n; i++) {
        if (evhttp_accept_socket_with_handle(http, ls->fds[i]) == NULL) {
            while (--ls->n >= i) {
                close(ls->fds[ls->n]);
            }
            ls->n = 0;
            return PC_ENOMEM;
        }
    }
    ls->n = 0;
    return PC_OK;
}
