/*
 * scrape.h: internals of the `scrape` receiver (pull mode), shared by the
 * files of receivers/scrape/. Only scrape_receiver_factory is public.
 *
 *   scrape_config.c   configuration tables, validation, profile list
 *   scrape_sd.c       target groups: static_configs and file_sd_configs
 *   scrape_targets.c  groups x profiles -> relabeled scrape loops (diffed)
 *   scrape_loop.c     one loop per (target, profile): timer, request,
 *                     response checks, decode, delta, hand-over, metrics
 *   scrape_fetch.c    libcurl multi driven by the libevent loop
 *   relabel.c, delta.c
 *
 * Everything runs on the main event loop: no thread per target, no
 * blocking network I/O (libcurl's multi interface does it in the
 * background of the loop).
 */
#ifndef PROFCOL_SCRAPE_H
#define PROFCOL_SCRAPE_H

#include <stdint.h>
#include <time.h>

#include "core/buf.h"
#include "component/component.h"
#include "discovery/k8s_sd.h"
#include "net/curl_api.h"
#include "receivers/scrape/delta.h"
#include "receivers/scrape/relabel.h"

/* ---- configuration -------------------------------------------------------- */

struct scrape_prof_cfg {
    int enabled;
    char *path;
    int delta;       /* add ?seconds=N: the target computes it */
    int64_t seconds; /* 0 = scrape_interval - 1s */
};

struct scrape_custom_cfg {
    char *name;
    char *path;
    int enabled;
    int delta;
    int64_t seconds;
};

/* The built-in profile kinds, in the order of scrape_builtin[]. */
enum scrape_builtin_kind {
    SCRAPE_PROCESS_CPU,
    SCRAPE_MEMORY,
    SCRAPE_GOROUTINE,
    SCRAPE_MUTEX,
    SCRAPE_BLOCK,
    SCRAPE_GODELTAPROF_MEMORY,
    SCRAPE_GODELTAPROF_MUTEX,
    SCRAPE_GODELTAPROF_BLOCK,
    SCRAPE_FGPROF,
    SCRAPE_NBUILTIN,
};

struct scrape_profiling_cfg {
    char *path_prefix;
    struct scrape_prof_cfg builtin[SCRAPE_NBUILTIN];
    struct cfg_list custom; /* struct scrape_custom_cfg */
};

struct scrape_static_cfg {
    struct cfg_strlist targets;
    struct cfg_map labels;
};

struct scrape_filesd_cfg {
    struct cfg_strlist files;
    int64_t refresh_interval_ms;
};

struct scrape_basic_auth_cfg {
    char *username;
    char *password;
    char *password_file;
};

struct scrape_tls_cfg {
    char *ca_file;
    char *cert_file;
    char *key_file;
    char *server_name;
    int insecure_skip_verify;
};

struct scrape_job_cfg {
    char *job_name;
    int64_t interval_ms;
    int64_t timeout_ms;
    int scheme; /* 0 http, 1 https */
    struct cfg_map params;
    struct cfg_list static_configs;        /* struct scrape_static_cfg */
    struct cfg_list file_sd_configs;       /* struct scrape_filesd_cfg */
    struct cfg_list kubernetes_sd_configs; /* struct k8s_sd_cfg */
    char *service_name_label;              /* target label -> service.name */
    struct cfg_list relabel_configs;       /* struct relabel_cfg */
    struct scrape_basic_auth_cfg basic_auth;
    char *bearer_token;
    char *bearer_token_file;
    struct scrape_tls_cfg tls_config;
    struct scrape_profiling_cfg profiling_config;
};

struct scrape_cfg {
    struct cfg_list scrape_configs; /* struct scrape_job_cfg */
    uint64_t max_response_size;
    uint64_t delta_state_per_target;
    uint64_t delta_state_total;
    int64_t max_connections;
};

extern const struct cfg_entry scrape_cfg_table[];
void scrape_cfg_validate(const void *cfg, const struct ynode *node,
                         struct cfg_diag *d);

/* One profile a job scrapes, resolved from the configuration. */
struct scrape_profile {
    char name[64];    /* __name__ */
    char path[512];   /* path_prefix + path */
    int64_t seconds;  /* > 0: ?seconds=N added */
    int client_delta; /* cumulative: profcol computes the delta */
    int delta_label;  /* emitted profiles carry __delta__="false" */
    int off;          /* disabled in the job: only a target's
                         __profile_<name>_enabled="true" turns it on */
};

/* Enabled profiles of a job; returns the count (at most max). */
uint32_t scrape_profiles(const struct scrape_job_cfg *jc,
                         struct scrape_profile *out, uint32_t max);
#define SCRAPE_MAX_PROFILES 64

/* ---- fetching ----------------------------------------------------------------- */

struct scrape_fetch;

/* Called on the loop when a transfer ends (the easy handle is removed from
 * the multi handle but not cleaned up: the callee owns it again). */
typedef void (*scrape_fetch_done_fn)(void *priv, CURL *easy, CURLcode rc);

struct scrape_fetch *scrape_fetch_new(struct event_base *base,
                                      scrape_fetch_done_fn done,
                                      long max_connections);
void scrape_fetch_free(struct scrape_fetch *f);
/* Starts easy (CURLOPT_PRIVATE must be set to the priv for done). */
int scrape_fetch_add(struct scrape_fetch *f, CURL *easy);
/* Aborts a transfer; done is not called. */
void scrape_fetch_cancel(struct scrape_fetch *f, CURL *easy);

