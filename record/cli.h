/* What the commands share: their entry points (the table in main.c) and the one
 * way they report a failure to the user. Only commands print or pick exit codes. */
#ifndef KSIGHT_CLI_H
#define KSIGHT_CLI_H

int cmd_record(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_timeline(int argc, char **argv);

/* Prints "ksight: <message>\n" to stderr (one line; callers say what failed and
 * what to do). */
void ks_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Same, only with --debug. */
void ks_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern int ks_debug_enabled;

/* Exit codes of the commands other than record (which exits with the command's). */
#define KS_EXIT_OK 0
#define KS_EXIT_FAIL 1   /* the operation failed (damaged trace, I/O error) */
#define KS_EXIT_USAGE 2  /* bad flags or arguments */

#endif
