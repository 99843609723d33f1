/*
 * common/html_internal.h - what common/html.c shares with common/html_chart.c (the
 * run colours). Module-internal; never in include/.
 */
#ifndef KB_COMMON_HTML_INTERNAL_H
#define KB_COMMON_HTML_INTERNAL_H

/* the colour (#rrggbb) of a kb_html_run_class, the same in bars, charts and legends */
const char *kb_html__run_colour(int cls);

#endif
