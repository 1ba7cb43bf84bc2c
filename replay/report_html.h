/* `ksight report --html`: the computed report as one self-contained page. */
#ifndef KSIGHT_REPLAY_REPORT_HTML_H
#define KSIGHT_REPLAY_REPORT_HTML_H

#include <stdio.h>

#include "replay/report.h"

/* Writes r as one HTML page to f: inline CSS, SVG charts drawn here and a little
 * inline script, under a default-src 'none' CSP, so that it fetches nothing.
 * Reads r's trace once more (syscalls per second, the state-dir timeline) before
 * the first byte is written. Returns 0, -ENOMEM, or the trace's error with
 * r->t->err set. */
int report_html(FILE *f, const struct report *r);

#endif
