/*
 * The SSH server's listener: host key, bind, accept, one forked process per
 * connection.  See include/slipway/sshd.h.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libssh/libssh.h>
#include <libssh/server.h>

#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/log.h"
#include "slipway/net.h"
#include "sshd_int.h"

static volatile sig_atomic_t sshd_live;

static void
sshd_on_sigchld(int sig)
{
	int saved = errno;

	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		sshd_live--;
	errno = saved;
}

int
sshd_key_fingerprint(char **out, ssh_key key)
{
	unsigned char *hash = NULL;
	size_t len = 0;
	char *fp;

	if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash,
	    &len) < 0)
		return err_set(ERR_INVALID, "cannot hash the key");
	fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, len);
	ssh_clean_pubkey_hash(&hash);
	if (fp == NULL)
		return err_set(ERR_INVALID, "cannot fingerprint the key");
	*out = xstrdup(fp);
	ssh_string_free_char(fp);
	return 0;
}

int
sshd_host_key_ensure(char **fingerprint, const char *path)
{
	ssh_key key = NULL;
	char *dir, *slash;
	int rc;

	if (!fs_exists(path)) {
		dir = xstrdup(path);
		if ((slash = strrchr(dir, '/')) != NULL) {
			*slash = '\0';
			rc = fs_mkdir_p(dir, 0700);
		} else {
			rc = 0;
		}
		free(dir);
		if (rc < 0)
			return rc;
		if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK)
			return err_set(ERR_IO, "cannot make an ed25519 host key");
		/* libssh writes the file itself; umask makes it 0600. */
		mode_t old = umask(077);
		rc = ssh_pki_export_privkey_file(key, NULL, NULL, NULL, path);
		umask(old);
		if (rc != SSH_OK) {
			ssh_key_free(key);
			return err_set(ERR_IO, "cannot write host key '%s'", path);
		}
		chmod(path, 0600);
	} else if (ssh_pki_import_privkey_file(path, NULL, NULL, NULL, &key) !=
	    SSH_OK) {
		return err_set(ERR_INVALID, "cannot read host key '%s'; remove "
		    "it to make a new one", path);
	}
	rc = sshd_key_fingerprint(fingerprint, key);
	ssh_key_free(key);
	return rc;
}

int
sshd_run(const struct sshd_opts *opts)
{
	struct sockaddr_in addr;
	struct sigaction sa;
	char host[32], port[8], *fp = NULL;
	unsigned max = opts->max_conns ? opts->max_conns : 64;
	unsigned bound = 0;
	ssh_bind bind = NULL;
	int rc, no = 0;

	if ((rc = net_addr_parse(&addr, opts->listen)) < 0)
		return rc;
	if ((rc = sshd_host_key_ensure(&fp, opts->host_key)) < 0)
		return rc;
	net_addr_format(host, sizeof(host), &addr);
	*strrchr(host, ':') = '\0';
	snprintf(port, sizeof(port), "%u", (unsigned)ntohs(addr.sin_port));

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sshd_on_sigchld;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);

	bind = ssh_bind_new();
	ssh_bind_options_set(bind, SSH_BIND_OPTIONS_PROCESS_CONFIG, &no);
	ssh_bind_options_set(bind, SSH_BIND_OPTIONS_BINDADDR, host);
	ssh_bind_options_set(bind, SSH_BIND_OPTIONS_BINDPORT_STR, port);
	if (ssh_bind_options_set(bind, SSH_BIND_OPTIONS_HOSTKEY,
	    opts->host_key) < 0) {
		rc = err_set(ERR_INVALID, "cannot use host key '%s': %s",
		    opts->host_key, ssh_get_error(bind));
		goto done;
	}
	if (ssh_bind_listen(bind) < 0) {
		rc = err_set(ERR_IO, "cannot listen on '%s': %s", opts->listen,
		    ssh_get_error(bind));
		goto done;
	}
	{
		struct sockaddr_in got;
		socklen_t len = sizeof(got);
		if (getsockname(ssh_bind_get_fd(bind), (struct sockaddr *)&got,
		    &len) == 0)
			bound = ntohs(got.sin_port);
	}
	log_info("listening on %s:%u, host key %s", host, bound, fp);
	if (opts->on_listen)
		opts->on_listen(bound, fp, opts->ctx);

	while (!(opts->stop && *opts->stop)) {
		ssh_session session = ssh_new();
		pid_t pid;

		if (ssh_bind_accept(bind, session) != SSH_OK) {
			if (!(opts->stop && *opts->stop))
				log_warnx("accept failed: %s",
				    ssh_get_error(bind));
			ssh_free(session);
			continue;
		}
		if ((unsigned)sshd_live >= max) {
			log_warnx("refusing a connection: %u connections open",
			    max);
			ssh_disconnect(session);
			ssh_free(session);
			continue;
		}
		if ((pid = fork()) < 0) {
			log_warn("cannot fork for a connection");
			ssh_disconnect(session);
			ssh_free(session);
			continue;
		}
		if (pid == 0) {
			signal(SIGCHLD, SIG_DFL);
			ssh_bind_free(bind);
			sshd_conn_serve(session, opts);
			_exit(0);
		}
		sshd_live++;
		/* The child owns the connection now. */
		ssh_free(session);
	}
	rc = 0;
done:
	ssh_bind_free(bind);
	free(fp);
	return rc;
}
