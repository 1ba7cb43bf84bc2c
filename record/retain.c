/* Bounded recording: epochs opened by checkpoints (drain thread), the oldest
 * dropped in one transaction (writer thread, through consumer_call, or when the
 * capped map is full), and live snapshots of what is committed.
 *
 * Every drop and every epoch mark runs on the writer thread in order with the
 * puts queued before it. The drain thread puts the deltas waiting for their
 * pack before it queues a check, so when a check drops an epoch and sweeps the
 * chunks no kept delta refers to, every chunk put so far has its delta put too.
 * A checkpoint may refer to any chunk the delta writer knows (the epoch before
 * it, which holds them, stays until the checkpoint is sealed); past it the
 * writer keeps only the chunks the checkpoint referred to, so an epoch's deltas
 * refer only to chunks its own checkpoint or deltas hold. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bpf/events.h"
#include "format/delta.h"
#include "format/epoch.h"
#include "format/event.h"
#include "format/kserr.h"
#include "record/consumer.h"
#include "record/retain.h"
#include "record/statedir.h"
#include "record/sysargs.h"
#include "store/store.h"
#include "util/bytes.h"
#include "util/clock.h"
#include "util/grow.h"
#include "util/hmap.h"
#include "util/log.h"

#define EPOCH_NS (10ull * 1000 * 1000 * 1000) /* an epoch at most */
#define EPOCH_MIN_NS (250ull * 1000 * 1000)
#define SLICES 16            /* an epoch at most max_size / SLICES bytes */
#define CHECK_NS (100ull * 1000 * 1000)
/* The page bytes the kept epochs may take (ks_store_put_bytes: counted as they
 * are put, so exact when LMDB's own figures lag): the rest of --max-size is room
 * for what LMDB holds beside them: the pages a drop freed, reusable only once two
 * commits have passed, the open transaction's copies of the pages it changes,
 * branch pages, the free list, and free runs too short for a segment. A full map
 * still drops the oldest epoch and retries. */
#define TARGET(max) ((max) / 16 * 13)

struct kept {
	uint64_t index, ts;
	uint64_t bytes_at; /* ks_store_put_bytes where its segments begin */
	uint64_t base;     /* its checkpoint's content stored before it began */
};

static int put_u64(struct ks_store *st, const char *key, uint64_t v);

struct retain {
	struct retain_opts o;
	bool bounded;
	uint64_t epoch_ns;
	/* drain thread */
	uint64_t next_index;
	uint64_t epoch_start_ns, last_check_ns;
	uint64_t written_at_epoch;
	/* writer thread (and the full map's callback, on it too) */
	struct ks_store *st;
	struct kept *kept;
	size_t nkept, capkept;
	bool dropping, warned;
	uint64_t ndropped, nfull;
	/* both */
	_Atomic uint64_t written; /* ks_store_put_bytes, as the writer last saw it */
	_Atomic uint64_t sealed_at; /* ks_store_put_bytes after the last checkpoint */
	_Atomic uint64_t ck_bytes;  /* what the last checkpoint put */
	atomic_bool want_epoch; /* the map was full with one epoch: open one now */
};

/* ---- epoch marks (writer thread) --------------------------------------------- */

/* An epoch's mark is made in two steps: where its segments begin is taken when
 * the events drained before it are queued (begin), and the mark is put once its
 * checkpoint is (seal): a mark in the trace always has its checkpoint whole. */
struct mark_job {
	struct retain *r;
	struct ks_epoch e;
	uint64_t bytes_at, same_at;
	uint64_t reused; /* drain thread, before the seal: its checkpoint's */
	bool begun;  /* writer thread: the start was taken */
	bool cancel; /* set before the seal is queued: the checkpoint failed */
};

