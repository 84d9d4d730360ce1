/*
 * Private to lib/httpd*.c: the guard that bounds what a client can hold of
 * an httpd server before it has sent a request head (httpd_guard.c).
 */
#ifndef SLIPWAY_HTTPD_INT_H
#define SLIPWAY_HTTPD_INT_H

#include <stdbool.h>
#include <sys/socket.h>

#include <microhttpd.h>

struct httpd_guard;

/*
 * A guard for one server: at most conn_max connections, at most per_ip_max
 * of them from one address, and head_ms for each request head (counted
 * from the connect, or from the previous answer on a kept-alive
 * connection).  name is for log lines and is not copied.  Starts the
 * watchdog thread; fails with ERR_IO when it cannot.
 */
int httpd_guard_new(struct httpd_guard **out, const char *name,
    unsigned conn_max, unsigned per_ip_max, unsigned head_ms);
/* Stop the watchdog and free; call after MHD_stop_daemon.  Accepts NULL. */
void httpd_guard_free(struct httpd_guard *g);

/* MHD's accept policy (cls: the guard): refuses, with a log line at most
 * every 10 s, a connection over either cap. */
enum MHD_Result httpd_guard_admit(void *cls, const struct sockaddr *addr,
    socklen_t len);
/* MHD_OPTION_NOTIFY_CONNECTION (cls: the guard): counts connections and
 * starts the first head's clock. */
void httpd_guard_notify(void *cls, struct MHD_Connection *c,
    void **socket_context, enum MHD_ConnectionNotificationCode code);
/* The head of the request on c is in: its clock stops (a body may take as
 * long as it needs while it moves). */
void httpd_guard_head_done(struct httpd_guard *g, struct MHD_Connection *c);
/* The request on c ended: the next head's clock starts. */
void httpd_guard_request_done(struct httpd_guard *g,
    struct MHD_Connection *c);

#endif
