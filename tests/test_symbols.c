/* Unit tests of the offline symbolizer (replay/symbols.c) and the frame codec
 * (format/stack.c), on fixtures built by the setup with gcc, strip and objcopy:
 * a PIE with .symtab, a shared library, a stripped PIE keeping .dynsym, a
 * stripped one with a .gnu_debuglink, a deleted one found by build-id under a
 * debug directory, and a rebuilt one. The oracle is binutils: nm names each
 * function's address and readelf the load segments that give its file offset. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "format/event.h"
#include "format/kserr.h"
#include "format/stack.h"
#include "replay/symbols.h"

static const char fixture_src[] =
	"static volatile int sink;\n"
	"__attribute__((noinline)) static void fx_static(int n) { for (int i = 0; i < n; i++) sink += i; }\n"
	"__attribute__((noinline)) void fx_alpha(int n) { fx_static(n); sink++; }\n"
	"__attribute__((noinline)) void fx_beta(int n) { fx_static(2 * n); sink++; }\n"
	"int main(int argc, char **argv) { (void)argv; fx_alpha(argc); fx_beta(argc); return 0; }\n";

static const char lib_src[] =
	"static volatile int lsink;\n"
	"__attribute__((noinline)) void fx_lib(int n) { for (int i = 0; i < n; i++) lsink += i; }\n";

struct fx {
	char dir[64];
	char path[8][160];
};

enum { FX_FULL, FX_LIB, FX_DYNSYM, FX_LINKED, FX_GONE, FX_REBUILT, FX_DEBUGDIR };

static int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	FILE *f;

	snprintf(fx->dir, sizeof(fx->dir), "/tmp/ksight-symtest-XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	snprintf(fx->path[FX_FULL], 160, "%s/full", fx->dir);
	snprintf(fx->path[FX_LIB], 160, "%s/libfx.so", fx->dir);
	snprintf(fx->path[FX_DYNSYM], 160, "%s/dynsym", fx->dir);
	snprintf(fx->path[FX_LINKED], 160, "%s/linked", fx->dir);
	snprintf(fx->path[FX_GONE], 160, "%s/gone", fx->dir);
	snprintf(fx->path[FX_REBUILT], 160, "%s/rebuilt", fx->dir);
	snprintf(fx->path[FX_DEBUGDIR], 160, "%s/debug", fx->dir);
	f = fopen("/tmp/ksight-symtest-fx.c", "w");
	fputs(fixture_src, f);
	fclose(f);
	f = fopen("/tmp/ksight-symtest-lib.c", "w");
	fputs(lib_src, f);
	fclose(f);
	if (sh("cd %s && gcc -O1 -g -fPIE -pie -Wl,--build-id -o full /tmp/ksight-symtest-fx.c && "
	       "gcc -O1 -fPIC -shared -Wl,--build-id -o libfx.so /tmp/ksight-symtest-lib.c && "
	       "gcc -O1 -fPIE -pie -rdynamic -Wl,--build-id -o dynsym.full /tmp/ksight-symtest-fx.c && "
	       "cp dynsym.full dynsym && strip --strip-all dynsym && "
	       "cp full linked && objcopy --only-keep-debug linked linked.debug && "
	       "strip --strip-all linked && objcopy --add-gnu-debuglink=linked.debug linked && "
	       "cp full gone && "
	       "gcc -O1 -fPIE -pie -Wl,--build-id -DX=1 -o rebuilt /tmp/ksight-symtest-fx.c -Wl,--build-id=0x0123456789abcdef0123456789abcdef01234567",
	       fx->dir))
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	sh("rm -rf %s /tmp/ksight-symtest-fx.c /tmp/ksight-symtest-lib.c", fx->dir);
	free(fx);
	return 0;
}

/* The oracle: fn's file offset in path, from nm's address and readelf's PT_LOADs. */
static uint64_t file_offset_nm(const char *path, const char *fn, const char *nm_flags)
{
	char cmd[512], line[512];
	unsigned long long addr = 0, off, va, fsz, best = UINT64_MAX;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "nm %s %s | awk '$3 == \"%s\" { print $1 }'", nm_flags, path, fn);
	p = popen(cmd, "r");
	if (!fgets(line, sizeof(line), p) || sscanf(line, "%llx", &addr) != 1)
		fail_msg("nm does not know %s in %s", fn, path);
	pclose(p);
	snprintf(cmd, sizeof(cmd), "readelf -lW %s | awk '$1 == \"LOAD\" { print $2, $3, $5 }'", path);
	p = popen(cmd, "r");
	while (fgets(line, sizeof(line), p))
		if (sscanf(line, "%llx %llx %llx", &off, &va, &fsz) == 3 && addr >= va && addr < va + fsz)
			best = addr - va + off;
	pclose(p);
	assert_int_not_equal(best, UINT64_MAX);
	return best;
}

static uint64_t file_offset(const char *path, const char *fn)
{
	return file_offset_nm(path, fn, "");
}

