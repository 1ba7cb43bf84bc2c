/* The segment walk's decode pipeline (replay/trace.c's replay_each_segment runs on
 * it). Slots form a ring: the caller fills them with store pointers in order, any
 * thread claims the lowest queued one, decodes it into the slot's own decoder and
 * runs the walk's unordered work on it; one thread at a time runs the ordered work
 * on the decoded slots in order; and the caller hands them back in order, doing
 * either itself when it would wait. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "format/event.h"
#include "replay/pipeline.h"
#include "util/units.h"

/* Decoded segments held at most: each holds its rows (~4 MiB for a full syscall
 * segment) and its document. */
#define SEG_PIPE_MAX_SLOTS 16

enum slot_state { SLOT_FREE, SLOT_QUEUED, SLOT_BUSY, SLOT_DONE };

struct slot {
	const void *buf;
	size_t len;
	struct ks_seg_decoder *dec;
	enum slot_state state;
	bool ordered; /* the ordered work is done, or there is none to do */
	struct seg_result r;
};

struct worker {
	struct seg_pipe *p;
	unsigned index; /* 1..: the caller's is 0 */
	pthread_t id;
};

struct seg_pipe {
	pthread_mutex_t mu;
	pthread_cond_t work; /* workers wait for a queued slot, or for stop */
	pthread_cond_t done; /* the caller waits for a slot to be decoded */
	unsigned threads, nworkers, nslots;
	struct worker *worker;
	struct slot *slot;
	struct ks_seg_iter *it;
	/* Positions in the walk's sequence of segments, slot = position % nslots:
	 * head is the next to hand back, claim the next to decode, tail the next to
	 * fill; head <= claim <= tail <= head + nslots. */
	uint64_t head, claim, tail;
	unsigned busy;     /* slots being decoded */
	bool held;         /* slot head - 1 is the caller's until its next call */
	bool iter_end;     /* the iterator gave its last segment or failed: */
	int iter_err;      /* ... with this error */
	bool stop;
	bool spawn_failed; /* a worker could not start: no retries */
	struct seg_pipe_work job; /* the walk's work (all NULL: none) */
	uint64_t onext;    /* the next position whose ordered work is to run */
	bool ordering;     /* a thread runs ordered work */
};

/* Reads the header, checks the kinds and decodes: everything a segment can fail
 * on, in the order the walk reports it. */
static void decode_slot(struct slot *s, const struct seg_pipe_work *w, unsigned thread)
{
	struct seg_result *r = &s->r;
	int err;

	r->rows = NULL;
	err = ks_seg_read_header(s->buf, s->len, &r->hdr);
	if (err) {
		r->status = SEG_BAD_HDR;
		r->err = err;
	} else if (r->hdr.kind != r->kind) {
		r->status = SEG_BAD_KIND;
	} else if (!ks_schema_get(r->kind)) {
		r->status = SEG_UNKNOWN;
	} else {
		err = ks_seg_decode(s->dec, s->buf, s->len, &r->hdr, &r->rows);
		r->status = err ? SEG_BAD_DATA : SEG_DECODED;
		r->err = err;
	}
	r->work_err = 0;
	if (r->status == SEG_DECODED && w->each)
		r->work_err = w->each(w->ctx, thread, &r->hdr, r->rows);
	/* Nothing in order to do on a segment the walk stops at. */
	s->ordered = !w->ordered || r->status != SEG_DECODED || r->work_err;
}

/* Claims the lowest queued slot and decodes it, the lock released meanwhile.
 * Called with p->mu held and p->claim < p->tail. */
static void claim_and_decode(struct seg_pipe *p, unsigned thread)
{
	struct slot *s = &p->slot[p->claim++ % p->nslots];
	struct seg_pipe_work w = p->job;

	s->state = SLOT_BUSY;
	p->busy++;
	pthread_mutex_unlock(&p->mu);
	decode_slot(s, &w, thread);
	pthread_mutex_lock(&p->mu);
	s->state = SLOT_DONE;
	p->busy--;
	pthread_cond_broadcast(&p->done);
}

/* Runs the ordered work of the next slot when it is decoded and no thread is at
 * it, the lock released meanwhile. Whichever thread finishes a decode or an
 * ordered step calls this next, so no decoded slot waits for nobody. Called with
 * p->mu held; returns true when it ran one. */
static bool run_ordered(struct seg_pipe *p)
{
	struct slot *s;
	int err;

	for (;;) {
		if (p->ordering || p->onext == p->claim)
			return false;
		s = &p->slot[p->onext % p->nslots];
		if (s->state != SLOT_DONE)
			return false;
		if (!s->ordered)
			break;
		p->onext++;
	}
	p->ordering = true;
	pthread_mutex_unlock(&p->mu);
	err = p->job.ordered(p->job.ctx, &s->r.hdr, s->r.rows);
	pthread_mutex_lock(&p->mu);
	s->r.work_err = err;
	s->ordered = true;
	p->onext++;
	p->ordering = false;
	pthread_cond_broadcast(&p->done);
	return true;
}

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct seg_pipe *p = wk->p;

	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		if (run_ordered(p))
			continue;
		if (p->claim < p->tail)
			claim_and_decode(p, wk->index);
		else
			pthread_cond_wait(&p->work, &p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int seg_pipe_new(unsigned threads, struct seg_pipe **out)
{
	struct seg_pipe *p;
	int err = -ENOMEM;

	*out = NULL;
	if (!threads || threads > SEG_PIPE_MAX_THREADS)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->threads = threads;
	/* One slot per thread, the one the caller holds, and one for the ordered
	 * work to run ahead on: more would only hold memory. */
	p->nslots = threads == 1 ? 1 : threads + 2;
	if (p->nslots > SEG_PIPE_MAX_SLOTS)
		p->nslots = SEG_PIPE_MAX_SLOTS;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	p->slot = calloc(p->nslots, sizeof(*p->slot));
	p->worker = calloc(threads, sizeof(*p->worker));
	if (!p->slot || !p->worker)
		goto fail;
	for (unsigned i = 0; i < p->nslots; i++) {
		err = ks_seg_decoder_new(&p->slot[i].dec);
		if (err)
			goto fail;
	}
	*out = p;
	return 0;
fail:
	seg_pipe_free(p);
	return err;
}

void seg_pipe_free(struct seg_pipe *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->nworkers; i++)
		pthread_join(p->worker[i].id, NULL);
	for (unsigned i = 0; p->slot && i < p->nslots; i++)
		ks_seg_decoder_free(p->slot[i].dec);
	pthread_cond_destroy(&p->done);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->mu);
	free(p->slot);
	free(p->worker);
	free(p);
}

