/* Ring buffer -> batches (drain thread) -> segments in the store (writer thread).
 * The drain thread only copies rows; encoding, compression and LMDB commits happen
 * on the writer thread so they never hold up draining. */
#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>

#include "bpf/events.h"
#include "format/segment.h"
#include "record/consumer.h"
#include "format/kserr.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/log.h"

/* Segment sizes: a syscall segment of 64 Ki events compresses ~10% tighter than
 * one of 16 Ki, and LMDB stores each segment on whole pages (half a page lost per
 * segment on average), so batches are as large as memory allows: 4 MiB of rows,
 * sysargs (mostly short paths in 296-byte rows) 16 Ki, other kinds 4 Ki rows
 * (bench/RESULTS.md, "Trace size"). */
#define BATCH_ROWS 65536
#define BATCH_BYTES_MAX (4u << 20) /* a batch of large rows holds fewer */

#define MAX_HANDLERS 64

/* Empty batches kept per kind for reuse: the one being filled while the writer
 * writes another needs two; more come back only after a burst. */
#define FREE_KEEP 2

/* While commits fail (disk full): puts wait in memory up to this many bytes, then
 * they are dropped and counted lost; a commit is retried this often. */
#define WAIT_BYTES_DEFAULT (64u << 20)
#define RETRY_NS (250ull * 1000 * 1000)

struct batch {
	struct batch *next;
	unsigned kind;  /* 0: a put of key/val into db, or with fn a call */
	consumer_call_fn fn;
	void *arg;
	size_t n, cap, row_size;
	void *rows;
	enum ks_db db;
	size_t klen, vlen;
	void *kv;       /* key then value, for a put */
};

struct consumer {
	struct ring_buffer *rb;
	struct perf_buffer *pb;
	struct ks_store *store;
	struct ks_seg_encoder *enc;
	struct batch *cur[KS_KIND_MAX];
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct batch *head, *tail; /* full batches waiting for the writer */
	size_t queued_rows;        /* their rows */
	struct batch *free_list[KS_KIND_MAX]; /* a list per kind: rows differ in size */
	unsigned nfree[KS_KIND_MAX];          /* at most FREE_KEEP each */
	bool stop;
	int err; /* first writer error */
	size_t wait_bytes;
	uint64_t win_start, win_busy; /* the writer's load: see writer_idle */
	bool was_idle;
	int commit_err;       /* commits failing with this (disk full) since ... */
	uint64_t last_try_ns; /* ... the last try */
	struct consumer_stats stats;
	struct {
		consumer_handler_fn fn;
		void *ctx;
	} handlers[MAX_HANDLERS];
	void (*on_proc)(void *ctx, const struct ks_proc *p);
	void *on_proc_ctx;
};

static struct batch *batch_get(struct consumer *c, unsigned kind)
{
	const struct ks_schema *s = ks_schema_get(kind);
	struct batch *b;

	pthread_mutex_lock(&c->lock);
	b = c->free_list[kind];
	if (b) {
		c->free_list[kind] = b->next;
		c->nfree[kind]--;
	}
	pthread_mutex_unlock(&c->lock);
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b)
			return NULL;
		b->cap = kind == KS_KIND_SYSCALL ? BATCH_ROWS :
			 kind == KS_KIND_SYSARG ? BATCH_ROWS / 4 : BATCH_ROWS / 16;
		/* rows with a 4 KiB argv: a batch's pages are touched as it fills */
		if (b->cap * s->row_size > BATCH_BYTES_MAX)
			b->cap = BATCH_BYTES_MAX / s->row_size;
		b->row_size = s->row_size;
		b->rows = calloc(b->cap, b->row_size);
		if (!b->rows) {
			free(b);
			return NULL;
		}
	}
	b->kind = kind;
	b->n = 0;
	b->next = NULL;
	return b;
}

static void batch_free(struct batch *b)
{
	if (b) {
		free(b->rows);
		free(b->kv);
	}
	free(b);
}

