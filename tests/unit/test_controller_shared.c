/*
 * Unit tests for the pieces the controller's files share: the store's
 * statement runners (store_query_rows / row / int, store_tx_end_json) and
 * the client commands' printers (client_print_columns, client_print_record),
 * whose output users' scripts read byte for byte.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "slipway/buf.h"
#include "slipway/fs.h"
#include "slipway/store.h"
#include "../../client/client_int.h"
#include "../../store/store_int.h"

static struct store *
open_store(void)
{
	struct store *s = NULL;

	if (store_open(&s, "slipway.db") < 0)
		harness_fail(__FILE__, __LINE__, "store_open: %s", err_last());
	return s;
}

TEST(controller_shared__query_int)
{
	struct store *s = open_store();
	int64_t v = -1;

	/* a row: 1 and its first column */
	EXPECT_INT(1, store_query_int(&v, s, "SELECT count(*) FROM users",
	    NULL));
	EXPECT_INT(0, v);
	EXPECT_OK(store_user_create(s, "ann", false));
	EXPECT_INT(1, store_query_int(&v, s, "SELECT id FROM users"
	    " WHERE name = ?", "s", "ann"));
	EXPECT_TRUE(v > 0);
	/* no row: 0, and out left alone */
	v = 42;
	EXPECT_INT(0, store_query_int(&v, s, "SELECT id FROM users"
	    " WHERE name = ?", "s", "nobody"));
	EXPECT_INT(42, v);
	/* out may be NULL: an existence test */
	EXPECT_INT(1, store_query_int(NULL, s, "SELECT 1 FROM users"
	    " WHERE name = ?", "s", "ann"));
	/* bad SQL: an error with a message */
	EXPECT_TRUE(store_query_int(&v, s, "SELECT nope FROM nothing",
	    NULL) < 0);
	EXPECT_ERR_HAS("prepare");
	store_close(s);
}

TEST(controller_shared__query_int_update_returning)
{
	struct store *s = open_store();
	int64_t v = 0, n = 0;

	EXPECT_OK(store_user_create(s, "ann", false));
	EXPECT_OK(store_user_create(s, "bob", false));
	/* two rows change and the first id is the answer; both change */
	EXPECT_INT(1, store_query_int(&v, s, "UPDATE users SET admin = 1"
	    " WHERE name IN ('ann', 'bob') RETURNING id", NULL));
	EXPECT_INT(1, store_query_int(&n, s, "SELECT count(*) FROM users"
	    " WHERE admin = 1 AND name IN ('ann', 'bob')", NULL));
	EXPECT_INT(2, n);
	store_close(s);
}

TEST(controller_shared__query_rows_and_row)
{
	struct store *s = open_store();
	json_t *rows = NULL, *row = NULL;

	EXPECT_OK(store_query_rows(&rows, s, "SELECT name FROM users"
	    " WHERE name LIKE ? ORDER BY name", "s", "z%"));
	EXPECT_TRUE(json_is_array(rows));
	EXPECT_INT(0, json_array_size(rows));
	json_decref(rows);
	EXPECT_OK(store_user_create(s, "zed", true));
	EXPECT_OK(store_user_create(s, "zoe", false));
	EXPECT_OK(store_query_rows(&rows, s, "SELECT name, admin AS a_bool"
	    " FROM users WHERE name LIKE ? ORDER BY name", "s", "z%"));
	EXPECT_INT(2, json_array_size(rows));
	EXPECT_STR("zed", json_string_value(json_object_get(
	    json_array_get(rows, 0), "name")));
	EXPECT_TRUE(json_is_true(json_object_get(json_array_get(rows, 0),
	    "a")));
	json_decref(rows);
	EXPECT_OK(store_query_row(&row, s, "SELECT name FROM users"
	    " WHERE name = ?", "s", "zoe"));
	EXPECT_STR("zoe", json_string_value(json_object_get(row, "name")));
	json_decref(row);
	row = NULL;
	EXPECT_INT(ERR_NOTFOUND, store_query_row(&row, s, "SELECT name"
	    " FROM users WHERE name = ?", "s", "nobody"));
	EXPECT_TRUE(row == NULL);
	store_close(s);
}

TEST(controller_shared__tx_end_json_drops_what_was_not_stored)
{
	struct store *s = open_store();
	json_t *out;

	/* success: the answer stays */
	EXPECT_OK(store_tx_write(s));
	out = json_object();
	EXPECT_INT(0, store_tx_end_json(s, 0, &out));
	EXPECT_TRUE(out != NULL);
	json_decref(out);
	/* failure: it goes (the leak checker sees one left behind) */
	EXPECT_OK(store_tx_write(s));
	out = json_object();
	EXPECT_INT(ERR_CONFLICT, store_tx_end_json(s, ERR_CONFLICT, &out));
	EXPECT_TRUE(out == NULL);
	/* no answer, or no place for one */
	out = NULL;
	EXPECT_INT(ERR_IO, store_tx_end_json(s, ERR_IO, &out));
	EXPECT_INT(ERR_IO, store_tx_end_json(s, ERR_IO, NULL));
	store_close(s);
}

/* Run print with stdout going to a file, and return what it printed. */
static char *
captured(void (*print)(json_t *), json_t *arg)
{
	struct buf b;
	int fd, saved;

	fflush(stdout);
	saved = dup(1);
	fd = open("out.txt", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	EXPECT_TRUE(saved >= 0 && fd >= 0);
	dup2(fd, 1);
	close(fd);
	print(arg);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	buf_init(&b, 1 << 20);
	EXPECT_OK(fs_read_file(&b, "out.txt", 1 << 20));
	return buf_detach(&b, NULL);
}

static void
print_columns(json_t *list)
{
	static const struct client_column cols[] = {
		{ "NAME", "name" }, { "GROUPS", "groups" }, { "LIVE", "live" },
		{ "N", "n" },
	};

	client_print_columns(list, cols, 4);
}

TEST(controller_shared__print_columns)
{
	json_t *list = json_loads("[{\"name\":\"a\",\"groups\":[\"x\",\"yy\"],"
	    "\"live\":true,\"n\":12},{\"name\":\"longer\",\"groups\":[],"
	    "\"live\":false,\"n\":null}]", 0, NULL);
	char *out = captured(print_columns, list);

	/* columns two spaces apart, lists joined, missing as "-", the last
	 * column unpadded */
	EXPECT_STR("NAME    GROUPS  LIVE  N\n"
	    "a       x, yy   yes   12\n"
	    "longer  -       no    -\n", out);
	free(out);
	json_decref(list);
	out = captured(print_columns, NULL);
	EXPECT_STR("NAME  GROUPS  LIVE  N\n", out);
	free(out);
}

static void
print_record(json_t *obj)
{
	static const struct client_field f[] = {
		{ "rev", "rev" }, { "slug digest", "slug" },
		{ "groups", "groups" },
	};

	client_print_record(obj, 14, f, 3);
}

TEST(controller_shared__print_record)
{
	json_t *obj = json_loads("{\"rev\":\"abc\",\"groups\":[\"a\",\"b\"]}",
	    0, NULL);
	char *out = captured(print_record, obj);

	EXPECT_STR("rev:          abc\n"
	    "slug digest:  -\n"
	    "groups:       a, b\n", out);
	free(out);
	json_decref(obj);
}
