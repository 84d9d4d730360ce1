/* The build lease's length; see include/slipway/lease.h. */
#include <stdlib.h>

#include "slipway/lease.h"
#include "slipway/parse.h"

unsigned
lease_build_secs(void)
{
	const char *env = getenv("SLIPWAY_BUILD_LEASE");
	unsigned long long v;

	if (env == NULL || parse_uint(&v, env, 2, 86400) < 0)
		return LEASE_BUILD_DEFAULT;
	return (unsigned)v;
}
