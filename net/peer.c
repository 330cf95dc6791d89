/*
 * peer.c: the client address of an HTTP request (see peer.h).
 */
#include <event2/http.h>
#include <stdio.h>

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
