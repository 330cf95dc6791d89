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

/* The address in a gRPC peer string ("ipv4:10.0.0.5:4711",
 * "ipv6:[fd00::7]:4711", also with %5B %5D): the bare IP, or "" for
 * other forms (unix sockets). */
void net_peer_from_grpc(const char *peer, char *out, size_t len);

#endif
