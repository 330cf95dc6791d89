/*
 * peer.c: the client address of an HTTP request (see peer.h).
 */
#include <event2/http.h>
#include <stdio.h>
#include <string.h>

#include "net/peer.h"

void net_peer_addr(struct evhttp_request *ev, char *out, size_t len)
{
    struct evhttp_connection *c = ev != NULL
                                      ? evhttp_request_get_connection(ev)
                                      : NULL;
    char *addr = NULL;
    ev_uint16_t port = 0;

    if (len == 0) {
        return;
    }
    out[0] = '\0';
    if (c != NULL) {
        evhttp_connection_get_peer(c, &addr, &port);
        snprintf(out, len, "%s", addr != NULL ? addr : "");
    }
}

void net_peer_from_grpc(const char *peer, char *out, size_t len)
{
    const char *p, *end;
    int v6;

    if (len == 0) {
        return;
    }
    out[0] = '\0';
    if (peer == NULL) {
        return;
    }
    v6 = strncmp(peer, "ipv6:", 5) == 0;
    if (!v6 && strncmp(peer, "ipv4:", 5) != 0) {
        return;
    }
    p = peer + 5;
    if (v6 && p[0] == '[') {
        p++;
        end = strchr(p, ']');
    } else if (v6 && strncmp(p, "%5B", 3) == 0) {
        p += 3;
        end = strstr(p, "%5D");
    } else {
        end = strrchr(p, ':'); /* the port */
    }
    if (end == NULL) {
        return;
    }
    snprintf(out, len, "%.*s", (int)(end - p), p);
}
