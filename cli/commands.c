/*
 * The command table: one row per command, in the order `slipway help`
 * lists them.  Keep rows grouped by area.  The client commands are
 * client/'s table (client_commands), listed between cli_first and
 * cli_rest.
 */
#include <stddef.h>

#include "slipway/backup.h"
#include "slipway/cli.h"
#include "slipway/client.h"
#include "slipway/controller.h"
#include "slipway/hooks.h"
#include "slipway/image.h"
#include "slipway/proxy.h"
#include "slipway/registry.h"
#include "slipway/runner.h"
#include "slipway/slug.h"
#include "slipway/sshd.h"

/* help, version, up, backup and restore and the controller daemon; the
 * client commands come after them. */
static const struct cmdline_command cli_first[] = {
	{ "help", cli_cmd_help, "[COMMAND]",
	  "show the commands, or one command's usage", NULL },
	{ "version", cli_cmd_version, "",
	  "print slipway's version", NULL },
	{ "up", cli_cmd_up,
	  "[--config FILE] [--home DIR] [--host ADDR] [--private-host ADDR] "
	  "[--domain DOMAIN] [options] [--show-config [--json]]",
	  "run every service on this machine (all-in-one supervisor)",
	  "The state is DIR ($SLIPWAY_HOME or /var/lib/slipway).  Settings\n"
	  "come from the embedded defaults, then DIR/slipway.conf (or --config\n"
	  "FILE, YAML), then the flags; --show-config prints the result as a\n"
	  "slipway.conf and exits.  Each flag and its key in the file:\n"
	  "  --hostname NAME         hostname            public name for remotes "
	  "(the address)\n"
	  "  --domain DOMAIN         domain              apps are APP.DOMAIN "
	  "(localhost)\n"
	  "  --host ADDR             public.address      the proxy and sshd "
	  "listen here (127.0.0.1)\n"
	  "  --proxy-port N          public.http_port    the proxy (8080)\n"
	  "  --https-port N          public.https_port   TLS: not built yet, "
	  "0 (0)\n"
	  "  --ssh-port N            public.ssh_port     sshd (2222)\n"
	  "  --private-host ADDR     private.address     the controller and "
	  "the registry (127.0.0.1)\n"
	  "  --controller-host ADDR  controller.address  (the private "
	  "address)\n"
	  "  --controller-port N     controller.port     (7070)\n"
	  "  --controller-url URL    controller.url      how the others reach "
	  "it (http://ADDR:PORT)\n"
	  "  --runner-lease SECS     controller.runner_lease  a runner not "
	  "heard from for it is dead (5)\n"
	  "  --registry-host ADDR    registry.address    (the private "
	  "address)\n"
	  "  --registry-port N       registry.port       (5000)\n"
	  "  --registry-url URL      registry.url        how the others reach "
	  "it (http://ADDR:PORT)\n"
	  "  --keep-releases N       registry.keep_releases  images kept per "
	  "app, 0: all (10)\n"
	  "  --driver D              runner.driver       auto, runc or process "
	  "(auto: runc as root\n"
	  "                                              with runc, else "
	  "process)\n"
	  "  --publish-ports         runner.publish_ports  leave container "
	  "ports unguarded (false)\n"
	  "  --log-dir DIR           logs.dir            the services' log, '-' "
	  "for stdout (DIR/logs)\n"
	  "  --log-max-size SIZE     logs.max_size       rotate at (10M)\n"
	  "  --log-keep N            logs.keep           rotated files kept "
	  "(5)\n"
	  "Only the proxy and sshd face the world; the API and the registry\n"
	  "stay on the private address.  See docs/server.md.\n" },
	{ "install", cli_cmd_install,
	  "[--root DIR] [--no-start] [--home DIR] [up's options]",
	  "install slipway as a systemd service (root)",
	  "Copies this binary to /usr/local/bin/slipway, makes the state\n"
	  "directory (--home, default /var/lib/slipway), writes its\n"
	  "slipway.conf from the file already there and up's options given\n"
	  "here (only those keys; a changed file is kept as slipway.conf.old)\n"
	  "and /etc/systemd/system/slipway.service, then enables and starts it\n"
	  "(--no-start: enables only).  Logs go to the journal (journalctl -u\n"
	  "slipway); 'systemctl reload slipway' restarts the services.\n"
	  "--root DIR writes all of it under DIR and enables the unit there.\n"
	  "See docs/server.md.\n" },
	{ "uninstall", cli_cmd_uninstall, "[--root DIR] [--home DIR] [--purge]",
	  "stop and remove the systemd service; the state stays",
	  "Disables and stops slipway.service, removes the unit and\n"
	  "/usr/local/bin/slipway.  The state directory stays unless --purge,\n"
	  "which destroys the containers the runner left and removes it.\n" },
	{ "backup", backup_cmd_backup, "FILE [--home DIR] [--json]",
	  "write a consistent backup of the state while everything runs",
	  "The state is DIR ($SLIPWAY_HOME or /var/lib/slipway): the store\n"
	  "(through SQLite's online backup), the registry's blobs and\n"
	  "manifests, the apps' repositories, the secrets, stacks, buildpacks,\n"
	  "certificates and the proxy's routes (not their backends); never the\n"
	  "runner's containers, logs or caches.  FILE is a tar (zstd, else\n"
	  "gzip) with a manifest of every entry's sha256, written as FILE.tmp\n"
	  "and renamed, mode 0600.  Progress goes to stderr on a terminal.\n"
	  "See docs/backup.md.\n" },
	{ "restore", backup_cmd_restore, "FILE [--home DIR] [--json]",
	  "restore a backup onto an empty or absent home",
	  "Every entry is checked against the backup's manifest, and the\n"
	  "manifest against its trailer, in a directory beside DIR that\n"
	  "becomes DIR only when all is whole: a truncated or corrupt FILE\n"
	  "leaves nothing behind.  Then 'slipway up' on DIR brings every app\n"
	  "back.  See docs/backup.md.\n" },
	{ "controller", controller_cmd_run,
	  "[--listen HOST:PORT] [--home DIR] [--url URL] [--registry URL] "
	  "[--git-url ssh://git@HOST:PORT] [--runner-lease SECS] "
	  "[--max-conns N] [--max-conns-per-ip N] [--keep-releases N]",
	  "run the controller: the store and the HTTP API (default "
	  "127.0.0.1:7070)",
	  "The store is DIR/slipway.db (DIR: --home, $SLIPWAY_HOME or\n"
	  "/var/lib/slipway).  On a fresh store the user 'admin' is made and\n"
	  "its API token printed once on stderr.  A runner renews its lease\n"
	  "every second; one that has not for SECS (default 5) is dead: its\n"
	  "containers move to the others in its group (--runner-timeout is\n"
	  "the old name).  Connections: --max-conns (512) at once, of which\n"
	  "--max-conns-per-ip (64) from one address; a request head must be\n"
	  "in within 10 s.  Builds it runs reach it at --url (default\n"
	  "http:// and the --listen address) and push to --registry (a URL;\n"
	  "default SLIPWAY_REGISTRY, else http://127.0.0.1:5000), where it\n"
	  "also deletes a destroyed app's images and those of each app's\n"
	  "releases but the last --keep-releases (default 10; 0 keeps all).\n"
	  "See docs/security-http.md.\n" },
	{ NULL, NULL, NULL, NULL, NULL },
};

