/*
 * lb_dns.c: A/AAAA lookups with glibc's stub resolver (see lb_dns.h).
 *
 * Why not getaddrinfo(): it cannot be told to ask one server on a given
 * port, and it hides whether the name has no address or the server did not
 * answer. Why not c-ares: one more library for two queries on a thread that
 * may block anyway. res_nsearch() keeps resolv.conf semantics (search list,
 * ndots, TCP fallback on truncation) and the answer is parsed here with
 * dn_skipname(), bounded by the reply length.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exporters/loadbalancing/lb_dns.h"
#include "core/err.h"

#define LB_DNS_ANSWER_MAX 65536
#define LB_DNS_NAME_MAX 253

int lb_dns_parse_server(const char *s, struct sockaddr_in *out)
{
    char host[64];
    const char *colon;
    char *end;
    long port;

    if (s == NULL || (colon = strrchr(s, ':')) == NULL ||
        (size_t)(colon - s) >= sizeof(host)) {
        return PC_EINVAL;
    }
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || colon[1] == '\0' || port < 1 || port > 65535) {
        return PC_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &out->sin_addr) != 1) {
        return PC_EINVAL;
    }
    return PC_OK;
}

void lb_dns_free(char **list, uint32_t n)
{
    uint32_t i;

    for (i = 0; i < n && list != NULL; i++) {
        free(list[i]);
    }
    free(list);
}

struct lb_dns_list {
    char **items;
    uint32_t n;
};

/* Adds "addr:port" (v6 in brackets) unless already there. */
static int lb_dns_add(struct lb_dns_list *l, int family, const void *addr,
                      int port)
{
    char ip[INET6_ADDRSTRLEN], ep[INET6_ADDRSTRLEN + 16];
    uint32_t i;

    if (inet_ntop(family, addr, ip, sizeof(ip)) == NULL) {
        return PC_EINVAL;
    }
    snprintf(ep, sizeof(ep), family == AF_INET6 ? "[%s]:%d" : "%s:%d", ip,
             port);
    for (i = 0; i < l->n; i++) {
        if (strcmp(l->items[i], ep) == 0) {
            return PC_OK;
        }
    }
    if (l->n >= LB_DNS_MAX_ADDRS) {
        return PC_ETOOBIG;
    }
    l->items[l->n] = strdup(ep);
    if (l->items[l->n] == NULL) {
        return PC_ENOMEM;
    }
    l->n++;
    return PC_OK;
}

static unsigned lb_dns_u16(const unsigned char *p)
{
    return ((unsigned)p[0] << 8) | p[1];
}

/* Adds the A/AAAA records of a reply; CNAMEs and others are skipped. */
static int lb_dns_parse(const unsigned char *msg, int len, int port,
                        struct lb_dns_list *l)
{
    const unsigned char *p = msg + HFIXEDSZ, *end = msg + len;
    unsigned qd, an, i;
    int k, rc;

    if (len < HFIXEDSZ) {
        return PC_ECORRUPT;
    }
    qd = lb_dns_u16(msg + 4);
    an = lb_dns_u16(msg + 6);
    for (i = 0; i < qd; i++) {
        if ((k = dn_skipname(p, end)) < 0 || end - p < k + QFIXEDSZ) {
            return PC_ECORRUPT;
        }
        p += k + QFIXEDSZ;
    }
    for (i = 0; i < an; i++) {
        unsigned type, rdlen;
        if ((k = dn_skipname(p, end)) < 0 || end - p < k + RRFIXEDSZ) {
            return PC_ECORRUPT;
        }
        p += k;
        type = lb_dns_u16(p);
        rdlen = lb_dns_u16(p + 8);
        p += RRFIXEDSZ;
        if ((size_t)(end - p) < rdlen) {
            return PC_ECORRUPT;
        }
        rc = PC_OK;
        if (type == ns_t_a && rdlen == 4) {
            rc = lb_dns_add(l, AF_INET, p, port);
        } else if (type == ns_t_aaaa && rdlen == 16) {
            rc = lb_dns_add(l, AF_INET6, p, port);
        }
        if (rc != PC_OK) {
            return rc;
        }
        p += rdlen;
    }
    return PC_OK;
}

/* Points st at one IPv4 nameserver (host:port) only. */
static void lb_dns_use_server(res_state st, const struct sockaddr_in *sin)
{
    int i;

    st->nscount = 1;
    st->nsaddr_list[0] = *sin;
    for (i = 0; i < MAXNS; i++) {
        st->_u._ext.nsaddrs[i] = NULL;
    }
}