static int mark_begin(struct ks_store *st, struct ks_epoch *e)
{
	struct ks_manifest *m = malloc(sizeof(*m));
	int err = m ? ks_store_manifest(st, m) : -ENOMEM;

	for (unsigned k = 1; !err && k < KS_EPOCH_KINDS; k++) {
		e->seq[k] = m->first[k] + m->segments[k];
		e->events[k] = (m->events[k] == KS_EVENTS_UNKNOWN ? 0 : m->events[k]) +
			       m->dropped_events[k];
	}
	free(m);
	return err;
}

static int mark_seal(struct retain *r, struct ks_store *st, const struct ks_epoch *e,
		     uint64_t bytes_at, uint64_t base)
{
	char key[KS_EPOCH_KEY_LEN];
	unsigned char *val = NULL;
	size_t len;
	int err;

	if (KS_GROW(&r->kept, &r->capkept, r->nkept + 1))
		return -ENOMEM;
	ks_epoch_key(e->index, key);
	err = ks_epoch_encode(e, &val, &len);
	err = err ?: ks_store_put(st, KS_DB_META, key, sizeof(key), val, len);
	if (!err)
		r->kept[r->nkept++] = (struct kept){ e->index, e->ts, bytes_at, base };
	free(val);
	return err;
}

static int mark_put(struct retain *r, struct ks_store *st, uint64_t index, uint64_t ts,
		    uint64_t delta_seq)
{
	struct ks_epoch *e = calloc(1, sizeof(*e));
	int err = e ? 0 : -ENOMEM;

	if (e) {
		e->index = index;
		e->ts = ts;
		e->delta_seq = delta_seq;
	}
	err = err ?: mark_begin(st, e);
	err = err ?: mark_seal(r, st, e, ks_store_put_bytes(st), 0);
	free(e);
	return err;
}

static int mark_begin_run(void *arg, struct ks_store *st)
{
	struct mark_job *j = arg;

	j->begun = st && !mark_begin(st, &j->e);
	j->bytes_at = ks_store_put_bytes(st);
	j->same_at = ks_store_same_bytes(st);
	return 0; /* the seal frees j */
}

static int mark_seal_run(void *arg, struct ks_store *st)
{
	struct mark_job *j = arg;
	int err = 0;

	/* committed at once: a full map can then drop the epoch before it */
	if (st && j->begun && !j->cancel) {
		err = mark_seal(j->r, st, &j->e, j->bytes_at,
				j->reused + ks_store_same_bytes(st) - j->same_at) ?:
		      ks_store_commit(st);
		atomic_store(&j->r->sealed_at, ks_store_put_bytes(st));
		atomic_store(&j->r->ck_bytes, ks_store_put_bytes(st) - j->bytes_at);
	}
	if (err || (st && !j->begun))
		ks_debug("cannot open epoch %" PRIu64 ": %s", j->e.index,
			 err ? ks_strerror(err) : "its start was not taken");
	free(j);
	return 0;
}

/* ---- dropping the oldest epoch (writer thread) --------------------------------- */

/* Keys to drop, and with sweep the chunks and packs kept deltas refer to. */
struct sweep {
	uint64_t upto;   /* deltas below this sequence go */
	bool sweep;
	struct ks_hmap chunks; /* first 8 bytes of a hash -> last 8 (multimap) */
	struct ks_hmap packs;  /* pack id -> 1 */
	uint8_t (*keys)[25];   /* length, key */
	size_t nkeys, capkeys;
	int err;
};

static void drop_key(struct sweep *s, const void *key, size_t klen)
{
	if (s->err || klen > 24)
		return;
	if (KS_GROW(&s->keys, &s->capkeys, s->nkeys + 1)) {
		s->err = -ENOMEM;
		return;
	}
	s->keys[s->nkeys][0] = (uint8_t)klen;
	memcpy(s->keys[s->nkeys] + 1, key, klen);
	s->nkeys++;
}

static bool chunk_referred(const struct sweep *s, const uint8_t *hash)
{
	uint64_t a = ks_load64(hash), b = ks_load64(hash + 8);

	for (uint64_t *v = ks_hmap_get(&s->chunks, a); v; v = ks_hmap_next(&s->chunks, a, v))
		if (*v == b)
			return true;
	return false;
}

