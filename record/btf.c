/* BTF discovery for the loader: the system's BTF, else a cached file for this
 * kernel release, else a BTFHub archive fetched (libcurl) and unpacked
 * (libarchive) into the cache. Logs each step with ks_debug; never prints else. */
#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <bpf/btf.h>

#include "record/btf.h"
#include "util/grow.h"
#include "util/log.h"

#define BTF_MAGIC 0xeB9F
#define MAX_ARCHIVE_BYTES (256u << 20)	/* BTFHub archives are a few MiB */
#define MAX_BTF_BYTES (1024u << 20)

/* Messages are allowed to be cut short; a helper keeps gcc's truncation
 * analysis (which cannot see through va_list) from flagging every one. */
static void __attribute__((format(printf, 3, 4))) say(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

const char *btf_sysfs_path(const struct btf_opts *o)
{
	const char *e = getenv("KSIGHT_SYSFS_BTF");

	if (o && o->sysfs_path)
		return o->sysfs_path;
	return e && *e ? e : BTF_DEFAULT_SYSFS;
}

const char *btf_cache_dir(const struct btf_opts *o)
{
	const char *e = getenv("KSIGHT_BTF_CACHE_DIR");

	if (o && o->cache_dir)
		return o->cache_dir;
	return e && *e ? e : BTF_DEFAULT_CACHE_DIR;
}

const char *btf_mirror(const struct btf_opts *o)
{
	const char *e = getenv("KSIGHT_BTF_MIRROR");

	if (o && o->mirror)
		return o->mirror;
	return e && *e ? e : BTF_DEFAULT_MIRROR;
}

bool btf_download_allowed(const struct btf_opts *o)
{
	const char *e = getenv("KSIGHT_BTF_ALLOW_DOWNLOAD");

	if (o && o->disable_download)
		return false;
	if (!e)
		return true;
	return !(!strcmp(e, "0") || !strcasecmp(e, "false") || !strcasecmp(e, "no") ||
		 !strcasecmp(e, "off"));
}

/* The raw BTF header (uapi btf.h), to check a file's sizes without parsing it. */
struct raw_btf_header {
	uint16_t magic;
	uint8_t version, flags;
	uint32_t hdr_len, type_off, type_len, str_off, str_len;
};

/* Checks the magic and that the header's sections fit in the file; `full` also
 * has libbpf parse every type (about 20 ms on a distribution kernel's BTF, so
 * kept for files from outside the kernel). */
static int validate(const char *path, bool full, char *why, size_t whylen)
{
	struct raw_btf_header h;
	struct btf *btf;
	struct stat sb;
	bool elf, swapped;
	ssize_t n;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		say(why, whylen, "%s", strerror(errno));
		return err;
	}
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
		close(fd);
		say(why, whylen, "not a regular file");
		return -EINVAL;
	}
	memset(&h, 0, sizeof(h));
	n = read(fd, &h, sizeof(h));
	err = n < 0 ? -errno : 0;
	close(fd);
	if (err) {
		say(why, whylen, "%s", strerror(-err));
		return err;
	}
	if (n < 4) {
		say(why, whylen, "not BTF (%s)", n ? "too short" : "empty file");
		return -EINVAL;
	}
	/* raw BTF in either byte order, or an ELF file carrying a .BTF section */
	elf = !memcmp(&h, "\177ELF", 4);
	swapped = h.magic == __builtin_bswap16(BTF_MAGIC);
	if (!elf && h.magic != BTF_MAGIC && !swapped) {
		const unsigned char *b = (const unsigned char *)&h;

		say(why, whylen, "not BTF (starts with %02x %02x, BTF with magic 0x%04x)",
		    b[0], b[1], BTF_MAGIC);
		return -EINVAL;
	}
	if (!elf) {
		uint64_t size = (uint64_t)sb.st_size;
		uint32_t hl = h.hdr_len, to = h.type_off, tl = h.type_len, so = h.str_off,
			 sl = h.str_len;

		if (swapped) {
			hl = __builtin_bswap32(hl);
			to = __builtin_bswap32(to);
			tl = __builtin_bswap32(tl);
			so = __builtin_bswap32(so);
			sl = __builtin_bswap32(sl);
		}
		if (n < (ssize_t)sizeof(h) || h.version != 1 || hl < sizeof(h) ||
		    (uint64_t)hl + to + tl > size || (uint64_t)hl + so + sl > size) {
			say(why, whylen, "malformed BTF (header does not fit the file's %llu bytes)",
			    (unsigned long long)size);
			return -EINVAL;
		}
	}
	if (!full && !elf)
		return 0;
	btf = btf__parse(path, NULL);
	if (!btf) {
		err = errno ? -errno : -EINVAL;
		say(why, whylen, "malformed BTF (libbpf: %s)", strerror(-err));
		return err;
	}
	btf__free(btf);
	return 0;
}

