/*
 * peer.h: the IP address of the client of an HTTP request, for receivers
 * to record on the batch they build (struct batch.peer), so a processor
 * can tell which pod sent it (k8sattributes).
 */
#ifndef PROFCOL_PEER_H
#define PROFCOL_PEER_H

#include <stddef.h>

struct evhttp_request;

/* Writes the address ("" when unknown) into out. Loop thread only. */
void net_peer_addr(struct evhttp_request *ev, char *out, size_t len);

#endif
