/*
 * The client commands' table (include/slipway/client.h): one row per
 * command, in the order `slipway help` lists them, grouped by area; and
 * the ones a key may run over SSH.
 */
#include <stddef.h>
#include <string.h>

#include "client_int.h"
#include "slipway/client.h"

const struct cmdline_command client_commands[] = {
	{ "login", client_cmd_login, "URL TOKEN",
	  "check TOKEN against the controller at URL and save both",
	  "Writes $SLIPWAY_CONFIG (default ~/.config/slipway/config, mode\n"
	  "0600).  SLIPWAY_URL and SLIPWAY_TOKEN, when set, override it.\n" },
	{ "apps", client_cmd_apps, "[--json]",
	  "list the apps you may see", NULL },
	{ "apps:list", client_cmd_apps, "[--json]",
	  "the same as apps (Dokku's name)", NULL },
	{ "apps:create", client_cmd_apps_create,
	  "NAME [--group G]... [--branch B]",
	  "create an app (in group default unless --group)", NULL },
	{ "apps:destroy", client_cmd_apps_destroy, "NAME --confirm NAME",
	  "destroy an app with its config, builds and releases", NULL },
	{ "apps:info", client_cmd_apps_info, "APP [--json]",
	  "show an app", NULL },
	{ "apps:rename", client_cmd_apps_rename, "APP NEWNAME",
	  "rename an app, its images, repository and routes",
	  "The images are tagged into the registry repository of the new\n"
	  "name (mounted, nothing uploaded) and the old one's deleted; the\n"
	  "processes start again under the new name, served at its host.\n"
	  "Refused while a build of the app runs.  The git remote changes:\n"
	  "'slipway git:remote NEWNAME' sets yours.\n" },
	{ "apps:share", client_cmd_apps_share, "APP USER",
	  "make USER a collaborator on APP", NULL },
	{ "apps:unshare", client_cmd_apps_unshare, "APP USER",
	  "remove a collaborator from APP", NULL },
	{ "maintenance", client_cmd_maintenance, "APP [--json]",
	  "say whether APP is in maintenance mode", NULL },
	{ "maintenance:on", client_cmd_maintenance_on, "APP [--json]",
	  "answer APP's requests with a 503 maintenance page", NULL },
	{ "maintenance:off", client_cmd_maintenance_off, "APP [--json]",
	  "pass APP's requests to it again", NULL },
	{ "git:set", client_cmd_git_set, "APP deploy-branch BRANCH [--json]",
	  "make BRANCH the one whose pushes deploy APP",
	  "A push of another branch is refused, with this command in the\n"
	  "message.  An app with no code yet takes main or master, whichever\n"
	  "its first push brings.\n" },
	{ "git:remote", client_cmd_git_remote, "APP [-r REMOTE]",
	  "add (or point) git remote REMOTE (default deploy) of the current "
	  "repository at APP", NULL },
	{ "domains", client_cmd_domains, "APP [--json]",
	  "list an app's domains", NULL },
	{ "domains:add", client_cmd_domains_add, "APP DOMAIN",
	  "route DOMAIN to APP", NULL },
	{ "domains:remove", client_cmd_domains_remove, "APP DOMAIN",
	  "stop routing DOMAIN to APP", NULL },
	{ "config", client_cmd_config, "APP [--json]",
	  "show an app's config vars as KEY=VALUE", NULL },
	{ "config:show", client_cmd_config, "APP [--json]",
	  "the same as config (Dokku's name)", NULL },
	{ "config:get", client_cmd_config_get, "APP KEY [--json]",
	  "print one config var's value (exit 1 when it is not set)", NULL },
	{ "config:set", client_cmd_config_set, "APP KEY=VALUE...",
	  "set config vars (one new release)", NULL },
	{ "config:unset", client_cmd_config_unset, "APP KEY...",
	  "unset config vars (one new release)", NULL },
	{ "releases", client_cmd_releases, "APP [--limit N] [--json]",
	  "list an app's releases, newest first", NULL },
	{ "releases:info", client_cmd_releases_info, "APP vN [--json]",
	  "show one release with its config", NULL },
	{ "releases:rollback", client_cmd_rollback, "APP [vN]",
	  "make a new release with vN's build and config (default: the one "
	  "before)", NULL },
	{ "rollback", client_cmd_rollback, "APP [vN]",
	  "the same as releases:rollback", NULL },
	{ "ps", client_cmd_ps, "APP [--json]",
	  "show an app's formation and where its containers run", NULL },
	{ "ps:scale", client_cmd_ps_scale, "APP TYPE=N...",
	  "set how many processes of each type run", NULL },
	{ "ps:stop", client_cmd_ps_stop, "APP [--json]",
	  "stop every process of APP, keeping the counts for ps:start", NULL },
	{ "ps:start", client_cmd_ps_start, "APP [--json]",
	  "start APP's processes again with the counts ps:stop kept", NULL },
	{ "ps:restart", client_cmd_ps_restart,
	  "APP [TYPE] [--timeout SECS] [--no-wait]",
	  "restart an app's containers one by one, each new one healthy "
	  "before the old stops",
	  "Waits until every runner has restarted its containers (default\n"
	  "300 s).  Also retries a release that failed its health check.\n" },
	{ "releases:wait", client_cmd_releases_wait,
	  "APP [vN] [--timeout SECS] [--json]",
	  "wait until a release (default: the current one) is live, and "
	  "print its URL",
	  "Exits 1 with the reason when the release failed (the health\n"
	  "check's last answer), was superseded, or is not live in SECS\n"
	  "(default 300).\n" },
	{ "run", client_cmd_run,
	  "[--timeout SECS] [--detach] APP -- COMMAND...",
	  "run a one-off container of the current release and stream its "
	  "output",
	  "Exits with the command's status.  One word is a shell command\n"
	  "line ('echo $PORT'); several are a command and its arguments.\n"
	  "--detach prints the one-off's id and returns; run:output shows\n"
	  "its output.\n" },
	{ "run:detached", client_cmd_run, "[--timeout SECS] APP -- COMMAND...",
	  "the same as run --detach", NULL },
	{ "run:output", client_cmd_run_output, "APP ID [--timeout SECS]",
	  "print a one-off's output from the start, following it until it "
	  "ends", NULL },
	{ "logs", client_cmd_logs,
	  "APP [-n N] [-f|--tail] [--process TYPE] [--source router|app]",
	  "show an app's logs (last N lines, default 100); -f follows",
	  "--process web shows every web.N; web.1 only that one.\n"
	  "--source router shows the proxy's line for each request (method,\n"
	  "path, status, bytes, service time); app only the app's output.\n" },
	{ "buildpacks", client_cmd_buildpacks, "APP [--json]",
	  "list the app's buildpacks (used when its tree names none)", NULL },
	{ "buildpacks:add", client_cmd_buildpacks_add,
	  "APP URL [--index N] [--json]",
	  "add a buildpack (at position N, else last)",
	  "URL is an installed buildpack's name, a git URL (#ref optional)\n"
	  "or an http(s) tarball URL; never a path.  The app's list is used\n"
	  "when its tree has no .buildpacks and no slipway.yml buildpacks.\n" },
	{ "buildpacks:set", client_cmd_buildpacks_set,
	  "APP URL [--index N] [--json]",
	  "replace buildpack N with URL (no --index: URL becomes the only one)",
	  NULL },
	{ "buildpacks:remove", client_cmd_buildpacks_remove,
	  "APP URL|--index N [--json]", "remove a buildpack from the app's list",
	  NULL },
	{ "buildpacks:clear", client_cmd_buildpacks_clear, "APP [--json]",
	  "empty the app's buildpack list", NULL },
	{ "stack:set", client_cmd_stack_set, "APP NAME|--default [--json]",
	  "build and run APP on stack NAME (`slipway stacks`) from its next "
	  "build",
	  "slipway.yml's stack: wins over it.  --default: the home's default\n"
	  "stack again.\n" },
	{ "repo:purge-cache", client_cmd_repo_purge_cache, "APP [--json]",
	  "drop APP's build cache (buildpacks start afresh next build)",
	  NULL },
	{ "builds", client_cmd_builds, "APP [--json]",
	  "list an app's builds", NULL },
	{ "builds:info", client_cmd_builds_info, "APP BUILD [--json]",
	  "show one build", NULL },
	{ "builds:create", client_cmd_builds_create,
	  "APP [--rev REV] [--detach] [--json]",
	  "build the deploy branch (or REV) on the server and follow its log "
	  "(for CI)",
	  "The controller runs the same pipeline as a push on the app's\n"
	  "repository, as you.  The log is printed as it comes; the exit\n"
	  "status is 0 when the build succeeded (and made a release).\n"
	  "--detach (and --json) print the build and return at once.\n" },
	{ "builds:log", client_cmd_builds_log, "APP BUILD [-f]",
	  "print a build's log (-f: follow it until the build ends)", NULL },
	{ "keys", client_cmd_keys, "[--user U] [--json]",
	  "list SSH keys (yours; all for admins)", NULL },
	{ "keys:add", client_cmd_keys_add, "[--user U] FILE|-",
	  "add an OpenSSH public key (from FILE or stdin)", NULL },
	{ "keys:remove", client_cmd_keys_remove, "FINGERPRINT",
	  "remove an SSH key by its SHA256:... fingerprint", NULL },
	{ "users", client_cmd_users, "[--json]",
	  "list users (admin)", NULL },
	{ "users:add", client_cmd_users_add, "NAME [--admin]",
	  "add a user (admin); new users may deploy to group default", NULL },
	{ "users:remove", client_cmd_users_remove, "NAME",
	  "remove a user who owns no apps (admin)", NULL },
	{ "tokens", client_cmd_tokens, "[--user U] [--json]",
	  "list API tokens (not their secrets)", NULL },
	{ "tokens:create", client_cmd_tokens_create,
	  "[--user U] [--label L]",
	  "make an API token and print it once", NULL },
	{ "tokens:revoke", client_cmd_tokens_revoke, "ID",
	  "revoke an API token", NULL },
	{ "groups", client_cmd_groups, "[--json]",
	  "list deployment groups with their apps, users and runners", NULL },
	{ "groups:create", client_cmd_groups_create, "NAME",
	  "create a deployment group (admin)", NULL },
	{ "groups:add-app", client_cmd_groups_add_app, "GROUP APP",
	  "deploy APP to GROUP too", NULL },
	{ "groups:remove-app", client_cmd_groups_remove_app, "GROUP APP",
	  "stop deploying APP to GROUP", NULL },
	{ "groups:add-user", client_cmd_groups_add_user, "GROUP USER",
	  "let USER deploy to GROUP (admin)", NULL },
	{ "groups:remove-user", client_cmd_groups_remove_user, "GROUP USER",
	  "stop USER deploying to GROUP (admin)", NULL },
	{ "runners", client_cmd_runners, "[--json]",
	  "list runners with their group and heartbeat (admin)", NULL },
	{ "runners:add", client_cmd_runners_add, "NAME [--group G]",
	  "add a runner and print its server key once (admin)", NULL },
	{ "runners:remove", client_cmd_runners_remove, "NAME",
	  "remove a runner (admin)", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

/* keys:add over SSH: the CLI's reads FILE, which there would be a file of
 * the server's, read with its authority. */
static const struct cmdline_command ssh_keys_add = {
	"keys:add", client_cmd_keys_add_stdin, "[--user U] < KEY.pub",
	"add an OpenSSH public key read from stdin", NULL,
};

/* The client rows that do not run over SSH as they are: each is a form
 * there, or (form NULL) not offered.  Every other row is, in the CLI's
 * order: the SSH command set is the CLI's, from this one table, and the
 * controller decides what the session's user may do, as for the CLI.
 * Every row offered opens no path it is given (t0406 tries each with
 * one). */
static const struct {
	const char *name;
	const struct cmdline_command *form;
} ssh_forms[] = {
	{ "login", NULL },      /* writes the CLI's config file */
	{ "git:remote", NULL }, /* runs git in the caller's repository */
	{ "keys:add", &ssh_keys_add },
};

/* Row c as it runs over SSH: itself, its form, or NULL. */
static const struct cmdline_command *
ssh_row(const struct cmdline_command *c)
{
	for (size_t i = 0; i < sizeof(ssh_forms) / sizeof(ssh_forms[0]); i++)
		if (strcmp(ssh_forms[i].name, c->name) == 0)
			return ssh_forms[i].form;
	return c;
}

const struct cmdline_command *
client_command_find(const char *name)
{
	for (const struct cmdline_command *c = client_commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

const struct cmdline_command *
client_ssh_at(size_t i)
{
	for (const struct cmdline_command *c = client_commands; c->name; c++) {
		const struct cmdline_command *r = ssh_row(c);
		if (r && i-- == 0)
			return r;
	}
	return NULL;
}

const struct cmdline_command *
client_ssh_find(const char *name)
{
	const struct cmdline_command *c = client_command_find(name);

	return c ? ssh_row(c) : NULL;
}
