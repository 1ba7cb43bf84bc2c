/* util: container ids and systemd units from cgroup v2 paths, by the shapes the
 * runtimes use (matched per path component, innermost first). */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/cgpath.h"

/* Whether s[0..len) is an id: hex digits (docker, containerd) or, with dashes,
 * a pod uid; at least 12 characters. */
static bool is_id(const char *s, size_t len, bool dashes)
{
	if (len < 12)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isxdigit((unsigned char)s[i]) && !(dashes && (s[i] == '-' || s[i] == '_')))
			return false;
	return true;
}

static bool ends_with(const char *s, size_t len, const char *suffix, size_t *stem)
{
	size_t n = strlen(suffix);

	if (len < n || memcmp(s + len - n, suffix, n))
		return false;
	*stem = len - n;
	return true;
}

/* "<prefix><id>.scope" (systemd driver) or, with no suffix, "<prefix><id>". */
static bool prefixed(const char *c, size_t len, const char *prefix, const char **id,
		     size_t *idlen)
{
	size_t n = strlen(prefix), stem;

	if (len <= n || memcmp(c, prefix, n))
		return false;
	if (!ends_with(c, len, ".scope", &stem))
		stem = len;
	*id = c + n;
	*idlen = stem - n;
	return is_id(*id, *idlen, false);
}

/* One component c[0..len) (prev: the component before it, or NULL). */
static const char *match(const char *c, size_t len, const char *prev, size_t prevlen,
			 const char **id, size_t *idlen)
{
	static const struct { const char *prefix, *runtime; } shapes[] = {
		{ "docker-", "docker" },
		{ "cri-containerd-", "containerd" },
		{ "crio-", "crio" },
		{ "libpod-", "podman" },
	};

	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		if (prefixed(c, len, shapes[i].prefix, id, idlen))
			return shapes[i].runtime;
	if (!prev || !is_id(c, len, false))
		return NULL;
	*id = c;
	*idlen = len;
	/* /docker/<id>; kubepods (cgroupfs driver): .../pod<uid>/<id> */
	if (prevlen == 6 && !memcmp(prev, "docker", 6))
		return "docker";
	if (prevlen > 3 && !memcmp(prev, "pod", 3) && is_id(prev + 3, prevlen - 3, true))
		return "kubepods";
	if (prevlen == 6 && !memcmp(prev, "libpod", 6))
		return "podman";
	return NULL;
}

void ks_cgpath_parse(const char *path, struct ks_cgpath *out)
{
	const char *comp[64];
	size_t lens[64], n = 0;

	memset(out, 0, sizeof(*out));
	for (const char *p = path; *p && n < 64;) {
		size_t len = strcspn(p, "/");

		if (len) {
			comp[n] = p;
			lens[n++] = len;
		}
		p += len;
		p += *p == '/';
	}
	for (size_t i = n; i-- > 0;) {
		const char *id;
		size_t idlen, stem;
		const char *rt = match(comp[i], lens[i], i ? comp[i - 1] : NULL,
				       i ? lens[i - 1] : 0, &id, &idlen);

		if (!out->unit[0] && (ends_with(comp[i], lens[i], ".scope", &stem) ||
				      ends_with(comp[i], lens[i], ".service", &stem)))
			snprintf(out->unit, sizeof(out->unit), "%.*s", (int)lens[i], comp[i]);
		if (rt && !out->runtime) {
			out->runtime = rt;
			snprintf(out->container_id, sizeof(out->container_id), "%.*s",
				 (int)idlen, id);
		}
	}
}
