/*
 * Watches (daemon/watch.c) through the core and the in-memory backend:
 * which watches a change fires, with which path, and how often.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <talloc.h>

#include "tests/core/memconn.h"

struct fixture {
	struct server *server;
	struct memconn *watcher;	/* dom0 */
	struct memconn *writer;		/* dom0, another connection */
};

static int setup_server(void **state)
{
	struct fixture *f = talloc_zero(NULL, struct fixture);
	struct server_config config;

	if (!f)
		return -1;
	server_config_defaults(&config);
	f->server = server_new(f, &config);
	if (!f->server)
		return -1;
	f->watcher = memconn_new(f, f->server, 0);
	f->writer = memconn_new(f, f->server, 0);
	*state = f;
	return f->watcher && f->writer ? 0 : -1;
}

static int teardown_server(void **state)
{
	struct fixture *f = *state;

	talloc_free(f->server);
	assert_true(memconn_destroyed(f->watcher));
	assert_true(memconn_destroyed(f->writer));
	talloc_free(f);
	return 0;
}

static void watch(struct memconn *mc, const char *path, const char *token)
{
	struct memconn_reply reply;
	struct memconn_event ev;
	int err = memconn_callv(mc, XS_WATCH, 0, &reply, false, path, token,
				NULL);

	if (err)
		fail_msg("WATCH %s %s: error %d (%s)", path, token, err,
			 reply.payload);
	/* Every new watch fires once at once. */
	assert_true(memconn_next_event(mc, &ev));
	assert_string_equal(ev.path, path);
	assert_string_equal(ev.token, token);
}

static int call(struct memconn *mc, uint32_t type, const char *path,
		const char *arg)
{
	struct memconn_reply reply;

	return memconn_callv(mc, type, 0, &reply, type == XS_WRITE, path, arg,
			     NULL);
}

static void call_ok(struct memconn *mc, uint32_t type, const char *path,
		    const char *arg)
{
	int err = call(mc, type, path, arg);

	if (err)
		fail_msg("request %u on %s: error %d", type, path, err);
}

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The events waiting on @mc as "token=path" words, sorted: tests name the
 * set they expect without depending on the order within one fan-out.
 */
static char *drain_events(struct memconn *mc)
{
	static char joined[65536];
	struct memconn_event ev;
	char **lines = NULL;
	size_t count = 0, used = 0, i;

	while (memconn_next_event(mc, &ev)) {
		lines = talloc_realloc(NULL, lines, char *, count + 1);
		assert_non_null(lines);
		lines[count] = talloc_asprintf(lines, "%s=%s", ev.token,
					       ev.path);
		assert_non_null(lines[count]);
		count++;
	}
	if (count)
		qsort(lines, count, sizeof(*lines), compare_strings);
	joined[0] = '\0';
	for (i = 0; i < count; i++) {
		int n = snprintf(joined + used, sizeof(joined) - used, "%s%s",
				 i ? " " : "", lines[i]);

		assert_true(n > 0 && (size_t)n < sizeof(joined) - used);
		used += (size_t)n;
	}
	talloc_free(lines);
	return joined;
}

/* Watches whose token is their own path, for readable expectations. */
static void watch_paths(struct memconn *mc, const char *const *paths,
			size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		watch(mc, paths[i], paths[i]);
}

static const char *const tree_watches[] = {
	"/", "/a", "/a/b", "/a/b/c", "/a/bc", "/a/b/c/d", "/a/b/cd", "/b",
	"/a/b/c/d/e",
};

static void test_change_fires_self_and_ancestors_only(void **state)
{
	struct fixture *f = *state;

	watch_paths(f->watcher, tree_watches, 9);
	call_ok(f->writer, XS_WRITE, "/a/b/c", "v");
	assert_string_equal(drain_events(f->watcher),
			    "/=/a/b/c /a/b/c=/a/b/c /a/b=/a/b/c /a=/a/b/c");
	assert_string_equal(drain_events(f->writer), "");

	call_ok(f->writer, XS_WRITE, "/a/bc", "v");
	assert_string_equal(drain_events(f->watcher),
			    "/=/a/bc /a/bc=/a/bc /a=/a/bc");
	call_ok(f->writer, XS_WRITE, "/b", "");
	assert_string_equal(drain_events(f->watcher), "/=/b /b=/b");
	call_ok(f->writer, XS_WRITE, "/bb", "");
	assert_string_equal(drain_events(f->watcher), "/=/bb");
}

/* The root watch sees every change, and a change to "/" itself. */
static void test_root_watch(void **state)
{
	struct fixture *f = *state;

	watch(f->watcher, "/", "root");
	call_ok(f->writer, XS_WRITE, "/deep/er/still", "v");
	assert_string_equal(drain_events(f->watcher), "root=/deep/er/still");
	call_ok(f->writer, XS_SET_PERMS, "/", "n0");
	assert_string_equal(drain_events(f->watcher), "root=/");
}

