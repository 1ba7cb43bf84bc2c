/* The kernel's BTF read and parsed once per process. libbpf parses it again for
 * every BPF object it loads (five or six in a recording), and sysfs hands the
 * 5 MiB file out a page per read: 20-30 ms each time, most of a recording's
 * start-up. These definitions of btf__load_vmlinux_btf and btf__free take the
 * place of libbpf's (libbpf calls both through the PLT): the first call reads
 * /sys/kernel/btf/vmlinux whole and parses it, every call returns that one
 * struct btf, and btf__free leaves it alone. libbpf only reads the kernel's BTF
 * (CO-RE relocations, attach points, split module BTF on top of it), so objects
 * loaded at the same time in several threads can share it. Where that file is
 * missing, libbpf's own is called. loader_prefetch_kernel_btf (record/loader.h)
 * starts that first call early, in a thread. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/btf.h>

#include "record/loader.h"
#include "util/grow.h"

#define SYSFS_BTF "/sys/kernel/btf/vmlinux"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct btf *shared; /* never freed: it lives as long as the process */
static int shared_err;     /* why it could not be read (then libbpf's is tried) */
static struct btf *published; /* shared, for btf__free to read without the lock */

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
	struct btf *b;

	pthread_mutex_lock(&lock);
	if (!shared && !shared_err) {
		void *raw = NULL;
		size_t len = 0;

		shared_err = slurp(SYSFS_BTF, &raw, &len);
		if (!shared_err) {
			/* btf__new copies the bytes */
			shared = btf__new(raw, len);
			shared_err = shared ? 0 : errno ? -errno : -EINVAL;
			free(raw);
		}
	}
	b = shared;
	__atomic_store_n(&published, b, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&lock);
	if (b)
		return b;
	libbpf_own = (struct btf *(*)(void))dlsym(RTLD_NEXT, "btf__load_vmlinux_btf");
	if (!libbpf_own) {
		errno = ENOSYS;
		return NULL;
	}
	return libbpf_own();
}

void btf__free(struct btf *btf)
{
	static void (*libbpf_own)(struct btf *);
	void (*own)(struct btf *) = __atomic_load_n(&libbpf_own, __ATOMIC_ACQUIRE);

	if (!btf || btf == __atomic_load_n(&published, __ATOMIC_ACQUIRE))
		return;
	if (!own) {
		own = (void (*)(struct btf *))dlsym(RTLD_NEXT, "btf__free");
		__atomic_store_n(&libbpf_own, own, __ATOMIC_RELEASE);
	}
	if (own)
		own(btf);
}

static void *prefetch(void *arg)
{
	(void)arg;
	btf__load_vmlinux_btf();
	return NULL;
}

void loader_prefetch_kernel_btf(void)
{
	pthread_attr_t a;
	pthread_t t;

	if (pthread_attr_init(&a))
		return;
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_create(&t, &a, prefetch, NULL); /* else the first load reads it */
	pthread_attr_destroy(&a);
}