/* Deltas sort before chunks and packs (their keys start with 0xff bytes), so
 * every reference is known before the first chunk is met. */
static int sweep_entry(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct sweep *s = ctx;
	struct ks_delta d;

	if (ks_is_chunk_key(key, klen)) {
		if (s->sweep && !chunk_referred(s, (const uint8_t *)key + 8))
			drop_key(s, key, klen);
		return s->err;
	}
	if (ks_is_pack_key(key, klen)) {
		if (s->sweep && !ks_hmap_get(&s->packs, ks_get_be64((const uint8_t *)key + 12)))
			drop_key(s, key, klen);
		return s->err;
	}
	if (klen != KS_DELTA_KEY_LEN || ks_delta_decode(key, klen, val, vlen, &d))
		return 0; /* not ours to judge: readers name it */
	if (d.seq < s->upto) {
		drop_key(s, key, klen);
		return s->err;
	}
	for (size_t i = 0; s->sweep && i < ks_delta_chunk_count(&d); i++) {
		struct ks_chunk_ref ref;

		ks_delta_chunk_ref(&d, i, &ref);
		if (ref.kind != KS_CHUNK_DATA)
			continue;
		if (ref.pack ? ks_hmap_put(&s->packs, ref.pack, 1) :
			       (chunk_referred(s, ref.hash) ? 0 :
				ks_hmap_add(&s->chunks, ks_load64(ref.hash), ks_load64(ref.hash + 8))))
			return s->err = -ENOMEM;
	}
	return 0;
}

/* Drops the oldest kept epoch: its segments, its deltas (with sweep, the chunks
 * and packs no kept delta refers to) and its mark, in one commit. Returns 0,
 * -ENOENT (one epoch left), or an error. */
static int drop_oldest(struct retain *r, struct ks_store *st, bool sweep)
{
	struct ks_manifest *m = malloc(sizeof(*m));
	struct ks_epoch *next = malloc(sizeof(*next));
	struct sweep s = { .sweep = sweep };
	char key[KS_EPOCH_KEY_LEN];
	const void *v;
	size_t vlen;
	int err;

	if (!m || !next) {
		err = -ENOMEM;
		goto out;
	}
	if (r->nkept < 2 || r->dropping) {
		err = -ENOENT;
		goto out;
	}
	/* the drop alone in its transaction: if it cannot commit, it is forgotten
	 * whole and nothing else with it */
	err = ks_store_commit(st);
	if (err)
		goto out;
	/* a drop copies the pages it changes before it frees any: it may use the
	 * map's reserve */
	ks_store_use_reserve(st, true);
	r->dropping = true;
	ks_epoch_key(r->kept[1].index, key);
	err = ks_store_get(st, KS_DB_META, key, sizeof(key), &v, &vlen);
	if (err == -KS_ENOTFOUND)
		err = -ENOENT; /* its mark waits aside with the puts that did not fit */
	err = err ?: ks_epoch_decode(v, vlen, next);
	err = err ?: ks_store_manifest(st, m);
	for (unsigned k = 1; !err && k < KS_EPOCH_KINDS; k++)
		if (next->seq[k] > m->first[k])
			err = ks_store_drop_segments(st, k, next->seq[k],
						     next->events[k] - m->dropped_events[k]);
	s.upto = next->delta_seq;
	if (!err && s.upto)
		err = ks_store_walk(st, KS_DB_DELTAS, sweep_entry, &s);
	for (size_t i = 0; !err && i < s.nkeys; i++) {
		err = ks_store_drop(st, KS_DB_DELTAS, s.keys[i] + 1, s.keys[i][0]);
		if (err == -KS_ENOTFOUND)
			err = 0;
	}
	ks_epoch_key(r->kept[0].index, key);
	err = err ?: ks_store_drop(st, KS_DB_META, key, sizeof(key));
	err = err ?: ks_store_commit(st);
	if (!err) {
		memmove(r->kept, r->kept + 1, (r->nkept - 1) * sizeof(*r->kept));
		r->nkept--;

		/* LMDB reuses the pages a transaction freed only from the second one
		 * after it: one more, small, so that the next put finds them */
		err = put_u64(st, "retention_epochs_dropped", ++r->ndropped);
		err = err ?: ks_store_commit(st);
		if (err)
			ks_store_discard(st, NULL, NULL);
		err = 0;
	} else {
		ks_store_discard(st, NULL, NULL);
	}
	r->dropping = false;
	ks_store_use_reserve(st, false);
out:
	ks_hmap_free(&s.chunks);
	ks_hmap_free(&s.packs);
	free(s.keys);
	free(next);
	free(m);
	return err;
}