static void test_mkdir_fires_only_when_it_creates(void **state)
{
	struct fixture *f = *state;

	watch(f->watcher, "/m", "m");
	call_ok(f->writer, XS_MKDIR, "/m/x", NULL);
	assert_string_equal(drain_events(f->watcher), "m=/m/x");
	call_ok(f->writer, XS_MKDIR, "/m/x", NULL);
	assert_string_equal(drain_events(f->watcher), "");
}

static void test_set_perms_fires(void **state)
{
	struct fixture *f = *state;

	call_ok(f->writer, XS_WRITE, "/sp", "v");
	watch(f->watcher, "/sp", "sp");
	call_ok(f->writer, XS_SET_PERMS, "/sp", "r0");
	assert_string_equal(drain_events(f->watcher), "sp=/sp");
}

/* Parents created on the way fire nothing of their own. */
static void test_implicit_parents_fire_nothing_extra(void **state)
{
	struct fixture *f = *state;

	watch(f->watcher, "/i", "i");
	watch(f->watcher, "/i/j", "j");
	call_ok(f->writer, XS_WRITE, "/i/j/k/l", "v");
	assert_string_equal(drain_events(f->watcher), "i=/i/j/k/l j=/i/j/k/l");
}

static void test_rm_fires_descendants_exact_watches_once(void **state)
{
	struct fixture *f = *state;
	static const char *const paths[] = {
		"/r", "/r/a", "/r/a/b", "/r/a/b/c", "/r/a/d", "/r/ax",
		"/r/a/b/c/missing",
	};

	call_ok(f->writer, XS_WRITE, "/r/a/b/c", "1");
	call_ok(f->writer, XS_WRITE, "/r/a/d", "2");
	call_ok(f->writer, XS_WRITE, "/r/ax", "3");
	watch_paths(f->watcher, paths, 7);
	call_ok(f->writer, XS_RM, "/r/a", NULL);
	assert_string_equal(drain_events(f->watcher),
			    "/r/a/b/c=/r/a/b/c /r/a/b=/r/a/b /r/a/d=/r/a/d "
			    "/r/a=/r/a /r=/r/a");

	/* Gone already: OK, and nothing fires. */
	call_ok(f->writer, XS_RM, "/r/a", NULL);
	assert_string_equal(drain_events(f->watcher), "");
}

static void test_relative_watch_gets_relative_paths(void **state)
{
	struct fixture *f = *state;
	struct memconn *guest = memconn_new(f, f->server, 5);

	assert_non_null(guest);
	watch(f->watcher, "rel", "r");
	watch(f->watcher, "/local/domain/0/rel", "a");
	call_ok(f->writer, XS_WRITE, "/local/domain/0/rel/x", "v");
	assert_string_equal(drain_events(f->watcher),
			    "a=/local/domain/0/rel/x r=rel/x");

	/* A guest's relative watch is relative to its own home. */
	call_ok(f->writer, XS_WRITE, "/local/domain/5/home", "");
	call_ok(f->writer, XS_SET_PERMS, "/local/domain/5/home", "r0");
	watch(guest, "home", "g");
	call_ok(f->writer, XS_WRITE, "/local/domain/5/home/y", "v");
	assert_string_equal(drain_events(guest), "g=home/y");
	/* The same path under another home is not the guest's. */
	call_ok(f->writer, XS_WRITE, "/local/domain/0/home/y", "v");
	assert_string_equal(drain_events(guest), "");
}

/* RM of a home's ancestor: a relative watch still sees a relative path. */
static void test_relative_watch_on_removed_descendant(void **state)
{
	struct fixture *f = *state;

	call_ok(f->writer, XS_WRITE, "/local/domain/0/gone/deep", "v");
	watch(f->watcher, "gone/deep", "r");
	call_ok(f->writer, XS_RM, "/local/domain/0/gone", NULL);
	assert_string_equal(drain_events(f->watcher), "r=gone/deep");
}

static void test_duplicate_watch_is_eexist(void **state)
{
	struct fixture *f = *state;

	watch(f->watcher, "/dup", "t");
	assert_int_equal(call(f->watcher, XS_WATCH, "/dup", "t"), EEXIST);
	assert_int_equal(memconn_pending_events(f->watcher), 0);
	/* Either half different: a new watch. */
	watch(f->watcher, "/dup", "u");
	watch(f->watcher, "/dup2", "t");
	/* The same watch named relative or absolute. */
	watch(f->watcher, "rel", "t");
	assert_int_equal(call(f->watcher, XS_WATCH, "/local/domain/0/rel",
			      "t"), EEXIST);
	/* Another connection's watches are its own. */
	watch(f->writer, "/dup", "t");

	call_ok(f->writer, XS_WRITE, "/dup", "v");
	assert_string_equal(drain_events(f->watcher), "t=/dup u=/dup");
	assert_string_equal(drain_events(f->writer), "t=/dup");
}

