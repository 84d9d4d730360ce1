/*
 * At most one log line per interval for one kind of event, so that what a
 * stranger can repeat (a refused connection, a cut one) cannot flood the
 * log; the events left out are counted in the next line.  Not locked: the
 * caller serializes (one thread, or its own mutex).
 */
#ifndef SLIPWAY_LOGRATE_H
#define SLIPWAY_LOGRATE_H

#include <stdbool.h>
#include <stddef.h>

struct lograte {
	double every;            /* seconds between lines */
	double last;             /* clock_mono() of the last line */
	bool logged;
	unsigned suppressed;     /* events since the last line, not logged */
};

/* One event at now (clock_mono()): true when a line is due, with
 * *suppressed the events left out since the previous one. */
bool lograte_due(unsigned *suppressed, struct lograte *r, double now);
/* " (and N more since the last such line)", or "" for N 0, into out. */
void lograte_more(char *out, size_t len, unsigned suppressed);

#endif
