/* Unit tests of util/: the hash map against a plain array model (random puts,
 * gets and deletions, backward shift across the wrap-around, multimap walks,
 * upsert, reserve), overflow-checked growth, byte order, and the parsing and
 * formatting of durations and times (checked against hand-computed values). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/bytes.h"
#include "util/cgpath.h"
#include "util/grow.h"
#include "util/hmap.h"
#include "util/units.h"

#define MS 1000000ull
#define SEC 1000000000ull

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* The slot index of a value pointer the map returned. */
static size_t slot_index(const struct ks_hmap *m, const uint64_t *v)
{
	return (size_t)((const struct ks_hslot *)((const char *)v - offsetof(struct ks_hslot, val)) -
			m->slot);
}

/* ---- hash map --------------------------------------------------------------- */

static void test_hmap_put_get_replace(void **state)
{
	struct ks_hmap m = { 0 };

	(void)state;
	assert_null(ks_hmap_get(&m, 1));
	assert_false(ks_hmap_del(&m, 1));
	assert_int_equal(ks_hmap_put(&m, 1, 10), 0);
	assert_int_equal(ks_hmap_put(&m, 0, 7), 0); /* 0 is a key like any other */
	assert_int_equal(ks_hmap_put(&m, UINT64_MAX, 8), 0);
	assert_int_equal(*ks_hmap_get(&m, 1), 10);
	assert_int_equal(ks_hmap_put(&m, 1, 11), 0);
	assert_int_equal(*ks_hmap_get(&m, 1), 11);
	assert_int_equal(*ks_hmap_get(&m, 0), 7);
	assert_int_equal(*ks_hmap_get(&m, UINT64_MAX), 8);
	assert_int_equal(m.n, 3);
	assert_true(ks_hmap_del(&m, 0));
	assert_null(ks_hmap_get(&m, 0));
	assert_int_equal(m.n, 2);
	ks_hmap_clear(&m);
	assert_int_equal(m.n, 0);
	assert_null(ks_hmap_get(&m, 1));
	ks_hmap_free(&m);
	assert_int_equal(m.cap, 0);
}

/* 100k random operations on keys of a small range (many hits, deletions in the
 * middle of runs) against an array model, then every entry compared both ways. */
static void test_hmap_random_vs_model(void **state)
{
	enum { RANGE = 5000, OPS = 100000 };
	static uint64_t val[RANGE];
	static bool has[RANGE];
	struct ks_hmap m = { 0 };
	size_t n = 0, seen = 0;

	(void)state;
	memset(has, 0, sizeof(has));
	for (int op = 0; op < OPS; op++) {
		uint64_t r = rnd(), k = r % RANGE, *v;

		/* keys spread over the whole u64 range, one per model slot */
		uint64_t key = k * 0x100000001ull;

		switch ((r >> 32) % 4) {
		case 0:
		case 1:
			assert_int_equal(ks_hmap_put(&m, key, r), 0);
			n += !has[k];
			has[k] = true;
			val[k] = r;
			break;
		case 2:
			assert_int_equal(ks_hmap_del(&m, key), has[k]);
			n -= has[k];
			has[k] = false;
			break;
		default:
			v = ks_hmap_get(&m, key);
			if (has[k]) {
				assert_non_null(v);
				assert_int_equal(*v, val[k]);
				if ((r >> 40) % 8 == 0) { /* remove by pointer too */
					ks_hmap_remove(&m, v);
					has[k] = false;
					n--;
				}
			} else {
				assert_null(v);
			}
		}
		assert_int_equal(m.n, n);
		assert_true(m.n * 2 <= m.cap || m.cap == 0);
	}
	for (uint64_t k = 0; k < RANGE; k++) {
		uint64_t *v = ks_hmap_get(&m, k * 0x100000001ull);

		assert_int_equal(v != NULL, has[k]);
		if (v)
			assert_int_equal(*v, val[k]);
	}
	ks_hmap_each(&m, i) {
		uint64_t k = m.slot[i].key / 0x100000001ull;

		assert_true(k < RANGE && has[k] && m.slot[i].val == val[k]);
		seen++;
	}
	assert_int_equal(seen, n);
	ks_hmap_free(&m);
}

