/* State directory capture: which paths changed since they were verified and
 * when each is due, and the inodes with more than one link (hard links found by
 * verification). Both tables are util/hmap.h multimaps keyed by a hash; an
 * entry that cannot be kept is counted as a file-capture loss, never dropped. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/hmap.h"
#include "util/log.h"
#include "record/statedir_priv.h"

/* One line on the first loss, --debug lines after it: the count reaches the
 * trace (statedir_lost, and lost_total as file-capture losses). */
void sd_track_lose(struct sd_tracks *tr, const char *what, const char *path)
{
	if (!tr->lost++)
		ks_error("state dirs: out of memory: %s of %s not followed; the trace will "
			 "say it is incomplete", what, path);
	else
		ks_debug("state dirs: out of memory: %s of %s not followed", what, path);
}

static uint64_t *track_slot(struct sd_tracks *tr, const char *path, uint64_t key)
{
	for (uint64_t *v = ks_hmap_get(&tr->paths, key); v; v = ks_hmap_next(&tr->paths, key, v))
		if (!strcmp(((struct track *)(uintptr_t)*v)->path, path))
			return v;
	return NULL;
}

struct track *sd_track_find(struct sd_tracks *tr, const char *path)
{
	uint64_t *v = track_slot(tr, path, ks_hash_bytes(path, strlen(path)));

	return v ? (struct track *)(uintptr_t)*v : NULL;
}

struct track *sd_track_add(struct sd_tracks *tr, const char *path)
{
	size_t n = strlen(path);
	uint64_t key = ks_hash_bytes(path, n), *v = track_slot(tr, path, key);
	struct track *t;

	if (v)
		return (struct track *)(uintptr_t)*v;
	t = calloc(1, sizeof(*t) + n + 1);
	if (!t || ks_hmap_add(&tr->paths, key, (uintptr_t)t)) {
		free(t);
		sd_track_lose(tr, "a change", path);
		return NULL;
	}
	memcpy(t->path, path, n + 1);
	tr->ntracks++;
	return t;
}

void sd_track_drop(struct sd_tracks *tr, struct track *t)
{
	uint64_t key = ks_hash_bytes(t->path, strlen(t->path));

	for (uint64_t *v = ks_hmap_get(&tr->paths, key); v; v = ks_hmap_next(&tr->paths, key, v))
		if (*v == (uintptr_t)t) {
			ks_hmap_remove(&tr->paths, v);
			free(t);
			tr->ntracks--;
			return;
		}
}

void sd_track_each(struct sd_tracks *tr, void (*fn)(struct track *t, void *ctx), void *ctx)
{
	ks_hmap_each(&tr->paths, i)
		fn((struct track *)(uintptr_t)tr->paths.slot[i].val, ctx);
}

static uint64_t ino_key(uint64_t dev, uint64_t ino)
{
	uint64_t k[2] = { dev, ino };

	return ks_hash_bytes(k, sizeof(k));
}

static uint64_t *ino_slot(struct sd_tracks *tr, uint64_t dev, uint64_t ino)
{
	uint64_t key = ino_key(dev, ino);

	for (uint64_t *v = ks_hmap_get(&tr->inos, key); v; v = ks_hmap_next(&tr->inos, key, v)) {
		const struct ino_ent *e = (const struct ino_ent *)(uintptr_t)*v;

		if (e->dev == dev && e->ino == ino)
			return v;
	}
	return NULL;
}

const char *sd_ino_get(struct sd_tracks *tr, uint64_t dev, uint64_t ino)
{
	uint64_t *v = ino_slot(tr, dev, ino);

	return v ? ((const struct ino_ent *)(uintptr_t)*v)->path : NULL;
}

int sd_ino_put(struct sd_tracks *tr, uint64_t dev, uint64_t ino, const char *path)
{
	uint64_t *v = ino_slot(tr, dev, ino);
	size_t n = strlen(path);
	struct ino_ent *e = v ? (struct ino_ent *)(uintptr_t)*v : NULL, *ne;

	if (e && strlen(e->path) >= n) {
		memcpy(e->path, path, n + 1);
		return 0;
	}
	/* new, or a longer path than the entry holds */
	ne = malloc(sizeof(*ne) + n + 1);
	if (!ne)
		goto lost;
	ne->dev = dev;
	ne->ino = ino;
	memcpy(ne->path, path, n + 1);
	if (v) {
		*v = (uintptr_t)ne;
		free(e);
		return 0;
	}
	if (!ks_hmap_add(&tr->inos, ino_key(dev, ino), (uintptr_t)ne))
		return 0;
	free(ne);
lost:
	sd_track_lose(tr, "a hard link", path);
	return -ENOMEM;
}

void sd_tracks_free(struct sd_tracks *tr)
{
	ks_hmap_each(&tr->paths, i)
		free((void *)(uintptr_t)tr->paths.slot[i].val);
	ks_hmap_each(&tr->inos, i)
		free((void *)(uintptr_t)tr->inos.slot[i].val);
	ks_hmap_free(&tr->paths);
	ks_hmap_free(&tr->inos);
	tr->ntracks = 0;
}

/* ---- when a path is due ----------------------------------------------------- */

/* A verification waits until its path has been quiet for VERIFY_DELAY_NS: the
 * live file is then what the drained records say, not ahead of them. */
void sd_changed(struct statedir *sd, const char *path)
{
	struct track *t = sd_track_add(&sd->tr, path);
	uint64_t now = ks_mono_ns();

	if (!t)
		return;
	t->changed_ns = now;
	if (t->due_ns && t->due_ns < now + VERIFY_DELAY_NS)
		t->due_ns = now + VERIFY_DELAY_NS;
}

/* ts: when the change that could not be carried happened (expected), or 0. */
void sd_make_due_at(struct statedir *sd, const char *path, bool expected, uint64_t ts)
{
	struct track *t = sd_track_add(&sd->tr, path);

	if (!t)
		return;
	t->due_ns = ks_mono_ns() + VERIFY_DELAY_NS;
	t->expected |= expected;
	if (expected && ts && (!t->event_ts || ts < t->event_ts))
		t->event_ts = ts;
}

void sd_make_due(struct statedir *sd, const char *path, bool expected)
{
	sd_make_due_at(sd, path, expected, 0);
}

struct all_due {
	bool mapped_only;
	uint64_t when, ts;
};

static void make_one_due(struct track *t, void *ctx)
{
	const struct all_due *a = ctx;

	if (a->mapped_only && !t->mapped)
		return;
	if (!t->due_ns || a->when < t->due_ns)
		t->due_ns = a->when;
	if (a->mapped_only && (!t->event_ts || a->ts < t->event_ts))
		t->event_ts = a->ts;
}

/* ts: a msync or munmap (mapped_only): when the mapped bytes were written. */
void sd_all_due(struct statedir *sd, bool mapped_only, uint64_t ts)
{
	struct all_due a = { mapped_only, ks_mono_ns() + VERIFY_DELAY_NS, ts };

	sd_track_each(&sd->tr, make_one_due, &a);
}