static char *build_id(const char *path)
{
	static char id[64];
	char cmd[512];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "readelf -n %s | awk '/Build ID/ { print $3 }'", path);
	p = popen(cmd, "r");
	id[0] = 0;
	if (!fgets(id, sizeof(id), p))
		id[0] = 0;
	pclose(p);
	id[strcspn(id, "\n")] = 0;
	return id;
}

static void expect(struct ks_elfsym *es, const char *path, const char *bid, uint64_t off,
		   const char *want)
{
	char name[256] = "";
	int err = ks_elfsym_resolve(es, path, bid, off, name, sizeof(name));

	if (!want) {
		if (!err)
			fail_msg("%s+0x%llx named %s, expected none", path, (unsigned long long)off, name);
		return;
	}
	if (err)
		fail_msg("%s+0x%llx: %d, expected %s", path, (unsigned long long)off, err, want);
	assert_string_equal(name, want);
}

static void test_symtab_pie(void **state)
{
	struct fx *fx = *state;
	struct ks_elfsym *es;
	const char *p = fx->path[FX_FULL];

	assert_int_equal(ks_elfsym_new(&es), 0);
	expect(es, p, "", file_offset(p, "fx_alpha") + 2, "fx_alpha");
	expect(es, p, build_id(p), file_offset(p, "fx_beta"), "fx_beta");
	expect(es, p, "", file_offset(p, "fx_static") + 1, "fx_static");
	expect(es, p, "", file_offset(p, "main") + 3, "main");
	ks_elfsym_free(es);
}

static void test_shared_library(void **state)
{
	struct fx *fx = *state;
	struct ks_elfsym *es;
	const char *p = fx->path[FX_LIB];

	assert_int_equal(ks_elfsym_new(&es), 0);
	expect(es, p, build_id(p), file_offset(p, "fx_lib") + 4, "fx_lib");
	ks_elfsym_free(es);
}

static void test_dynsym_only(void **state)
{
	struct fx *fx = *state;
	struct ks_elfsym *es;
	const char *p = fx->path[FX_DYNSYM];
	char full[200];
	uint64_t sym;

	/* -rdynamic exports fx_alpha; the static fx_static is gone with .symtab
	 * (nm finds it in the copy made before strip: same layout) */
	snprintf(full, sizeof(full), "%s.full", p);
	sym = file_offset_nm(full, "fx_static", "");
	assert_int_equal(ks_elfsym_new(&es), 0);
	expect(es, p, "", file_offset_nm(p, "fx_alpha", "-D") + 1, "fx_alpha");
	expect(es, p, "", sym + 1, NULL);
	ks_elfsym_free(es);
}

static void test_debuglink(void **state)
{
	struct fx *fx = *state;
	struct ks_elfsym *es;
	const char *p = fx->path[FX_LINKED];
	/* stripped of everything: fx_static (never in .dynsym) is in linked.debug */
	uint64_t off = file_offset(fx->path[FX_FULL], "fx_static");

	assert_int_equal(ks_elfsym_new(&es), 0);
	expect(es, p, build_id(p), off + 1, "fx_static");
	ks_elfsym_free(es);
}

static void test_build_id_dir_after_delete(void **state)
{
	struct fx *fx = *state;
	struct ks_elfsym *es;
	const char *p = fx->path[FX_GONE];
	char bid[64], name[64];
	uint64_t off = file_offset(p, "fx_beta"), vaddr = 0;
	FILE *pp;
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "nm %s | awk '$3 == \"fx_beta\" { print $1 }'", p);
	pp = popen(cmd, "r");
	assert_int_equal(fscanf(pp, "%lx", &vaddr), 1);
	pclose(pp);

	snprintf(bid, sizeof(bid), "%s", build_id(p));
	assert_true(strlen(bid) == 40);
	assert_int_equal(sh("mkdir -p %s/.build-id/%.2s && objcopy --only-keep-debug %s "
			    "%s/.build-id/%.2s/%s.debug && rm %s", fx->path[FX_DEBUGDIR], bid, p,
			    fx->path[FX_DEBUGDIR], bid, bid + 2, p), 0);
	assert_int_equal(ks_elfsym_new(&es), 0);
	expect(es, p, bid, off, NULL); /* the default debug dir has no such file */
	ks_elfsym_free(es);
	assert_int_equal(ks_elfsym_new(&es), 0);
	assert_int_equal(ks_elfsym_set_debug_dir(es, fx->path[FX_DEBUGDIR]), 0);
	/* a debug file's segment offsets are not the file's: the address is what holds */
	assert_int_equal(ks_elfsym_resolve_vaddr(es, p, bid, vaddr + 1, name, sizeof(name)), 0);
	assert_string_equal(name, "fx_beta");
	ks_elfsym_free(es);
}