static void test_unwatch(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(call(f->watcher, XS_UNWATCH, "/none", "t"), ENOENT);
	watch(f->watcher, "/uw", "t");
	watch(f->watcher, "/uw", "keep");
	assert_int_equal(call(f->watcher, XS_UNWATCH, "/uw", "other"),
			 ENOENT);
	assert_int_equal(call(f->writer, XS_UNWATCH, "/uw", "t"), ENOENT);
	call_ok(f->watcher, XS_UNWATCH, "/uw", "t");
	assert_int_equal(call(f->watcher, XS_UNWATCH, "/uw", "t"), ENOENT);
	call_ok(f->writer, XS_WRITE, "/uw", "v");
	assert_string_equal(drain_events(f->watcher), "keep=/uw");

	/* Removed by its relative name. */
	watch(f->watcher, "/local/domain/0/x", "t");
	call_ok(f->watcher, XS_UNWATCH, "x", "t");
	call_ok(f->writer, XS_WRITE, "/local/domain/0/x", "v");
	assert_string_equal(drain_events(f->watcher), "");
}

/* The same rules for a connection with many watches, where the path's
 * few watchers are looked at instead of the connection's many watches. */
static void test_duplicates_among_many_watches(void **state)
{
	struct fixture *f = *state;
	char path[32];

	for (int i = 0; i < 20; i++) {
		snprintf(path, sizeof(path), "/many/%d", i);
		watch(f->watcher, path, "t");
	}
	watch(f->writer, "/shared", "t");
	/* Another connection's watch with the same path and token. */
	watch(f->watcher, "/shared", "t");
	assert_int_equal(call(f->watcher, XS_WATCH, "/shared", "t"), EEXIST);
	assert_int_equal(call(f->watcher, XS_WATCH, "/many/7", "t"), EEXIST);
	watch(f->watcher, "/shared", "u");
	call_ok(f->watcher, XS_UNWATCH, "/shared", "t");
	assert_int_equal(call(f->watcher, XS_UNWATCH, "/shared", "t"), ENOENT);
	assert_int_equal(call(f->watcher, XS_UNWATCH, "/many/20", "t"), ENOENT);
	call_ok(f->watcher, XS_UNWATCH, "/many/19", "t");
	call_ok(f->watcher, XS_WRITE, "/shared", "v");
	assert_string_equal(drain_events(f->watcher), "u=/shared");
	assert_string_equal(drain_events(f->writer), "t=/shared");
}

static void test_unwatch_then_watch_again(void **state)
{
	struct fixture *f = *state;

	watch(f->watcher, "/again", "t");
	call_ok(f->watcher, XS_UNWATCH, "/again", "t");
	watch(f->watcher, "/again", "t");
	call_ok(f->writer, XS_WRITE, "/again", "v");
	assert_string_equal(drain_events(f->watcher), "t=/again");
}

static void test_reset_watches_drops_them_all(void **state)
{
	struct fixture *f = *state;
	struct memconn_reply reply;

	watch(f->watcher, "/x", "1");
	watch(f->watcher, "/", "2");
	watch(f->writer, "/x", "3");
	assert_int_equal(memconn_call(f->watcher, XS_RESET_WATCHES, 0, "", 1,
				      &reply), 0);
	call_ok(f->writer, XS_WRITE, "/x", "v");
	assert_string_equal(drain_events(f->watcher), "");
	assert_string_equal(drain_events(f->writer), "3=/x");
	/* The same pairs may be registered again. */
	watch(f->watcher, "/x", "1");
}

/*
 * Thousands of watches elsewhere change nothing about which fire: the
 * index is by path.
 */
static void test_many_unrelated_watches(void **state)
{
	struct fixture *f = *state;
	char path[32];
	unsigned int i;

	for (i = 0; i < 10000; i++) {
		snprintf(path, sizeof(path), "/many/%u", i);
		watch(f->watcher, path, "m");
	}
	watch_paths(f->watcher, tree_watches, 9);
	call_ok(f->writer, XS_WRITE, "/a/b/c", "v");
	assert_string_equal(drain_events(f->watcher),
			    "/=/a/b/c /a/b/c=/a/b/c /a/b=/a/b/c /a=/a/b/c");
	call_ok(f->writer, XS_WRITE, "/many/5000", "v");
	assert_string_equal(drain_events(f->watcher), "/=/many/5000 m=/many/5000");
	call_ok(f->writer, XS_WRITE, "/many/50000", "v");
	assert_string_equal(drain_events(f->watcher), "/=/many/50000");
}

