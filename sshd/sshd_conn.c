/*
 * One SSH connection, in its own process: key exchange, public-key
 * authentication through the lookup callback, one session channel with one
 * exec request, and the program of opts->exec_argv piped to the channel.
 * Every other request is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>

#include "slipway/clock.h"
#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/log.h"
#include "slipway/proc.h"
#include "sshd_int.h"

#define SSHD_AUTH_TRIES 6
#define SSHD_CMD_MAX 4096

extern char **environ;

/* Invariants: user is set iff a key was verified; child.pid > 0 while the
 * program runs; out_fd/err_fd are -1 once drained to EOF. */
struct sshd_conn {
	const struct sshd_opts *o;
	ssh_session session;
	ssh_channel channel;
	ssh_event event;
	struct ssh_server_callbacks_struct scb;
	struct ssh_channel_callbacks_struct ccb;
	char *user;
	char *fingerprint;
	char *probed_fp;        /* key accepted in the probe step */
	int tries;
	bool exec_started;
	bool channel_eof;       /* the client sent EOF */
	bool channel_closed;
	struct proc child;
	int status;
	bool exited;
	void *sess;             /* from session_begin */
	bool session_open;
	int notify_fd;          /* to the listener: -1 once told */
};

/* libssh calls this twice per key: first to ask whether the key would do
 * (state NONE), then with a signature it has checked (state VALID). */
static int
sshd_auth_pubkey(ssh_session session, const char *user, ssh_key pubkey,
    char state, void *userdata)
{
	struct sshd_conn *c = userdata;
	char *fp = NULL, *who = NULL;
	int rc;

	(void)session;
	(void)user;   /* the SSH user name ("git") says nothing: keys do */
	if (++c->tries > SSHD_AUTH_TRIES)
		return SSH_AUTH_DENIED;
	if (state != SSH_PUBLICKEY_STATE_NONE &&
	    state != SSH_PUBLICKEY_STATE_VALID)
		return SSH_AUTH_DENIED;
	if (sshd_key_fingerprint(&fp, pubkey) < 0)
		return SSH_AUTH_DENIED;
	if (state == SSH_PUBLICKEY_STATE_NONE && c->probed_fp &&
	    strcmp(fp, c->probed_fp) == 0) {
		free(fp);
		return SSH_AUTH_SUCCESS;
	}
	rc = c->o->lookup(&who, fp, c->o->lookup_ctx);
	if (rc < 0) {
		if (rc != ERR_NOTFOUND)
			log_warnx("cannot check key %s: %s", fp, err_last());
		else
			log_info("refused unknown key %s", fp);
		free(fp);
		return SSH_AUTH_DENIED;
	}
	if (state == SSH_PUBLICKEY_STATE_NONE) {
		free(c->probed_fp);
		c->probed_fp = fp;
		free(who);
		return SSH_AUTH_SUCCESS;
	}
	free(c->user);
	free(c->fingerprint);
	c->user = who;
	c->fingerprint = fp;
	log_info("user '%s' authenticated with key %s", who, fp);
	/* The listener counts us as a user from now on (sshd_limit.c). */
	if (c->notify_fd >= 0) {
		(void)write(c->notify_fd, "a", 1);
		c->notify_fd = -1;
	}
	return SSH_AUTH_SUCCESS;
}

static int
sshd_refuse_password(ssh_session s, const char *u, const char *p, void *ud)
{
	(void)s; (void)u; (void)p; (void)ud;
	return SSH_AUTH_DENIED;
}

static int
sshd_refuse_none(ssh_session s, const char *u, void *ud)
{
	(void)s; (void)u; (void)ud;
	return SSH_AUTH_DENIED;
}

