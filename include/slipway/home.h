/*
 * The paths under $SLIPWAY_HOME that more than one module uses, one rule
 * each (docs/../DESIGN.md "State on disk"):
 *
 *   slipway.db               the controller's store
 *   secret                   the registry token signing key
 *   registry/                the registry's root
 *   proxy.sock               the proxy's control socket
 *   git/<app>.git            an app's bare repository (.lock beside it)
 *   cache/<uid>/             an app's build cache
 *   builds/<uid>/<N>.log     an app's build logs (.log.part while written)
 *   stacks/<name>/           a stack's OCI image layout
 *   buildpacks/<name>/       an installed buildpack
 *   certs/                   TLS certificates, when there are any
 *   ssh/                     sshd's host key and service token
 *   up/                      `slipway up`'s service token and runner key
 *   proxy-routes.json        the proxy's saved routes
 *   slipway.conf             `slipway up`'s configuration
 *   .backup.XXXXXX/          a running backup's snapshot (backup/)
 *
 * Each path function takes the home it is under (a daemon's --home may
 * differ from the environment), joins with fs_join (one '/', even after a
 * home that ends in one), and returns a string the caller frees.  None
 * checks its arguments: app names and uids are validated where they come
 * in.
 */
#ifndef SLIPWAY_HOME_H
#define SLIPWAY_HOME_H

#include <stdbool.h>
#include <stdint.h>

/* $SLIPWAY_HOME, or /var/lib/slipway when it is unset or empty.  Points
 * into the environment or at a constant: not the caller's to free. */
const char *home_dir(void);

/* The home of a command with a --home option: given when it is not
 * NULL (the default when it is ""), home_dir() otherwise.  Not copied. */
const char *home_dir_option(const char *given);

char *home_store_path(const char *home);
char *home_secret_path(const char *home);
char *home_registry_dir(const char *home);
char *home_proxy_socket_path(const char *home);

/* git/, the directory of every app's repository and lock. */
char *home_repos_dir(const char *home);
char *home_repo_path(const char *home, const char *app);
char *home_repo_lock_path(const char *home, const char *app);

/* Keyed by the app's uid, never its name: a destroyed app's name may be
 * taken by someone else, who must not get its cache or its logs. */
char *home_cache_path(const char *home, const char *uid);
char *home_builds_dir(const char *home, const char *uid);
/* builds/<uid>/<number>.log, or .log.part while it is written. */
char *home_build_log_path(const char *home, const char *uid, int64_t number,
    bool partial);

/* stacks/, and stacks/<name>: a stack's OCI image layout. */
char *home_stacks_dir(const char *home);
char *home_stack_path(const char *home, const char *name);

/* buildpacks/, certs/, ssh/, up/, proxy-routes.json and slipway.conf
 * (above). */
char *home_buildpacks_dir(const char *home);
char *home_certs_dir(const char *home);
char *home_ssh_dir(const char *home);
char *home_up_dir(const char *home);
char *home_proxy_routes_path(const char *home);
char *home_config_path(const char *home);

/* The mkdtemp template of a backup's snapshot directory: inside the home,
 * so that it may hard-link the home's immutable files. */
char *home_backup_stage_template(const char *home);

#endif
