#ifndef SLIPWAY_CLOCK_H
#define SLIPWAY_CLOCK_H

/* Seconds on the monotonic clock (CLOCK_MONOTONIC), for timeouts,
 * deadlines and durations: never steps with the wall clock. */
double clock_mono(void);

#endif