static int
sshd_channel_data(ssh_session s, ssh_channel ch, void *data, uint32_t len,
    int is_stderr, void *userdata)
{
	struct sshd_conn *c = userdata;

	(void)s; (void)ch; (void)is_stderr;
	if (c->child.in < 0)
		return (int)len;   /* nobody to give it to: drop */
	if (proc_write_all(c->child.in, data, len) < 0) {
		close(c->child.in);
		c->child.in = -1;
	}
	return (int)len;
}

static void
sshd_channel_eof(ssh_session s, ssh_channel ch, void *userdata)
{
	struct sshd_conn *c = userdata;

	(void)s; (void)ch;
	c->channel_eof = true;
	if (c->child.in >= 0) {
		close(c->child.in);
		c->child.in = -1;
	}
}

static void
sshd_channel_close(ssh_session s, ssh_channel ch, void *userdata)
{
	struct sshd_conn *c = userdata;

	(void)s; (void)ch;
	c->channel_closed = true;
}

static int
sshd_refuse_pty(ssh_session s, ssh_channel ch, const char *term, int w,
    int h, int pw, int ph, void *ud)
{
	(void)s; (void)ch; (void)term; (void)w; (void)h; (void)pw; (void)ph;
	(void)ud;
	log_info("refused a pty request");
	return -1;
}

static int
sshd_refuse_subsystem(ssh_session s, ssh_channel ch, const char *name,
    void *ud)
{
	(void)s; (void)ch; (void)ud;
	log_info("refused subsystem '%s'", name);
	return -1;
}

static int
sshd_refuse_env(ssh_session s, ssh_channel ch, const char *name,
    const char *value, void *ud)
{
	(void)s; (void)ch; (void)name; (void)value; (void)ud;
	return -1;
}

/* The environment of the exec'd program: ours, minus anything it sets,
 * plus the server's extra and the session's variables. */
static char **
sshd_child_env(struct sshd_conn *c, const char *command, char **session_env)
{
	size_t n = 0, k = 0, extra = 0, sess = 0;
	char **env;

	while (environ[n])
		n++;
	while (c->o->extra_env && c->o->extra_env[extra])
		extra++;
	while (session_env && session_env[sess])
		sess++;
	env = xcalloc(n + extra + sess + 4, sizeof(*env));
	for (size_t i = 0; i < n; i++) {
		if (strncmp(environ[i], "SSH_ORIGINAL_COMMAND=", 21) == 0 ||
		    strncmp(environ[i], "SLIPWAY_SSH_", 12) == 0)
			continue;
		env[k++] = xstrdup(environ[i]);
	}
	for (size_t i = 0; i < extra; i++)
		env[k++] = xstrdup(c->o->extra_env[i]);
	for (size_t i = 0; i < sess; i++)
		env[k++] = xstrdup(session_env[i]);
	env[k++] = xasprintf("SSH_ORIGINAL_COMMAND=%s", command);
	env[k++] = xasprintf("SLIPWAY_SSH_USER=%s", c->user);
	env[k++] = xasprintf("SLIPWAY_SSH_FINGERPRINT=%s", c->fingerprint);
	return env;
}

