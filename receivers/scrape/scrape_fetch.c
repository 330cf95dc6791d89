/*
 * scrape_fetch.c: libcurl's multi interface driven by the libevent loop.
 *
 * libcurl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and
 * when to wake it up (CURLMOPT_TIMERFUNCTION); libevent watches them and
 * calls curl_multi_socket_action() back. So any number of transfers run on
 * the main loop without a thread each and without ever blocking it.
 * Finished transfers are collected with curl_multi_info_read() after every
 * action and handed to the done callback.
 */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "receivers/scrape/scrape.h"

struct scrape_fetch {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    scrape_fetch_done_fn done;
    struct fetch_sock *socks; /* every watcher, freed at the end */
};

/* The libevent watcher of one socket (curl's socketp). */
struct fetch_sock {
    struct event *ev;
    struct fetch_sock *prev, *next;
};

static void sock_unlink(struct scrape_fetch *f, struct fetch_sock *fs)
{
    if (fs->prev != NULL) {
        fs->prev->next = fs->next;
    } else {
        f->socks = fs->next;
    }
    if (fs->next != NULL) {
        fs->next->prev = fs->prev;
    }
    if (fs->ev != NULL) {
        event_free(fs->ev);
    }
    free(fs);
}

static void fetch_collect(struct scrape_fetch *f)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(f->multi, &left)) != NULL) {
        CURL *easy;
        void *priv = NULL;
        CURLcode rc;
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        easy = msg->easy_handle;
        rc = msg->data.result;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&priv);
        curl_multi_remove_handle(f->multi, easy);
        f->done(priv, easy, rc);
    }
}

static void fetch_on_socket(evutil_socket_t fd, short what, void *arg)
{
    struct scrape_fetch *f = arg;
    int flags = 0, running;

    if (what & EV_READ) {
        flags |= CURL_CSELECT_IN;
    }
    if (what & EV_WRITE) {
        flags |= CURL_CSELECT_OUT;
    }
    curl_multi_socket_action(f->multi, fd, flags, &running);
    fetch_collect(f);
}

static void fetch_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct scrape_fetch *f = arg;
    int running;

    (void)fd;
    (void)what;
    curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    fetch_collect(f);
}

static int fetch_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp,
                           void *socketp)
{
    struct scrape_fetch *f = userp;
    struct fetch_sock *fs = socketp;
    short kind = EV_PERSIST;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (fs != NULL) {
            sock_unlink(f, fs);
            curl_multi_assign(f->multi, s, NULL);
        }
        return 0;
    }
    if (what & CURL_POLL_IN) {
        kind |= EV_READ;
    }
    if (what & CURL_POLL_OUT) {
        kind |= EV_WRITE;
    }
    if (fs == NULL) {
        fs = calloc(1, sizeof(*fs));
        if (fs == NULL) {
            return -1;
        }
        fs->next = f->socks;
        if (f->socks != NULL) {
            f->socks->prev = fs;
        }
        f->socks = fs;
        curl_multi_assign(f->multi, s, fs);
    } else if (fs->ev != NULL) {
        event_free(fs->ev);
    }
    fs->ev = event_new(f->base, s, kind, fetch_on_socket, f);
    if (fs->ev == NULL || event_add(fs->ev, NULL) != 0) {
        return -1;
    }
    return 0;
}

static int fetch_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct scrape_fetch *f = userp;
    struct timeval tv;

    (void)multi;
    if (timeout_ms < 0) {
        evtimer_del(f->timer);
        return 0;
    }
    /* A zero timeout still goes through the loop: curl must not be called
     * back from inside its own callback. */
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    return evtimer_add(f->timer, &tv) == 0 ? 0 : -1;
}

struct scrape_fetch *scrape_fetch_new(struct event_base *base,
                                      scrape_fetch_done_fn done,
                                      long max_connections)
{
    struct scrape_fetch *f = calloc(1, sizeof(*f));

    if (f == NULL) {
        return NULL;
    }
    f->base = base;
    f->done = done;
    f->multi = curl_multi_init();
    f->timer = evtimer_new(base, fetch_on_timer, f);
    if (f->multi == NULL || f->timer == NULL) {
        scrape_fetch_free(f);
        return NULL;
    }
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, fetch_socket_cb);
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, fetch_timer_cb);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
    curl_multi_setopt(f->multi, CURLMOPT_MAXCONNECTS, max_connections);
    return f;
}

void scrape_fetch_free(struct scrape_fetch *f)
{
    if (f == NULL) {
        return;
    }
    if (f->multi != NULL) {
        curl_multi_cleanup(f->multi);
    }
    while (f->socks != NULL) {
        sock_unlink(f, f->socks);
    }
    if (f->timer != NULL) {
        event_free(f->timer);
    }
    free(f);
}

int scrape_fetch_add(struct scrape_fetch *f, CURL *easy)
{
    return curl_multi_add_handle(f->multi, easy) == CURLM_OK ? PC_OK
                                                             : PC_ENOMEM;
}

void scrape_fetch_cancel(struct scrape_fetch *f, CURL *easy)
{
    curl_multi_remove_handle(f->multi, easy);
}
