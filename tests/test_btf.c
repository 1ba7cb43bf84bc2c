/* BTF discovery: the order system -> cache -> download, validation of what is
 * found, and the one-line reason when nothing is. The environment variables
 * point every place at files in a temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <bpf/btf.h>

#include "record/btf.h"

struct fx {
	char dir[64];
	char sys[128];		/* a place for the "system" BTF */
	char cache[128];	/* the cache directory */
	char cached[256];	/* <cache>/<release>.btf */
	char osrel[128];
	struct btf_opts o;
	struct btf_choice ch;
	char why[4096];
};

#define RELEASE "9.9.9-ksight-test"

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void write_str(const char *path, const char *s)
{
	write_file(path, s, strlen(s));
}

/* A small well-formed BTF (two ints and a struct), as libbpf writes it. */
static void write_btf(const char *path)
{
	struct btf *btf = btf__new_empty();
	const void *raw;
	__u32 size;
	int i;

	assert_non_null(btf);
	i = btf__add_int(btf, "int", 4, BTF_INT_SIGNED);
	assert_true(i > 0);
	assert_true(btf__add_int(btf, "long", 8, BTF_INT_SIGNED) > 0);
	assert_true(btf__add_struct(btf, "task_struct", 8) > 0);
	assert_int_equal(btf__add_field(btf, "pid", i, 0, 0), 0);
	raw = btf__raw_data(btf, &size);
	assert_non_null(raw);
	write_file(path, raw, size);
	btf__free(btf);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/ksight-btf-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->sys, sizeof(f->sys), "%s/vmlinux", f->dir);
	snprintf(f->cache, sizeof(f->cache), "%s/cache", f->dir);
	snprintf(f->cached, sizeof(f->cached), "%s/%s.btf", f->cache, RELEASE);
	snprintf(f->osrel, sizeof(f->osrel), "%s/os-release", f->dir);
	if (mkdir(f->cache, 0755))
		return -1;
	unsetenv("KSIGHT_SYSFS_BTF");
	unsetenv("KSIGHT_BTF_CACHE_DIR");
	unsetenv("KSIGHT_BTF_MIRROR");
	unsetenv("KSIGHT_BTF_ALLOW_DOWNLOAD");
	setenv("KSIGHT_SYSFS_BTF", f->sys, 1);		/* hidden until a test writes it */
	setenv("KSIGHT_BTF_CACHE_DIR", f->cache, 1);
	f->o.release = RELEASE;
	f->o.os_release = f->osrel;
	write_str(f->osrel, "NAME=\"Ubuntu\"\nID=ubuntu\nVERSION_ID=\"22.04\"\n");
	*state = f;
	return 0;
}