/* The page bytes the kept epochs hold: what was put since the oldest began (its
 * own and every later epoch's, the open transaction's puts included) and the
 * content its checkpoint found stored before it (the state dirs' files that did
 * not change: put once, held by every epoch since). */
static uint64_t kept_bytes(const struct retain *r, const struct ks_store *st)
{
	return ks_store_put_bytes(st) - r->kept[0].bytes_at + r->kept[0].base;
}

/* The capped map is full: the oldest epoch goes (its chunks are swept by a later
 * check: deltas waiting in the failed transaction may refer to them). */
static int on_full(void *ctx)
{
	struct retain *r = ctx;
	uint64_t used = 0;
	int err;

	ks_store_used_bytes(r->st, &used);
	ks_debug("retention: the map is full, %zu epochs, %" PRIu64 " bytes in use, %" PRIu64
		 " held by the kept ones", r->nkept, used,
		 r->nkept ? kept_bytes(r, r->st) : 0);
	/* the pages the last transaction freed are reusable from the second one
	 * after it: one small commit first (in the store's reserve), and the drop
	 * has them */
	if (!put_u64(r->st, "retention_full_maps", ++r->nfull))
		ks_store_commit(r->st);
	ks_store_discard(r->st, NULL, NULL);
	err = drop_oldest(r, r->st, false);

	if (err == -ENOENT && !r->dropping) {
		atomic_store(&r->want_epoch, true);
		if (!r->warned && r->nkept && kept_bytes(r, r->st) > r->o.max_size / 4) {
			r->warned = true;
			ks_error("warning: --max-size %" PRIu64 " KiB is full with one epoch "
				 "of %" PRIu64 " KiB (the state dirs and what came since): "
				 "events may be lost; give it more room", r->o.max_size >> 10,
				 kept_bytes(r, r->st) >> 10);
		}
	}
	if (err)
		ks_debug("the trace is full and %s", err == -ENOENT ? r->dropping ?
			 "a drop is under way" : "holds one epoch only: nothing can be dropped" :
			 ks_strerror(err));
	return err;
}

/* Free pages (of the file's) past which a bounded trace is compacted. */
#define COMPACT_FREE_PCT 25

struct check_job {
	struct retain *r;
	uint64_t now;
};

/* Drops epochs older than --keep, and while the kept epochs take more than the
 * target of --max-size, the oldest ones (each in its own commit). */
static int check_run(void *arg, struct ks_store *st)
{
	struct check_job *j = arg;
	struct retain *r = j->r;
	int err = 0;

	if (!st)
		goto out;
	while (r->o.keep_ns && r->nkept >= 2 && r->kept[1].ts + r->o.keep_ns <= j->now &&
	       !(err = drop_oldest(r, st, true)))
		;
	while (!err && r->o.max_size && r->nkept >= 2 &&
	       kept_bytes(r, st) > TARGET(r->o.max_size))
		err = drop_oldest(r, st, true);
	/* a capped map fills with free pages LMDB does not reuse for new segments:
	 * the file is compacted before they squeeze the window */
	if ((!err || err == -ENOENT) && r->o.max_size &&
	    (err = ks_store_compact_live(st, COMPACT_FREE_PCT)) > 0) {
		ks_debug("retention: the trace was compacted (free pages past %d%%)",
			 COMPACT_FREE_PCT);
		err = 0;
	}
	atomic_store(&r->written, ks_store_put_bytes(st));
	if (err && err != -ENOENT)
		ks_debug("retention check: %s", ks_strerror(err));
out:
	free(j);
	return 0;
}

