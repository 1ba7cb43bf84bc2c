/* Giving up privileges once the probes are attached. */
#ifndef KSIGHT_PRIVS_H
#define KSIGHT_PRIVS_H

/* Drops every capability from the effective, permitted and inheritable sets but
 * those the rest of a recording needs (signalling and reading a command that runs
 * as another user). Open fds (maps, ring buffer, trace) stay usable. Returns 0 or
 * a negative errno. */
int privs_drop_after_attach(void);

#endif
