/*
 * The build lease: what the builder that renews it and the controller
 * that expires it must agree on.  A builder renews its build's lease (any
 * update of the build) every third of it while it works; the controller
 * fails a build not heard from for a whole lease (store_build_expire).
 */
#ifndef SLIPWAY_LEASE_H
#define SLIPWAY_LEASE_H

#define LEASE_BUILD_DEFAULT 60

/* Seconds of a build's lease: SLIPWAY_BUILD_LEASE (2 to 86400) when set
 * and valid, else LEASE_BUILD_DEFAULT.  One environment (slipway up)
 * gives both sides the same. */
unsigned lease_build_secs(void);

#endif