/* ---- checkpoints (drain thread) -------------------------------------------------- */

struct pinfo {
	pid_t pid, ppid;
	char comm[KS_COMM_MAX];
};

/* pid's ppid and comm from /proc/PID/stat. */
static int read_stat(pid_t pid, struct pinfo *p)
{
	char path[64], buf[512], *open_p, *close_p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = 0;
	open_p = strchr(buf, '(');
	close_p = strrchr(buf, ')');
	if (!open_p || !close_p || close_p < open_p || sscanf(close_p + 2, "%*c %d", &p->ppid) != 1)
		return -EIO;
	memset(p->comm, 0, sizeof(p->comm));
	memcpy(p->comm, open_p + 1, (size_t)(close_p - open_p - 1) < sizeof(p->comm) - 1 ?
		(size_t)(close_p - open_p - 1) : sizeof(p->comm) - 1);
	p->pid = pid;
	return 0;
}

static bool traced(const struct retain_targets *t, struct ks_hmap *parent, pid_t pid)
{
	for (int depth = 0; pid > 1 && depth < 4096; depth++) {
		uint64_t *pp;

		if (pid == t->child)
			return true;
		for (size_t i = 0; i < t->npids; i++)
			if (pid == t->pids[i])
				return true;
		pp = ks_hmap_get(parent, (uint64_t)pid);
		if (!pp)
			return false;
		pid = (pid_t)*pp;
	}
	return false;
}

/* The traced processes alive now, as KS_PROC_LIVE rows, and their fds. */
static int checkpoint_procs(struct consumer *c, const struct retain_targets *t, uint64_t ts)
{
	struct ks_hmap parent = { 0 };
	struct pinfo *ps = NULL;
	size_t n = 0, cap = 0;
	struct ks_proc *row = malloc(sizeof(*row));
	struct dirent *de;
	DIR *d = opendir("/proc");
	int err = 0;

	if (!d || !row) {
		err = d ? -ENOMEM : -errno;
		goto out;
	}
	while ((de = readdir(d))) {
		struct pinfo p;

		if (!isdigit((unsigned char)de->d_name[0]) || read_stat(atoi(de->d_name), &p))
			continue;
		if (KS_GROW(&ps, &cap, n + 1) || ks_hmap_put(&parent, (uint64_t)p.pid, (uint64_t)p.ppid)) {
			err = -ENOMEM;
			goto out;
		}
		ps[n++] = p;
	}
	for (size_t i = 0; i < n && !err; i++) {
		char path[64];
		ssize_t len;
		int fd;

		if (!t->all && !traced(t, &parent, ps[i].pid))
			continue;
		memset(row, 0, sizeof(*row));
		row->ts = ts;
		row->what = KS_PROC_LIVE;
		row->pid = row->tid = (uint32_t)ps[i].pid;
		row->ppid = (uint32_t)ps[i].ppid;
		memcpy(row->comm, ps[i].comm, sizeof(row->comm));
		snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)ps[i].pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			len = read(fd, row->argv, sizeof(row->argv));
			row->argv_len = len > 0 ? (uint32_t)len : 0;
			close(fd);
		}
		err = consumer_add_row(c, KS_KIND_PROC, row);
		if (!err && t->fds && !t->all)
			sysargs_snapshot_fds(c, ps[i].pid, ts);
	}
out:
	if (d)
		closedir(d);
	ks_hmap_free(&parent);
	free(ps);
	free(row);
	return err;
}

/* A new epoch: where its segments begin (after every event drained so far), its
 * checkpoint, then its mark. */