static void rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[512];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (e->d_type == DT_DIR)
			rm_tree(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	rm_tree(f->dir);
	free(f);
	return 0;
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static void system_btf_comes_first(void **state)
{
	struct fx *f = *state;

	write_btf(f->sys);
	write_btf(f->cached);
	assert_int_equal(btf_discover(&f->o, &f->ch, f->why, sizeof(f->why)), 0);
	assert_string_equal(f->ch.source, "system");
	assert_string_equal(f->ch.path, f->sys);
}

static void hidden_system_uses_the_cache(void **state)
{
	struct fx *f = *state;

	write_btf(f->cached);
	setenv("KSIGHT_BTF_ALLOW_DOWNLOAD", "0", 1);
	assert_int_equal(btf_discover(&f->o, &f->ch, f->why, sizeof(f->why)), 0);
	assert_string_equal(f->ch.source, "cache");
	assert_string_equal(f->ch.path, f->cached);
}

static void cache_file_is_named_after_uname_r(void **state)
{
	struct fx *f = *state;
	struct utsname u;
	char path[512];

	uname(&u);
	snprintf(path, sizeof(path), "%s/%s.btf", f->cache, u.release);
	write_btf(path);
	f->o.release = NULL;
	assert_int_equal(btf_discover(&f->o, &f->ch, f->why, sizeof(f->why)), 0);
	assert_string_equal(f->ch.source, "cache");
	assert_string_equal(f->ch.path, path);
}

static void flags_win_over_the_environment(void **state)
{
	struct fx *f = *state;
	char other[256], cached[320];

	snprintf(other, sizeof(other), "%s/other", f->dir);
	assert_int_equal(mkdir(other, 0755), 0);
	snprintf(cached, sizeof(cached), "%s/%s.btf", other, RELEASE);
	write_btf(cached);
	f->o.cache_dir = other;			/* --btf-cache-dir */
	f->o.disable_download = true;		/* --disable-btfhub-download */
	assert_int_equal(btf_discover(&f->o, &f->ch, f->why, sizeof(f->why)), 0);
	assert_string_equal(f->ch.path, cached);
	assert_false(btf_download_allowed(&f->o));
	f->o.mirror = "http://mirror.example/btf";
	setenv("KSIGHT_BTF_MIRROR", "http://env.example", 1);
	assert_string_equal(btf_mirror(&f->o), "http://mirror.example/btf");
	f->o.mirror = NULL;
	assert_string_equal(btf_mirror(&f->o), "http://env.example");
	unsetenv("KSIGHT_BTF_MIRROR");
	assert_string_equal(btf_mirror(&f->o), BTF_DEFAULT_MIRROR);
}

/* Nothing anywhere, downloads off: -ENOENT and one line naming all three places. */
static void nothing_found_names_the_three_places(void **state)
{
	struct fx *f = *state;

	setenv("KSIGHT_BTF_ALLOW_DOWNLOAD", "0", 1);
	assert_int_equal(btf_discover(&f->o, &f->ch, f->why, sizeof(f->why)), -ENOENT);
	assert_non_null(strstr(f->why, f->sys));
	assert_non_null(strstr(f->why, f->cached));
	assert_non_null(strstr(f->why, "BTFHub download disabled"));
	assert_non_null(strstr(f->why, "KSIGHT_BTF_ALLOW_DOWNLOAD=0"));
	assert_non_null(strstr(f->why, "fix: "));
	assert_null(strchr(f->why, '\n'));

	/* the flag says the same */
	unsetenv("KSIGHT_BTF_ALLOW_DOWNLOAD");
	f->o.disable_download = true;
	assert_int_equal(btf_discover(&f->o, &f->ch, f->why, sizeof(f->why)), -ENOENT);
	assert_non_null(strstr(f->why, "--disable-btfhub-download"));
}

static void non_btf_in_the_cache_is_rejected(void **state)
{
	struct fx *f = *state;
	static const char text[] = "this is not BTF at all\n";

	write_file(f->cached, text, sizeof(text) - 1);
	setenv("KSIGHT_BTF_ALLOW_DOWNLOAD", "0", 1);
	assert_int_equal(btf_discover(&f->o, &f->ch, f->why, sizeof(f->why)), -ENOENT);
	assert_non_null(strstr(f->why, "not BTF"));
	assert_int_not_equal(btf_validate(f->cached, f->why, sizeof(f->why)), 0);
	/* empty */
	write_file(f->cached, "", 0);
	assert_int_equal(btf_validate(f->cached, f->why, sizeof(f->why)), -EINVAL);
	assert_non_null(strstr(f->why, "empty"));
	/* a directory of that name */
	unlink(f->cached);
	assert_int_equal(mkdir(f->cached, 0755), 0);
	assert_int_equal(btf_validate(f->cached, f->why, sizeof(f->why)), -EINVAL);
	rmdir(f->cached);
}

/* The right magic with a damaged body: libbpf's parse rejects it. */
static void truncated_btf_is_rejected(void **state)
{
	struct fx *f = *state;
	char buf[4096];
	FILE *in;
	size_t n;

	write_btf(f->sys);
	in = fopen(f->sys, "rb");
	assert_non_null(in);
	n = fread(buf, 1, sizeof(buf), in);
	fclose(in);
	assert_true(n > 40);
	write_file(f->cached, buf, n - 7);
	assert_int_not_equal(btf_validate(f->cached, f->why, sizeof(f->why)), 0);
	assert_non_null(strstr(f->why, "malformed"));
	/* a sound header over a damaged type section: only the full parse sees it */
	in = fopen(f->sys, "rb");
	assert_non_null(in);
	n = fread(buf, 1, sizeof(buf), in);
	fclose(in);
	buf[24 + 7] = 0x1f;	/* the first type's kind: no such kind */
	write_file(f->cached, buf, n);
	assert_int_not_equal(btf_validate(f->cached, f->why, sizeof(f->why)), 0);
	assert_non_null(strstr(f->why, "malformed BTF (libbpf"));
	/* and the system place with a bad file falls through to a good cache */
	write_file(f->sys, "\x9f\xeb\x01\x00garbage", 11);
	write_btf(f->cached);
	assert_int_equal(btf_discover(&f->o, &f->ch, f->why, sizeof(f->why)), 0);
	assert_string_equal(f->ch.source, "cache");
}

static void real_system_btf_validates(void **state)
{
	char why[256];

	(void)state;
	if (access(BTF_DEFAULT_SYSFS, R_OK)) {
		skip();
		return;
	}
	assert_int_equal(btf_validate(BTF_DEFAULT_SYSFS, why, sizeof(why)), 0);
}

static void download_url_follows_the_btfhub_layout(void **state)
{
	struct fx *f = *state;
	struct utsname u;
	char url[512], want[512];

	uname(&u);
	if (strcmp(u.machine, "x86_64")) {
		skip();
		return;
	}
	f->o.mirror = "http://127.0.0.1:9/mirror/";
	assert_int_equal(btf_download_url(&f->o, url, sizeof(url)), 0);
	snprintf(want, sizeof(want), "http://127.0.0.1:9/mirror/ubuntu/22.04/x86_64/%s.btf.tar.xz",
		 RELEASE);
	assert_string_equal(url, want);

	write_str(f->osrel, "ID=arch\n");	/* rolling: no VERSION_ID */
	assert_int_equal(btf_download_url(&f->o, url, sizeof(url)), -ENOENT);
	assert_non_null(strstr(url, "VERSION_ID"));
}

static void doctor_mode_does_not_download(void **state)
{
	struct fx *f = *state;

	f->o.no_network = true;
	f->o.mirror = "http://127.0.0.1:1";
	assert_int_equal(btf_discover(&f->o, &f->ch, f->why, sizeof(f->why)), -ENOENT);
	assert_non_null(strstr(f->why, "download not tried: http://127.0.0.1:1/ubuntu/22.04/"));
	assert_int_equal(count_entries(f->cache), 0);
}

/* A mirror that refuses the connection: the error names the URL and the cache
 * is left as it was (no partial or temporary file). */
static void failed_download_leaves_no_file(void **state)
{
	struct fx *f = *state;
	struct utsname u;

	uname(&u);
	if (strcmp(u.machine, "x86_64")) {
		skip();
		return;
	}
	setenv("KSIGHT_BTF_MIRROR", "http://127.0.0.1:1", 1);
	assert_int_equal(btf_discover(&f->o, &f->ch, f->why, sizeof(f->why)), -ENOENT);
	assert_non_null(strstr(f->why, "BTFHub http://127.0.0.1:1/ubuntu/22.04/x86_64/"));
	assert_non_null(strstr(f->why, "--btfhub-mirror"));
	assert_int_equal(count_entries(f->cache), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(system_btf_comes_first, setup, teardown),
		cmocka_unit_test_setup_teardown(hidden_system_uses_the_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(cache_file_is_named_after_uname_r, setup, teardown),
		cmocka_unit_test_setup_teardown(flags_win_over_the_environment, setup, teardown),
		cmocka_unit_test_setup_teardown(nothing_found_names_the_three_places, setup, teardown),
		cmocka_unit_test_setup_teardown(non_btf_in_the_cache_is_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(truncated_btf_is_rejected, setup, teardown),
		cmocka_unit_test(real_system_btf_validates),
		cmocka_unit_test_setup_teardown(download_url_follows_the_btfhub_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(doctor_mode_does_not_download, setup, teardown),
		cmocka_unit_test_setup_teardown(failed_download_leaves_no_file, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
