/* Unit tests of the probe plan (record/features.c): each fallback from the
 * features a kernel has, the requests no kernel can satisfy, the lack of
 * privilege, every subset of features against the rules written out here, and
 * KSIGHT_FEATURES_MASK (masked features are never probed, so these need no BPF). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "record/features.h"

#define B(f) (1u << (f))
#define EVERY (B(FEAT_BTF) | B(FEAT_TP_BTF) | B(FEAT_RAW_TP) | B(FEAT_TRACEFS) |       \
	       B(FEAT_TRACEPOINT) | B(FEAT_RINGBUF) | B(FEAT_PERFBUF) |                 \
	       B(FEAT_TASK_STORAGE) | B(FEAT_HASH) | B(FEAT_PAGE_FAULT))

static const struct probe_request AUTO = { .sched = true };

static struct probes_mode plan_ok(uint32_t have, const struct probe_request *rq)
{
	struct probes_mode m;
	char why[512] = "";
	int err = features_plan_from(have, 0, rq, &m, why, sizeof(why));

	if (err)
		fail_msg("plan failed: %d %s", err, why);
	return m;
}

static int plan_err(uint32_t have, uint32_t denied, const struct probe_request *rq, char *why,
		    size_t len)
{
	struct probes_mode m;

	why[0] = '\0';
	return features_plan_from(have, denied, rq, &m, why, len);
}

static void test_every_feature(void **state)
{
	struct probes_mode m = plan_ok(EVERY, &AUTO);

	(void)state;
	assert_int_equal(m.attach, ATTACH_TP_BTF);
	assert_int_equal(m.set, SET_TASK_STORAGE);
	assert_int_equal(m.transport, TRANSPORT_RINGBUF);
	assert_true(m.page_faults);
}

static void test_fallbacks(void **state)
{
	struct probes_mode m;

	(void)state;
	m = plan_ok(EVERY & ~B(FEAT_TP_BTF), &AUTO);
	assert_int_equal(m.attach, ATTACH_RAW_TP);
	assert_int_equal(m.set, SET_HASH); /* no BTF task pointers without tp_btf */
	m = plan_ok(EVERY & ~B(FEAT_TP_BTF) & ~B(FEAT_RAW_TP), &AUTO);
	assert_int_equal(m.attach, ATTACH_TRACEPOINT);
	assert_int_equal(m.set, SET_HASH);
	m = plan_ok(EVERY & ~B(FEAT_RINGBUF), &AUTO);
	assert_int_equal(m.attach, ATTACH_TP_BTF);
	assert_int_equal(m.transport, TRANSPORT_PERFBUF);
	m = plan_ok(EVERY & ~B(FEAT_TASK_STORAGE), &AUTO);
	assert_int_equal(m.attach, ATTACH_TP_BTF);
	assert_int_equal(m.set, SET_HASH);
	m = plan_ok(EVERY & ~B(FEAT_PAGE_FAULT), &AUTO);
	assert_false(m.page_faults);
	assert_int_equal(m.attach, ATTACH_TP_BTF);
	m = plan_ok(EVERY, &(struct probe_request){ .sched = false });
	assert_false(m.page_faults);
}

static void test_kernel_lacks(void **state)
{
	char why[512];

	(void)state;
	assert_int_equal(plan_err(EVERY & ~B(FEAT_BTF), 0, &AUTO, why, sizeof(why)), -EOPNOTSUPP);
	assert_non_null(strstr(why, "BTF"));
	/* classic tracepoints need tracefs too */
	assert_int_equal(plan_err(EVERY & ~B(FEAT_TP_BTF) & ~B(FEAT_RAW_TP) & ~B(FEAT_TRACEFS), 0,
				  &AUTO, why, sizeof(why)), -EOPNOTSUPP);
	assert_non_null(strstr(why, "no probe kind"));
	assert_int_equal(plan_err(EVERY & ~B(FEAT_RINGBUF) & ~B(FEAT_PERFBUF), 0, &AUTO, why,
				  sizeof(why)), -EOPNOTSUPP);
	assert_non_null(strstr(why, "transport"));
	assert_int_equal(plan_err(EVERY & ~B(FEAT_TP_BTF) & ~B(FEAT_HASH), 0, &AUTO, why,
				  sizeof(why)), -EOPNOTSUPP);
	assert_non_null(strstr(why, "hash"));
	assert_int_equal(plan_err(0, 0, &AUTO, why, sizeof(why)), -EOPNOTSUPP);
}

