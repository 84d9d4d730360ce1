/* The monotonic clock in seconds; see include/slipway/clock.h. */
#include <time.h>

#include "slipway/clock.h"

double
clock_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
