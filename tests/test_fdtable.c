/* The replayed fd tables (replay/fdtable.c) against a plain model: thousands of
 * random open/dup/dup2/close/close_range/cloexec/fork/exec/exit sequences, the
 * table and the model compared after every step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "replay/fdtable.h"

#define PROCS 4
#define FDS 24

/* model: per process slot, per fd, object id + 1 (0: closed) and cloexec */
struct model {
	bool alive[PROCS];
	uint32_t obj[PROCS][FDS];
	bool cx[PROCS][FDS];
};

static uint32_t pid_of(int p)
{
	return 1000 + p;
}

static void check(struct fdtable *t, const struct model *m)
{
	for (int p = 0; p < PROCS; p++)
		for (int fd = 0; fd < FDS; fd++) {
			uint32_t want = m->alive[p] && m->obj[p][fd] ? m->obj[p][fd] - 1 : 0;

			assert_int_equal(fdt_lookup(t, pid_of(p), fd), want);
			assert_int_equal(fdt_cloexec(t, pid_of(p), fd),
					 m->alive[p] && m->obj[p][fd] && m->cx[p][fd]);
		}
}

static void one_sequence(unsigned seed)
{
	struct fdtable t;
	struct model m;
	uint32_t objs[8];
	char name[16];

	srandom(seed);
	memset(&m, 0, sizeof(m));
	assert_int_equal(fdt_init(&t), 0);
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "/f%d", i);
		objs[i] = fdt_object(&t, FDT_FILE, name, strlen(name));
		assert_true(objs[i] > 0);
	}
	/* the same name interns to the same object */
	assert_int_equal(fdt_object(&t, FDT_FILE, "/f3", 3), objs[3]);
	m.alive[0] = true;
	for (int step = 0; step < 200; step++) {
		int p = random() % PROCS, q = random() % PROCS, fd = random() % FDS,
		    fd2 = random() % FDS, op = random() % 9;
		bool cx = random() & 1;
		uint32_t o = objs[random() % 8];

		if (!m.alive[p])
			continue;
		switch (op) {
		case 0: /* open */
			assert_int_equal(fdt_install(&t, pid_of(p), fd, o, cx), 0);
			m.obj[p][fd] = o + 1;
			m.cx[p][fd] = cx;
			break;
		case 1: /* close */
			fdt_close(&t, pid_of(p), fd);
			m.obj[p][fd] = 0;
			break;
		case 2: /* dup2/dup3/F_DUPFD: a closed source gives an empty target */
			assert_int_equal(fdt_dup(&t, pid_of(p), fd, fd2, cx), 0);
			if (m.obj[p][fd]) {
				m.obj[p][fd2] = m.obj[p][fd];
				m.cx[p][fd2] = cx;
			} else {
				m.obj[p][fd2] = 1; /* open, unknown object: id 0 */
				m.cx[p][fd2] = cx;
			}
			break;
		case 3: { /* close_range */
			int lo = fd < fd2 ? fd : fd2, hi = fd < fd2 ? fd2 : fd;

			fdt_close_range(&t, pid_of(p), lo, hi, cx);
			for (int i = lo; i <= hi; i++) {
				if (!cx)
					m.obj[p][i] = 0;
				else if (m.obj[p][i])
					m.cx[p][i] = true;
			}
			break;
		}
		case 4: /* F_SETFD */
			fdt_set_cloexec(&t, pid_of(p), fd, cx);
			if (m.obj[p][fd])
				m.cx[p][fd] = cx;
			break;
		case 5: /* fork into a free slot */
			if (m.alive[q] || q == p)
				break;
			assert_int_equal(fdt_fork(&t, pid_of(p), pid_of(q)), 0);
			m.alive[q] = true;
			memcpy(m.obj[q], m.obj[p], sizeof(m.obj[q]));
			memcpy(m.cx[q], m.cx[p], sizeof(m.cx[q]));
			break;
		case 6: /* exec */
			assert_int_equal(fdt_exec(&t, pid_of(p)), 0);
			for (int i = 0; i < FDS; i++)
				if (m.cx[p][i])
					m.obj[p][i] = 0, m.cx[p][i] = false;
			break;
		case 7: /* exit (the first process lives on) */
			if (!p)
				break;
			fdt_exit(&t, pid_of(p));
			m.alive[p] = false;
			memset(m.obj[p], 0, sizeof(m.obj[p]));
			memset(m.cx[p], 0, sizeof(m.cx[p]));
			break;
		case 8: /* an fd out of range is ignored */
			assert_int_equal(fdt_install(&t, pid_of(p), -1, o, cx), 0);
			assert_int_equal(fdt_install(&t, pid_of(p), FDT_FD_MAX, o, cx), 0);
			break;
		}
		/* closed slots carry no cloexec in the model */
		for (int i = 0; i < FDS; i++)
			if (!m.obj[p][i])
				m.cx[p][i] = false;
		check(&t, &m);
	}
	fdt_free(&t);
}

static void random_sequences_match_the_model(void **state)
{
	(void)state;
	for (unsigned seed = 1; seed <= 3000; seed++)
		one_sequence(seed);
}

static void objects_keep_their_kind_and_name(void **state)
{
	struct fdtable t;
	uint32_t a, b;

	(void)state;
	assert_int_equal(fdt_init(&t), 0);
	a = fdt_object(&t, FDT_FILE, "/x", 2);
	b = fdt_object(&t, FDT_PIPE, "/x", 2);
	assert_true(a && b && a != b);
	assert_int_equal(fdt_get(&t, a)->kind, FDT_FILE);
	assert_int_equal(fdt_get(&t, b)->kind, FDT_PIPE);
	assert_string_equal(fdt_get(&t, a)->name, "/x");
	assert_int_equal(fdt_get(&t, 12345)->kind, FDT_UNKNOWN);
	fdt_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(random_sequences_match_the_model),
		cmocka_unit_test(objects_keep_their_kind_and_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