static int epoch_open(struct retain *r, struct consumer *c, struct statedir *sd,
		      const struct retain_targets *t, uint64_t now)
{
	struct mark_job *j = calloc(1, sizeof(*j));
	int err, err2;

	if (!j)
		return -ENOMEM;
	consumer_flush(c);
	j->r = r;
	j->e.index = r->next_index++;
	j->e.ts = now;
	j->e.delta_seq = sd ? statedir_checkpoint_begin(sd) : 0;
	err = consumer_call(c, mark_begin_run, j);
	if (err) {
		free(j);
		return err;
	}
	err = sd ? statedir_checkpoint(sd, now, &j->reused) : 0;
	err = err ?: checkpoint_procs(c, t, now);
	consumer_flush(c);
	/* a failed checkpoint leaves the epoch unmarked: it belongs to the one
	 * before it (if even the seal cannot be queued, j stays: the begin may run) */
	j->cancel = err != 0;
	err2 = consumer_call(c, mark_seal_run, j);
	r->epoch_start_ns = now;
	r->written_at_epoch = atomic_load(&r->written);
	return err ?: err2;
}

int retain_tick(struct retain *r, struct consumer *c, struct statedir *sd,
		const struct retain_targets *t, uint64_t now)
{
	struct check_job *j;
	uint64_t written, since, slice;
	int err;

	if (!r || !r->bounded)
		return 0;
	/* an epoch's events take a slice of the limit, and four times what its
	 * checkpoint put at least (a state dir of many files: a delta each), but
	 * not more than a quarter of it */
	written = atomic_load(&r->written);
	since = atomic_load(&r->sealed_at);
	since = written - (since > r->written_at_epoch && since < written ? since :
			   r->written_at_epoch);
	slice = r->o.max_size / SLICES;
	if (slice < 4 * atomic_load(&r->ck_bytes))
		slice = 4 * atomic_load(&r->ck_bytes);
	if (slice > r->o.max_size / 4) /* two epochs must fit to drop one */
		slice = r->o.max_size / 4;
	if (now - r->epoch_start_ns >= r->epoch_ns ||
	    (atomic_load(&r->want_epoch) && now - r->epoch_start_ns >= EPOCH_MIN_NS / 4) ||
	    (r->o.max_size && now - r->epoch_start_ns >= EPOCH_MIN_NS &&
	     since >= slice)) {
		atomic_store(&r->want_epoch, false);
		err = epoch_open(r, c, sd, t, now);
		if (err)
			return err;
	}
	if (now - r->last_check_ns < CHECK_NS)
		return 0;
	r->last_check_ns = now;
	err = statedir_flush(sd);
	if (err)
		return err;
	j = malloc(sizeof(*j));
	if (!j)
		return -ENOMEM;
	*j = (struct check_job){ .r = r, .now = now };
	err = consumer_call(c, check_run, j);
	if (err)
		free(j);
	return err;
}

/* ---- life cycle ---------------------------------------------------------------- */

static int put_u64(struct ks_store *st, const char *key, uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return ks_store_put_meta(st, key, buf);
}

int retain_new(const struct retain_opts *o, struct ks_store *st, uint64_t now,
	       struct retain **out)
{
	struct retain *r = calloc(1, sizeof(*r));
	int err = 0;

	*out = NULL;
	if (!r)
		return -ENOMEM;
	r->o = *o;
	r->st = st;
	r->bounded = o->max_size || o->keep_ns;
	r->epoch_ns = EPOCH_NS;
	if (o->keep_ns && o->keep_ns / 4 < r->epoch_ns)
		r->epoch_ns = o->keep_ns / 4 > EPOCH_MIN_NS ? o->keep_ns / 4 : EPOCH_MIN_NS;
	if (r->bounded) {
		err = put_u64(st, "retention_max_size", o->max_size);
		err = err ?: put_u64(st, "retention_keep_ns", o->keep_ns);
		err = err ?: mark_put(r, st, r->next_index++, now, 0);
		err = err ?: ks_store_commit(st);
		if (!err && o->max_size)
			err = ks_store_set_cap(st, o->max_size, on_full, r);
	}
	if (err) {
		retain_free(r);
		return err;
	}
	r->epoch_start_ns = r->last_check_ns = now;
	*out = r;
	return 0;
}