/* The daemons and local tools after them. */
static const struct cmdline_command cli_rest[] = {
	{ "image build", image_cmd_build,
	  "--slug SLUG [--base LAYOUT[:TAG]] -o LAYOUT --tag TAG "
	  "[--process TYPE=CMD ...] [--revision REV] [--source URL] "
	  "[--created RFC3339] [--port N] [--healthcheck PATH|JSON] [--json]",
	  "pack a slug onto a stack as an OCI image in an image layout",
	  "The stack's layers are reused by digest; the slug becomes one more\n"
	  "gzip layer.  Same inputs give the same manifest digest: --created\n"
	  "defaults to SOURCE_DATE_EPOCH, else 1970-01-01T00:00:00Z.\n" },
	{ "image inspect", image_cmd_inspect, "LAYOUT[:TAG] [--json] [--verify]",
	  "show an image of an image layout: digest, config, layers",
	  "--verify hashes every layer blob against its digest.\n" },
	{ "image push", registry_client_cmd_push,
	  "LAYOUT[:TAG] REGISTRY/REPO[:TAG|@DIGEST] [--from REPO] "
	  "[--user USER[:PASSWORD]] [--insecure] [--chunk-size SIZE] "
	  "[--retries N] [--json]",
	  "push an image from an image layout to a registry",
	  "Blobs the registry has are skipped (HEAD first); with --from they\n"
	  "are mounted from that repository.  Blobs over --chunk-size (16M)\n"
	  "go in PATCH chunks.  Credentials: --user, or SLIPWAY_REGISTRY_USER\n"
	  "and SLIPWAY_REGISTRY_PASSWORD; Basic or token auth as the registry\n"
	  "asks.  Loopback registries and --insecure use plain http.\n" },
	{ "image pull", registry_client_cmd_pull,
	  "REGISTRY/REPO[:TAG|@DIGEST] -o LAYOUT [--tag TAG] "
	  "[--platform OS/ARCH] [--user USER[:PASSWORD]] [--insecure] "
	  "[--retries N] [--json]",
	  "pull an image from a registry into an image layout",
	  "The manifest and every blob are checked against their digests.\n"
	  "An index resolves to --platform (linux/amd64) or its only entry.\n" },
	{ "stack import", image_cmd_stack_import,
	  "(--dir DIR | --busybox [--busybox-path PATH]) -o LAYOUT "
	  "[--tag TAG] [--created RFC3339] [--json]",
	  "make a stack (base image) layout from a directory or busybox-static",
	  "One reproducible layer: entries sorted, owners 0:0, times set to\n"
	  "--created.  --busybox builds a tiny rootfs from /bin/busybox with\n"
	  "its applet links, /tmp and user app (uid 1000).  TAG: latest.\n" },
	{ "stack build", image_cmd_stack_build,
	  "NAME [--suite bookworm] [--mirror URL] [--cache DIR] [--home H] "
	  "[--created RFC3339] [--default] [--json]",
	  "make a Debian stack (a run and a build image) with mmdebstrap",
	  "Bootstraps the suite from the mirror into $SLIPWAY_HOME/stacks/NAME,\n"
	  "tags run and build; the build image is the run layer plus one.\n"
	  "Takes minutes; progress on stderr.  See docs/stack.md.\n" },
	{ "stacks", image_cmd_stacks, "[--home H] [--json]",
	  "list the home's stacks",
	  "Name, the run image's digest, the size of its blobs (run and\n"
	  "build), created, and which one apps use by default.\n" },
	{ "runner", runner_cmd_daemon,
	  "--controller URL --group G --key KEY [--name N] "
	  "[--driver runc|process|auto] [--proxy-control PATH] "
	  "[--proxy-port N] [--registry URL] [options]",
	  "run the runner daemon: the containers the controller schedules "
	  "here, with zero-downtime rollouts",
	  "The key (slr_...) may come from SLIPWAY_RUNNER_KEY instead.\n"
	  "options:\n"
	  "  --keep-images N          unpacked images kept per app (3)\n"
	  "  --health-interval SECS   between two health checks (1)\n"
	  "  --health-timeout SECS    one health check (5)\n"
	  "  --health-deadline SECS   until a new container must be healthy "
	  "(60)\n"
	  "  --drain SECS             wait for in-flight requests (30)\n"
	  "  --grace SECS             SIGTERM to SIGKILL (10)\n"
	  "  --port-base N            first of the 1000 container ports "
	  "(20000)\n"
	  "  --orphan-delay SECS      stop an app no longer scheduled here "
	  "after (30)\n"
	  "  --registry-insecure      plain http to a registry that is not "
	  "on loopback\n"
	  "                           (or say http:// in --registry)\n"
	  "  --proxy-port N           the proxy's public port, for URLs "
	  "(8080)\n"
	  "  --publish-ports          leave container ports reachable from "
	  "every\n"
	  "                           interface (no firewall; see "
	  "docs/runner.md)\n"
	  "Containers keep running when it stops; the next start adopts them.\n"
	  "See docs/rollout.md.\n" },
	{ "runner run-local", runner_cmd_run_local,
	  "--image-layers L1,L2 --digest sha256:HEX --app APP --command CMD "
	  "[--release vN] [--process web] [--driver runc|process|auto] "
	  "[--health PATH | --no-health] [--health-deadline S] [--env K=V]... "
	  "[--port N] [--user U] [--grace S]",
	  "unpack an image, run one container of it, health-check it, stop "
	  "it on Ctrl-C",
	  "Prints 'container ID driver=D port=P', then 'healthy: <status>' and\n"
	  "'PORT=N state=up', then one 'event:' line per state change.\n" },
	{ "runner unpack", runner_cmd_unpack,
	  "(--digest sha256:HEX | --into DIR) LAYER...",
	  "unpack image layers (tar or tar.gz, lowest first) safely", NULL },
	{ "runner ps", runner_cmd_ps, "[--json]",
	  "list this machine's containers from their state files", NULL },
	{ "runner logs", runner_cmd_logs, "APP [-n N] [-f] [--process TYPE]",
	  "print an app's log ring (last N lines, follow)", NULL },
	{ "runner supervise", runner_cmd_supervise, "[--driver D]",
	  "adopt this machine's containers and supervise them until a signal",
	  "Containers left by a runner that died are watched again (running)\n"
	  "or restarted (dead, unless stopped).  On SIGINT/SIGTERM it exits\n"
	  "and leaves them running, as the runner daemon will.\n" },
	{ "runner destroy", runner_cmd_destroy, "ID...",
	  "stop containers and remove their bundles and ephemeral files",
	  NULL },
	{ "runner firewall", runner_cmd_firewall, "[--remove] [--port-base N]",
	  "print the nftables table the runner installs, or remove it",
	  "As root, the runner daemon installs one table (inet slipway_<hash of\n"
	  "SLIPWAY_HOME>) that drops connections to its container ports\n"
	  "(--port-base N to N+999) arriving on any interface but lo; it stays\n"
	  "when the runner exits, as the containers do.  --remove deletes it.\n"
	  "See docs/runner.md.\n" },
	{ "runner gc", runner_cmd_gc, "[--keep DIGEST,...]",
	  "remove unpacked images not kept and not used by a container", NULL },
	{ "slug create", slug_cmd_create,
	  "--repo PATH [--rev REV] | --dir DIR  [-o FILE] [--max-size SIZE] "
	  "[--level N] [--json]",
	  "make a reproducible slug (tar.gz under app/) of a commit or a "
	  "directory",
	  "  --repo PATH        a git repository (bare or not); no checkout "
	  "is made\n"
	  "  --rev REV          the commit to slug (default HEAD; tags are "
	  "peeled)\n"
	  "  --objects DIR      also read objects from DIR (git's quarantine "
	  "directory);\n"
	  "                     may be repeated\n"
	  "  --dir DIR          a directory instead; symlinks are stored, "
	  "never followed\n"
	  "  --mtime SECONDS    with --dir: the time of every entry (default "
	  "1980-01-01)\n"
	  "  -o, --output FILE  where to write it (default slug.tgz; - for "
	  "stdout)\n"
	  "  --max-size SIZE    refuse a slug larger than SIZE (default "
	  "500M)\n"
	  "  --gzip ENGINE      libdeflate (default) or zlib (one gzip "
	  "member)\n"
	  "  --level N          compression level (default 6; libdeflate "
	  "0-12, zlib 0-9)\n"
	  "  --no-slugignore    do not apply the root's .slugignore\n"
	  "  --json             print the result as JSON\n"
	  "Prints the slug's digest (sha256 of the file), size, diff_id "
	  "(sha256 of the tar)\nand entry count.\n" },
	{ "slug inspect", slug_cmd_inspect, "FILE [--max-size SIZE] [--json]",
	  "show a slug's digest, size, process types and entries",
	  "Checks that every entry is a file, directory or symlink under "
	  "app/ with a safe\npath, and parses app/Procfile. Fails (after "
	  "printing) if the Procfile is malformed.\n" },
	{ "sshd", sshd_cmd_run,
	  "[--listen HOST:PORT] [--controller URL] [--token-file FILE] "
	  "[--registry URL] [--host-key FILE] [--max-conns N] "
	  "[--reserved-auth N] [--max-per-source N] "
	  "[--max-startups START:RATE:FULL] [--unauth-grace SECS]",
	  "serve git push/clone and admin commands over SSH (default "
	  "127.0.0.1:2222)",
	  "Keys are checked against the controller (--controller, else\n"
	  "SLIPWAY_URL, else http://127.0.0.1:7070) with the service token in\n"
	  "FILE (default $SLIPWAY_HOME/ssh/service-token, mode 0600): an\n"
	  "admin's API token, used only to look keys up and to mint each\n"
	  "session a short-lived token of the key's user.  The host key is\n"
	  "made on first start ($SLIPWAY_HOME/ssh/host_ed25519_key).  Builds\n"
	  "push images to --registry (else SLIPWAY_REGISTRY, else\n"
	  "127.0.0.1:5000; http://HOST:PORT for a plain-http one).  Connections: --max-conns (64), of which\n"
	  "--reserved-auth (16) only for authenticated users; before a key is\n"
	  "verified, --max-per-source (8) per address, random early drop\n"
	  "--max-startups (16:30:48) and --unauth-grace (10) seconds.  See\n"
	  "docs/push.md.\n" },
	{ "ssh-exec", hooks_cmd_ssh_exec, "",
	  "(run by 'slipway sshd') one SSH command: git or an admin command",
	  NULL },
	{ "hook pre-receive", hooks_cmd_pre_receive, "",
	  "(run by git in a push) build the deploy branch, or refuse the push",
	  NULL },
	{ "hook post-receive", hooks_cmd_post_receive, "",
	  "(run by git in a push) release the build once git moved the branch",
	  NULL },
	{ "hook build", hooks_cmd_build, "APP [--build N] [--rev REV]",
	  "build a commit of the app's repository (what builds:create runs)",
	  "Takes the app's lock, so it never runs beside a push.  Without\n"
	  "--build a new build is recorded.  Needs SLIPWAY_TOKEN (the user it\n"
	  "builds as) and SLIPWAY_REGISTRY.\n" },
	{ "registry", registry_cmd_serve,
	  "[--listen HOST:PORT] [--root DIR] [--anonymous-pull] [--realm URL] "
	  "[--service NAME] [--htpasswd FILE] [--max-blob SIZE] "
	  "[--upload-age SECS] [--gc-interval SECS] [--sendfile] "
	  "[--max-conns N] [--max-conns-per-ip N]",
	  "serve the OCI registry (Distribution API v1.1, token auth)",
	  "Serves /v2/ on --listen (default 127.0.0.1:5000) from --root\n"
	  "(default $SLIPWAY_HOME/registry).  Requests need a Bearer token\n"
	  "signed with $SLIPWAY_HOME/secret (see 'slipway registry token');\n"
	  "--anonymous-pull lets pulls in without one.  401 answers point\n"
	  "clients at --realm (default: this server's own /token, which\n"
	  "checks HTTP Basic against --htpasswd, a file of lines\n"
	  "'user:<sha256 hex of the password>').  --max-blob caps one blob\n"
	  "(default 10G); sessions idle for --upload-age seconds (default\n"
	  "3600) are stale and removed.  Every --gc-interval seconds\n"
	  "(default 3600; 0: never) unreferenced blobs older than that go\n"
	  "(as 'slipway registry gc').  Blobs are sent by copying through\n"
	  "a 1 MiB buffer; --sendfile uses sendfile(2) instead (faster on\n"
	  "some hosts: measure).  Connections: --max-conns (512) at once, of\n"
	  "which --max-conns-per-ip (64) from one address; a request head\n"
	  "must be in within 10 s.  See docs/registry.md and\n"
	  "docs/security-http.md.\n" },
	{ "registry token", registry_cmd_token,
	  "--repo NAME [--repo NAME...] [--actions pull,push,delete] "
	  "[--ttl SECS] [--user U] [--service NAME] [--catalog]",
	  "mint a registry token (Docker token spec claims) on stdout",
	  "Signs with $SLIPWAY_HOME/secret.  --actions defaults to pull,\n"
	  "--ttl to 300 seconds (at most 86400); --catalog adds\n"
	  "registry:catalog:*.  Use it as 'Authorization: Bearer TOKEN' or\n"
	  "skopeo's --registry-token.\n" },
	{ "registry gc", registry_cmd_gc,
	  "[--root DIR] [--dry-run] [--upload-age SECS] [--json]",
	  "remove blobs no manifest references, and stale uploads",
	  "Blobs younger than --upload-age seconds (default 3600) are kept,\n"
	  "so pushes in progress keep theirs.  Safe while the registry\n"
	  "runs.\n" },
	{ "proxy", proxy_cmd_serve,
	  "[--listen IP:PORT] [--control PATH] [--domain D] [--routes FILE] "
	  "[options]",
	  "run the HTTP reverse proxy (routes APP.<domain> to app backends)",
	  "options:\n"
	  "  --listen IP:PORT          where to serve (127.0.0.1:8080)\n"
	  "  --control PATH            control socket ($SLIPWAY_HOME/proxy.sock)\n"
	  "  --domain D                apps answer at APP.D (localhost)\n"
	  "  --routes FILE             load routes at start, save on change\n"
	  "  --access-log PATH|-|off   access log (- is stderr, the default)\n"
	  "  --max-conns N             client connections at once (10000)\n"
	  "  --max-conns-per-ip N      of those from one IPv4 address or IPv6\n"
	  "                            /64 (256); 503 past either\n"
	  "  --pool N                  idle connections kept per backend (64)\n"
	  "  --max-body SIZE           request body cap, 413 past it (none)\n"
	  "  --header-timeout SECS     request head must arrive in it, from\n"
	  "                            the connect or the previous answer (10)\n"
	  "  --idle-timeout SECS       idle keep-alive connections (60)\n"
	  "  --connect-timeout SECS    backend connect, 504 past it (5)\n"
	  "  --upstream-timeout SECS   backend answer / stall, 504 (60)\n"
	  "  --tunnel-timeout SECS     silent WebSocket tunnel (3600)\n" },
	{ "proxy route set", proxy_cmd_route_set,
	  "APP [IP:PORT...] [--domain D...] [--control PATH]",
	  "install an app's whole backend list (atomic swap)", NULL },
	{ "proxy route rm", proxy_cmd_route_rm, "APP [--control PATH]",
	  "remove an app's route", NULL },
	{ "proxy routes", proxy_cmd_routes, "[--json] [--control PATH]",
	  "list the proxy's routes with requests in flight", NULL },
	{ "proxy drain", proxy_cmd_drain,
	  "IP:PORT [--wait SECS] [--control PATH]",
	  "show requests in flight on a backend; --wait until none",
	  "Exits 1 when --wait passes with requests still in flight.\n" },
	{ "proxy maintenance", proxy_cmd_maintenance,
	  "APP on|off [--control PATH]",
	  "answer every request for APP with 503 maintenance", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

const struct cmdline_command *const cli_tables[] = {
	cli_first, client_commands, cli_rest, NULL,
};
