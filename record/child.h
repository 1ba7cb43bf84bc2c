/* The traced command: started held before exec, released once every probe is
 * attached, and reaped with its exit status. */
#ifndef KSIGHT_CHILD_H
#define KSIGHT_CHILD_H

#include <stddef.h>
#include <sys/types.h>

struct child {
	pid_t pid;
	int pidfd;      /* readable when the child has exited */
	int go_fd;      /* write end: one byte releases the child */
	int err_fd;     /* read end: errno of a failed exec, EOF on success */
};

/* Finds the program a command name runs, as execvp would (a name with a '/' as
 * it is, else the first executable regular file along $PATH), so that the search
 * happens before recording starts and the trace holds the command's one exec.
 * Returns 0 with the path in out, -ENOENT (not found: shells exit 127), -EACCES
 * (found, not executable: 126), -ENAMETOOLONG. */
int child_resolve(const char *name, char *out, size_t len);
/* Forks the command (path, from child_resolve, run with argv), which waits before
 * exec until child_release. With uid/gid not (uid_t)-1 the child drops to them
 * first (sudo's invoking user). The signal mask of the child is emptied. Returns 0
 * or a negative errno. */
int child_start(struct child *c, const char *path, char **argv, uid_t uid, gid_t gid);
/* Waits until the forked child sleeps in its wait for child_release (it may not
 * have run at all yet on a busy machine): from then on, every syscall it makes is
 * the command's, and tracing it sees none of its set-up after fork. Returns 0,
 * -ESRCH (it died), or -ETIMEDOUT after 2 s. */
int child_wait_parked(struct child *c);
/* Lets the child exec. Returns 0, or the negative errno of a failed exec. */
int child_release(struct child *c);
/* Waits for the child and returns its shell-style exit code (128+signal). */
int child_wait(struct child *c, int *wstatus);
/* Kills and reaps a child that was never released. */
void child_abort(struct child *c);

#endif