unsigned seg_pipe_threads(const struct seg_pipe *p)
{
	return p->threads;
}

void seg_pipe_begin(struct seg_pipe *p, struct ks_seg_iter *it)
{
	sigset_t all, old;

	/* The caller is one of the threads; the others start once and stay, with
	 * every signal blocked so that the commands' handlers run on the caller's
	 * thread as before. When one cannot start, fewer decode: the caller alone
	 * suffices. */
	if (p->nworkers + 1 < p->threads && p->nworkers + 1 < p->nslots && !p->spawn_failed) {
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		while (p->nworkers + 1 < p->threads && p->nworkers + 1 < p->nslots &&
		       !p->spawn_failed) {
			struct worker *wk = &p->worker[p->nworkers];

			wk->p = p;
			wk->index = p->nworkers + 1;
			if (pthread_create(&wk->id, NULL, worker_main, wk))
				p->spawn_failed = true;
			else
				p->nworkers++;
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	pthread_mutex_lock(&p->mu);
	p->it = it;
	p->head = p->claim = p->tail = p->onext = 0;
	p->held = p->iter_end = false;
	p->iter_err = 0;
	pthread_mutex_unlock(&p->mu);
}

void seg_pipe_set_work(struct seg_pipe *p, const struct seg_pipe_work *w)
{
	pthread_mutex_lock(&p->mu);
	p->job = w ? *w : (struct seg_pipe_work){ 0 };
	pthread_mutex_unlock(&p->mu);
}

/* Queues the store's next segments into the free slots. The iterator is read on
 * this thread only, outside the lock: the workers never touch it. */
static void fill(struct seg_pipe *p)
{
	bool queued = false;

	while (!p->iter_end && p->tail - p->head < p->nslots) {
		struct slot *s = &p->slot[p->tail % p->nslots];
		int r;

		pthread_mutex_unlock(&p->mu);
		r = ks_seg_iter_next(p->it, &s->r.kind, &s->r.seq, &s->buf, &s->len);
		pthread_mutex_lock(&p->mu);
		if (r <= 0) {
			p->iter_end = true;
			p->iter_err = r;
			break;
		}
		s->state = SLOT_QUEUED;
		s->ordered = false;
		p->tail++;
		queued = true;
	}
	if (queued && p->nworkers)
		pthread_cond_broadcast(&p->work);
}

int seg_pipe_next(struct seg_pipe *p, const struct seg_result **out)
{
	struct slot *s;

	pthread_mutex_lock(&p->mu);
	if (p->held) {
		p->slot[p->head % p->nslots].state = SLOT_FREE;
		p->head++;
		p->held = false;
	}
	fill(p);
	if (p->head == p->tail) {
		pthread_mutex_unlock(&p->mu);
		return p->iter_err; /* every segment before the end was handed back */
	}
	s = &p->slot[p->head % p->nslots];
	while (s->state != SLOT_DONE || !s->ordered) {
		/* Rather than wait, work: the ordered step due, else decode the one
		 * needed next, or one after it. */
		if (run_ordered(p))
			continue;
		if (p->claim < p->tail)
			claim_and_decode(p, 0);
		else
			pthread_cond_wait(&p->done, &p->mu);
	}
	p->held = true;
	pthread_mutex_unlock(&p->mu);
	*out = &s->r;
	return 1;
}

void seg_pipe_end(struct seg_pipe *p)
{
	pthread_mutex_lock(&p->mu);
	p->tail = p->claim; /* what no thread has claimed is dropped */
	while (p->busy || p->ordering)
		pthread_cond_wait(&p->done, &p->mu);
	for (unsigned i = 0; i < p->nslots; i++)
		p->slot[i].state = SLOT_FREE;
	p->head = p->claim = p->tail = p->onext = 0;
	p->job = (struct seg_pipe_work){ 0 };
	p->held = false;
	p->it = NULL;
	pthread_mutex_unlock(&p->mu);
}

unsigned seg_pipe_default_threads(void)
{
	const char *env = getenv("KSIGHT_THREADS");
	uint64_t n;
	cpu_set_t set;
	long online;

	if (env && !ks_parse_u64(env, &n) && n >= 1 && n <= SEG_PIPE_MAX_THREADS)
		return (unsigned)n;
	if (!sched_getaffinity(0, sizeof(set), &set) && CPU_COUNT(&set) > 0)
		n = (uint64_t)CPU_COUNT(&set);
	else
		n = (online = sysconf(_SC_NPROCESSORS_ONLN)) > 0 ? (uint64_t)online : 1;
	/* Beyond a few, threads hold more decoded segments in the cache they share
	 * than they gain: the ordered work and the caller's analysers set the pace. */
	return n > SEG_PIPE_DEFAULT_THREADS ? SEG_PIPE_DEFAULT_THREADS : (unsigned)n;
}