int btf_validate(const char *path, char *why, size_t whylen)
{
	return validate(path, true, why, whylen);
}

/* Reads ID and VERSION_ID from os-release(5); values may be quoted. */
static int read_os_release(const char *path, char *id, size_t idlen, char *ver, size_t verlen)
{
	char line[512];
	FILE *f;

	*id = *ver = '\0';
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '='), *v, *end;
		char *dst;
		size_t dlen;

		if (!eq)
			continue;
		*eq = '\0';
		if (!strcmp(line, "ID"))
			dst = id, dlen = idlen;
		else if (!strcmp(line, "VERSION_ID"))
			dst = ver, dlen = verlen;
		else
			continue;
		v = eq + 1;
		v[strcspn(v, "\r\n")] = '\0';
		end = v + strlen(v);
		if (end > v && (*v == '"' || *v == '\'') && end[-1] == *v) {
			v++;
			end[-1] = '\0';
		}
		snprintf(dst, dlen, "%s", v);
	}
	fclose(f);
	return 0;
}

/* BTFHub names architectures as Go does. */
static const char *btfhub_arch(const char *machine)
{
	if (!strcmp(machine, "x86_64"))
		return "x86_64";
	if (!strcmp(machine, "aarch64") || !strcmp(machine, "arm64"))
		return "arm64";
	return NULL;
}

int btf_download_url(const struct btf_opts *o, char *buf, size_t len)
{
	const char *osr = o && o->os_release ? o->os_release : NULL;
	char id[64], ver[64];
	const char *arch, *mirror = btf_mirror(o);
	struct utsname u;
	size_t mlen;
	int err, n;

	uname(&u);
	arch = btfhub_arch(u.machine);
	if (!arch) {
		say(buf, len, "architecture %s is not on BTFHub", u.machine);
		return -EOPNOTSUPP;
	}
	if (osr) {
		err = read_os_release(osr, id, sizeof(id), ver, sizeof(ver));
	} else {
		osr = "/etc/os-release";
		err = read_os_release(osr, id, sizeof(id), ver, sizeof(ver));
		if (err == -ENOENT) {
			osr = "/usr/lib/os-release";
			err = read_os_release(osr, id, sizeof(id), ver, sizeof(ver));
		}
	}
	if (err) {
		say(buf, len, "cannot read %s: %s", osr, strerror(-err));
		return err;
	}
	if (!*id || !*ver) {
		say(buf, len, "%s names no %s, which the BTFHub layout needs", osr,
			 *id ? "VERSION_ID" : "ID");
		return -ENOENT;
	}
	mlen = strlen(mirror);
	while (mlen > 0 && mirror[mlen - 1] == '/')
		mlen--;
	n = snprintf(buf, len, "%.*s/%s/%s/%s/%s.btf.tar.xz", (int)mlen, mirror, id, ver, arch,
		     o && o->release ? o->release : u.release);
	if (n < 0 || (size_t)n >= len) {
		say(buf, len, "the mirror URL is too long");
		return -ENAMETOOLONG;
	}
	return 0;
}

struct membuf {
	char *data;
	size_t len, cap;
};

static size_t membuf_write(char *p, size_t size, size_t nmemb, void *ud)
{
	struct membuf *m = ud;
	size_t n = size * nmemb;

	if (n > MAX_ARCHIVE_BYTES - m->len)
		return 0; /* curl aborts the transfer */
	/* from 1 MiB: an archive is megabytes */
	if (ks_grow((void **)&m->data, &m->cap, m->len + n > 1 << 20 ? m->len + n : 1 << 20, 1))
		return 0;
	memcpy(m->data + m->len, p, n);
	m->len += n;
	return n;
}

