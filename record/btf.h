/* Where the kernel's BTF comes from: the system's own, a cached file, or a
 * BTFHub archive downloaded into the cache. The recorder hands a non-system
 * result to libbpf as bpf_object_open_opts.btf_custom_path; doctor reports it. */
#ifndef KSIGHT_BTF_H
#define KSIGHT_BTF_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#define BTF_DEFAULT_SYSFS "/sys/kernel/btf/vmlinux"
#define BTF_DEFAULT_CACHE_DIR "/var/cache/ksight/btf"
#define BTF_DEFAULT_MIRROR "https://github.com/aquasecurity/btfhub-archive/raw/main"

/* Every field may be left zero: a NULL string means "the environment variable,
 * else the default". Flags given on the command line go here and win over the
 * environment. */
struct btf_opts {
	const char *sysfs_path;	/* $KSIGHT_SYSFS_BTF, else BTF_DEFAULT_SYSFS */
	const char *cache_dir;	/* --btf-cache-dir, $KSIGHT_BTF_CACHE_DIR, else default */
	const char *mirror;	/* --btfhub-mirror, $KSIGHT_BTF_MIRROR, else default */
	bool disable_download;	/* --disable-btfhub-download; also $KSIGHT_BTF_ALLOW_DOWNLOAD=0 */
	bool no_network;	/* look only, never download (doctor): says what it would fetch */
	const char *release;	/* kernel release; NULL: uname -r */
	const char *os_release;	/* NULL: /etc/os-release, else /usr/lib/os-release */
};

struct btf_choice {
	char path[PATH_MAX];
	const char *source;	/* "system", "cache" or "download" (now in the cache) */
};

/* Finds a BTF file for the running kernel: the system BTF, then
 * <cache_dir>/<release>.btf, then <mirror>/<ID>/<VERSION_ID>/<arch>/<release>.btf.tar.xz
 * unpacked into the cache. Each candidate is checked to really be BTF (the
 * kernel's by its header; cached and downloaded files are parsed whole). Returns 0
 * with *out filled, or a negative errno (-ENOENT when no place had it) with a
 * one-line `why` naming the places looked at and how to fix it. */
int btf_discover(const struct btf_opts *o, struct btf_choice *out, char *why, size_t whylen);

/* 0 when `path` is a readable, well-formed BTF file (raw, or an ELF with .BTF);
 * otherwise a negative errno and a short reason in `why`. */
int btf_validate(const char *path, char *why, size_t whylen);

/* The effective settings after flags, environment and defaults. */
const char *btf_sysfs_path(const struct btf_opts *o);
const char *btf_cache_dir(const struct btf_opts *o);
const char *btf_mirror(const struct btf_opts *o);
bool btf_download_allowed(const struct btf_opts *o);

/* The archive URL the download step would fetch; 0, or a negative errno with the
 * reason (no ID/VERSION_ID in os-release, architecture not on BTFHub) in `buf`. */
int btf_download_url(const struct btf_opts *o, char *buf, size_t len);

#endif
