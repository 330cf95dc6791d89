/*
 * lb_dns.h: the DNS lookups of the `loadbalancing` exporter's dns resolver.
 *
 * glibc's stub resolver (res_nsearch on a private res_state) asks for the A
 * and AAAA records of a name. It reads /etc/resolv.conf like every other
 * program (nameservers, search domains, ndots: what a Kubernetes pod needs
 * for a headless Service name), and, unlike getaddrinfo(), it can be pointed
 * at one nameserver on any port (`server`), which tests and operators use
 * to ask a specific DNS server. Blocking: the exporter calls it from its
 * resolver thread, never from the main loop.
 */
#ifndef PROFCOL_LB_DNS_H
#define PROFCOL_LB_DNS_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#define LB_DNS_MAX_ADDRS 1024

/* "IPv4:port" -> address; PC_OK or PC_EINVAL. */
int lb_dns_parse_server(const char *s, struct sockaddr_in *out);

/*
 * Resolves hostname (an IP literal is returned as is) into endpoints
 * "a.b.c.d:port" and "[v6]:port", sorted and unique, in a malloc'd array of
 * malloc'd strings (*out, *n; free with lb_dns_free). server: NULL or "" for
 * /etc/resolv.conf, else "IPv4:port". timeout_ms bounds each try (whole
 * seconds, at least 1: the resolver's unit). PC_OK when at least one
 * address was found; PC_ENOTFOUND (no such name / no address) or PC_EIO
 * (no answer) with err filled otherwise.
 */
int lb_dns_resolve(const char *hostname, int port, const char *server,
                   int64_t timeout_ms, char ***out, uint32_t *n, char *err,
                   size_t errlen);
void lb_dns_free(char **list, uint32_t n);

#endif
