/*
 * Unit tests for the controller API's answers (controller/api.c), served
 * by a real httpd on 127.0.0.1 and read with curl.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "slipway/buf.h"
#include "slipway/fs.h"
#include "slipway/httpd.h"
#include "slipway/proc.h"
#include "../../controller/ctl_int.h"

/* An answer json_dumps refuses: a string that is not UTF-8, made without
 * jansson's check, so ctl_reply takes its "cannot encode" path. */
static void
t_handle_unencodable(struct httpd_req *req, void *payload)
{
	struct ctl_call c = { .req = req };
	json_t *body = json_object();

	json_object_set_new(body, "bad", json_string_nocheck("\xff\xfe"));
	ctl_reply(&c, 200, body);
}

TEST(controller__reply_that_cannot_be_encoded_is_500)
{
	static const char want[] =
	    "{\"error\":\"cannot encode the answer\",\"code\":\"internal\"}\n";
	struct httpd_opts o = { .listen = "127.0.0.1:0",
	    .handle = t_handle_unencodable, .body_max = 1000, .name = "test" };
	char *argv[] = { "curl", "-s", "-o", "body", "-w", "%{http_code}",
	    NULL, NULL };
	char url[64];
	struct httpd *h = NULL;
	struct buf out, body;

	EXPECT_OK(httpd_start(&h, &o));
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/",
	    (unsigned)httpd_port(h));
	argv[6] = url;
	EXPECT_INT(0, proc_run(&out, argv, 0, 1 << 16));
	httpd_stop(h);
	EXPECT_STR("500", out.ptr);
	buf_free(&out);
	/* exactly the message, not a byte of what lies after it */
	EXPECT_OK(fs_read_file(&body, "body", 1 << 16));
	EXPECT_INT(sizeof(want) - 1, body.len);
	EXPECT_TRUE(memcmp(want, body.ptr, body.len) == 0);
	buf_free(&body);
}
