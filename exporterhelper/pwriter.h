/*
 * pwriter.h: the writer thread of a persistent sending queue. Serializing
 * a batch and compressing it cost as much as decoding it; done by the
 * thread that submits (a receiver, on the main loop) they bounded the
 * persistent path to one core. A pwriter takes batches into a short FIFO
 * and stores them in the pqueue from a thread of its own, in order.
 *
 * Thread-safe. Each batch submitted is answered exactly once through its
 * done(arg, rc): from the committer thread once durable (fsync always,
 * rc PC_OK or PC_EIO), or from the writer thread: PC_OK when stored under
 * the other policies, PC_EBUSY when it could not be stored (what a full
 * queue answers; the reason goes to the failed callback first).
 */
#ifndef PROFCOL_PWRITER_H
#define PROFCOL_PWRITER_H

#include <stdint.h>

#include "component/batch.h"
#include "exporterhelper/pqueue.h"

/* Batches waiting for the writer at most. Each holds a decoded batch, but
 * one its request holds anyway until answered; the FIFO is a hand-off, not
 * the queue's capacity. Receivers submit without waiting (from the main
 * loop), so a burst of concurrent requests larger than the FIFO, arriving
 * while the writer is descheduled, was refused with the queue nearly
 * empty: 8 refused 1 of 16 concurrent requests on a loaded machine. */
#define PWRITER_MAX_PENDING 64

struct pwriter;

/* Called by the writer, before done, for a batch it could not store (rc:
 * PC_EBUSY, PC_ECLOSED, PC_ETOOBIG, PC_EIO, PC_ENOMEM): counting, logs. */
typedef void (*pwriter_failed_fn)(void *ctx, const struct batch *b, int rc);

/* A writer storing into pq (which must outlive it). */
int pwriter_start(struct pqueue *pq, pwriter_failed_fn failed, void *ctx,
                  struct pwriter **out);

/*
 * Hands b (the caller's reference) to the writer. PC_EINPROGRESS: done
 * will be called. PC_EBUSY: the FIFO stayed full for wait_ms (0 = no wait,
 * < 0 = no limit); PC_ECLOSED after pwriter_stop. On those the caller keeps
 * its reference and done is not called. wait_ms also bounds the writer's
 * wait for room in the pqueue.
 */
int pwriter_submit(struct pwriter *w, struct batch *b, int64_t wait_ms,
                   pqueue_durable_fn done, void *arg);

/* Refuses new batches, stores the ones waiting, and joins the thread. */
void pwriter_stop(struct pwriter *w);

/* Stops (if needed) and frees. NULL is allowed. */
void pwriter_free(struct pwriter *w);

#endif