void retain_free(struct retain *r)
{
	if (!r)
		return;
	free(r->kept);
	free(r);
}

/* ---- live snapshots ------------------------------------------------------------ */

struct snap_job {
	char *path;
	uint64_t drops[KS_DROP_MAX];
	uint64_t start_ns, now;
};

static const struct {
	int slot;
	const char *key;
} lost_keys[] = {
	{ KS_DROP_SYSCALL, "lost_syscall" }, { KS_DROP_PROC, "lost_proc" },
	{ KS_DROP_SCHED, "lost_sched" },     { KS_DROP_TRANSPORT, "lost_transport" },
	{ KS_DROP_ARGS, "lost_args" },       { KS_DROP_FILE, "lost_file" },
};

/* The copy closed as a snapshot: a trace of its own that says what it is. */
static int snap_close(struct snap_job *j)
{
	struct ks_store *cp;
	uint64_t total = 0;
	int err = ks_store_open(j->path, 0, &cp);

	if (err)
		return err;
	for (size_t i = 0; i < sizeof(lost_keys) / sizeof(lost_keys[0]) && !err; i++) {
		total += j->drops[lost_keys[i].slot];
		err = put_u64(cp, lost_keys[i].key, j->drops[lost_keys[i].slot]);
	}
	err = err ?: put_u64(cp, "lost_total", total);
	err = err ?: put_u64(cp, "start_ns", j->start_ns);
	err = err ?: put_u64(cp, "end_ns", j->now);
	err = err ?: ks_store_put_meta(cp, "state", "snapshot");
	err = err ?: ks_store_commit(cp);
	if (err)
		ks_store_discard(cp, NULL, NULL);
	return ks_store_close(cp) ?: err;
}

static int snap_run(void *arg, struct ks_store *st)
{
	struct snap_job *j = arg;
	int err = 0;

	if (st) {
		err = ks_store_copy(st, j->path);
		err = err ?: snap_close(j);
		if (err)
			ks_error("cannot write the snapshot %s: %s", j->path, ks_strerror(err));
		else
			ks_error("snapshot of the trace written: %s", j->path);
		if (err)
			unlink(j->path);
	}
	free(j->path);
	free(j);
	return 0;
}

/* "<trace without .lmdb>-<UTC time>.lmdb", with -N added when taken. */
static char *snap_name(const char *trace)
{
	size_t n = strlen(trace);
	char stamp[32], *out;
	struct tm tm;
	time_t now = time(NULL);

	if (n > 5 && !strcmp(trace + n - 5, ".lmdb"))
		n -= 5;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	out = malloc(n + sizeof(stamp) + 32);
	if (!out)
		return NULL;
	for (int i = 1; i < 1000; i++) {
		if (i == 1)
			sprintf(out, "%.*s-%s.lmdb", (int)n, trace, stamp);
		else
			sprintf(out, "%.*s-%s-%d.lmdb", (int)n, trace, stamp, i);
		if (access(out, F_OK))
			break;
	}
	return out;
}

int retain_snapshot(struct retain *r, struct consumer *c, struct statedir *sd,
		    const uint64_t *drops, uint64_t start_ns)
{
	struct snap_job *j = calloc(1, sizeof(*j));
	int err;

	if (!j || !(j->path = snap_name(r->o.path))) {
		free(j);
		return -ENOMEM;
	}
	memcpy(j->drops, drops, sizeof(j->drops));
	j->start_ns = start_ns;
	j->now = ks_mono_ns();
	consumer_flush(c);
	err = statedir_flush(sd);
	err = err ?: consumer_call(c, snap_run, j);
	if (err) {
		free(j->path);
		free(j);
	}
	return err;
}