static void test_no_privilege(void **state)
{
	uint32_t kinds = B(FEAT_TP_BTF) | B(FEAT_RAW_TP) | B(FEAT_TRACEPOINT);
	char why[512];

	(void)state;
	assert_int_equal(plan_err(EVERY & ~kinds, kinds, &AUTO, why, sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "privilege"));
	/* the kind not tried yet (record leaves tp_btf to its loader), maps refused */
	assert_int_equal(plan_err(B(FEAT_BTF) | B(FEAT_TP_BTF), B(FEAT_HASH) | B(FEAT_RINGBUF) |
				  B(FEAT_PERFBUF) | B(FEAT_TASK_STORAGE), &AUTO, why, sizeof(why)),
			 -EPERM);
	assert_non_null(strstr(why, "privilege"));
	/* one kind missing for another reason: the kernel lacks it, not privilege */
	assert_int_equal(plan_err(EVERY & ~kinds, kinds & ~B(FEAT_TRACEPOINT), &AUTO, why,
				  sizeof(why)), -EOPNOTSUPP);
}

static void test_impossible_requests(void **state)
{
	struct probe_request rq = { .set = SET_TASK_STORAGE, .sched = true };
	char why[512];

	(void)state;
	for (rq.attach = ATTACH_RAW_TP; rq.attach <= ATTACH_TRACEPOINT; rq.attach++) {
		assert_int_equal(features_check_request(&rq, why, sizeof(why)), -EINVAL);
		assert_non_null(strstr(why, "--traced-set task_storage"));
		assert_null(strchr(why, '\n'));
		assert_int_equal(plan_err(EVERY, 0, &rq, why, sizeof(why)), -EINVAL);
	}
	rq.attach = ATTACH_TP_BTF;
	assert_int_equal(features_check_request(&rq, why, sizeof(why)), 0);
	rq.attach = ATTACH_AUTO;
	assert_int_equal(features_check_request(&rq, why, sizeof(why)), 0);
	/* task storage asked for: raw_tp is no way out */
	assert_int_equal(plan_err(EVERY & ~B(FEAT_TP_BTF), 0, &rq, why, sizeof(why)), -EOPNOTSUPP);
	assert_non_null(strstr(why, "task_storage"));
	assert_int_equal(plan_err(EVERY & ~B(FEAT_TASK_STORAGE), 0, &rq, why, sizeof(why)),
			 -EOPNOTSUPP);
	assert_non_null(strstr(why, "task storage"));
}

static void test_forced_choices(void **state)
{
	struct probe_request rq = AUTO;
	struct probes_mode m;
	char why[512];

	(void)state;
	rq.attach = ATTACH_TRACEPOINT;
	m = plan_ok(EVERY, &rq);
	assert_int_equal(m.attach, ATTACH_TRACEPOINT);
	assert_int_equal(m.set, SET_HASH);
	rq.attach = ATTACH_RAW_TP;
	assert_int_equal(plan_err(EVERY & ~B(FEAT_RAW_TP), 0, &rq, why, sizeof(why)), -EOPNOTSUPP);
	assert_non_null(strstr(why, "--probe-kind raw_tp"));
	rq = AUTO;
	rq.set = SET_HASH;
	m = plan_ok(EVERY, &rq);
	assert_int_equal(m.attach, ATTACH_TP_BTF);
	assert_int_equal(m.set, SET_HASH);
	rq = AUTO;
	rq.transport = TRANSPORT_PERFBUF;
	assert_int_equal(plan_ok(EVERY, &rq).transport, TRANSPORT_PERFBUF);
	rq.transport = TRANSPORT_RINGBUF;
	assert_int_equal(plan_err(EVERY & ~B(FEAT_RINGBUF), 0, &rq, why, sizeof(why)), -EOPNOTSUPP);
	assert_non_null(strstr(why, "--transport ringbuf"));
}

/* The rules, written out once more, against every subset of the features and
 * every request. */