static int fetch(const char *url, struct membuf *m, char *why, size_t whylen)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode rc;
	CURL *c;
	long code = 0;
	int err = 0;

	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		say(why, whylen, "cannot initialise libcurl");
		return -ENOMEM;
	}
	c = curl_easy_init();
	if (!c) {
		curl_global_cleanup();
		say(why, whylen, "cannot initialise libcurl");
		return -ENOMEM;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);	/* github raw/ redirects */
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
	curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);	/* give up below 1 KiB/s ... */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);	/* ... for 30 s */
	curl_easy_setopt(c, CURLOPT_USERAGENT, "ksight/" KSIGHT_VERSION);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, membuf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, m);
	rc = curl_easy_perform(c);
	if (rc == CURLE_HTTP_RETURNED_ERROR) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		say(why, whylen, "HTTP %ld%s", code,
			 code == 404 ? " (the mirror has no BTF for this distribution and kernel)" : "");
		err = code == 404 ? -ENOENT : -EIO;
	} else if (rc == CURLE_WRITE_ERROR) {
		say(why, whylen, "archive larger than %u MiB or out of memory",
			 MAX_ARCHIVE_BYTES >> 20);
		err = -EFBIG;
	} else if (rc != CURLE_OK) {
		say(why, whylen, "%s", *errbuf ? errbuf : curl_easy_strerror(rc));
		err = -EIO;
	}
	curl_easy_cleanup(c);
	curl_global_cleanup();
	return err;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Copies the archive's first regular *.btf member to fd. Member names are never
 * used as paths, so a hostile archive cannot write elsewhere. */
static int unpack_btf(const struct membuf *m, int fd, char *why, size_t whylen)
{
	struct archive_entry *e;
	struct archive *a;
	char buf[64 * 1024];
	size_t total = 0;
	int r, err = -ENOENT;

	a = archive_read_new();
	if (!a) {
		say(why, whylen, "cannot initialise libarchive");
		return -ENOMEM;
	}
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_memory(a, m->data, m->len) != ARCHIVE_OK) {
		say(why, whylen, "not a tar archive: %s", archive_error_string(a));
		err = -EINVAL;
		goto out;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *name = archive_entry_pathname(e);
		size_t nlen = name ? strlen(name) : 0;

		if (archive_entry_filetype(e) != AE_IFREG || nlen < 4 ||
		    strcmp(name + nlen - 4, ".btf"))
			continue;
		ks_debug("btf: unpacking %s", name);
		for (;;) {
			la_ssize_t n = archive_read_data(a, buf, sizeof(buf));

			if (n == 0)
				break;
			if (n < 0) {
				say(why, whylen, "damaged archive: %s", archive_error_string(a));
				err = -EINVAL;
				goto out;
			}
			total += (size_t)n;
			if (total > MAX_BTF_BYTES) {
				say(why, whylen, "BTF member larger than %u MiB", MAX_BTF_BYTES >> 20);
				err = -EFBIG;
				goto out;
			}
			err = write_all(fd, buf, (size_t)n);
			if (err) {
				say(why, whylen, "cannot write the cache file: %s", strerror(-err));
				goto out;
			}
		}
		err = 0;
		goto out;
	}
	if (r == ARCHIVE_EOF)
		say(why, whylen, "the archive holds no .btf file");
	else {
		say(why, whylen, "damaged archive: %s", archive_error_string(a));
		err = -EINVAL;
	}
out:
	archive_read_free(a);
	return err;
}

static int mkdir_p(const char *dir)
{
	char p[PATH_MAX];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(p))
		return -ENAMETOOLONG;
	memcpy(p, dir, n + 1);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

/* Fetches url and leaves the BTF it holds at `dest` (atomically: a temporary
 * file in the cache, validated, then renamed). */