/* Events wait for the commit; an abort fires nothing. */
static void test_transaction_events_come_at_commit(void **state)
{
	struct fixture *f = *state;
	struct memconn_reply reply;
	uint32_t tx;

	watch(f->watcher, "/t", "t");
	assert_int_equal(memconn_call(f->writer, XS_TRANSACTION_START, 0, "",
				      1, &reply), 0);
	tx = (uint32_t)strtoul(reply.payload, NULL, 10);
	assert_int_equal(memconn_callv(f->writer, XS_WRITE, tx, &reply, true,
				       "/t/a", "1", NULL), 0);
	assert_int_equal(memconn_callv(f->writer, XS_WRITE, tx, &reply, true,
				       "/t/b", "2", NULL), 0);
	assert_string_equal(drain_events(f->watcher), "");
	assert_int_equal(memconn_callv(f->writer, XS_TRANSACTION_END, tx,
				       &reply, false, "T", NULL), 0);
	assert_string_equal(drain_events(f->watcher), "t=/t/a t=/t/b");

	assert_int_equal(memconn_call(f->writer, XS_TRANSACTION_START, 0, "",
				      1, &reply), 0);
	tx = (uint32_t)strtoul(reply.payload, NULL, 10);
	assert_int_equal(memconn_callv(f->writer, XS_WRITE, tx, &reply, true,
				       "/t/c", "3", NULL), 0);
	assert_int_equal(memconn_callv(f->writer, XS_TRANSACTION_END, tx,
				       &reply, false, "F", NULL), 0);
	assert_string_equal(drain_events(f->watcher), "");
}

/* An event equal to one the peer has not taken yet is not queued twice. */
static void test_identical_queued_events_are_merged(void **state)
{
	struct fixture *f = *state;

	watch(f->watcher, "/same", "t");
	memconn_set_room(f->watcher, 0);
	call_ok(f->writer, XS_WRITE, "/same", "1");
	call_ok(f->writer, XS_WRITE, "/same", "2");
	call_ok(f->writer, XS_WRITE, "/same/x", "3");
	call_ok(f->writer, XS_WRITE, "/same", "4");
	assert_true(memconn_give_room(f->watcher, MEMCONN_UNLIMITED));
	assert_string_equal(drain_events(f->watcher), "t=/same t=/same/x");

	/* Once taken, the same event is new again. */
	call_ok(f->writer, XS_WRITE, "/same", "5");
	assert_string_equal(drain_events(f->watcher), "t=/same");
}

static void test_special_watches_ignore_node_changes(void **state)
{
	struct fixture *f = *state;

	watch(f->watcher, "@introduceDomain", "i");
	watch(f->watcher, "@releaseDomain", "r");
	call_ok(f->writer, XS_WRITE, "/s", "v");
	call_ok(f->writer, XS_RM, "/s", NULL);
	assert_string_equal(drain_events(f->watcher), "");
}

static void test_watch_path_must_be_valid(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(call(f->watcher, XS_WATCH, "/a/", "t"), EINVAL);
	assert_int_equal(call(f->watcher, XS_WATCH, "/a//b", "t"), EINVAL);
	assert_int_equal(call(f->watcher, XS_WATCH, "", "t"), EINVAL);
	assert_int_equal(call(f->watcher, XS_WATCH, "/a b", "t"), EINVAL);
	assert_int_equal(memconn_pending_events(f->watcher), 0);
}

/* A closed connection's watches go with it. */
static void test_watches_die_with_their_connection(void **state)
{
	struct fixture *f = *state;
	struct memconn *other = memconn_new(f, f->server, 0);

	assert_non_null(other);
	watch(other, "/bye", "t");
	conn_close(memconn_connection(other));
	assert_true(memconn_destroyed(other));
	watch(f->watcher, "/bye", "t");
	call_ok(f->writer, XS_WRITE, "/bye", "v");
	assert_string_equal(drain_events(f->watcher), "t=/bye");
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup_server, \
						 teardown_server)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_change_fires_self_and_ancestors_only),
		TEST(test_root_watch),
		TEST(test_mkdir_fires_only_when_it_creates),
		TEST(test_set_perms_fires),
		TEST(test_implicit_parents_fire_nothing_extra),
		TEST(test_rm_fires_descendants_exact_watches_once),
		TEST(test_relative_watch_gets_relative_paths),
		TEST(test_relative_watch_on_removed_descendant),
		TEST(test_duplicate_watch_is_eexist),
		TEST(test_unwatch),
		TEST(test_duplicates_among_many_watches),
		TEST(test_unwatch_then_watch_again),
		TEST(test_reset_watches_drops_them_all),
		TEST(test_many_unrelated_watches),
		TEST(test_transaction_events_come_at_commit),
		TEST(test_identical_queued_events_are_merged),
		TEST(test_special_watches_ignore_node_changes),
		TEST(test_watch_path_must_be_valid),
		TEST(test_watches_die_with_their_connection),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
