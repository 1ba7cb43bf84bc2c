/* Unit tests of the state-dir capture's tables (record/statedir_track.c): the
 * paths due for verification and the inodes seen with several links, filled far
 * past any fixed bucket count, must keep every entry; a hash shared by two keys
 * must never be taken for a match. No BPF is needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "record/statedir_priv.h"
#include "util/hmap.h"

#define NPATHS 20000
#define NINOS 50000 /* the old inode table had 4096 buckets */

static int setup(void **state)
{
	struct sd_tracks *tr = calloc(1, sizeof(*tr));

	*state = tr;
	return tr ? 0 : -1;
}

static int teardown(void **state)
{
	sd_tracks_free(*state);
	free(*state);
	return 0;
}

static void path_of(char *buf, size_t len, int i)
{
	snprintf(buf, len, "/state/dir%d/file-%d.dat", i % 97, i);
}

static void test_tracks_keep_every_path(void **state)
{
	struct sd_tracks *tr = *state;
	struct track **seen = calloc(NPATHS, sizeof(*seen));
	char p[128];

	assert_non_null(seen);
	for (int i = 0; i < NPATHS; i++) {
		path_of(p, sizeof(p), i);
		seen[i] = sd_track_add(tr, p);
		assert_non_null(seen[i]);
		assert_string_equal(seen[i]->path, p);
		seen[i]->due_ns = (uint64_t)i + 1;
	}
	assert_int_equal(tr->ntracks, NPATHS);
	for (int i = 0; i < NPATHS; i++) {
		path_of(p, sizeof(p), i);
		/* the same path again is the same track, not a second one */
		assert_ptr_equal(sd_track_add(tr, p), seen[i]);
		assert_ptr_equal(sd_track_find(tr, p), seen[i]);
		assert_int_equal(seen[i]->due_ns, (uint64_t)i + 1);
	}
	assert_int_equal(tr->ntracks, NPATHS);
	/* drop the even ones: the odd ones stay, the even ones are gone */
	for (int i = 0; i < NPATHS; i += 2)
		sd_track_drop(tr, seen[i]);
	assert_int_equal(tr->ntracks, NPATHS / 2);
	for (int i = 0; i < NPATHS; i++) {
		path_of(p, sizeof(p), i);
		if (i % 2)
			assert_ptr_equal(sd_track_find(tr, p), seen[i]);
		else
			assert_null(sd_track_find(tr, p));
	}
	assert_int_equal(tr->lost, 0);
	free(seen);
}

static void count_one(struct track *t, void *ctx)
{
	size_t *n = ctx;

	assert_true(t->due_ns > 0);
	t->due_ns = 0; /* each visited once: a second visit would fail above */
	(*n)++;
}

static void test_track_each_visits_all_once(void **state)
{
	struct sd_tracks *tr = *state;
	size_t n = 0;
	char p[128];

	for (int i = 0; i < 5000; i++) {
		path_of(p, sizeof(p), i);
		sd_track_add(tr, p)->due_ns = 1;
	}
	sd_track_each(tr, count_one, &n);
	assert_int_equal(n, 5000);
}

/* A track filed under the hash of another path: finding that path must compare
 * the real path and not return it. */
static void test_track_hash_collision(void **state)
{
	struct sd_tracks *tr = *state;
	struct track *other, *mine;

	other = sd_track_add(tr, "/state/b");
	assert_non_null(other);
	assert_int_equal(ks_hmap_add(&tr->paths, ks_hash_bytes("/state/a", 8), (uintptr_t)other), 0);
	assert_null(sd_track_find(tr, "/state/a"));
	mine = sd_track_add(tr, "/state/a");
	assert_non_null(mine);
	assert_ptr_not_equal(mine, other);
	assert_string_equal(mine->path, "/state/a");
	assert_ptr_equal(sd_track_find(tr, "/state/a"), mine);
	sd_track_drop(tr, mine);
	assert_null(sd_track_find(tr, "/state/a"));
	assert_ptr_equal(sd_track_find(tr, "/state/b"), other);
	/* the extra entry points at a track freed with the table's own: unfile it */
	uint64_t key = ks_hash_bytes("/state/a", 8);
	uint64_t *v = ks_hmap_get(&tr->paths, key);

	assert_non_null(v);
	ks_hmap_remove(&tr->paths, v);
}

static void test_inodes_keep_every_link(void **state)
{
	struct sd_tracks *tr = *state;
	char p[128];

	for (int i = 0; i < NINOS; i++) {
		path_of(p, sizeof(p), i);
		/* two devices with the same inode numbers are two inodes */
		assert_int_equal(sd_ino_put(tr, 1 + i % 2, (uint64_t)i / 2, p), 0);
	}
	for (int i = 0; i < NINOS; i++) {
		const char *got = sd_ino_get(tr, 1 + i % 2, (uint64_t)i / 2);

		path_of(p, sizeof(p), i);
		assert_non_null(got);
		assert_string_equal(got, p);
	}
	assert_null(sd_ino_get(tr, 3, 0));
	assert_null(sd_ino_get(tr, 1, NINOS));
	/* a shorter path in place, a longer one replacing the entry */
	assert_int_equal(sd_ino_put(tr, 1, 7, "/s/x"), 0);
	assert_string_equal(sd_ino_get(tr, 1, 7), "/s/x");
	assert_int_equal(sd_ino_put(tr, 1, 7, "/state/a/much/longer/path/than/before/it"), 0);
	assert_string_equal(sd_ino_get(tr, 1, 7), "/state/a/much/longer/path/than/before/it");
	assert_int_equal(tr->inos.n, NINOS);
	assert_int_equal(tr->lost, 0);
}

/* An entry filed under the hash of another inode is not taken for it. */
static void test_inode_hash_collision(void **state)
{
	struct sd_tracks *tr = *state;
	uint64_t k[2] = { 5, 6 }, nine;
	const uint64_t *v;

	assert_int_equal(sd_ino_put(tr, 9, 9, "/state/nine"), 0);
	v = ks_hmap_get(&tr->inos, ks_hash_bytes((uint64_t[2]){ 9, 9 }, sizeof(k)));
	assert_non_null(v);
	nine = *v; /* v is stale after the next add */
	assert_int_equal(ks_hmap_add(&tr->inos, ks_hash_bytes(k, sizeof(k)), nine), 0);
	assert_null(sd_ino_get(tr, 5, 6));
	assert_int_equal(sd_ino_put(tr, 5, 6, "/state/five"), 0);
	assert_string_equal(sd_ino_get(tr, 5, 6), "/state/five");
	assert_string_equal(sd_ino_get(tr, 9, 9), "/state/nine");
	/* unfile the borrowed entry so that it is freed once */
	for (uint64_t *w = ks_hmap_get(&tr->inos, ks_hash_bytes(k, sizeof(k))); w;
	     w = ks_hmap_next(&tr->inos, ks_hash_bytes(k, sizeof(k)), w))
		if (*w == nine) {
			ks_hmap_remove(&tr->inos, w);
			break;
		}
}

static void test_loss_is_counted(void **state)
{
	struct sd_tracks *tr = *state;

	sd_track_lose(tr, "a change", "/state/x");
	sd_track_lose(tr, "a change", "/state/y");
	assert_int_equal(tr->lost, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tracks_keep_every_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_track_each_visits_all_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_track_hash_collision, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inodes_keep_every_link, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inode_hash_collision, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loss_is_counted, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
