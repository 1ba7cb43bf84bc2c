/* util: what a cgroup v2 path says about its owner: the container id in the
 * path shapes of docker, containerd (CRI), CRI-O, podman and kubepods, and the
 * systemd unit (a *.scope or *.service). Shared by the recorder (the exec hook's
 * environment) and the replay (report cgroups[]). */
#ifndef KSIGHT_UTIL_CGPATH_H
#define KSIGHT_UTIL_CGPATH_H

#include <stddef.h>

struct ks_cgpath {
	const char *runtime;  /* "docker", "containerd", "crio", "podman", "kubepods" or NULL */
	char container_id[128]; /* "" when no container shape matched */
	char unit[128];         /* the innermost *.scope / *.service, or "" */
};

/* Parses path ("/system.slice/docker-<64hex>.scope", ...) into *out; the
 * innermost component that has a container shape wins. Never fails. */
void ks_cgpath_parse(const char *path, struct ks_cgpath *out);

#endif