static void test_every_subset(void **state)
{
	static const enum feature rel[] = { FEAT_BTF, FEAT_TP_BTF, FEAT_RAW_TP, FEAT_TRACEFS,
					    FEAT_TRACEPOINT, FEAT_RINGBUF, FEAT_PERFBUF,
					    FEAT_TASK_STORAGE, FEAT_HASH, FEAT_PAGE_FAULT };
	const size_t nrel = sizeof(rel) / sizeof(rel[0]);
	unsigned plans = 0;

	(void)state;
	for (uint32_t bits = 0; bits < (1u << nrel); bits++) {
		uint32_t have = 0;

		for (size_t i = 0; i < nrel; i++)
			if (bits & (1u << i))
				have |= B(rel[i]);
		for (int a = 0; a < 4; a++)
		for (int s = 0; s < 3; s++)
		for (int t = 0; t < 3; t++)
		for (int sched = 0; sched < 2; sched++) {
			struct probe_request rq = { a, s, t, sched };
			bool works[4] = { false, have & B(FEAT_TP_BTF), have & B(FEAT_RAW_TP),
					  (have & B(FEAT_TRACEPOINT)) && (have & B(FEAT_TRACEFS)) };
			enum probe_attach want = ATTACH_AUTO;
			struct probes_mode m;
			char why[512];
			int err = features_plan_from(have, 0, &rq, &m, why, sizeof(why));

			if (s == SET_TASK_STORAGE && a > ATTACH_TP_BTF) {
				assert_int_equal(err, -EINVAL);
				continue;
			}
			for (int k = ATTACH_TP_BTF; k <= ATTACH_TRACEPOINT && !want; k++)
				if ((!a || a == k) && (s != SET_TASK_STORAGE || k == ATTACH_TP_BTF) &&
				    works[k])
					want = k;
			if (!(have & B(FEAT_BTF)) || !want) {
				assert_int_equal(err, -EOPNOTSUPP);
				continue;
			}
			enum probe_set wset = s ? s : want == ATTACH_TP_BTF &&
				(have & B(FEAT_TASK_STORAGE)) ? SET_TASK_STORAGE : SET_HASH;
			enum probe_transport wt = t ? t : have & B(FEAT_RINGBUF) ? TRANSPORT_RINGBUF :
				TRANSPORT_PERFBUF;
			bool possible = (wset == SET_TASK_STORAGE ? have & B(FEAT_TASK_STORAGE) :
					 have & B(FEAT_HASH)) &&
					(wt == TRANSPORT_RINGBUF ? have & B(FEAT_RINGBUF) :
					 have & B(FEAT_PERFBUF));
			if (!possible) {
				assert_int_equal(err, -EOPNOTSUPP);
				assert_true(why[0] && !strchr(why, '\n'));
				continue;
			}
			assert_int_equal(err, 0);
			assert_int_equal(m.attach, want);
			assert_int_equal(m.set, wset);
			assert_int_equal(m.transport, wt);
			assert_int_equal(m.page_faults, sched && (have & B(FEAT_PAGE_FAULT)));
			plans++;
		}
	}
	assert_true(plans > 1000);
}

static void test_mask(void **state)
{
	struct probe_request rq = AUTO;
	struct probes_mode m;
	struct features ft;
	char why[512];

	(void)state;
	setenv("KSIGHT_FEATURES_MASK", "ringbuf,tp_btf", 1);
	assert_int_equal(features_init(&ft, NULL, why, sizeof(why)), 0);
	assert_false(features_have(&ft, FEAT_RINGBUF));
	assert_true(features_get(&ft, FEAT_RINGBUF)->masked);
	assert_true(features_get(&ft, FEAT_TP_BTF)->masked);
	assert_non_null(strstr(features_get(&ft, FEAT_TP_BTF)->detail, "KSIGHT_FEATURES_MASK"));
	features_free(&ft);

	setenv("KSIGHT_FEATURES_MASK", "ringbuf,bogus", 1);
	assert_int_equal(features_init(&ft, NULL, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "'bogus'"));
	features_free(&ft);

	/* everything masked: nothing is probed, and the plan says no */
	setenv("KSIGHT_FEATURES_MASK", "all", 1);
	assert_int_equal(features_init(&ft, &(struct features_opts){ .btf_known = "system" },
				       why, sizeof(why)), 0);
	assert_int_equal(features_plan(&ft, &rq, &m, why, sizeof(why)), -EOPNOTSUPP);
	assert_string_equal(why, "no BTF for this kernel");
	for (int f = 0; f < FEAT_MAX; f++)
		assert_true(!ft.r[f].probed || ft.r[f].masked);
	features_free(&ft);
	unsetenv("KSIGHT_FEATURES_MASK");
}

static void test_names(void **state)
{
	(void)state;
	for (int f = 0; f < FEAT_MAX; f++) {
		assert_non_null(feature_name(f));
		assert_non_null(feature_check_name(f));
		for (int g = 0; g < f; g++)
			assert_string_not_equal(feature_name(f), feature_name(g));
	}
	assert_string_equal(feature_check_name(FEAT_TP_BTF), "prog.tp_btf");
	assert_string_equal(probe_attach_name(ATTACH_TRACEPOINT), "tracepoint");
	assert_string_equal(probe_set_name(SET_TASK_STORAGE), "task_storage");
	assert_string_equal(probe_transport_name(TRANSPORT_PERFBUF), "perfbuf");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_feature),
		cmocka_unit_test(test_fallbacks),
		cmocka_unit_test(test_kernel_lacks),
		cmocka_unit_test(test_no_privilege),
		cmocka_unit_test(test_impossible_requests),
		cmocka_unit_test(test_forced_choices),
		cmocka_unit_test(test_every_subset),
		cmocka_unit_test(test_mask),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