static void test_rebuilt_file_is_not_trusted(void **state)
{
	struct fx *fx = *state;
	struct ks_elfsym *es;
	const char *p = fx->path[FX_REBUILT];
	uint64_t off = file_offset(p, "fx_alpha");

	assert_int_equal(ks_elfsym_new(&es), 0);
	/* the frame was recorded from another build of this path */
	expect(es, p, "00112233445566778899aabbccddeeff00112233", off, NULL);
	expect(es, p, "0123456789abcdef0123456789abcdef01234567", off, "fx_alpha");
	expect(es, "/nonexistent/ksight", "", 0x1000, NULL);
	ks_elfsym_free(es);
}

static void test_frames_round_trip(void **state)
{
	struct ks_frame in[KS_FRAMES_MAX], out[KS_FRAMES_MAX];
	uint8_t buf[KS_STACK_DATA_MAX];
	unsigned nk, nu;
	int len;

	(void)state;
	for (unsigned i = 0; i < KS_FRAMES_MAX; i++)
		in[i] = (struct ks_frame){ .module = i < 127 ? 0 : i % 5 + 1,
					   .off = i < 127 ? 0xffffffff81000000ull + i * 977 : i * 131 };
	len = ks_frames_encode(in, 127, 127, buf, sizeof(buf));
	assert_true(len > 0);
	assert_int_equal(ks_frames_decode(buf, len, out, &nk, &nu), 0);
	assert_int_equal(nk, 127);
	assert_int_equal(nu, 127);
	assert_memory_equal(in, out, sizeof(in));
	assert_true(ks_frames_decode(buf, len - 1, out, &nk, &nu) < 0);
	buf[len] = 0;
	assert_int_equal(ks_frames_decode(buf, len + 1, out, &nk, &nu), -KS_ETRAILING);
	assert_int_equal(ks_frames_encode(in, 200, 100, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(ks_frames_encode(in, 127, 127, buf, 10), -ENOSPC);
	buf[0] = 0xff; /* 255 kernel frames claimed */
	buf[1] = 0x01;
	buf[2] = 0x00;
	assert_int_equal(ks_frames_decode(buf, 3, out, &nk, &nu), -KS_ETOOBIG);
}

static void test_table_names_and_fallbacks(void **state)
{
	struct fx *fx = *state;
	struct ks_symtab *s;
	struct ks_stack_row r;
	struct ks_frame in[3] = { { .module = 0, .off = 0xffffffff81234567ull },
				  { .module = 1, .off = 0x1189 }, { .module = 7, .off = 0x42 } };
	const struct ks_frame *f;
	unsigned nk, nu;
	bool named;
	int len;

	(void)fx;
	assert_int_equal(ks_symtab_new(false, &s), 0);
	memset(&r, 0, sizeof(r));
	r.what = KS_STACK_MODULE;
	r.id = 1;
	memcpy(r.data, "/gone/prog\0abcd", 15);
	r.data_len = 15;
	assert_int_equal(ks_symtab_add(s, &r), 0);
	r.what = KS_STACK_SYMBOL;
	r.id = 0;
	r.off = 0xffffffff81234567ull;
	memcpy(r.data, "do_nanosleep", 12);
	r.data_len = 12;
	assert_int_equal(ks_symtab_add(s, &r), 0);
	r.what = KS_STACK_FRAMES;
	r.id = 9;
	r.off = 0;
	len = ks_frames_encode(in, 1, 2, (uint8_t *)r.data, sizeof(r.data));
	assert_true(len > 0);
	r.data_len = len;
	assert_int_equal(ks_symtab_add(s, &r), 0);
	assert_int_equal(ks_symtab_stack(s, 9, &f, &nk, &nu), 0);
	assert_int_equal(nk, 1);
	assert_int_equal(nu, 2);
	assert_string_equal(ks_symtab_name(s, &f[0], &named), "do_nanosleep");
	assert_true(named);
	assert_string_equal(ks_symtab_name(s, &f[1], &named), "prog+0x1189");
	assert_false(named);
	assert_string_equal(ks_symtab_name(s, &f[2], &named), "[unknown]");
	assert_string_equal(ks_symtab_module(s, 0), "[kernel]");
	assert_string_equal(ks_symtab_module(s, 1), "prog");
	assert_int_equal(ks_symtab_stack(s, 10, &f, &nk, &nu), -ENOENT);
	r.data[0] = (char)0x80; /* a cut varint */
	r.data_len = 1;
	r.id = 11;
	assert_true(ks_symtab_add(s, &r) < 0);
	ks_symtab_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_symtab_pie),
		cmocka_unit_test(test_shared_library),
		cmocka_unit_test(test_dynsym_only),
		cmocka_unit_test(test_debuglink),
		cmocka_unit_test(test_build_id_dir_after_delete),
		cmocka_unit_test(test_rebuilt_file_is_not_trusted),
		cmocka_unit_test(test_frames_round_trip),
		cmocka_unit_test(test_table_names_and_fallbacks),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
