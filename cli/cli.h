/* cli: the commands, on top of the record/ and replay/ libraries. What they share:
 * their entry points (the table in main.c), the exit codes, and util/log.h for the
 * one way they report a failure. Only commands parse options, print results and
 * pick exit codes. */
#ifndef KSIGHT_CLI_H
#define KSIGHT_CLI_H

#include "util/log.h"

int cmd_record(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_timeline(int argc, char **argv);
int cmd_stacks(int argc, char **argv);
int cmd_flame(int argc, char **argv);
int cmd_export(int argc, char **argv);


/* Exit codes of the commands other than record (which exits with the command's). */
#define KS_EXIT_OK 0
#define KS_EXIT_FAIL 1   /* the operation failed (damaged trace, I/O error) */
#define KS_EXIT_USAGE 2  /* bad flags or arguments */

#endif
