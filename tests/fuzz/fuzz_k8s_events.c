/*
 * fuzz_k8s_events.c: what a Kubernetes API server sends, on arbitrary
 * bytes: the stream is split into lines in two chunks cut where the first
 * byte says (as chunks of a watch arrive), each line parsed as a watch
 * event, objects of good events turned into targets of every role, and the
 * whole input parsed as a list page whose items become targets too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "discovery/k8s_client.h"
#include "discovery/k8s_event.h"
#include "discovery/k8s_targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_label(void *ctx, const char *name, const char *value)
{
    *(size_t *)ctx += strlen(name) + strlen(value);
    return 0;
}

static int count_target(void *ctx, const char *source)
{
    *(size_t *)ctx += strlen(source);
    return 0;
}

/* The object under every role: as a pod, service, node, endpoints and
 * endpointslice, with itself as the only pod and node too. */
static void targets(json_t *obj)
{
    size_t sum = 0;
    struct k8s_emit em = {&sum, count_label, count_target};
    struct k8s_snap s;
    json_t *set = json_object();
    int r;

    json_object_set(set, "k", obj);
    memset(&s, 0, sizeof(s));
    s.pods = s.services = s.nodes = s.endpoints = s.slices = set;
    s.attach_node = 1;
    for (r = 0; r < K8S_NROLES; r++) {
        (void)k8s_targets_build(r, &s, &em);
    }
    json_decref(set);
}

static int on_line(void *priv, const char *line, size_t len)
{
    struct k8s_event ev;
    struct errctx e = {{0}};

    (void)priv;
    if (line == NULL) {
        return 0;
    }
    if (k8s_event_parse(line, len, "Pod", &ev, &e) == PC_OK) {
        if (ev.obj != NULL) {
            targets(ev.obj);
        }
        k8s_event_release(&ev);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct k8s_lines l;
    struct k8s_page p;
    struct errctx e = {{0}};
    size_t cut = size > 0 ? data[0] % (size + 1) : 0;

    k8s_lines_init(&l, 4096);
    (void)k8s_lines_feed(&l, (const char *)data, cut, on_line, NULL);
    (void)k8s_lines_feed(&l, (const char *)data + cut, size - cut, on_line,
                         NULL);
    (void)k8s_lines_end(&l, on_line, NULL);
    k8s_lines_free(&l);
    if (k8s_page_parse((const char *)data, size, &p, &e) == PC_OK) {
        size_t i;
        json_t *o;
        json_array_foreach(p.items, i, o)
        {
            targets(o);
        }
        k8s_page_release(&p);
    }
    return 0;
}
