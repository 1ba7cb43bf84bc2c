/* Capabilities through capget/capset directly: three sets of 64 bits. */
#include <errno.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "record/privs.h"

/* What a recording still needs once its probes are attached. */
static const int keep[] = {
	CAP_KILL,            /* forward SIGINT/SIGTERM to a command run as another user */
	CAP_SYS_PTRACE,      /* read /proc/PID/io of such a command */
	CAP_DAC_READ_SEARCH, /* read the files it changes under state dirs */
};

int privs_drop_after_attach(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { 0 };
	struct __user_cap_data_struct want[2] = { 0 };

	if (syscall(SYS_capget, &hdr, data))
		return -errno;
	for (unsigned i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		unsigned w = keep[i] / 32, bit = 1u << (keep[i] % 32);

		want[w].effective |= data[w].effective & bit;
		want[w].permitted |= data[w].permitted & bit;
	}
	if (syscall(SYS_capset, &hdr, want))
		return -errno;
	/* nothing this process execs later may get capabilities back */
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	return 0;
}