/* ---- discovery ------------------------------------------------------------------- */

struct scrape_group {
    char **targets;
    uint32_t ntargets;
    struct labelset labels;
};

struct scrape_sd_file;

/* A job's file_sd state: the files matched by its globs and their groups. */
struct scrape_sd {
    const struct scrape_filesd_cfg *cfg;
    struct scrape_sd_file *files;
    uint32_t nfiles;
    int64_t next_full_ns; /* next unconditional re-read */
};

/* Re-reads what changed (or everything when full); *changed is set when
 * the groups differ from before. A file that fails to parse keeps its
 * previous groups (logged). */
void scrape_sd_poll(struct scrape_sd *sd, const char *component, int full,
                    int *changed);
void scrape_sd_free(struct scrape_sd *sd);
/* Groups of file i; *path gets its name. */
const struct scrape_group *scrape_sd_groups(const struct scrape_sd *sd,
                                            uint32_t i, uint32_t *n,
                                            const char **path);
/* Kubernetes discovery of a job: one per kubernetes_sd_configs entry,
 * with the targets last built from it (one group per target). */
struct scrape_k8s {
    const struct k8s_sd_cfg *cfg;
    struct k8s_sd *sd;
    struct scrape_group *groups;
    uint32_t ngroups;
    uint64_t dropped; /* targets over the label bounds */
};

/* Rebuilds sd's groups when its stores changed; *changed is set then. */
void scrape_k8s_poll(struct scrape_k8s *k, const char *component,
                     int *changed);
void scrape_k8s_free(struct scrape_k8s *k);

/* Parses a file_sd document (JSON when json, else YAML). */
int scrape_sd_parse(const char *name, const char *text, size_t len, int json,
                    struct scrape_group **out, uint32_t *n, struct errctx *e);
void scrape_groups_free(struct scrape_group *g, uint32_t n);

/* ---- receiver, jobs and loops -------------------------------------------------- */

struct scrape_receiver;
struct scrape_job;

/* Distinct failure reasons a loop keeps a counter handle for (more are
 * looked up on each failure). */
#define SCRAPE_LOOP_REASONS 8

struct scrape_loop {
    struct scrape_job *job;
    uint64_t id;            /* hash of labels and URL */
    struct labelset labels; /* final: no __* except __name__ */
    char *url;
    char *host_header; /* tls server_name: "Host: addr" */
    char *connect_to;  /* tls server_name: CURLOPT_CONNECT_TO */
    const struct scrape_profile *prof;
    struct delta_state delta;
    struct event *timer;
    int64_t next_due_ns;
    CURL *easy;                 /* in flight, else NULL */
    struct curl_slist *headers; /* in flight: Host override */
    struct curl_slist *connect_list;
    struct buf body;
    int body_too_large;
    int64_t started_ns;
    int64_t last_ok_ns;
    int up; /* last scrape succeeded */
    /* Its series: receiver, job, instance and profile labels. Loops with
     * the same labels share a series; it goes with the last holding it. */
    struct mscope *mscope;
    struct mgauge *m_up;
    struct mgauge *m_duration;
    struct { /* error counters, by reason, as seen */
        const char *reason;
        struct mcounter *c;
    } m_errors[SCRAPE_LOOP_REASONS];
};

struct scrape_job {
    struct scrape_receiver *rcv;
    const struct scrape_job_cfg *cfg;
    struct relabel_rules rules;
    struct scrape_profile profiles[SCRAPE_MAX_PROFILES];
    uint32_t nprofiles;
    struct scrape_group *static_groups;
    uint32_t nstatic;
    struct scrape_sd *sds; /* one per file_sd_configs entry */
    uint32_t nsd;
    struct scrape_k8s *k8s; /* one per kubernetes_sd_configs entry */
    uint32_t nk8s;
    struct mcounter *m_k8s_events;
    struct mcounter *m_k8s_bad;
    struct mcounter *m_k8s_failures;
    struct k8s_watch_counts k8s_seen; /* already added to the counters */
    struct event *sd_timer;
    struct scrape_loop **loops; /* sorted by id */
    uint32_t nloops;
    struct mscope *mscope; /* while started: job="<job_name>" */
    struct mgauge *m_targets;
    char *password; /* from password_file, re-read */
    char *bearer;   /* from bearer_token_file, re-read */
    int64_t creds_read_ns;
};

struct scrape_receiver {
    const struct scrape_cfg *cfg;
    struct component_host *host;
    struct scrape_fetch *fetch;
    struct scrape_job *jobs;
    uint32_t njobs;
    size_t delta_bytes; /* committed baselines, all targets */
    struct mgauge *m_delta_bytes;
    int running;
};

/* Loops. */
struct scrape_loop *scrape_loop_new(struct scrape_job *job);
/* Arms the timer: first scrape at now + (id mod interval). */
int scrape_loop_start(struct scrape_loop *l);
/* Stops it, drops its state and its hold on its series, frees it. */
void scrape_loop_free(struct scrape_loop *l);
/* Transfer finished (scrape_fetch done callback). */
void scrape_loop_done(void *priv, CURL *easy, CURLcode rc);

/* Recomputes a job's loops from its groups; keeps unchanged loops (their
 * timers and delta baselines), starts new ones, frees vanished ones. */
void scrape_job_sync(struct scrape_job *job);
/* Reads password_file / bearer_token_file (at most once a minute). */
void scrape_job_creds(struct scrape_job *job);

#endif
