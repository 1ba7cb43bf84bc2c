/* Block I/O analysis (see blockio.h). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay/blockio.h"
#include "replay/procs.h"
#include "util/grow.h"

void blockio_init(struct blockio_analysis *b, uint64_t lo, uint64_t range, bool has_pid,
		  uint32_t pid)
{
	memset(b, 0, sizeof(*b));
	b->lo = lo;
	b->range = range;
	b->has_pid = has_pid;
	b->pid = pid;
}

static struct blk_dev *dev_get(struct blockio_analysis *b, uint32_t dev)
{
	uint64_t *at = ks_hmap_get(&b->devmap, dev);
	struct blk_dev *d;

	if (at)
		return &b->devs[*at];
	if (KS_GROW(&b->devs, &b->capdevs, b->ndevs + 1))
		return NULL;
	d = &b->devs[b->ndevs];
	memset(d, 0, sizeof(*d));
	d->dev = dev;
	d->lat = malloc(sizeof(*d->lat));
	if (!d->lat || ks_hmap_put(&b->devmap, dev, b->ndevs)) {
		free(d->lat);
		return NULL;
	}
	ks_hist_init(d->lat);
	b->ndevs++;
	return d;
}

static struct blk_proc *proc_get(struct blockio_analysis *b, const struct ks_block *r)
{
	uint64_t *at = ks_hmap_get(&b->procmap, r->pid);
	struct blk_proc *p;

	if (at)
		return &b->procs[*at];
	if (KS_GROW(&b->procs, &b->capprocs, b->nprocs + 1) ||
	    ks_hmap_put(&b->procmap, r->pid, b->nprocs))
		return NULL;
	p = &b->procs[b->nprocs++];
	memset(p, 0, sizeof(*p));
	p->pid = r->pid;
	p->kthread = r->flags & KS_BLK_KTHREAD;
	memcpy(p->comm, r->comm, sizeof(p->comm));
	return p;
}

static uint64_t latency(const struct ks_block *r)
{
	return r->queue_ns + r->service_ns;
}

static void heap_down(struct ks_block *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;

		if (l < n && latency(&h[l]) < latency(&h[m]))
			m = l;
		if (l + 1 < n && latency(&h[l + 1]) < latency(&h[m]))
			m = l + 1;
		if (m == i)
			return;
		struct ks_block t = h[i];

		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static void slow_add(struct blockio_analysis *b, const struct ks_block *r)
{
	size_t i;

	if (b->nslow == BLOCKIO_SLOW_MAX) {
		if (latency(r) <= latency(&b->slow[0]))
			return;
		b->slow[0] = *r;
		heap_down(b->slow, b->nslow, 0);
		return;
	}
	i = b->nslow++;
	b->slow[i] = *r;
	while (i && latency(&b->slow[(i - 1) / 2]) > latency(&b->slow[i])) {
		struct ks_block t = b->slow[i];

		b->slow[i] = b->slow[(i - 1) / 2];
		b->slow[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

int blockio_rows(struct blockio_analysis *b, const struct ks_block *rows, size_t n,
		 struct io_buckets *bk)
{
	int err = 0;

	for (size_t i = 0; i < n; i++) {
		const struct ks_block *r = &rows[i];
		uint64_t lat = latency(r);
		struct io_bucket *k;
		struct blk_dev *d;
		struct blk_proc *p;

		b->rows++;
		if (r->ts < b->lo || r->ts - b->lo > b->range)
			continue;
		if ((b->has_pid || b->pids) &&
		    (!replay_pid_wanted(b->has_pid, b->pid, b->pids, r->pid) || (r->flags & KS_BLK_KTHREAD)))
			continue;
		d = dev_get(b, r->dev);
		p = proc_get(b, r);
		if (!d || !p)
			return -ENOMEM;
		b->requests++;
		b->bytes += r->bytes;
		b->errors += !!(r->flags & KS_BLK_ERROR);
		if (r->flags & KS_BLK_KTHREAD)
			b->kthread_bytes += r->bytes;
		d->queue_ns += r->queue_ns;
		d->service_ns += r->service_ns;
		ks_hist_add(d->lat, lat);
		d->log2us[ks_log2_slot(lat / 1000)]++;
		p->time_ns += lat;
		k = r->op <= BLK_OP_WRITE ? io_bucket_get(bk, r->ts, r->pid, r->comm, &err) : NULL;
		if (err)
			return err;
		if (r->op == BLK_OP_READ) {
			d->reads++;
			d->read_bytes += r->bytes;
			p->reads++;
			p->read_bytes += r->bytes;
			if (k)
				k->blk_read += r->bytes;
		} else if (r->op == BLK_OP_WRITE) {
			d->writes++;
			d->write_bytes += r->bytes;
			p->writes++;
			p->write_bytes += r->bytes;
			if (k)
				k->blk_write += r->bytes;
		} else {
			d->others++;
		}
		slow_add(b, r);
	}
	return 0;
}

static int by_bytes(const void *x, const void *y)
{
	const struct blk_proc *a = x, *b = y;
	uint64_t sa = a->read_bytes + a->write_bytes, sb = b->read_bytes + b->write_bytes;

	if (sa != sb)
		return sa > sb ? -1 : 1;
	return a->pid < b->pid ? -1 : a->pid > b->pid;
}

static int by_ts(const void *x, const void *y)
{
	const struct ks_block *a = x, *b = y;

	return a->ts < b->ts ? -1 : a->ts > b->ts;
}

int blockio_finish(struct blockio_analysis *b, const char *devices_json)
{
	json_t *names = devices_json ? json_loads(devices_json, 0, NULL) : NULL;

	for (size_t i = 0; i < b->ndevs; i++) {
		struct blk_dev *d = &b->devs[i];
		char key[32];
		json_t *v;

		snprintf(key, sizeof(key), "%u:%u", d->dev >> 20, d->dev & 0xfffff);
		v = json_is_object(names) ? json_object_get(names, key) : NULL;
		snprintf(d->name, sizeof(d->name), "%s", json_is_string(v) ? json_string_value(v) : key);
	}
	json_decref(names);
	ks_qsort(b->procs, b->nprocs, sizeof(*b->procs), by_bytes);
	ks_hmap_clear(&b->procmap);
	ks_qsort(b->slow, b->nslow, sizeof(*b->slow), by_ts);
	return 0;
}

const char *blockio_op_name(uint32_t op)
{
	static const char *const names[] = { "R", "W", "F", "D" };

	return op < 4 ? names[op] : "?";
}

void blockio_free(struct blockio_analysis *b)
{
	for (size_t i = 0; i < b->ndevs; i++)
		free(b->devs[i].lat);
	free(b->devs);
	free(b->procs);
	ks_hmap_free(&b->devmap);
	ks_hmap_free(&b->procmap);
	memset(b, 0, sizeof(*b));
}