static int download_into_cache(const char *url, const char *dir, const char *dest,
			       char *why, size_t whylen)
{
	struct membuf m = { 0 };
	char tmp[PATH_MAX], r[256];
	int fd = -1, err;

	err = mkdir_p(dir);
	if (err) {
		say(why, whylen, "cannot create %s: %s", dir, strerror(-err));
		return err;
	}
	if (snprintf(tmp, sizeof(tmp), "%s/.download.XXXXXX", dir) >= (int)sizeof(tmp)) {
		say(why, whylen, "cache path too long");
		return -ENAMETOOLONG;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		say(why, whylen, "cannot write in %s: %s", dir, strerror(errno));
		return err;
	}
	ks_debug("btf: downloading %s", url);
	err = fetch(url, &m, why, whylen);
	if (err)
		goto out;
	ks_debug("btf: got %zu bytes", m.len);
	err = unpack_btf(&m, fd, why, whylen);
	if (err)
		goto out;
	if (fsync(fd)) {
		err = -errno;
		say(why, whylen, "cannot write the cache file: %s", strerror(errno));
		goto out;
	}
	err = btf_validate(tmp, r, sizeof(r));
	if (err) {
		say(why, whylen, "the archive's file is %s", r);
		goto out;
	}
	if (fchmod(fd, 0644) || rename(tmp, dest)) {
		err = -errno;
		say(why, whylen, "cannot install %s: %s", dest, strerror(errno));
		goto out;
	}
	tmp[0] = '\0';
out:
	if (tmp[0])
		unlink(tmp);
	close(fd);
	free(m.data);
	return err;
}

int btf_discover(const struct btf_opts *o, struct btf_choice *out, char *why, size_t whylen)
{
	char sys_why[256], cache_why[256], dl_why[1024], url[PATH_MAX], cached[PATH_MAX];
	const char *sys = btf_sysfs_path(o), *dir = btf_cache_dir(o), *fix;
	const char *release;
	struct utsname u;
	int err;

	uname(&u);
	release = o && o->release ? o->release : u.release;

	ks_debug("btf: trying the system BTF %s", sys);
	if (!validate(sys, false, sys_why, sizeof(sys_why))) {
		say(out->path, sizeof(out->path), "%s", sys);
		out->source = "system";
		ks_debug("btf: using the system BTF %s", sys);
		return 0;
	}
	ks_debug("btf: %s: %s", sys, sys_why);

	if (snprintf(cached, sizeof(cached), "%s/%s.btf", dir, release) >= (int)sizeof(cached)) {
		say(why, whylen, "--btf-cache-dir %s: path too long", dir);
		return -ENAMETOOLONG;
	}
	ks_debug("btf: trying the cache %s", cached);
	if (!btf_validate(cached, cache_why, sizeof(cache_why))) {
		say(out->path, sizeof(out->path), "%s", cached);
		out->source = "cache";
		ks_debug("btf: using the cached BTF %s", cached);
		return 0;
	}
	ks_debug("btf: %s: %s", cached, cache_why);

	fix = "allow the download";
	if (!btf_download_allowed(o)) {
		say(dl_why, sizeof(dl_why), "download disabled (--disable-btfhub-download or "
			 "KSIGHT_BTF_ALLOW_DOWNLOAD=0)");
	} else if (btf_download_url(o, url, sizeof(url))) {
		say(dl_why, sizeof(dl_why), "no download: %s", url);
		fix = NULL;
	} else if (o && o->no_network) {
		say(dl_why, sizeof(dl_why), "download not tried: %s", url);
		fix = "fetch it (ksight doctor --download-btf)";
	} else {
		err = download_into_cache(url, dir, cached, dl_why, sizeof(dl_why));
		if (!err) {
			say(out->path, sizeof(out->path), "%s", cached);
			out->source = "download";
			ks_debug("btf: downloaded into %s", cached);
			return 0;
		}
		/* keep the URL in the message: it is what a user retries by hand */
		{
			char reason[1024];

			memcpy(reason, dl_why, sizeof(reason));
			say(dl_why, sizeof(dl_why), "%s: %s", url, reason);
		}
		ks_debug("btf: download failed: %s", dl_why);
		fix = "point --btfhub-mirror at a mirror that has it";
	}
	say(why, whylen, "no BTF for kernel %s: system %s: %s; cache %s: %s; BTFHub %s; "
		 "fix: copy this kernel's BTF (/sys/kernel/btf/vmlinux of a machine running it, "
		 "or a BTFHub file) to %s%s%s",
		 release, sys, sys_why, cached, cache_why, dl_why, cached, fix ? ", or " : "",
		 fix ? fix : "");
	return -ENOENT;
}
