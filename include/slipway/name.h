/*
 * The names of slipway's words (docs/../DESIGN.md "The words"), one rule
 * each, for every module that takes one: the controller's store when it
 * records a name, the SSH server and the hooks when a push names an app,
 * the runner and the proxy when a request does, the builder when a
 * release names process types and config keys.  Each returns false for
 * NULL, for "" and for anything longer than its maximum; none allocates.
 * A name that passes is safe as one path component and in a URL path.
 */
#ifndef SLIPWAY_NAME_H
#define SLIPWAY_NAME_H

#include <stdbool.h>
#include <stdint.h>

#define NAME_APP_MAX 30        /* also groups */
#define NAME_USER_MAX 32
#define NAME_RUNNER_MAX 63     /* a host name label */
#define NAME_ENV_KEY_MAX 256
#define NAME_PROC_TYPE_MAX 30
#define NAME_PROC_TYPES_MAX 32  /* process types of one release */
#define NAME_SCALE_MAX 100      /* processes of one type */

/* The prefixes of users' API tokens and runners' server keys. */
#define NAME_TOKEN_PREFIX "slw_"
#define NAME_RUNNER_KEY_PREFIX "slr_"

/* An app: ^[a-z][a-z0-9-]{0,29}$ */
bool name_app_is_valid(const char *s);

/* A lower-case DNS name: labels of [a-z0-9-], 1-63 bytes, no edge
 * hyphen, at most 253 bytes in all. */
bool name_domain_is_valid(const char *s);

/* A deployment group: the app rule, ^[a-z][a-z0-9-]{0,29}$ */
bool name_group_is_valid(const char *s);

/* A user: ^[a-z][a-z0-9_.-]{0,31}$ */
bool name_user_is_valid(const char *s);

/* A runner (a host name): ^[a-z0-9][a-z0-9.-]{0,62}$ */
bool name_runner_is_valid(const char *s);

/* A config (environment) key: ^[A-Za-z_][A-Za-z0-9_]*$, at most
 * NAME_ENV_KEY_MAX bytes. */
bool name_env_key_is_valid(const char *s);

/* A process type slipway runs (web, worker, ...): ^[a-z][a-z0-9_-]{0,29}$ */
bool name_proc_type_is_valid(const char *s);

/* How a buildpack is named (buildpacks:add, .buildpacks, slipway.yml):
 * an installed name (^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$, a directory of
 * $SLIPWAY_HOME/buildpacks), or a URL (https://, http://, git://) of a
 * git repository or (http and https) a .tgz, .tar.gz or .tar, at most
 * NAME_BUILDPACK_MAX bytes, no spaces or control characters, with an
 * optional "#ref" of [A-Za-z0-9._/-] not starting with '-'.  Paths (and
 * file:// URLs) are never names: the builder runs as root, and a path
 * would have it copy any host directory into a build. */
#define NAME_BUILDPACK_MAX 512
/* Buildpacks one app may name (its list, slipway.yml, .buildpacks). */
#define NAME_BUILDPACKS_MAX 8
bool name_buildpack_is_valid(const char *s);
/* Is this a buildpack URL (one of the schemes above)? */
bool name_buildpack_is_url(const char *s);
/* 0 when name_buildpack_is_valid, else ERR_INVALID with one line: a
 * path (or file://) is said to be one, and refused as such. */
int name_buildpack_check(const char *s);
/* Is this an installed buildpack's name? */
bool name_buildpack_is_installed(const char *s);

/* A release version: "v12" or "12" -> 12; anything else (0, negative,
 * junk, overflow) is ERR_INVALID with a message naming s. */
int name_release_parse(int64_t *out, const char *s);

#endif