static void enqueue(struct consumer *c, struct batch *b)
{
	pthread_mutex_lock(&c->lock);
	c->queued_rows += b->n;
	if (c->tail)
		c->tail->next = b;
	else
		c->head = b;
	c->tail = b;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

/* Queues the current batch of kind for the writer. */
static int batch_submit(struct consumer *c, unsigned kind)
{
	struct batch *b = c->cur[kind];

	if (!b || !b->n)
		return 0;
	c->cur[kind] = NULL;
	enqueue(c, b);
	return 0;
}

static void *batch_slot(struct consumer *c, unsigned kind)
{
	struct batch *b = c->cur[kind];

	if (b && b->n == b->cap) {
		batch_submit(c, kind);
		b = NULL;
	}
	if (!b) {
		b = c->cur[kind] = batch_get(c, kind);
		if (!b)
			return NULL;
	}
	c->stats.events[kind]++;
	return (char *)b->rows + b->n++ * b->row_size;
}

/* One syscall record (the fields both record layouts share) into a row. */
static int put_syscall(struct consumer *c, const struct ks_ev_syscall_b *e, const __s64 *args,
		       uint32_t pid, uint32_t tid)
{
	struct ks_syscall *r = batch_slot(c, KS_KIND_SYSCALL);

	if (!r)
		return -ENOMEM;
	r->ts = e->ts;
	r->dur = e->dur;
	r->ret = e->ret;
	r->pid = pid;
	r->tid = tid;
	r->nr = e->nr;
	r->flags = e->type >> 16;
	if (args) {
		r->arg0 = args[0];
		r->arg1 = args[1];
		r->arg2 = args[2];
	} else {
		r->flags &= ~KS_EV_SYSF_ARGS;
		r->arg0 = r->arg1 = r->arg2 = 0;
	}
	return 0;
}

/* A batch of one thread's syscall records (bpf/batch.bpf.h). */
static int on_batch(struct consumer *c, const void *data, size_t size)
{
	const struct ks_ev_batch *h = data;
	const char *p = (const char *)(h + 1), *end;

	if (size < sizeof(*h) || h->len > size - sizeof(*h))
		return 0;
	c->stats.batches[h->why < KS_BATCH_WHY_MAX ? h->why : 0]++;
	if (h->len > c->stats.batch_max_bytes)
		c->stats.batch_max_bytes = h->len;
	end = p + h->len;
	if (h->len >= sizeof(struct ks_ev_syscall_b)) {
		/* how long its first record waited: in the batch, then in the ring */
		const struct ks_ev_syscall_b *first = (const void *)p;
		uint64_t now = ks_mono_ns(), done = first->ts + first->dur;

		if (now > done && now - done > c->stats.batch_max_age_ns)
			c->stats.batch_max_age_ns = now - done;
	}
	while ((size_t)(end - p) >= sizeof(struct ks_ev_syscall_b)) {
		const struct ks_ev_syscall_b *e = (const void *)p;
		bool args = (e->type >> 16) & KS_EV_SYSF_ARGS;
		size_t n = args ? sizeof(struct ks_ev_syscall_b_args) : sizeof(*e);
		int err;

		if ((e->type & 0xffff) != KS_EV_SYSCALL || n > (size_t)(end - p))
			break;
		err = put_syscall(c, e, args ? ((const struct ks_ev_syscall_b_args *)p)->arg : NULL,
				  h->pid, h->tid);
		if (err)
			return err;
		p += n;
	}
	return 0;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct consumer *c = ctx;
	uint32_t type = *(uint32_t *)data;

	switch (type & 0xffff) {
	case KS_EV_BATCH:
		return on_batch(c, data, size);
	case KS_EV_SYSCALL: {
		const struct ks_ev_syscall *e = data;
		const struct ks_ev_syscall_args *a = data;
		struct ks_ev_syscall_b b;

		if (size < sizeof(*e))
			return 0;
		b = (struct ks_ev_syscall_b){ .type = type, .nr = e->nr, .ts = e->ts, .dur = e->dur,
					      .ret = e->ret };
		return put_syscall(c, &b, (type >> 16) & KS_EV_SYSF_ARGS && size >= sizeof(*a) ?
				   a->arg : NULL, e->pid, e->tid);
	}
	case KS_EV_SYSARG: {
		const struct ks_ev_sysarg *e = data;
		size_t head = offsetof(struct ks_ev_sysarg, data);
		struct ks_sysarg *r;

		if (size < head || !(r = batch_slot(c, KS_KIND_SYSARG)))
			return size < head ? 0 : -ENOMEM;
		r->ts = e->ts;
		r->pid = e->pid;
		r->tid = e->tid;
		r->what = type >> 16;
		r->nr = e->nr;
		r->val = e->val;
		r->flags = e->flags;
		r->len = e->len;
		if (r->len > size - head || r->len > KS_SYSARG_MAX)
			r->len = size - head < KS_SYSARG_MAX ? size - head : KS_SYSARG_MAX;
		memcpy(r->data, e->data, r->len);
		return 0;
	}
	case KS_EV_PROC: {
		const struct ks_ev_proc *e = data;
		size_t head = offsetof(struct ks_ev_proc, argv);
		struct ks_proc *r;

		if (size < head || !(r = batch_slot(c, KS_KIND_PROC)))
			return size < head ? 0 : -ENOMEM;
		memset(r, 0, sizeof(*r));
		r->ts = e->ts;
		r->what = e->what;
		r->pid = e->pid;
		r->tid = e->tid;
		r->ppid = e->ppid;
		r->exit_code = e->exit_code;
		memcpy(r->comm, e->comm, sizeof(r->comm));
		r->cgroup = e->cgroup;
		r->argv_len = e->argv_len < KS_ARGV_MAX ? e->argv_len : KS_ARGV_MAX;
		if (r->argv_len > size - head)
			r->argv_len = size - head;
		memcpy(r->argv, e->argv, r->argv_len);
		r->flags = e->flags & KS_EV_PROCF_ARGV_TRUNC ? KS_PROCF_ARGV_TRUNC : 0;
		if (c->on_proc)
			c->on_proc(c->on_proc_ctx, r);
		return 0;
	}
	case KS_EV_SCHED: {
		const struct ks_ev_sched *e = data;
		struct ks_sched *r;

		if (size < sizeof(*e) || !(r = batch_slot(c, KS_KIND_SCHED)))
			return size < sizeof(*e) ? 0 : -ENOMEM;
		r->ts = e->ts;
		r->what = type >> 16;
		r->cpu = e->cpu;
		r->prev_pid = e->prev_pid;
		r->prev_tid = e->prev_tid;
		r->next_pid = e->next_pid;
		r->next_tid = e->next_tid;
		r->prev_state = e->prev_state;
		r->faults = e->faults;
		return 0;
	}
	default:
		if ((type & 0xffff) < MAX_HANDLERS && c->handlers[type & 0xffff].fn)
			return c->handlers[type & 0xffff].fn(c->handlers[type & 0xffff].ctx,
							     data, size);
	}
	return 0;
}

void consumer_on_proc(struct consumer *c, void (*fn)(void *ctx, const struct ks_proc *p),
		      void *ctx)
{
	c->on_proc = fn;
	c->on_proc_ctx = ctx;
}

int consumer_set_handler(struct consumer *c, unsigned type, consumer_handler_fn fn, void *ctx)
{
	if (type <= KS_EV_SCHED || type >= MAX_HANDLERS)
		return -EINVAL;
	c->handlers[type].fn = fn;
	c->handlers[type].ctx = ctx;
	return 0;
}

int consumer_add_row(struct consumer *c, unsigned kind, const void *row)
{
	const struct ks_schema *s = ks_schema_get(kind);
	void *slot;

	if (!s)
		return -EINVAL;
	slot = batch_slot(c, kind);
	if (!slot)
		return -ENOMEM;
	memcpy(slot, row, s->row_size);
	return 0;
}

int consumer_put(struct consumer *c, enum ks_db db, const void *key, size_t klen,
		 const void *val, size_t vlen)
{
	struct batch *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	b->kv = malloc(klen + vlen + 1);
	if (!b->kv) {
		free(b);
		return -ENOMEM;
	}
	memcpy(b->kv, key, klen);
	memcpy((char *)b->kv + klen, val, vlen);
	b->db = db;
	b->klen = klen;
	b->vlen = vlen;
	enqueue(c, b);
	return 0;
}

int consumer_call(struct consumer *c, consumer_call_fn fn, void *arg)
{
	struct batch *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	b->fn = fn;
	b->arg = arg;
	enqueue(c, b);
	return 0;
}

/* zstd level by load: a batch the flush timer cut short (under 64 Ki events in
 * 400 ms), or any batch while the writer has been busy less than WRITER_IDLE of
 * the last second, gets the slower, tighter level; a full batch of a busy writer,
 * or one behind others in the queue, the fast default. So the slow level costs at
 * most a fifth of a core and a storm is written at the fast one. On tar -xf of
 * /usr/include into tmpfs level 12 stores syscalls and paths in 10% fewer bytes
 * than level 3 (bench/RESULTS.md, "Trace size"). */
#define LEVEL_IDLE 12
#define LEVEL_BUSY 3
#define WRITER_IDLE 0.2
#define WRITER_WINDOW_NS 1000000000ull

/* An upper bound of a full syscall batch's document: every row at its raw size. */
static size_t full_batch_raw(void)
{
	size_t n = (size_t)BATCH_ROWS * ks_schema_get(KS_KIND_SYSCALL)->row_size;

	return n < KS_SEG_MAX_RAW ? n : KS_SEG_MAX_RAW;
}

/* Whether the writer has been busy less than WRITER_IDLE of its last window
 * (the time it spent encoding and putting, against the time that passed). */
static bool writer_idle(struct consumer *c, uint64_t now)
{
	if (!c->win_start || now - c->win_start >= WRITER_WINDOW_NS) {
		c->was_idle = !c->win_start ||
			      c->win_busy < WRITER_IDLE * (double)(now - c->win_start);
		c->win_start = now;
		c->win_busy = 0;
	}
	return c->was_idle;
}

static int write_batch(struct consumer *c, struct batch *b, bool backlog)
{
	const uint8_t *seg;
	uint64_t t0;
	size_t len;
	int err;

	if (!b->kind && b->fn)
		return b->fn(b->arg, c->store);
	if (!b->kind)
		return ks_store_put(c->store, b->db, b->kv, b->klen, (char *)b->kv + b->klen,
				    b->vlen);
	t0 = ks_mono_ns();
	err = ks_seg_encoder_set_level(c->enc, !backlog && (b->n < b->cap || writer_idle(c, t0)) ?
					       LEVEL_IDLE : LEVEL_BUSY);
	if (err)
		return err;
	err = ks_seg_encode(c->enc, b->kind, b->rows, b->n, &seg, &len);
	if (err)
		return err;
	err = ks_store_put_segment_events(c->store, b->kind, seg, len, b->n);
	c->win_busy += ks_mono_ns() - t0;
	if (err)
		return err;
	c->stats.segments++;
	c->stats.segment_bytes += len;
	return 0;
}

/* Counts what the store dropped as lost. */
static void drop_pending(struct consumer *c)
{
	uint64_t ev[256] = { 0 }, puts = 0;

	ks_store_discard(c->store, ev, &puts);
	for (unsigned k = 0; k < KS_KIND_MAX; k++)
		c->stats.lost_write[k] += ev[k];
	c->stats.lost_puts += puts;
}

static bool disk_error(int err)
{
	return err == -ENOSPC || err == -EDQUOT || err == -EIO || err == -EFBIG;
}

/* Commits on the store's interval; while the disk is full, retries now and then,
 * keeping the puts in memory up to wait_bytes and dropping them (counted
 * lost) past it, so the command runs on and memory stays bounded. */
static void writer_commit(struct consumer *c, bool force)
{
	uint64_t now = ks_mono_ns();
	int err;

	if (c->commit_err && !ks_store_pending_bytes(c->store))
		return; /* all dropped: the next put is the next try */
	if (c->commit_err && !force && now - c->last_try_ns < RETRY_NS)
		err = c->commit_err;
	else if (c->commit_err || force)
		err = ks_store_commit(c->store);
	else
		err = ks_store_maybe_commit(c->store, now);
	if (c->commit_err && err != c->commit_err)
		c->last_try_ns = now;
	if (!err) {
		if (c->commit_err)
			ks_debug("the trace is being written again (%s before)",
				 ks_strerror(c->commit_err));
		c->commit_err = 0;
		return;
	}
	if (!disk_error(err)) {
		c->err = err;
		return;
	}
	if (!c->commit_err) {
		ks_error("cannot write the trace: %s; events wait in memory and are dropped "
			 "(counted lost) while it lasts", ks_strerror(err));
		c->last_try_ns = now;
	}
	c->commit_err = err;
	c->stats.write_err = err;
	if (force || ks_store_pending_bytes(c->store) > c->wait_bytes)
		drop_pending(c);
}

static void *writer_main(void *arg)
{
	struct consumer *c = arg;
	struct timespec deadline;
	int err;

	/* both levels at the size of a full syscall batch: memory is flat from here
	 * (the encoder is this thread's; here, the ~30 ms this takes do not delay
	 * the command's start) */
	err = ks_seg_encoder_reserve(c->enc, LEVEL_IDLE, full_batch_raw());
	err = err ?: ks_seg_encoder_reserve(c->enc, LEVEL_BUSY, full_batch_raw());
	if (err)
		ks_debug("cannot size the segment encoder in advance: %s", ks_strerror(err));
	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->head && !c->stop) {
			clock_gettime(CLOCK_REALTIME, &deadline);
			deadline.tv_nsec += 100 * 1000 * 1000;
			if (deadline.tv_nsec >= 1000000000) {
				deadline.tv_sec++;
				deadline.tv_nsec -= 1000000000;
			}
			if (pthread_cond_timedwait(&c->cond, &c->lock, &deadline) == ETIMEDOUT)
				break;
		}
		struct batch *b = c->head;

		if (b) {
			c->head = b->next;
			if (!c->head)
				c->tail = NULL;
		}
		if (b)
			c->queued_rows -= b->n;
		/* behind: more than a full syscall batch still waits after this one */
		bool stop = c->stop && !b, backlog = c->queued_rows > BATCH_ROWS;
		pthread_mutex_unlock(&c->lock);
		if (b) {
			int err = c->err ? -ECANCELED : write_batch(c, b, backlog);

			if (c->err && b->fn)
				b->fn(b->arg, NULL); /* cancelled: it only frees arg */

			if (err && b->kind)
				c->stats.lost_write[b->kind] += b->n;
			else if (err && !b->fn)
				c->stats.lost_puts++;
			if (err && disk_error(err) && b->fn == NULL) {
				/* a full disk (or a bounded trace that cannot make room): counted
				 * lost, and the commits are retried as writer_commit does */
				if (!c->commit_err)
					c->last_try_ns = ks_mono_ns();
				c->commit_err = c->stats.write_err = err;
			} else if (err && !c->err) {
				c->err = err;
			}
		}
		if (!c->err)
			writer_commit(c, false);
		if (stop && !c->err && c->commit_err)
			writer_commit(c, true); /* a last try; what stays is lost */
		if (b && !b->kind) {
			batch_free(b);
			b = NULL;
		}
		pthread_mutex_lock(&c->lock);
		if (b && c->nfree[b->kind] < FREE_KEEP) {
			b->next = c->free_list[b->kind];
			c->free_list[b->kind] = b;
			c->nfree[b->kind]++;
		} else if (b) {
			/* what a burst queued up is given back, not kept for good */
			batch_free(b);
		}
		if (stop)
			break;
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* The perf buffer's records, read raw: samples carry one BPF record each. */
static enum bpf_perf_event_ret on_perf_record(void *ctx, int cpu, struct perf_event_header *h)
{
	struct consumer *c = ctx;

	(void)cpu;
	if (h->type == PERF_RECORD_SAMPLE) {
		struct { struct perf_event_header h; uint32_t size; char data[]; } *s = (void *)h;

		if (h->size >= sizeof(*s) && s->size <= h->size - sizeof(*s) &&
		    on_event(c, s->data, s->size) < 0)
			return LIBBPF_PERF_EVENT_ERROR;
	} else if (h->type == PERF_RECORD_LOST) {
		struct { struct perf_event_header h; uint64_t id, lost; } *l = (void *)h;

		if (h->size >= sizeof(*l))
			c->stats.perf_lost += l->lost;
	}
	return LIBBPF_PERF_EVENT_CONT;
}

/* Per-CPU pages for a perf buffer of about total bytes: a power of two. */
static size_t perf_pages(uint64_t total)
{
	long ncpu = libbpf_num_possible_cpus();
	uint64_t per = total / (ncpu > 0 ? ncpu : 1) / sysconf(_SC_PAGESIZE);
	size_t pages = 1;

	while (pages * 2 <= per)
		pages *= 2;
	return pages;
}

int consumer_start(const struct consumer_opts *o, struct ks_store *store,
		   struct consumer **out)
{
	struct consumer *c;
	int err;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->store = store;
	c->wait_bytes = o->wait_bytes ? o->wait_bytes : WAIT_BYTES_DEFAULT;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	err = ks_seg_encoder_new(0, &c->enc);
	if (err)
		goto fail;
	if (o->fd < 0) /* no probes: rows come from userspace producers only */
		;
	else if (o->perfbuf)
		c->pb = perf_buffer__new_raw(o->fd, perf_pages(o->perf_bytes), &(struct perf_event_attr){
			.type = PERF_TYPE_SOFTWARE, .config = PERF_COUNT_SW_BPF_OUTPUT,
			.sample_type = PERF_SAMPLE_RAW, .sample_period = 1,
			/* a wake-up per half buffer, not per record: the drain is on a timer */
			.watermark = 1,
			.wakeup_watermark = perf_pages(o->perf_bytes) * sysconf(_SC_PAGESIZE) / 2,
		}, on_perf_record, c, NULL);
	else
		c->rb = ring_buffer__new(o->fd, on_event, c, NULL);
	if (o->fd >= 0 && !c->rb && !c->pb) {
		err = -errno;
		goto fail;
	}
	err = -pthread_create(&c->thread, NULL, writer_main, c);
	if (err)
		goto fail;
	*out = c;
	return 0;
fail:
	ring_buffer__free(c->rb);
	perf_buffer__free(c->pb);
	ks_seg_encoder_free(c->enc);
	free(c);
	return err;
}

int consumer_epoll_fd(struct consumer *c)
{
	if (c->pb)
		return perf_buffer__epoll_fd(c->pb);
	return c->rb ? ring_buffer__epoll_fd(c->rb) : -1;
}

int consumer_drain(struct consumer *c)
{
	uint64_t before = c->stats.events[KS_KIND_SYSCALL] + c->stats.events[KS_KIND_PROC] +
			  c->stats.events[KS_KIND_SCHED];
	int err;

	if (c->rb)
		return ring_buffer__consume(c->rb);
	if (!c->pb)
		return 0;
	err = perf_buffer__consume(c->pb);
	if (err < 0)
		return err;
	return c->stats.events[KS_KIND_SYSCALL] + c->stats.events[KS_KIND_PROC] +
	       c->stats.events[KS_KIND_SCHED] - before;
}

int consumer_flush(struct consumer *c)
{
	for (unsigned k = 0; k < KS_KIND_MAX; k++)
		batch_submit(c, k);
	return 0;
}

int consumer_finish(struct consumer *c, struct consumer_stats *stats)
{
	int err;

	while (consumer_drain(c) > 0)
		;
	consumer_flush(c);
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	err = c->err;
	if (stats)
		*stats = c->stats;
	for (unsigned k = 0; k < KS_KIND_MAX; k++) {
		while (c->free_list[k]) {
			struct batch *b = c->free_list[k];

			c->free_list[k] = b->next;
			batch_free(b);
		}
	}
	for (unsigned k = 0; k < KS_KIND_MAX; k++)
		batch_free(c->cur[k]);
	ring_buffer__free(c->rb);
	perf_buffer__free(c->pb);
	ks_seg_encoder_free(c->enc);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c);
	return err;
}
