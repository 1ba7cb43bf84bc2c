/* The kernel's BTF read once per process. libbpf parses it again for every BPF
 * object it loads (five or six in a recording), and sysfs hands the 5 MiB file
 * out a page per read: 20-30 ms each time, most of a recording's start-up. This
 * definition of btf__load_vmlinux_btf takes the place of libbpf's (libbpf calls
 * it through the PLT): the first call reads /sys/kernel/btf/vmlinux whole, every
 * call returns a new struct btf parsed from those bytes in memory, as libbpf's
 * own would from the file. Where that file is missing, libbpf's is called. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/btf.h>

#include "util/grow.h"

#define SYSFS_BTF "/sys/kernel/btf/vmlinux"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *raw;
static size_t raw_len;

/* The whole file at path, in big reads. Returns 0 or a negative errno. */
static int slurp(const char *path, void **out, size_t *len)
{
	size_t n = 0, cap = 0;
	char *buf = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;
	struct stat st;

	if (fd < 0)
		return -errno;
	/* the size sysfs states, and one byte more to see the end in one go */
	err = KS_GROW(&buf, &cap, !fstat(fd, &st) && st.st_size > 0 ? (size_t)st.st_size + 1 : 1);
	for (; !err;) {
		ssize_t r;

		if (n == cap && (err = KS_GROW(&buf, &cap, n + 1)))
			break;
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (err || !n) {
		free(buf);
		return err ? err : -ENODATA;
	}
	*out = buf;
	*len = n;
	return 0;
}

struct btf *btf__load_vmlinux_btf(void)
{
	struct btf *(*libbpf_own)(void);
	struct btf *b = NULL;

	pthread_mutex_lock(&lock);
	if (!raw && slurp(SYSFS_BTF, &raw, &raw_len))
		raw = NULL;
	if (raw)
		b = btf__new(raw, raw_len);
	pthread_mutex_unlock(&lock);
	if (raw)
		return b; /* NULL with errno set, as libbpf's */
	libbpf_own = (struct btf *(*)(void))dlsym(RTLD_NEXT, "btf__load_vmlinux_btf");
	if (!libbpf_own) {
		errno = ENOSYS;
		return NULL;
	}
	return libbpf_own();
}