/* One query type; 1 when answered (records or "no such data"), 0 when the
 * name does not exist, -1 when no server answered. */
static int lb_dns_query(res_state st, const char *name, int type, int port,
                        unsigned char *ans, struct lb_dns_list *l, int *rc)
{
    int n = res_nsearch(st, name, ns_c_in, type, ans, LB_DNS_ANSWER_MAX);

    if (n < 0) {
        switch (st->res_h_errno) {
        case HOST_NOT_FOUND:
            return 0;
        case NO_DATA:
            return 1;
        default:
            return -1;
        }
    }
    *rc = lb_dns_parse(ans, n > LB_DNS_ANSWER_MAX ? LB_DNS_ANSWER_MAX : n,
                       port, l);
    return 1;
}

static int lb_dns_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* An IP literal needs no lookup. */
static int lb_dns_literal(const char *hostname, int port,
                          struct lb_dns_list *l)
{
    unsigned char a[16];

    if (inet_pton(AF_INET, hostname, a) == 1) {
        return lb_dns_add(l, AF_INET, a, port) == PC_OK ? 1 : -1;
    }
    if (inet_pton(AF_INET6, hostname, a) == 1) {
        return lb_dns_add(l, AF_INET6, a, port) == PC_OK ? 1 : -1;
    }
    return 0;
}

static int lb_dns_lookup(const char *hostname, int port, const char *server,
                         int64_t timeout_ms, struct lb_dns_list *l, char *err,
                         size_t errlen)
{
    struct __res_state st;
    struct sockaddr_in sin;
    unsigned char *ans;
    int a, aaaa, rc = PC_OK;

    memset(&st, 0, sizeof(st));
    if (res_ninit(&st) != 0) {
        snprintf(err, errlen, "cannot initialise the resolver");
        return PC_EIO;
    }
    if (server != NULL && server[0] != '\0') {
        if (lb_dns_parse_server(server, &sin) != PC_OK) {
            res_nclose(&st);
            snprintf(err, errlen, "bad server \"%s\"", server);
            return PC_EINVAL;
        }
        lb_dns_use_server(&st, &sin);
    }
    st.retrans = (int)((timeout_ms + 999) / 1000);
    st.retrans = st.retrans < 1 ? 1 : st.retrans;
    st.retry = 1;
    st.options &= ~(unsigned long)RES_ROTATE;
    ans = malloc(LB_DNS_ANSWER_MAX);
    if (ans == NULL) {
        res_nclose(&st);
        return PC_ENOMEM;
    }
    a = lb_dns_query(&st, hostname, ns_t_a, port, ans, l, &rc);
    aaaa = lb_dns_query(&st, hostname, ns_t_aaaa, port, ans, l, &rc);
    free(ans);
    res_nclose(&st);
    if (rc != PC_OK) {
        snprintf(err, errlen, "bad answer for %s: %s", hostname,
                 pc_strerror(rc));
        return rc;
    }
    if (a < 0 && aaaa < 0) {
        snprintf(err, errlen, "no answer for %s (timeout %lldms)", hostname,
                 (long long)timeout_ms);
        return PC_EIO;
    }
    if (l->n == 0) {
        snprintf(err, errlen, "%s has no A or AAAA record", hostname);
        return PC_ENOTFOUND;
    }
    return PC_OK;
}

int lb_dns_resolve(const char *hostname, int port, const char *server,
                   int64_t timeout_ms, char ***out, uint32_t *n, char *err,
                   size_t errlen)
{
    struct lb_dns_list l = {NULL, 0};
    int rc, lit;

    *out = NULL;
    *n = 0;
    err[0] = '\0';
    if (hostname == NULL || strlen(hostname) > LB_DNS_NAME_MAX) {
        snprintf(err, errlen, "bad hostname");
        return PC_EINVAL;
    }
    l.items = calloc(LB_DNS_MAX_ADDRS, sizeof(*l.items));
    if (l.items == NULL) {
        return PC_ENOMEM;
    }
    lit = lb_dns_literal(hostname, port, &l);
    rc = lit != 0 ? (lit > 0 ? PC_OK : PC_ENOMEM)
                  : lb_dns_lookup(hostname, port, server, timeout_ms, &l, err,
                                  errlen);
    if (rc != PC_OK) {
        lb_dns_free(l.items, l.n);
        return rc;
    }
    qsort(l.items, l.n, sizeof(*l.items), lb_dns_cmp);
    *out = l.items;
    *n = l.n;
    return PC_OK;
}