static void
sshd_env_free(char **env)
{
	for (size_t i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}

static int
sshd_channel_exec(ssh_session s, ssh_channel ch, const char *command,
    void *userdata)
{
	struct sshd_conn *c = userdata;
	struct proc_opts po = { .flags = PROC_PIPE_IN | PROC_PIPE_OUT |
	    PROC_PIPE_ERR };
	char **env, **session_env = NULL;
	int rc;

	(void)s; (void)ch;
	if (c->exec_started || c->user == NULL)
		return -1;
	if (strlen(command) > SSHD_CMD_MAX) {
		log_info("refused a command of %zu bytes", strlen(command));
		return -1;
	}
	if (c->o->session_begin && !c->session_open) {
		if (c->o->session_begin(&session_env, &c->sess, c->user,
		    c->fingerprint, c->o->session_ctx) < 0) {
			log_warnx("cannot open a session for '%s': %s",
			    c->user, err_last());
			return -1;
		}
		c->session_open = true;
	}
	env = sshd_child_env(c, command, session_env);
	sshd_env_free(session_env);
	po.env = env;
	rc = proc_spawn(&c->child, c->o->exec_argv, &po);
	sshd_env_free(env);
	if (rc < 0) {
		log_warnx("cannot run the command handler: %s", err_last());
		return -1;
	}
	log_info("user '%s' runs '%.200s'", c->user, command);
	fcntl(c->child.out, F_SETFL, O_NONBLOCK);
	fcntl(c->child.err, F_SETFL, O_NONBLOCK);
	c->exec_started = true;
	return 0;
}

/* `ssh git@HOST` with no command: there is no shell, but the empty
 * help (hooks/ssh_admin.c) beats "shell request failed on channel 0". */
static int
sshd_channel_shell(ssh_session s, ssh_channel ch, void *userdata)
{
	return sshd_channel_exec(s, ch, "help", userdata);
}

static ssh_channel
sshd_channel_open(ssh_session session, void *userdata)
{
	struct sshd_conn *c = userdata;

	if (c->channel != NULL || c->user == NULL)
		return NULL;
	c->channel = ssh_channel_new(session);
	memset(&c->ccb, 0, sizeof(c->ccb));
	c->ccb.userdata = c;
	c->ccb.channel_data_function = sshd_channel_data;
	c->ccb.channel_eof_function = sshd_channel_eof;
	c->ccb.channel_close_function = sshd_channel_close;
	c->ccb.channel_pty_request_function = sshd_refuse_pty;
	c->ccb.channel_shell_request_function = sshd_channel_shell;
	c->ccb.channel_subsystem_request_function = sshd_refuse_subsystem;
	c->ccb.channel_env_request_function = sshd_refuse_env;
	/* Agent and X11 requests have no callback, so libssh refuses them. */
	c->ccb.channel_exec_request_function = sshd_channel_exec;
	ssh_callbacks_init(&c->ccb);
	ssh_set_channel_callbacks(c->channel, &c->ccb);
	return c->channel;
}

/* Copy what the program wrote on fd to the channel; -1 at EOF. */
static int
sshd_pump(struct sshd_conn *c, int *fd, bool is_stderr)
{
	char chunk[16384];
	ssize_t n;

	if (*fd < 0)
		return -1;
	n = read(*fd, chunk, sizeof(chunk));
	if (n > 0) {
		if (is_stderr)
			ssh_channel_write_stderr(c->channel, chunk,
			    (uint32_t)n);
		else
			ssh_channel_write(c->channel, chunk, (uint32_t)n);
		return 0;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	close(*fd);
	*fd = -1;
	return -1;
}

/* Wait for auth, a channel and its exec request, within the grace time. */
static int
sshd_conn_setup(struct sshd_conn *c)
{
	unsigned grace = c->o->login_grace_sec ? c->o->login_grace_sec : 30;
	double deadline = clock_mono() + grace;

	while (!c->exec_started) {
		if (clock_mono() > deadline)
			return err_set(ERR_TIMEOUT, "no command within %us",
			    grace);
		if (ssh_event_dopoll(c->event, 500) == SSH_ERROR ||
		    !ssh_is_connected(c->session) || c->channel_closed)
			return err_set(ERR_IO, "client went away");
	}
	return 0;
}

/* Pipe the program and the channel until the program ends and its output
 * is drained. */
static void
sshd_conn_pipe(struct sshd_conn *c)
{
	unsigned ka = c->o->keepalive_sec ? c->o->keepalive_sec : 15;
	double next_ka = clock_mono() + ka;

	while (c->child.out >= 0 || c->child.err >= 0) {
		/* The client's socket too: data from it (a pack being pushed)
		 * must wake us at once, not at the next timeout. */
		struct pollfd pfd[3] = {
			{ .fd = c->child.out, .events = POLLIN },
			{ .fd = c->child.err, .events = POLLIN },
			{ .fd = ssh_get_fd(c->session), .events = POLLIN },
		};
		int n = poll(pfd, 3, 1000);

		/* Let libssh read the client (stdin data, EOF, close). */
		if (ssh_event_dopoll(c->event, 0) == SSH_ERROR ||
		    c->channel_closed)
			break;
		if (n > 0) {
			if (pfd[0].revents)
				sshd_pump(c, &c->child.out, false);
			if (pfd[1].revents)
				sshd_pump(c, &c->child.err, true);
		}
		/* Keep idle-timeouts on the way from cutting a long build. */
		if (clock_mono() > next_ka) {
			ssh_send_keepalive(c->session);
			next_ka = clock_mono() + ka;
		}
	}
	if (c->channel_closed || !ssh_is_connected(c->session)) {
		/* The client left: stop the program rather than let it run
		 * on with nobody to read it. */
		kill(c->child.pid, SIGTERM);
	}
	c->status = proc_wait(&c->child);
	c->exited = true;
}

void
sshd_conn_serve(ssh_session session, const struct sshd_opts *opts,
    int notify_fd)
{
	struct sshd_conn c = { .o = opts, .session = session,
	    .child = { .pid = -1, .in = -1, .out = -1, .err = -1 },
	    .notify_fd = notify_fd };
	/* The key exchange is before authentication: its grace is the short
	 * one (the listener ends us at that too); after it, blocking calls
	 * get the login grace, as before there was a short one. */
	long timeout = opts->unauth_grace_sec ? opts->unauth_grace_sec : 10;
	long grace = opts->login_grace_sec ? opts->login_grace_sec : 30;

	ssh_options_set(session, SSH_OPTIONS_TIMEOUT, &timeout);
	c.scb.userdata = &c;
	c.scb.auth_pubkey_function = sshd_auth_pubkey;
	c.scb.auth_password_function = sshd_refuse_password;
	c.scb.auth_none_function = sshd_refuse_none;
	c.scb.channel_open_request_session_function = sshd_channel_open;
	ssh_callbacks_init(&c.scb);
	ssh_set_server_callbacks(session, &c.scb);
	ssh_set_auth_methods(session, SSH_AUTH_METHOD_PUBLICKEY);

	if (ssh_handle_key_exchange(session) != SSH_OK) {
		log_info("key exchange failed: %s", ssh_get_error(session));
		goto done;
	}
	ssh_options_set(session, SSH_OPTIONS_TIMEOUT, &grace);
	c.event = ssh_event_new();
	ssh_event_add_session(c.event, session);
	if (sshd_conn_setup(&c) < 0) {
		log_info("connection ended before a command: %s", err_last());
		goto done;
	}
	sshd_conn_pipe(&c);
	if (!c.channel_closed && ssh_is_connected(session)) {
		ssh_channel_request_send_exit_status(c.channel,
		    c.status < 0 ? 255 : c.status);
		ssh_channel_send_eof(c.channel);
		ssh_channel_close(c.channel);
		/* Give the client a moment to read everything and close. */
		for (int i = 0; i < 20 && !c.channel_closed &&
		    ssh_is_connected(session); i++)
			ssh_event_dopoll(c.event, 100);
	}
done:
	if (c.child.pid > 0) {
		kill(c.child.pid, SIGTERM);
		proc_wait(&c.child);
	}
	/* After the command is gone: its session ends with it. */
	if (c.session_open && opts->session_end)
		opts->session_end(c.sess, opts->session_ctx);
	if (c.event) {
		ssh_event_remove_session(c.event, session);
		ssh_event_free(c.event);
	}
	if (c.channel)
		ssh_channel_free(c.channel);
	ssh_disconnect(session);
	ssh_free(session);
	free(c.user);
	free(c.fingerprint);
	free(c.probed_fp);
}
