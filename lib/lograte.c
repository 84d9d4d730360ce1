/* At most one log line per interval; see include/slipway/lograte.h. */
#include <stdio.h>

#include "slipway/lograte.h"

bool
lograte_due(unsigned *suppressed, struct lograte *r, double now)
{
	if (r->logged && now - r->last < r->every) {
		r->suppressed++;
		return false;
	}
	*suppressed = r->suppressed;
	r->suppressed = 0;
	r->last = now;
	r->logged = true;
	return true;
}

void
lograte_more(char *out, size_t len, unsigned suppressed)
{
	if (suppressed)
		snprintf(out, len, " (and %u more since the last such line)",
		    suppressed);
	else if (len)
		out[0] = '\0';
}