/* Keys whose home slot in a 16-slot map is home. */
static void keys_at_home(size_t home, uint64_t *out, size_t n)
{
	for (uint64_t k = 1; n; k++)
		if ((ks_hash_u64(k) & 15) == home) {
			*out++ = k;
			n--;
		}
}

/* Deleting the head of a run that wraps from the last slot to the first shifts
 * every entry that may move back, and only those. */
static void test_hmap_delete_across_wrap(void **state)
{
	struct ks_hmap m = { 0 };
	uint64_t at15[3], at0[1], at1[1];

	(void)state;
	keys_at_home(15, at15, 3);
	keys_at_home(0, at0, 1);
	keys_at_home(1, at1, 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(ks_hmap_put(&m, at15[i], 100 + i), 0);
	assert_int_equal(ks_hmap_put(&m, at0[0], 200), 0);
	assert_int_equal(ks_hmap_put(&m, at1[0], 300), 0);
	assert_int_equal(m.cap, 16);
	/* slots 15, 0, 1 (home 15), 2 (home 0), 3 (home 1) */
	assert_int_equal(slot_index(&m, ks_hmap_get(&m, at15[2])), 1);
	assert_int_equal(slot_index(&m, ks_hmap_get(&m, at0[0])), 2);
	assert_int_equal(slot_index(&m, ks_hmap_get(&m, at1[0])), 3);

	assert_true(ks_hmap_del(&m, at15[0]));
	assert_null(ks_hmap_get(&m, at15[0]));
	assert_int_equal(slot_index(&m, ks_hmap_get(&m, at15[1])), 15);
	assert_int_equal(slot_index(&m, ks_hmap_get(&m, at15[2])), 0);
	assert_int_equal(slot_index(&m, ks_hmap_get(&m, at0[0])), 1);
	assert_int_equal(slot_index(&m, ks_hmap_get(&m, at1[0])), 2);
	assert_int_equal(*ks_hmap_get(&m, at1[0]), 300);

	/* the entries after the hole move back to their homes */
	assert_true(ks_hmap_del(&m, at15[2]));
	assert_int_equal(slot_index(&m, ks_hmap_get(&m, at15[1])), 15);
	assert_int_equal(slot_index(&m, ks_hmap_get(&m, at0[0])), 0);
	assert_int_equal(slot_index(&m, ks_hmap_get(&m, at1[0])), 1);
	/* a hole in slot 15 before entries at home in 0 and 1: nothing moves */
	assert_true(ks_hmap_del(&m, at15[1]));
	assert_int_equal(slot_index(&m, ks_hmap_get(&m, at0[0])), 0);
	assert_int_equal(slot_index(&m, ks_hmap_get(&m, at1[0])), 1);
	assert_true(ks_hmap_del(&m, at0[0]));
	assert_int_equal(*ks_hmap_get(&m, at1[0]), 300);
	assert_int_equal(m.n, 1);
	ks_hmap_free(&m);
}

/* A multimap: every value of a key is found once through ks_hmap_next, and
 * removing one leaves the others reachable. */
static void test_hmap_multimap_walk(void **state)
{
	struct ks_hmap m = { 0 };
	unsigned found = 0, n;

	(void)state;
	for (uint64_t i = 0; i < 50; i++)
		assert_int_equal(ks_hmap_add(&m, i % 5, i), 0);
	for (uint64_t *v = ks_hmap_get(&m, 3); v; v = ks_hmap_next(&m, 3, v)) {
		assert_int_equal(*v % 5, 3);
		assert_false(found & 1u << (*v / 5));
		found |= 1u << (*v / 5);
	}
	assert_int_equal(found, (1u << 10) - 1);
	ks_hmap_remove(&m, ks_hmap_get(&m, 3));
	n = 0;
	for (uint64_t *v = ks_hmap_get(&m, 3); v; v = ks_hmap_next(&m, 3, v))
		n++;
	assert_int_equal(n, 9);
	assert_int_equal(m.n, 49);
	ks_hmap_free(&m);
}

static void test_hmap_upsert_and_reserve(void **state)
{
	struct ks_hmap m = { 0 };
	const struct ks_hslot *slots;
	bool added;
	uint64_t *v;

	(void)state;
	v = ks_hmap_upsert(&m, 42, 5, &added);
	assert_non_null(v);
	assert_true(added);
	assert_int_equal(*v, 5);
	*v += 1;
	v = ks_hmap_upsert(&m, 42, 99, &added);
	assert_false(added);
	assert_int_equal(*v, 6);
	assert_non_null(ks_hmap_upsert(&m, 43, 0, NULL));
	assert_int_equal(m.n, 2);

	/* after reserve(n), adding up to n entries in all never reallocates */
	assert_int_equal(ks_hmap_reserve(&m, 1000), 0);
	slots = m.slot;
	assert_true(m.cap >= 2000);
	for (uint64_t k = 100; m.n < 1000; k++)
		assert_int_equal(ks_hmap_add(&m, k, k), 0);
	assert_ptr_equal(m.slot, slots);
	assert_int_equal(ks_hmap_reserve(&m, 10), 0); /* never shrinks */
	assert_ptr_equal(m.slot, slots);
	assert_int_equal(ks_hmap_reserve(&m, SIZE_MAX / 2), -ENOMEM);
	assert_int_equal(*ks_hmap_get(&m, 42), 6);
	ks_hmap_free(&m);
}

/* ---- growth ----------------------------------------------------------------- */

static void test_grow(void **state)
{
	uint32_t *v = NULL, *before;
	size_t cap = 0, out;

	(void)state;
	assert_int_equal(KS_GROW(&v, &cap, 1), 0);
	assert_int_equal(cap, 16);
	assert_int_equal(KS_GROW(&v, &cap, 16), 0);
	assert_int_equal(cap, 16);
	assert_int_equal(KS_GROW(&v, &cap, 17), 0);
	assert_int_equal(cap, 32);
	v[31] = 7;
	assert_int_equal(KS_GROW(&v, &cap, 1000), 0);
	assert_int_equal(cap, 1024);
	assert_int_equal(v[31], 7);

	/* need * size over SIZE_MAX, or need itself past the last doubling */
	before = v;
	assert_int_equal(KS_GROW(&v, &cap, SIZE_MAX / 2), -EOVERFLOW);
	assert_ptr_equal(v, before);
	assert_int_equal(cap, 1024);
	assert_int_equal(ks_grow((void **)&v, &cap, SIZE_MAX, 1), -EOVERFLOW);
	assert_int_equal(ks_grow((void **)&v, &cap, 2048, SIZE_MAX / 1000), -EOVERFLOW);
	assert_ptr_equal(v, before);
	assert_int_equal(cap, 1024);
	free(v);

	assert_int_equal(ks_mul_size(3, 5, &out), 0);
	assert_int_equal(out, 15);
	assert_int_equal(ks_mul_size(SIZE_MAX / 2 + 1, 2, &out), -EOVERFLOW);
	assert_int_equal(ks_mul_size(0, SIZE_MAX, &out), 0);
	assert_int_equal(out, 0);
}

/* ---- byte order -------------------------------------------------------------- */

static void test_bytes(void **state)
{
	uint8_t b[8];

	(void)state;
	ks_put_le64(b, 0x0102030405060708ull);
	assert_memory_equal(b, ((uint8_t[]){ 8, 7, 6, 5, 4, 3, 2, 1 }), 8);
	assert_int_equal(ks_get_le64(b), 0x0102030405060708ull);
	assert_int_equal(ks_get_le32(b + 1), 0x04050607);
	assert_int_equal(ks_get_le16(b + 3), 0x0405);
	ks_put_be64(b, 0x0102030405060708ull);
	assert_memory_equal(b, ((uint8_t[]){ 1, 2, 3, 4, 5, 6, 7, 8 }), 8);
	assert_int_equal(ks_get_be64(b), 0x0102030405060708ull);
	assert_int_equal(ks_get_be32(b + 1), 0x02030405);
	ks_put_le32(b, 0xa1b2c3d4);
	ks_put_be32(b + 4, 0xa1b2c3d4);
	assert_memory_equal(b, ((uint8_t[]){ 0xd4, 0xc3, 0xb2, 0xa1, 0xa1, 0xb2, 0xc3, 0xd4 }), 8);
	ks_put_le16(b, 0xbeef);
	assert_int_equal(b[0], 0xef);
	assert_int_equal(b[1], 0xbe);
}

/* ---- durations and times ------------------------------------------------------ */

static void test_parse_durations(void **state)
{
	uint64_t v, from, to;

	(void)state;
	assert_int_equal(ks_parse_duration("2.5s", &v), 0);
	assert_int_equal(v, 2500000000ull);
	assert_int_equal(ks_parse_duration("10ms", &v), 0);
	assert_int_equal(v, 10 * MS);
	assert_int_equal(ks_parse_duration("1.5us", &v), 0);
	assert_int_equal(v, 1500);
	assert_int_equal(ks_parse_duration("1.2349us", &v), 0);
	assert_int_equal(v, 1234); /* finer than a ns: dropped */
	assert_int_equal(ks_parse_duration("7ns", &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(ks_parse_duration("0.000000001s", &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(ks_parse_duration("0.0000000019s", &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(ks_parse_duration(".5ms", &v), 0);
	assert_int_equal(v, 500000);
	assert_int_equal(ks_parse_duration("3.s", &v), 0);
	assert_int_equal(v, 3 * SEC);
	assert_int_equal(ks_parse_duration("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(ks_parse_duration("18446744073.709551615s", &v), 0);
	assert_int_equal(v, UINT64_MAX);
	assert_int_equal(ks_parse_duration("18446744073.709551616s", &v), -ERANGE);
	assert_int_equal(ks_parse_duration("99999999999s", &v), -ERANGE);
	assert_int_equal(ks_parse_duration("99999999999999999999999ns", &v), -ERANGE);
	assert_int_equal(ks_parse_duration("10", &v), -EINVAL);
	assert_int_equal(ks_parse_duration("", &v), -EINVAL);
	assert_int_equal(ks_parse_duration(".", &v), -EINVAL);
	assert_int_equal(ks_parse_duration("ms", &v), -EINVAL);
	assert_int_equal(ks_parse_duration("1m", &v), -EINVAL);
	assert_int_equal(ks_parse_duration("1 s", &v), -EINVAL);
	assert_int_equal(ks_parse_duration("-1s", &v), -EINVAL);
	assert_int_equal(ks_parse_duration("+1s", &v), -EINVAL);
	assert_int_equal(ks_parse_duration("nan", &v), -EINVAL);
	assert_int_equal(ks_parse_duration("nans", &v), -EINVAL);
	assert_int_equal(ks_parse_duration("inf", &v), -EINVAL);
	assert_int_equal(ks_parse_duration("infs", &v), -EINVAL);
	assert_int_equal(ks_parse_duration("1e3s", &v), -EINVAL);
	assert_int_equal(ks_parse_duration("0x10s", &v), -EINVAL);

	assert_int_equal(ks_parse_range("1s,2.5s", &from, &to), 0);
	assert_int_equal(from, SEC);
	assert_int_equal(to, 2500 * MS);
	assert_int_equal(ks_parse_range(",500ms", &from, &to), 0);
	assert_int_equal(from, 0);
	assert_int_equal(to, 500 * MS);
	assert_int_equal(ks_parse_range("2s,", &from, &to), 0);
	assert_int_equal(from, 2 * SEC);
	assert_int_equal(to, UINT64_MAX);
	assert_int_equal(ks_parse_range("2s,1s", &from, &to), -EINVAL);
	assert_int_equal(ks_parse_range("2s", &from, &to), -EINVAL);
	assert_int_equal(ks_parse_range("x,1s", &from, &to), -EINVAL);
	assert_int_equal(ks_parse_range("nan,1s", &from, &to), -EINVAL);
}

static void test_parse_times(void **state)
{
	int64_t t;

	(void)state;
	/* 1700000000 = 2023-11-14 22:13:20 UTC (date -u -d @1700000000) */
	assert_int_equal(ks_parse_time("2023-11-14T22:13:20Z", &t), 0);
	assert_int_equal(t, 1700000000 * (int64_t)SEC);
	assert_int_equal(ks_parse_time("2023-11-14 22:13:20", &t), 0);
	assert_int_equal(t, 1700000000 * (int64_t)SEC);
	assert_int_equal(ks_parse_time("2023-11-14t22:13:20.25z", &t), 0);
	assert_int_equal(t, 1700000000 * (int64_t)SEC + 250 * (int64_t)MS);
	assert_int_equal(ks_parse_time("2023-11-15T00:13:20+02:00", &t), 0);
	assert_int_equal(t, 1700000000 * (int64_t)SEC);
	assert_int_equal(ks_parse_time("2023-11-14T16:43:20.000000001-05:30", &t), 0);
	assert_int_equal(t, 1700000000 * (int64_t)SEC + 1);
	assert_int_equal(ks_parse_time("1970-01-01T00:00:00Z", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(ks_parse_time("1969-12-31T23:59:59Z", &t), 0);
	assert_int_equal(t, -(int64_t)SEC);
	/* leap days: 2024-02-29 = 1709164800, 2000-02-29 = 951782400 */
	assert_int_equal(ks_parse_time("2024-02-29T00:00:00Z", &t), 0);
	assert_int_equal(t, 1709164800 * (int64_t)SEC);
	assert_int_equal(ks_parse_time("2000-02-29T00:00:00Z", &t), 0);
	assert_int_equal(t, 951782400 * (int64_t)SEC);
	/* a leap second is the next minute's first */
	assert_int_equal(ks_parse_time("2016-12-31T23:59:60Z", &t), 0);
	assert_int_equal(t, 1483228800 * (int64_t)SEC);
	/* Unix seconds */
	assert_int_equal(ks_parse_time("1700000002.25", &t), 0);
	assert_int_equal(t, 1700000002 * (int64_t)SEC + 250 * (int64_t)MS);
	assert_int_equal(ks_parse_time("1700000002", &t), 0);
	assert_int_equal(t, 1700000002 * (int64_t)SEC);
	assert_int_equal(ks_parse_time("2025", &t), 0);
	assert_int_equal(t, 2025 * (int64_t)SEC);

	/* dates that do not exist */
	assert_int_equal(ks_parse_time("2025-02-30T00:00:00Z", &t), -EINVAL);
	assert_int_equal(ks_parse_time("2025-02-29T00:00:00Z", &t), -EINVAL);
	assert_int_equal(ks_parse_time("1900-02-29T00:00:00Z", &t), -EINVAL);
	assert_int_equal(ks_parse_time("2025-04-31T00:00:00Z", &t), -EINVAL);
	assert_int_equal(ks_parse_time("2025-13-01T00:00:00Z", &t), -EINVAL);
	assert_int_equal(ks_parse_time("2025-00-01T00:00:00Z", &t), -EINVAL);
	assert_int_equal(ks_parse_time("2025-01-00T00:00:00Z", &t), -EINVAL);
	assert_int_equal(ks_parse_time("2025-01-01T24:00:00Z", &t), -EINVAL);
	assert_int_equal(ks_parse_time("2025-01-01T00:60:00Z", &t), -EINVAL);
	assert_int_equal(ks_parse_time("2025-01-01T00:00:61Z", &t), -EINVAL);
	assert_int_equal(ks_parse_time("2025-01-01T00:00:00+24:00", &t), -EINVAL);
	assert_int_equal(ks_parse_time("2025-01-01T00:00:00+01:60", &t), -EINVAL);
	/* not times */
	assert_int_equal(ks_parse_time("2025-1-01T00:00:00Z", &t), -EINVAL);
	assert_int_equal(ks_parse_time("2025-01-01", &t), -EINVAL);
	assert_int_equal(ks_parse_time("2025-01-01T00:00Z", &t), -EINVAL);
	assert_int_equal(ks_parse_time("2025-01-01T00:00:00.Z", &t), -EINVAL);
	assert_int_equal(ks_parse_time("2025-01-01T00:00:00Zjunk", &t), -EINVAL);
	assert_int_equal(ks_parse_time("2025-01-01T00:00:00+0100", &t), -EINVAL);
	assert_int_equal(ks_parse_time("2025-01-01T 0:00:00Z", &t), -EINVAL);
	assert_int_equal(ks_parse_time("+025-01-01T00:00:00Z", &t), -EINVAL);
	assert_int_equal(ks_parse_time("12.", &t), -EINVAL);
	assert_int_equal(ks_parse_time(".5", &t), -EINVAL);
	assert_int_equal(ks_parse_time("", &t), -EINVAL);
	assert_int_equal(ks_parse_time("-5", &t), -EINVAL);
	assert_int_equal(ks_parse_time("nan", &t), -EINVAL);
	assert_int_equal(ks_parse_time("yesterday", &t), -EINVAL);
	/* past the int64 ns range */
	assert_int_equal(ks_parse_time("9999-01-01T00:00:00Z", &t), -ERANGE);
	assert_int_equal(ks_parse_time("1600-01-01T00:00:00Z", &t), -ERANGE);
	assert_int_equal(ks_parse_time("99999999999", &t), -ERANGE);
	assert_int_equal(ks_parse_time("99999999999999999999999", &t), -ERANGE);
}

static void test_format_helpers(void **state)
{
	char d[KS_DUR_BUF], t[KS_TIME_BUF];

	(void)state;
	assert_string_equal(ks_fmt_dur(d, 850), "850ns");
	assert_string_equal(ks_fmt_dur(d, 12345), "12.3us");
	assert_string_equal(ks_fmt_dur(d, 4560000), "4.56ms");
	assert_string_equal(ks_fmt_dur(d, 1234000000), "1.234s");
	assert_string_equal(ks_fmt_utc(t, 1700000000 * (int64_t)SEC), "2023-11-14 22:13:20");
}

/* Container ids and units from the path shapes of each runtime. */
static void test_cgpath(void **state)
{
	static const char hex[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	static const struct {
		const char *fmt, *runtime, *unit;
	} cases[] = {
		{ "/system.slice/docker-%s.scope", "docker", "docker-%s.scope" },
		{ "/docker/%s", "docker", "" },
		{ "/system.slice/containerd.service/kubepods-besteffort-pod1.slice:cri-containerd:%s",
		  NULL, "containerd.service" },
		{ "/kubepods.slice/kubepods-burstable.slice/cri-containerd-%s.scope", "containerd",
		  "cri-containerd-%s.scope" },
		{ "/kubepods.slice/crio-%s.scope", "crio", "crio-%s.scope" },
		{ "/machine.slice/libpod-%s.scope/container", "podman", "libpod-%s.scope" },
		{ "/kubepods/burstable/pod1b2c3d4e-aaaa-bbbb-cccc-0123456789ab/%s", "kubepods", "" },
		{ "/user.slice/user-0.slice/session-3.scope", NULL, "session-3.scope" },
		{ "/system.slice/nginx.service", NULL, "nginx.service" },
		{ "/", NULL, "" },
	};
	struct ks_cgpath cp;
	char path[512], unit[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(path, sizeof(path), cases[i].fmt, hex);
		snprintf(unit, sizeof(unit), cases[i].unit, hex);
		ks_cgpath_parse(path, &cp);
		if (cases[i].runtime) {
			assert_non_null(cp.runtime);
			assert_string_equal(cp.runtime, cases[i].runtime);
			assert_string_equal(cp.container_id, hex);
		} else {
			assert_null(cp.runtime);
			assert_string_equal(cp.container_id, "");
		}
		assert_string_equal(cp.unit, unit);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hmap_put_get_replace),
		cmocka_unit_test(test_hmap_random_vs_model),
		cmocka_unit_test(test_hmap_delete_across_wrap),
		cmocka_unit_test(test_hmap_multimap_walk),
		cmocka_unit_test(test_hmap_upsert_and_reserve),
		cmocka_unit_test(test_grow),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_parse_durations),
		cmocka_unit_test(test_parse_times),
		cmocka_unit_test(test_format_helpers),
		cmocka_unit_test(test_cgpath),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
