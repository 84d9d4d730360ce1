/*
 * Parsing the command line git's ssh transport sends, strictly: the only
 * forms accepted are what git itself produces.  See hooks_git_command_parse
 * in include/slipway/hooks.h.
 */
#include <stdlib.h>
#include <string.h>

#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/hooks.h"
#include "slipway/name.h"

int
hooks_git_command_parse(const char **service, char **app, const char *cmd)
{
	static const char *const services[] = { "git-receive-pack",
	    "git-upload-pack" };
	const char *arg = NULL, *end;
	char name[64];
	size_t n;

	for (int i = 0; i < 2; i++) {
		size_t len = strlen(services[i]);
		/* "git-receive-pack ARG" or "git receive-pack ARG" */
		if (strncmp(cmd, services[i], len) == 0 && cmd[len] == ' ')
			arg = cmd + len + 1;
		else if (strncmp(cmd, "git ", 4) == 0 &&
		    strncmp(cmd + 4, services[i] + 4, len - 4) == 0 &&
		    cmd[len] == ' ')
			arg = cmd + len + 1;
		if (arg) {
			*service = services[i];
			break;
		}
	}
	if (arg == NULL)
		return err_set(ERR_NOTFOUND, "not a git command");
	/* git quotes the path in single quotes; a quote inside it could
	 * only come from a hostile client, so none is accepted. */
	n = strlen(arg);
	if (n >= 2 && arg[0] == '\'' && arg[n - 1] == '\'') {
		arg++;
		n -= 2;
	}
	if (n > 0 && arg[0] == '/') {
		arg++;
		n--;
	}
	end = arg + n;
	if (n >= 4 && strncmp(end - 4, ".git", 4) == 0)
		n -= 4;
	if (n == 0 || n >= sizeof(name))
		return err_set(ERR_INVALID, "'%.80s' is not an app repository;"
		    " use APP.git", cmd);
	memcpy(name, arg, n);
	name[n] = '\0';
	if (!name_app_is_valid(name))
		return err_set(ERR_INVALID, "'%.80s' is not a valid app name: "
		    "lower-case letters, digits and '-', starting with a "
		    "letter, at most 30", name);
	*app = xstrdup(name);
	return 0;
}
