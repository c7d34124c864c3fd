/*
 * The whole protocol through the core linked with an in-memory backend:
 * no event loop, no socket, no Xen.  Guests come from a fake domain
 * backend whose rings are memconns too, so that the rules for
 * unprivileged callers can be exercised as well as dom0's.
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

#include "daemon/control.h"
#include "tests/core/memconn.h"

#define MAX_GUESTS 16

struct fixture {
	struct server *server;
	struct server_config config;
	struct memconn *a, *b;		/* two dom0 connections */
	struct memconn *guests[MAX_GUESTS];	/* rings, by domid */
	enum domain_state states[MAX_GUESTS];
	struct memconn_reply reply;	/* the last reply */
};

/* --- A fake ring backend: INTRODUCE makes a memconn ring ---------------- */

static int fake_introduce(void *backend, uint32_t domid, uint64_t gfn,
			  uint32_t port)
{
	struct fixture *f = backend;

	if (domid >= MAX_GUESTS)
		return EINVAL;
	f->guests[domid] = memconn_new_domain(f, f->server, domid);
	f->states[domid] = DOMAIN_RUNNING;
	return f->guests[domid] ? 0 : ENOMEM;
}

static enum domain_state fake_state(void *backend, uint32_t domid)
{
	struct fixture *f = backend;

	return domid < MAX_GUESTS ? f->states[domid] : DOMAIN_DYING;
}

static const struct domain_backend fake_backend = {
	.introduce = fake_introduce,
	.state = fake_state,
};

/* --- Fixture ------------------------------------------------------------ */

static void start_server(struct fixture *f)
{
	unsigned int domid;

	/* No guest exists until a test introduces it. */
	for (domid = 0; domid < MAX_GUESTS; domid++)
		f->states[domid] = DOMAIN_DYING;
	f->server = server_new(f, &f->config);
	assert_non_null(f->server);
	server_set_domain_backend(f->server, &fake_backend, f);
	f->a = memconn_new(f, f->server, 0);
	f->b = memconn_new(f, f->server, 0);
	assert_non_null(f->a);
	assert_non_null(f->b);
}

static void stop_server(struct fixture *f)
{
	size_t i;

	talloc_free(f->server);
	f->server = NULL;
	assert_true(memconn_destroyed(f->a));
	assert_true(memconn_destroyed(f->b));
	for (i = 0; i < MAX_GUESTS; i++)
		if (f->guests[i])
			assert_true(memconn_destroyed(f->guests[i]));
	memset(f->guests, 0, sizeof(f->guests));
}

static int setup(void **state)
{
	struct fixture *f = talloc_zero(NULL, struct fixture);

	if (!f)
		return -1;
	server_config_defaults(&f->config);
	*state = f;
	start_server(f);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	stop_server(f);
	talloc_free(f);
	return 0;
}

/* Start again with a quota changed (by Xen's name for it). */
static void restart_with_quota(struct fixture *f, const char *name,
			       unsigned long value)
{
	stop_server(f);
	assert_true(quota_set(&f->config.quota, name, value, false));
	start_server(f);
}

/* --- Requests ----------------------------------------------------------- */

/* A request of NUL-terminated strings (a WRITE's value goes without). */
#define RQ(f, mc, tx, type, ...) \
	memconn_callv(mc, type, tx, &(f)->reply, (type) == XS_WRITE, \
		      __VA_ARGS__, NULL)

#define OK(f, mc, tx, type, ...) \
	expect_ok(f, RQ(f, mc, tx, type, __VA_ARGS__), #type, __LINE__)

static void expect_ok(struct fixture *f, int err, const char *what, int line)
{
	if (err)
		fail_msg("line %d: %s failed: %d (%s)", line, what, err,
			 f->reply.payload);
}

/* The reply's NUL-separated strings joined with ','. */
static const char *listing(struct fixture *f)
{
	static char text[XENSTORE_PAYLOAD_MAX + 1];
	uint32_t i;

	for (i = 0; i < f->reply.hdr.len; i++)
		text[i] = f->reply.payload[i] ? f->reply.payload[i] : ',';
	text[i] = '\0';
	return text;
}

static const char *read_value(struct fixture *f, struct memconn *mc,
			      uint32_t tx, const char *path)
{
	int err = RQ(f, mc, tx, XS_READ, path);

	if (err)
		fail_msg("READ %s: %d (%s)", path, err, f->reply.payload);
	return f->reply.payload;
}

static const char *directory(struct fixture *f, struct memconn *mc,
			     uint32_t tx, const char *path)
{
	int err = RQ(f, mc, tx, XS_DIRECTORY, path);

	if (err)
		fail_msg("DIRECTORY %s: %d (%s)", path, err, f->reply.payload);
	return listing(f);
}

static const char *perms_of(struct fixture *f, struct memconn *mc,
			    const char *path)
{
	int err = RQ(f, mc, 0, XS_GET_PERMS, path);

	if (err)
		fail_msg("GET_PERMS %s: %d (%s)", path, err, f->reply.payload);
	return listing(f);
}

static uint32_t tx_start(struct fixture *f, struct memconn *mc)
{
	char *end;
	unsigned long id;

	assert_int_equal(memconn_call(mc, XS_TRANSACTION_START, 0, "", 1,
				      &f->reply), 0);
	assert_int_equal(f->reply.hdr.len, strlen(f->reply.payload) + 1);
	id = strtoul(f->reply.payload, &end, 10);
	assert_true(*end == '\0' && id != 0 && id <= UINT32_MAX);
	return (uint32_t)id;
}

static int tx_end(struct fixture *f, struct memconn *mc, uint32_t tx,
		  bool commit)
{
	return RQ(f, mc, tx, XS_TRANSACTION_END, commit ? "T" : "F");
}

static unsigned int drain_events(struct memconn *mc)
{
	struct memconn_event ev;
	unsigned int count = 0;

	while (memconn_next_event(mc, &ev))
		count++;
	return count;
}

static void watch(struct fixture *f, struct memconn *mc, const char *path,
		  const char *token)
{
	struct memconn_event ev;

	OK(f, mc, 0, XS_WATCH, path, token);
	assert_true(memconn_next_event(mc, &ev));
	assert_string_equal(ev.path, path);
}

/* The next event's path, or "" if none is waiting. */
static const char *next_event(struct memconn *mc)
{
	static struct memconn_event ev;

	if (!memconn_next_event(mc, &ev))
		return "";
	return ev.path;
}

/* Introduce guest @domid and give it its home, as a toolstack does. */
static struct memconn *introduce_guest(struct fixture *f, uint32_t domid)
{
	char id[16], home[32], owner[16];

	snprintf(id, sizeof(id), "%u", domid);
	snprintf(home, sizeof(home), "/local/domain/%u", domid);
	snprintf(owner, sizeof(owner), "n%u", domid);
	OK(f, f->a, 0, XS_INTRODUCE, id, "1", "1");
	assert_non_null(f->guests[domid]);
	OK(f, f->a, 0, XS_WRITE, home, "");
	OK(f, f->a, 0, XS_SET_PERMS, home, owner);
	return f->guests[domid];
}

/* --- The initial tree and plain requests -------------------------------- */

static void test_initial_tree(void **state)
{
	struct fixture *f = *state;

	assert_string_equal(directory(f, f->a, 0, "/"), "tool,");
	assert_string_equal(directory(f, f->a, 0, "/tool"), "xenstored,");
	assert_string_equal(directory(f, f->a, 0, "/tool/xenstored"), "");
	assert_string_equal(perms_of(f, f->a, "/"), "n0,");
	assert_string_equal(perms_of(f, f->a, "/tool"), "n0,");
	assert_string_equal(perms_of(f, f->a, "/tool/xenstored"), "n0,");
	read_value(f, f->a, 0, "/");
	assert_int_equal(f->reply.hdr.len, 0);
	assert_int_equal(RQ(f, f->a, 0, XS_READ, "/local"), ENOENT);
	assert_int_equal(server_connection_count(f->server), 2);
}

static void test_write_then_read(void **state)
{
	struct fixture *f = *state;
	static const char binary[] = "bin\0ary\0\xff";

	OK(f, f->a, 0, XS_WRITE, "/a/b", "hello");
	assert_string_equal(read_value(f, f->a, 0, "/a/b"), "hello");
	assert_int_equal(f->reply.hdr.len, 5);
	/* Another connection sees it at once. */
	assert_string_equal(read_value(f, f->b, 0, "/a/b"), "hello");

	OK(f, f->a, 0, XS_WRITE, "/a/b", "");
	read_value(f, f->a, 0, "/a/b");
	assert_int_equal(f->reply.hdr.len, 0);

	assert_int_equal(memconn_call(f->a, XS_WRITE, 0, "/a/b\0bin\0ary\0\xff",
				      5 + sizeof(binary) - 1, &f->reply), 0);
	read_value(f, f->a, 0, "/a/b");
	assert_int_equal(f->reply.hdr.len, sizeof(binary) - 1);
	assert_memory_equal(f->reply.payload, binary, sizeof(binary) - 1);
}

static void test_write_creates_missing_parents(void **state)
{
	struct fixture *f = *state;

	OK(f, f->a, 0, XS_SET_PERMS, "/", "r0");
	OK(f, f->a, 0, XS_WRITE, "/p/q/r", "v");
	read_value(f, f->a, 0, "/p");
	assert_int_equal(f->reply.hdr.len, 0);
	read_value(f, f->a, 0, "/p/q");
	assert_int_equal(f->reply.hdr.len, 0);
	assert_string_equal(directory(f, f->a, 0, "/"), "tool,p,");
	assert_string_equal(directory(f, f->a, 0, "/p"), "q,");
	assert_string_equal(directory(f, f->a, 0, "/p/q"), "r,");
	/* Each new node copies the nearest existing ancestor's perms. */
	assert_string_equal(perms_of(f, f->a, "/p"), "r0,");
	assert_string_equal(perms_of(f, f->a, "/p/q/r"), "r0,");
}

static void test_mkdir(void **state)
{
	struct fixture *f = *state;

	OK(f, f->a, 0, XS_MKDIR, "/d/e");
	read_value(f, f->a, 0, "/d/e");
	assert_int_equal(f->reply.hdr.len, 0);
	OK(f, f->a, 0, XS_WRITE, "/d/e", "kept");
	OK(f, f->a, 0, XS_MKDIR, "/d/e");
	assert_string_equal(read_value(f, f->a, 0, "/d/e"), "kept");
	assert_string_equal(directory(f, f->a, 0, "/d"), "e,");
}

static void test_rm(void **state)
{
	struct fixture *f = *state;

	OK(f, f->a, 0, XS_WRITE, "/r/a/b", "1");
	OK(f, f->a, 0, XS_WRITE, "/r/a/c", "2");
	OK(f, f->a, 0, XS_WRITE, "/r/z", "3");
	OK(f, f->a, 0, XS_RM, "/r/a");
	assert_int_equal(RQ(f, f->a, 0, XS_READ, "/r/a"), ENOENT);
	assert_int_equal(RQ(f, f->a, 0, XS_READ, "/r/a/b"), ENOENT);
	assert_int_equal(RQ(f, f->a, 0, XS_DIRECTORY, "/r/a"), ENOENT);
	assert_string_equal(directory(f, f->a, 0, "/r"), "z,");
	/* Gone already, parent there: fine.  Parent gone too: ENOENT. */
	OK(f, f->a, 0, XS_RM, "/r/a");
	assert_int_equal(RQ(f, f->a, 0, XS_RM, "/r/a/b"), ENOENT);
	assert_int_equal(RQ(f, f->a, 0, XS_RM, "/"), EINVAL);
	/* What was removed can be created again, empty. */
	OK(f, f->a, 0, XS_MKDIR, "/r/a");
	assert_string_equal(directory(f, f->a, 0, "/r/a"), "");
	assert_string_equal(directory(f, f->a, 0, "/r"), "z,a,");
}

static void test_directory_keeps_creation_order(void **state)
{
	struct fixture *f = *state;

	OK(f, f->a, 0, XS_MKDIR, "/o/zeta");
	OK(f, f->a, 0, XS_MKDIR, "/o/alpha");
	OK(f, f->a, 0, XS_WRITE, "/o/mid", "");
	OK(f, f->a, 0, XS_WRITE, "/o/alpha", "rewritten");
	assert_string_equal(directory(f, f->a, 0, "/o"), "zeta,alpha,mid,");
	OK(f, f->a, 0, XS_RM, "/o/zeta");
	OK(f, f->a, 0, XS_MKDIR, "/o/zeta");
	assert_string_equal(directory(f, f->a, 0, "/o"), "alpha,mid,zeta,");
	assert_int_equal(RQ(f, f->a, 0, XS_DIRECTORY, "/nowhere"), ENOENT);
}

/* DIRECTORY_PART: "<generation>\0" and whole names; a final "\0" ends it. */
static void test_directory_part(void **state)
{
	struct fixture *f = *state;
	char name[128], whole[8192], offset[16];
	size_t whole_len, got = 0;
	unsigned int i, calls = 0;
	char generation[32];

	OK(f, f->a, 0, XS_MKDIR, "/dp/x");
	OK(f, f->a, 0, XS_MKDIR, "/dp/yy");
	OK(f, f->a, 0, XS_DIRECTORY_PART, "/dp", "0");
	assert_true(f->reply.hdr.len > 0);
	assert_true(strlen(f->reply.payload) < sizeof(generation));
	memcpy(generation, f->reply.payload, strlen(f->reply.payload) + 1);
	assert_true(strspn(generation, "0123456789") == strlen(generation));
	assert_int_equal(f->reply.hdr.len, strlen(generation) + 1 + 6);
	assert_memory_equal(f->reply.payload + strlen(generation) + 1,
			    "x\0yy\0\0", 6);
	OK(f, f->a, 0, XS_DIRECTORY_PART, "/dp", "2");
	assert_memory_equal(f->reply.payload + strlen(f->reply.payload) + 1,
			    "yy\0\0", 4);
	/* Past the end: an empty list. */
	OK(f, f->a, 0, XS_DIRECTORY_PART, "/dp", "100");
	assert_memory_equal(f->reply.payload + strlen(f->reply.payload) + 1,
			    "\0", 1);
	/* A change of the children changes the generation. */
	OK(f, f->a, 0, XS_MKDIR, "/dp/z");
	OK(f, f->a, 0, XS_DIRECTORY_PART, "/dp", "0");
	assert_string_not_equal(f->reply.payload, generation);

	/* A listing too big for one reply comes in parts of whole names. */
	for (i = 0; i < 60; i++) {
		snprintf(name, sizeof(name), "/big/%098u", i);
		OK(f, f->a, 0, XS_MKDIR, name);
	}
	whole_len = 60 * 99;
	assert_int_equal(RQ(f, f->a, 0, XS_DIRECTORY, "/big"), E2BIG);
	for (;;) {
		size_t gen_len, part;

		snprintf(offset, sizeof(offset), "%zu", got);
		OK(f, f->a, 0, XS_DIRECTORY_PART, "/big", offset);
		assert_true(++calls <= 3);
		gen_len = strlen(f->reply.payload) + 1;
		part = f->reply.hdr.len - gen_len;
		assert_true(part > 0);
		assert_true(got + part <= whole_len + 1);
		memcpy(whole + got, f->reply.payload + gen_len, part);
		got += part;
		if (got == whole_len + 1)
			break;
		/* Not the last part: whole names only. */
		assert_int_equal(part % 99, 0);
	}
	assert_int_equal(calls, 2);
	assert_int_equal(whole[whole_len], '\0');
	for (i = 0; i < 60; i++) {
		snprintf(name, sizeof(name), "%098u", i);
		assert_string_equal(whole + i * 99, name);
	}
}

/* The whole listing of @path through DIRECTORY_PART, names joined with
 * ','; every part has the same generation. */
static char *listing_in_parts(struct fixture *f, struct memconn *mc,
			      uint32_t tx, const char *path)
{
	char *list = talloc_strdup(f, ""), generation[32] = "", offset[16];
	size_t got = 0;

	for (;;) {
		size_t gen_len, part, at;

		snprintf(offset, sizeof(offset), "%zu", got);
		OK(f, mc, tx, XS_DIRECTORY_PART, path, offset);
		gen_len = strlen(f->reply.payload) + 1;
		if (*generation)
			assert_string_equal(f->reply.payload, generation);
		else
			memcpy(generation, f->reply.payload, gen_len);
		part = f->reply.hdr.len - gen_len;
		for (at = gen_len; at < f->reply.hdr.len; ) {
			const char *name = f->reply.payload + at;

			if (!*name && at + 1 == f->reply.hdr.len)
				return list;	/* the end marker */
			list = talloc_asprintf_append(list, "%s,", name);
			at += strlen(name) + 1;
		}
		got += part;
	}
}

/*
 * A directory big enough for the store to keep its children in chunks
 * (store/chunks.h) answers DIRECTORY_PART, across chunk boundaries, as
 * the list in creation order: after removals at its start, middle and
 * end, a name created again at its end, and a transaction that adds a
 * child and lists it before committing.
 */
static void test_big_directory_listing_through_requests(void **state)
{
	struct fixture *f = *state;
	char path[128], *model = talloc_strdup(f, "");
	unsigned int i;
	uint32_t tx;

	for (i = 0; i < 300; i++) {
		snprintf(path, sizeof(path),
			 "/vm/%08u-0000-0000-0000-000000000000", i);
		OK(f, f->a, 0, XS_MKDIR, path);
	}
	assert_int_equal(RQ(f, f->a, 0, XS_DIRECTORY, "/vm"), E2BIG);
	for (i = 0; i < 300; i++) {
		if (i == 0 || i == 1 || i == 150 || i == 299)
			continue;
		model = talloc_asprintf_append(model,
			"%08u-0000-0000-0000-000000000000,", i);
	}
	OK(f, f->a, 0, XS_RM, "/vm/00000000-0000-0000-0000-000000000000");
	OK(f, f->a, 0, XS_RM, "/vm/00000001-0000-0000-0000-000000000000");
	OK(f, f->a, 0, XS_RM, "/vm/00000150-0000-0000-0000-000000000000");
	OK(f, f->a, 0, XS_RM, "/vm/00000299-0000-0000-0000-000000000000");
	assert_string_equal(listing_in_parts(f, f->a, 0, "/vm"), model);
	OK(f, f->a, 0, XS_MKDIR, "/vm/00000150-0000-0000-0000-000000000000");
	model = talloc_asprintf_append(model,
		"00000150-0000-0000-0000-000000000000,");
	assert_string_equal(listing_in_parts(f, f->b, 0, "/vm"), model);

	tx = tx_start(f, f->a);
	OK(f, f->a, tx, XS_WRITE, "/vm/in-tx/name", "x");
	model = talloc_asprintf_append(model, "in-tx,");
	assert_string_equal(listing_in_parts(f, f->a, tx, "/vm"), model);
	assert_int_equal(tx_end(f, f->a, tx, true), 0);
	assert_string_equal(listing_in_parts(f, f->b, 0, "/vm"), model);
	/* Down to a few children: DIRECTORY answers again, in order. */
	for (i = 2; i < 299; i++) {
		if (i == 150)
			continue;
		snprintf(path, sizeof(path),
			 "/vm/%08u-0000-0000-0000-000000000000", i);
		OK(f, f->a, 0, XS_RM, path);
	}
	assert_string_equal(directory(f, f->a, 0, "/vm"),
			    "00000150-0000-0000-0000-000000000000,in-tx,");
}

static void test_get_and_set_perms(void **state)
{
	struct fixture *f = *state;

	OK(f, f->a, 0, XS_WRITE, "/perm", "v");
	assert_string_equal(perms_of(f, f->a, "/perm"), "n0,");
	OK(f, f->a, 0, XS_SET_PERMS, "/perm", "r0", "w5", "b7", "n9");
	assert_string_equal(perms_of(f, f->a, "/perm"), "r0,w5,b7,n9,");
	/* Changing permissions leaves the value alone. */
	assert_string_equal(read_value(f, f->a, 0, "/perm"), "v");

	assert_int_equal(RQ(f, f->a, 0, XS_SET_PERMS, "/perm", "x0"), EINVAL);
	assert_int_equal(RQ(f, f->a, 0, XS_SET_PERMS, "/perm", "r"), EINVAL);
	assert_int_equal(RQ(f, f->a, 0, XS_SET_PERMS, "/perm", "r0", "q1"),
			 EINVAL);
	assert_int_equal(RQ(f, f->a, 0, XS_SET_PERMS, "/perm"), EINVAL);
	assert_int_equal(RQ(f, f->a, 0, XS_SET_PERMS, "/missing", "r0"),
			 ENOENT);
	/* The owner must be a domain that exists. */
	assert_int_equal(RQ(f, f->a, 0, XS_SET_PERMS, "/perm", "n7"), ENOENT);
	assert_string_equal(perms_of(f, f->a, "/perm"), "r0,w5,b7,n9,");
	/* Existing is enough: libxl hands nodes over before INTRODUCE. */
	f->states[7] = DOMAIN_RUNNING;
	OK(f, f->a, 0, XS_SET_PERMS, "/perm", "n7", "r0");
	assert_string_equal(perms_of(f, f->a, "/perm"), "n7,r0,");
	assert_int_equal(RQ(f, f->a, 0, XS_GET_PERMS, "/missing"), ENOENT);
}

static void test_get_domain_path(void **state)
{
	struct fixture *f = *state;

	OK(f, f->a, 0, XS_GET_DOMAIN_PATH, "5");
	assert_string_equal(f->reply.payload, "/local/domain/5");
	assert_int_equal(f->reply.hdr.len, sizeof("/local/domain/5"));
	OK(f, f->a, 0, XS_GET_DOMAIN_PATH, "32752");
	assert_string_equal(f->reply.payload, "/local/domain/32752");
	/* atoi's leniency, as Xen's. */
	OK(f, f->a, 0, XS_GET_DOMAIN_PATH, "abc");
	assert_string_equal(f->reply.payload, "/local/domain/0");
	assert_int_equal(RQ(f, f->a, 0, XS_GET_DOMAIN_PATH, "1", "2"), EINVAL);
}

static void test_malformed_arguments_are_einval(void **state)
{
	struct fixture *f = *state;
	static const struct {
		uint32_t type;
		const char *payload;
		uint32_t len;
	} bad[] = {
		{ XS_READ, "", 0 },
		{ XS_READ, "/tool", 5 },
		{ XS_READ, "/tool\0x\0", 8 },
		{ XS_READ, "\0", 1 },
		{ XS_DIRECTORY, "/tool\0\0", 7 },
		{ XS_GET_PERMS, "/tool\0/tool\0", 12 },
		{ XS_MKDIR, "/m\0x\0", 5 },
		{ XS_RM, "/tool\0/\0", 8 },
		{ XS_WRITE, "/nonul", 6 },
		{ XS_WRITE, "", 0 },
		{ XS_WATCH, "/w\0", 3 },
		/* A third argument is a depth (WATCHDEPTH); a fourth none. */
		{ XS_WATCH, "/w\0t\0" "1\0x\0", 9 },
		{ XS_WATCH, "/w\0t\0" "-1\0", 8 },
		{ XS_UNWATCH, "/w\0", 3 },
		{ XS_SET_PERMS, "/tool", 5 },
		{ XS_SET_PERMS, "/tool\0n0", 8 },
		{ XS_DIRECTORY_PART, "/tool\0", 6 },
		{ XS_GET_DOMAIN_PATH, "", 0 },
		{ XS_READ, "/a b\0", 5 },
		{ XS_READ, "/a/\0", 4 },
		{ XS_WRITE, "//a\0v", 5 },
		{ XS_READ, "@introduceDomain\0", 17 },
		{ XS_WRITE, "@releaseDomain\0v", 16 },
		{ XS_MKDIR, "@introduceDomain\0", 17 },
		{ XS_RM, "@introduceDomain\0", 17 },
		{ XS_DIRECTORY, "@releaseDomain\0", 15 },
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int err = memconn_call(f->a, bad[i].type, 0, bad[i].payload,
				       bad[i].len, &f->reply);

		if (err != EINVAL)
			fail_msg("case %zu (type %u): %d (%s), not EINVAL", i,
				 bad[i].type, err, f->reply.payload);
	}
	/* Nothing was created on the way. */
	assert_string_equal(directory(f, f->a, 0, "/"), "tool,");
}

/* Xen 4.17 limits every caller to 2048 bytes after the domain prefix. */
static void test_path_length_limit_for_dom0(void **state)
{
	struct fixture *f = *state;
	char path[2200];

	memset(path, 'a', sizeof(path));
	memcpy(path, "/local/domain/0/", 16);
	path[16 + 2048] = '\0';
	OK(f, f->a, 0, XS_WRITE, path, "v");
	path[16 + 2048] = 'a';
	path[16 + 2049] = '\0';
	assert_int_equal(RQ(f, f->a, 0, XS_WRITE, path, "v"), EINVAL);
	/* Relative: the same limit. */
	assert_int_equal(RQ(f, f->a, 0, XS_WRITE, path + 16, "v"), EINVAL);
	path[16 + 2048] = '\0';
	OK(f, f->a, 0, XS_READ, path + 16);
}

/* --- Transactions ------------------------------------------------------- */

static void test_transaction_isolation(void **state)
{
	struct fixture *f = *state;
	uint32_t tx;

	OK(f, f->a, 0, XS_WRITE, "/iso/old", "before");
	tx = tx_start(f, f->a);
	OK(f, f->a, tx, XS_WRITE, "/iso/old", "inside");
	OK(f, f->a, tx, XS_WRITE, "/iso/new", "fresh");
	/* Inside: its own changes.  Outside, even on the same connection:
	 * none of them. */
	assert_string_equal(read_value(f, f->a, tx, "/iso/old"), "inside");
	assert_string_equal(directory(f, f->a, tx, "/iso"), "old,new,");
	assert_string_equal(read_value(f, f->b, 0, "/iso/old"), "before");
	assert_string_equal(read_value(f, f->a, 0, "/iso/old"), "before");
	assert_int_equal(RQ(f, f->b, 0, XS_READ, "/iso/new"), ENOENT);
	assert_string_equal(directory(f, f->b, 0, "/iso"), "old,");

	assert_int_equal(tx_end(f, f->a, tx, true), 0);
	assert_string_equal(read_value(f, f->b, 0, "/iso/old"), "inside");
	assert_string_equal(read_value(f, f->b, 0, "/iso/new"), "fresh");
}

/* Changes made by others after the start are not seen inside. */
static void test_transaction_sees_a_snapshot_of_what_it_read(void **state)
{
	struct fixture *f = *state;
	uint32_t tx;

	OK(f, f->a, 0, XS_WRITE, "/snap", "1");
	tx = tx_start(f, f->a);
	assert_string_equal(read_value(f, f->a, tx, "/snap"), "1");
	OK(f, f->b, 0, XS_WRITE, "/snap", "2");
	assert_string_equal(read_value(f, f->a, tx, "/snap"), "1");
	assert_int_equal(tx_end(f, f->a, tx, false), 0);
}

static void test_transaction_commit_is_atomic(void **state)
{
	struct fixture *f = *state;
	uint32_t tx;

	OK(f, f->a, 0, XS_WRITE, "/at/old", "x");
	watch(f, f->b, "/at", "t");
	tx = tx_start(f, f->a);
	OK(f, f->a, tx, XS_WRITE, "/at/one", "1");
	OK(f, f->a, tx, XS_WRITE, "/at/two", "2");
	OK(f, f->a, tx, XS_RM, "/at/old");
	OK(f, f->a, tx, XS_SET_PERMS, "/at/one", "r0");
	assert_string_equal(directory(f, f->b, 0, "/at"), "old,");
	assert_int_equal(drain_events(f->b), 0);
	assert_int_equal(tx_end(f, f->a, tx, true), 0);
	assert_string_equal(directory(f, f->b, 0, "/at"), "one,two,");
	assert_string_equal(read_value(f, f->b, 0, "/at/two"), "2");
	assert_string_equal(perms_of(f, f->b, "/at/one"), "r0,");
	/* Events only now, for each change. */
	assert_true(drain_events(f->b) >= 3);
}

static void test_transaction_abort_changes_and_fires_nothing(void **state)
{
	struct fixture *f = *state;
	uint32_t tx;

	OK(f, f->a, 0, XS_WRITE, "/ab/keep", "k");
	watch(f, f->b, "/", "all");
	watch(f, f->a, "/", "all");
	tx = tx_start(f, f->a);
	OK(f, f->a, tx, XS_WRITE, "/ab/new", "n");
	OK(f, f->a, tx, XS_RM, "/ab/keep");
	OK(f, f->a, tx, XS_MKDIR, "/ab/dir");
	assert_int_equal(tx_end(f, f->a, tx, false), 0);
	assert_int_equal(drain_events(f->a), 0);
	assert_int_equal(drain_events(f->b), 0);
	assert_string_equal(directory(f, f->b, 0, "/ab"), "keep,");
	/* The id is gone. */
	assert_int_equal(tx_end(f, f->a, tx, false), ENOENT);
}

static void test_read_modify_write_conflict_is_eagain(void **state)
{
	struct fixture *f = *state;
	uint32_t tx;

	OK(f, f->a, 0, XS_WRITE, "/counter", "1");
	tx = tx_start(f, f->a);
	assert_string_equal(read_value(f, f->a, tx, "/counter"), "1");
	OK(f, f->b, 0, XS_WRITE, "/counter", "5");
	OK(f, f->a, tx, XS_WRITE, "/counter", "2");
	OK(f, f->a, tx, XS_WRITE, "/other", "side effect");
	assert_int_equal(tx_end(f, f->a, tx, true), EAGAIN);
	assert_string_equal(read_value(f, f->a, 0, "/counter"), "5");
	assert_int_equal(RQ(f, f->a, 0, XS_READ, "/other"), ENOENT);
	/* The retry, as a client does it, commits. */
	tx = tx_start(f, f->a);
	assert_string_equal(read_value(f, f->a, tx, "/counter"), "5");
	OK(f, f->a, tx, XS_WRITE, "/counter", "6");
	assert_int_equal(tx_end(f, f->a, tx, true), 0);
	assert_string_equal(read_value(f, f->b, 0, "/counter"), "6");
}

/* Two transactions of the same connection conflict like any others. */
static void test_conflict_between_transactions_of_one_connection(void **state)
{
	struct fixture *f = *state;
	uint32_t t1, t2;

	OK(f, f->a, 0, XS_WRITE, "/both", "0");
	t1 = tx_start(f, f->a);
	t2 = tx_start(f, f->a);
	assert_int_not_equal(t1, t2);
	assert_string_equal(read_value(f, f->a, t1, "/both"), "0");
	assert_string_equal(read_value(f, f->a, t2, "/both"), "0");
	OK(f, f->a, t1, XS_WRITE, "/both", "1");
	OK(f, f->a, t2, XS_WRITE, "/both", "2");
	assert_string_equal(read_value(f, f->a, t2, "/both"), "2");
	assert_int_equal(tx_end(f, f->a, t1, true), 0);
	assert_int_equal(tx_end(f, f->a, t2, true), EAGAIN);
	assert_string_equal(read_value(f, f->a, 0, "/both"), "1");
}

static void test_transactions_adding_different_children_both_commit(
	void **state)
{
	struct fixture *f = *state;
	uint32_t t1, t2;

	OK(f, f->a, 0, XS_MKDIR, "/vms");
	t1 = tx_start(f, f->a);
	t2 = tx_start(f, f->b);
	OK(f, f->a, t1, XS_WRITE, "/vms/1/name", "one");
	OK(f, f->b, t2, XS_WRITE, "/vms/2/name", "two");
	OK(f, f->b, t2, XS_MKDIR, "/vms/2/device");
	assert_int_equal(tx_end(f, f->a, t1, true), 0);
	assert_int_equal(tx_end(f, f->b, t2, true), 0);
	assert_string_equal(directory(f, f->a, 0, "/vms"), "1,2,");
	assert_string_equal(read_value(f, f->a, 0, "/vms/1/name"), "one");
	assert_string_equal(read_value(f, f->a, 0, "/vms/2/name"), "two");
	assert_string_equal(directory(f, f->a, 0, "/vms/2"), "name,device,");
}

static void test_transaction_that_listed_the_parent_conflicts(void **state)
{
	struct fixture *f = *state;
	uint32_t t1, t2;

	OK(f, f->a, 0, XS_MKDIR, "/list");
	t1 = tx_start(f, f->a);
	t2 = tx_start(f, f->b);
	assert_string_equal(directory(f, f->a, t1, "/list"), "");
	OK(f, f->a, t1, XS_WRITE, "/list/mine", "1");
	OK(f, f->b, t2, XS_WRITE, "/list/theirs", "2");
	assert_int_equal(tx_end(f, f->b, t2, true), 0);
	assert_int_equal(tx_end(f, f->a, t1, true), EAGAIN);
	assert_string_equal(directory(f, f->a, 0, "/list"), "theirs,");
}

/* The same child created by both: the second is no longer a creation. */
static void test_transactions_creating_the_same_node(void **state)
{
	struct fixture *f = *state;
	uint32_t t1, t2;

	t1 = tx_start(f, f->a);
	t2 = tx_start(f, f->b);
	OK(f, f->a, t1, XS_WRITE, "/same/node", "a");
	OK(f, f->b, t2, XS_WRITE, "/same/node", "b");
	assert_int_equal(tx_end(f, f->a, t1, true), 0);
	/* A blind write either way: committing it gives a serial outcome. */
	assert_int_equal(tx_end(f, f->b, t2, true), 0);
	assert_string_equal(read_value(f, f->a, 0, "/same/node"), "b");
	assert_string_equal(directory(f, f->a, 0, "/same"), "node,");
}

static void test_blind_write_commits(void **state)
{
	struct fixture *f = *state;
	uint32_t tx;

	OK(f, f->a, 0, XS_WRITE, "/blind", "old");
	tx = tx_start(f, f->a);
	OK(f, f->a, tx, XS_WRITE, "/blind", "tx");
	OK(f, f->b, 0, XS_WRITE, "/blind", "other");
	assert_int_equal(tx_end(f, f->a, tx, true), 0);
	assert_string_equal(read_value(f, f->b, 0, "/blind"), "tx");
}

static void test_read_only_transaction_commits_if_reads_hold(void **state)
{
	struct fixture *f = *state;
	uint32_t tx;

	OK(f, f->a, 0, XS_WRITE, "/ro/x", "1");
	tx = tx_start(f, f->a);
	assert_string_equal(read_value(f, f->a, tx, "/ro/x"), "1");
	assert_string_equal(directory(f, f->a, tx, "/ro"), "x,");
	/* Changes elsewhere, and a rewrite with the same value. */
	OK(f, f->b, 0, XS_WRITE, "/elsewhere", "2");
	OK(f, f->b, 0, XS_WRITE, "/ro/x", "1");
	assert_int_equal(tx_end(f, f->a, tx, true), 0);
}

static void test_read_only_transaction_fails_if_a_read_changed(void **state)
{
	struct fixture *f = *state;
	uint32_t tx;

	OK(f, f->a, 0, XS_WRITE, "/ro2/x", "1");
	tx = tx_start(f, f->a);
	assert_string_equal(read_value(f, f->a, tx, "/ro2/x"), "1");
	OK(f, f->b, 0, XS_WRITE, "/ro2/x", "2");
	assert_int_equal(tx_end(f, f->a, tx, true), EAGAIN);

	tx = tx_start(f, f->a);
	OK(f, f->a, tx, XS_GET_PERMS, "/ro2/x");
	assert_string_equal(listing(f), "n0,");
	OK(f, f->b, 0, XS_SET_PERMS, "/ro2/x", "r0");
	assert_int_equal(tx_end(f, f->a, tx, true), EAGAIN);
}

/* Having seen a node missing is an observation too. */
static void test_observed_absence_conflicts(void **state)
{
	struct fixture *f = *state;
	uint32_t tx;

	tx = tx_start(f, f->a);
	assert_int_equal(RQ(f, f->a, tx, XS_READ, "/absent"), ENOENT);
	OK(f, f->a, tx, XS_WRITE, "/decided", "because absent");
	OK(f, f->b, 0, XS_WRITE, "/absent", "now here");
	assert_int_equal(tx_end(f, f->a, tx, true), EAGAIN);
	assert_int_equal(RQ(f, f->a, 0, XS_READ, "/decided"), ENOENT);
}

static void test_removal_inside_a_transaction(void **state)
{
	struct fixture *f = *state;
	uint32_t tx;

	OK(f, f->a, 0, XS_WRITE, "/rmt/a/b", "1");
	tx = tx_start(f, f->a);
	OK(f, f->a, tx, XS_RM, "/rmt/a");
	assert_int_equal(RQ(f, f->a, tx, XS_READ, "/rmt/a/b"), ENOENT);
	assert_string_equal(directory(f, f->a, tx, "/rmt"), "");
	assert_string_equal(read_value(f, f->b, 0, "/rmt/a/b"), "1");
	/* Created again inside, below what it removed. */
	OK(f, f->a, tx, XS_WRITE, "/rmt/a/c", "2");
	assert_int_equal(RQ(f, f->a, tx, XS_READ, "/rmt/a/b"), ENOENT);
	assert_string_equal(directory(f, f->a, tx, "/rmt/a"), "c,");
	assert_int_equal(tx_end(f, f->a, tx, true), 0);
	assert_int_equal(RQ(f, f->b, 0, XS_READ, "/rmt/a/b"), ENOENT);
	assert_string_equal(directory(f, f->b, 0, "/rmt/a"), "c,");
}

static void test_reset_watches_ends_transactions(void **state)
{
	struct fixture *f = *state;
	uint32_t t1, t2;

	t1 = tx_start(f, f->a);
	t2 = tx_start(f, f->a);
	OK(f, f->a, t1, XS_WRITE, "/reset", "lost");
	OK(f, f->a, 0, XS_RESET_WATCHES, "");
	assert_int_equal(RQ(f, f->a, t1, XS_READ, "/reset"), ENOENT);
	assert_int_equal(f->reply.hdr.type, XS_ERROR);
	assert_int_equal(tx_end(f, f->a, t1, true), ENOENT);
	assert_int_equal(tx_end(f, f->a, t2, true), ENOENT);
	assert_int_equal(RQ(f, f->a, 0, XS_READ, "/reset"), ENOENT);

	/* Sent inside a transaction, it ends that one too. */
	t1 = tx_start(f, f->a);
	OK(f, f->a, t1, XS_RESET_WATCHES, "");
	assert_int_equal(tx_end(f, f->a, t1, true), ENOENT);
	/* Another connection's transactions are not touched. */
	t2 = tx_start(f, f->b);
	OK(f, f->a, 0, XS_RESET_WATCHES, "");
	assert_int_equal(tx_end(f, f->b, t2, true), 0);
}

static void test_nested_transaction_start_is_ebusy(void **state)
{
	struct fixture *f = *state;
	uint32_t tx = tx_start(f, f->a);

	assert_int_equal(memconn_call(f->a, XS_TRANSACTION_START, tx, "", 1,
				      &f->reply), EBUSY);
	assert_int_equal(f->reply.hdr.tx_id, tx);
	/* The outer one lives on. */
	OK(f, f->a, tx, XS_WRITE, "/nested", "v");
	assert_int_equal(tx_end(f, f->a, tx, true), 0);
}

static void test_unknown_transaction_is_enoent(void **state)
{
	struct fixture *f = *state;
	uint32_t tx;

	assert_int_equal(RQ(f, f->a, 12345, XS_READ, "/tool"), ENOENT);
	assert_int_equal(RQ(f, f->a, 12345, XS_WRITE, "/t", "v"), ENOENT);
	assert_int_equal(tx_end(f, f->a, 12345, true), ENOENT);
	assert_int_equal(tx_end(f, f->a, 0, true), ENOENT);
	/* A transaction belongs to its connection. */
	tx = tx_start(f, f->a);
	assert_int_equal(RQ(f, f->b, tx, XS_READ, "/tool"), ENOENT);
	assert_int_equal(tx_end(f, f->b, tx, true), ENOENT);
	assert_int_equal(RQ(f, f->a, 0, XS_READ, "/t"), ENOENT);
	/* WATCH and UNWATCH ignore the id. */
	OK(f, f->a, 777, XS_WATCH, "/w", "t");
	OK(f, f->a, 778, XS_UNWATCH, "/w", "t");
	assert_int_equal(tx_end(f, f->a, tx, true), 0);
}

static void test_transaction_end_argument(void **state)
{
	struct fixture *f = *state;
	uint32_t tx = tx_start(f, f->a);

	OK(f, f->a, tx, XS_WRITE, "/endarg", "v");
	assert_int_equal(RQ(f, f->a, tx, XS_TRANSACTION_END, "X"), EINVAL);
	assert_int_equal(RQ(f, f->a, tx, XS_TRANSACTION_END, "TT"), EINVAL);
	assert_int_equal(memconn_call(f->a, XS_TRANSACTION_END, tx, "T", 1,
				      &f->reply), EINVAL);
	/* Still there, and commits. */
	assert_string_equal(read_value(f, f->a, tx, "/endarg"), "v");
	assert_int_equal(tx_end(f, f->a, tx, true), 0);
	assert_string_equal(read_value(f, f->a, 0, "/endarg"), "v");
}

/*
 * A transaction sees a node another connection has removed meanwhile,
 * with its parent.  Removing it there is no memory failure: the commit
 * must fail as any conflict does, with EAGAIN, so that clients retry.
 */
static void test_rm_in_transaction_after_parent_went_elsewhere(void **state)
{
	struct fixture *f = *state;
	uint32_t tx;
	int err;

	OK(f, f->a, 0, XS_WRITE, "/gone/child", "v");
	tx = tx_start(f, f->a);
	assert_string_equal(read_value(f, f->a, tx, "/gone/child"), "v");
	OK(f, f->b, 0, XS_RM, "/gone");
	err = RQ(f, f->a, tx, XS_RM, "/gone/child");
	/* Xen 4.17 answers EINVAL (no parent); OK would do as well. */
	if (err != 0 && err != EINVAL)
		fail_msg("RM in the transaction: %d (%s)", err,
			 f->reply.payload);
	assert_int_equal(tx_end(f, f->a, tx, true), EAGAIN);
	assert_int_equal(RQ(f, f->a, 0, XS_READ, "/gone"), ENOENT);
	assert_int_equal(control_check_store(f->server), 0);
}

/* A quota reached between a transaction's request and its commit. */
static void test_commit_hits_a_quota_reached_meanwhile(void **state)
{
	struct fixture *f = *state;
	struct memconn *g;
	uint32_t t1, t2;

	restart_with_quota(f, "nodes", 4);
	g = introduce_guest(f, 5);
	t1 = tx_start(f, g);
	t2 = tx_start(f, g);
	OK(f, g, t1, XS_WRITE, "a", "1");
	OK(f, g, t1, XS_WRITE, "b", "2");
	OK(f, g, t2, XS_WRITE, "c", "3");
	OK(f, g, t2, XS_WRITE, "d", "4");
	assert_int_equal(tx_end(f, g, t1, true), 0);
	assert_int_equal(tx_end(f, g, t2, true), ENOSPC);
	/* All or nothing. */
	assert_int_equal(RQ(f, g, 0, XS_READ, "c"), ENOENT);
	assert_string_equal(directory(f, g, 0, "/local/domain/5"), "a,b,");
}

/* A quota error after the transaction changed its view fails it whole. */
static void test_failed_transaction_commits_nothing(void **state)
{
	struct fixture *f = *state;
	char big[300];
	struct memconn *g;
	uint32_t tx;

	restart_with_quota(f, "node-size", 100);
	g = introduce_guest(f, 5);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	OK(f, g, 0, XS_WRITE, "b", "small");
	tx = tx_start(f, g);
	OK(f, g, tx, XS_WRITE, "a", "1");
	assert_int_equal(RQ(f, g, tx, XS_WRITE, "b", big), ENOSPC);
	assert_int_equal(tx_end(f, g, tx, true), ENOMEM);
	assert_int_equal(RQ(f, g, 0, XS_READ, "a"), ENOENT);
	assert_string_equal(read_value(f, g, 0, "b"), "small");
}

static void test_transaction_nodes_quota(void **state)
{
	struct fixture *f = *state;
	struct memconn *g;
	uint32_t tx;

	restart_with_quota(f, "transaction-nodes", 3);
	g = introduce_guest(f, 5);
	tx = tx_start(f, g);
	OK(f, g, tx, XS_WRITE, "a", "1");
	assert_int_equal(RQ(f, g, tx, XS_WRITE, "b/c/d", "2"), ENOSPC);
	assert_int_equal(tx_end(f, g, tx, true), ENOMEM);
	assert_int_equal(RQ(f, g, 0, XS_READ, "a"), ENOENT);
	/* dom0 is not limited. */
	tx = tx_start(f, f->a);
	OK(f, f->a, tx, XS_WRITE, "/q/r/s/t/u", "1");
	assert_int_equal(tx_end(f, f->a, tx, true), 0);
}

/* --- CONTROL ------------------------------------------------------------ */

static void test_control_check_and_help(void **state)
{
	struct fixture *f = *state;

	OK(f, f->a, 0, XS_CONTROL, "check");
	assert_string_equal(f->reply.payload, "OK");
	assert_int_equal(control_check_store(f->server), 0);
	OK(f, f->a, 0, XS_CONTROL, "help");
	assert_non_null(strstr(f->reply.payload, "check"));
	assert_non_null(strstr(f->reply.payload, "quota"));
	assert_int_equal(RQ(f, f->a, 0, XS_CONTROL, "no-such-command"),
			 EINVAL);
	OK(f, f->a, 0, XS_CONTROL, "print", "hello from a test");
}

/* The checker itself finds what is wrong (here made wrong behind its back). */
static void test_control_check_finds_a_broken_store(void **state)
{
	struct fixture *f = *state;
	struct store *store = f->server->store;
	struct node *orphan;

	assert_int_equal(control_check_store(f->server), 0);
	assert_int_equal(store_delete(store, "/tool/xenstored"), 0);
	assert_true(control_check_store(f->server) >= 1);
	orphan = store_fetch(store, f, "/tool");
	assert_non_null(orphan);
	assert_int_equal(store_put(store, "/nowhere/orphan", orphan), 0);
	assert_true(control_check_store(f->server) >= 3);
	talloc_free(orphan);
}

/*
 * A model of the tree under /m: what a serial run of the requests must
 * leave.  Transactions reach it at commit, as their replay does.
 */
#define MODEL_NAMES "abc"
#define MODEL_SLOTS 40	/* /m, then 3 + 9 + 27 paths below it */

struct model_node {
	bool exists;
	char value[16];
	char perms[32];		/* the wire form, ',' for NUL */
	char children[16];	/* names in creation order */
};

struct model {
	struct model_node node[MODEL_SLOTS];
};

enum model_op { OP_WRITE, OP_MKDIR, OP_RM, OP_SET_PERMS };

struct logged_op {
	enum model_op op;
	int slot;
	char arg[16];
};

/* Slot of a path given as component letters ("" is /m). */
static int model_slot(const char *names)
{
	int slot = 0;

	for (; *names; names++)
		slot = slot * 3 + 1 + (int)(strchr(MODEL_NAMES, *names) -
					    MODEL_NAMES);
	return slot;
}

static void model_path(int slot, char *path, size_t size)
{
	char names[4];
	int depth = 0, i;

	while (slot) {
		names[depth++] = MODEL_NAMES[(slot - 1) % 3];
		slot = (slot - 1) / 3;
	}
	strcpy(path, "/m");
	for (i = depth - 1; i >= 0; i--)
		snprintf(path + strlen(path), size - strlen(path), "/%c",
			 names[i]);
}

static int model_parent(int slot)
{
	return slot ? (slot - 1) / 3 : -1;
}

static char model_name(int slot)
{
	return MODEL_NAMES[(slot - 1) % 3];
}

/* Perms of the nearest existing ancestor ("/" is "n0" in these tests). */
static const char *model_inherited(const struct model *m, int slot)
{
	for (slot = model_parent(slot); slot >= 0; slot = model_parent(slot))
		if (m->node[slot].exists)
			return m->node[slot].perms;
	return "n0,";
}

static void model_create(struct model *m, int slot)
{
	struct model_node *n = &m->node[slot];
	int parent = model_parent(slot);
	size_t len;

	if (n->exists)
		return;
	if (parent >= 0)
		model_create(m, parent);
	snprintf(n->perms, sizeof(n->perms), "%s", model_inherited(m, slot));
	n->exists = true;
	n->value[0] = '\0';
	n->children[0] = '\0';
	if (parent >= 0) {
		len = strlen(m->node[parent].children);
		m->node[parent].children[len] = model_name(slot);
		m->node[parent].children[len + 1] = '\0';
	}
}

static void model_remove(struct model *m, int slot)
{
	struct model_node *n = &m->node[slot];
	int parent = model_parent(slot), i;

	if (!n->exists)
		return;
	for (i = 0; i < 3 && slot * 3 + 1 + i < MODEL_SLOTS; i++)
		model_remove(m, slot * 3 + 1 + i);
	n->exists = false;
	if (parent >= 0) {
		char *c = strchr(m->node[parent].children, model_name(slot));

		memmove(c, c + 1, strlen(c));
	}
}

/* Apply one request to the model; returns the error it must get. */
static int model_apply(struct model *m, const struct logged_op *op)
{
	int parent = model_parent(op->slot);

	switch (op->op) {
	case OP_WRITE:
		model_create(m, op->slot);
		snprintf(m->node[op->slot].value,
			 sizeof(m->node[op->slot].value), "%s", op->arg);
		return 0;
	case OP_MKDIR:
		model_create(m, op->slot);
		return 0;
	case OP_RM:
		if (m->node[op->slot].exists) {
			model_remove(m, op->slot);
			return 0;
		}
		return parent < 0 || m->node[parent].exists ? 0 : ENOENT;
	case OP_SET_PERMS:
		if (!m->node[op->slot].exists)
			return ENOENT;
		snprintf(m->node[op->slot].perms,
			 sizeof(m->node[op->slot].perms), "%s", op->arg);
		return 0;
	}
	return EINVAL;
}

/* A small, fixed pseudo-random sequence: the same run every time. */
static unsigned int next_random(unsigned int *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return (*seed >> 16) & 0x7fff;
}

static void random_op(unsigned int *seed, struct logged_op *op)
{
	static const char *const perm_choices[] = {
		"n0,", "r0,", "b0,r3,", "w0,n5,b6,",
	};
	char names[4];
	unsigned int depth = 1 + next_random(seed) % 3, i, r;

	for (i = 0; i < depth; i++)
		names[i] = MODEL_NAMES[next_random(seed) % 3];
	names[depth] = '\0';
	op->slot = model_slot(names);
	r = next_random(seed) % 10;
	op->op = r < 4 ? OP_WRITE : r < 6 ? OP_MKDIR : r < 9 ? OP_RM
							       : OP_SET_PERMS;
	if (op->op == OP_WRITE)
		snprintf(op->arg, sizeof(op->arg), "v%u",
			 next_random(seed) % 100);
	else if (op->op == OP_SET_PERMS)
		snprintf(op->arg, sizeof(op->arg), "%s",
			 perm_choices[next_random(seed) % 4]);
}

/* Send @op; returns the daemon's answer. */
static int send_op(struct fixture *f, struct memconn *mc, uint32_t tx,
		   const struct logged_op *op)
{
	char path[32], payload[64];
	size_t len, i;

	model_path(op->slot, path, sizeof(path));
	switch (op->op) {
	case OP_WRITE:
		return RQ(f, mc, tx, XS_WRITE, path, op->arg);
	case OP_MKDIR:
		return RQ(f, mc, tx, XS_MKDIR, path);
	case OP_RM:
		return RQ(f, mc, tx, XS_RM, path);
	case OP_SET_PERMS:
		len = (size_t)snprintf(payload, sizeof(payload), "%s,%s",
				       path, op->arg);
		for (i = 0; i < len; i++)
			if (payload[i] == ',')
				payload[i] = '\0';
		return memconn_call(mc, XS_SET_PERMS, tx, payload,
				    (uint32_t)len, &f->reply);
	}
	return -1;
}

static void check_against_model(struct fixture *f, const struct model *m)
{
	char path[32], want[32];
	int slot;
	size_t i;

	for (slot = 0; slot < MODEL_SLOTS; slot++) {
		const struct model_node *n = &m->node[slot];

		model_path(slot, path, sizeof(path));
		if (!n->exists) {
			if (RQ(f, f->a, 0, XS_READ, path) != ENOENT)
				fail_msg("%s exists, the model has none", path);
			continue;
		}
		assert_string_equal(read_value(f, f->a, 0, path), n->value);
		assert_string_equal(perms_of(f, f->a, path), n->perms);
		for (i = 0; n->children[i]; i++) {
			want[2 * i] = n->children[i];
			want[2 * i + 1] = ',';
		}
		want[2 * i] = '\0';
		assert_string_equal(directory(f, f->a, 0, path), want);
	}
}

struct client {
	struct memconn *mc;
	uint32_t tx;
	struct logged_op log[64];
	unsigned int logged;
};

static void test_random_operations_match_a_model(void **state)
{
	struct fixture *f = *state;
	struct model model = { 0 };
	struct client clients[2] = { { .mc = f->a }, { .mc = f->b } };
	unsigned int seed = 20240601, step, commits = 0, conflicts = 0;
	unsigned int i;

	for (step = 0; step < 3000; step++) {
		struct client *c = &clients[next_random(&seed) % 2];
		unsigned int r = next_random(&seed) % 20;
		struct logged_op op;
		int err;

		if (r == 0 && !c->tx) {
			c->tx = tx_start(f, c->mc);
			c->logged = 0;
			continue;
		}
		if ((r == 1 || c->logged == 64) && c->tx) {
			bool commit = next_random(&seed) % 4 != 0;

			err = tx_end(f, c->mc, c->tx, commit);
			c->tx = 0;
			if (!commit) {
				assert_int_equal(err, 0);
				continue;
			}
			if (err == EAGAIN) {
				conflicts++;
				continue;
			}
			assert_int_equal(err, 0);
			commits++;
			for (i = 0; i < c->logged; i++)
				model_apply(&model, &c->log[i]);
			continue;
		}
		random_op(&seed, &op);
		if (c->tx && next_random(&seed) % 4 == 0) {
			char path[32];

			/* A read inside: something the commit depends on. */
			model_path(op.slot, path, sizeof(path));
			err = RQ(f, c->mc, c->tx, step % 2 ? XS_READ
							   : XS_DIRECTORY, path);
			assert_true(err == 0 || err == ENOENT);
			continue;
		}
		if (c->tx && next_random(&seed) % 2) {
			err = send_op(f, c->mc, c->tx, &op);
			/* EINVAL: removing what the transaction still sees
			 * below a parent removed meanwhile (as Xen 4.17). */
			if (err != 0 && err != ENOENT && err != EINVAL)
				fail_msg("step %u: op %d on slot %d in a "
					 "transaction: %d (%s)", step, op.op,
					 op.slot, err, f->reply.payload);
			c->log[c->logged++] = op;
			continue;
		}
		err = send_op(f, c->mc, 0, &op);
		if (err != model_apply(&model, &op))
			fail_msg("step %u: answer %d (%s), the model says %d",
				 step, err, f->reply.payload,
				 model_apply(&model, &op));
		if (step % 100 == 0)
			check_against_model(f, &model);
	}
	for (i = 0; i < 2; i++)
		if (clients[i].tx)
			assert_int_equal(tx_end(f, clients[i].mc,
						clients[i].tx, false), 0);
	check_against_model(f, &model);
	/* The run did exercise both outcomes of a commit. */
	assert_true(commits > 0);
	assert_true(conflicts > 0);
	assert_int_equal(control_check_store(f->server), 0);
	OK(f, f->a, 0, XS_CONTROL, "check");
	assert_string_equal(f->reply.payload, "OK");
}

/* --- Unprivileged callers ----------------------------------------------- */

/*
 * A connection from another domid is unprivileged even without a ring
 * (but, never introduced, its domain owns nothing and is named by no
 * permission entry that counts).
 */
static void test_plain_connection_from_a_guest_domid(void **state)
{
	struct fixture *f = *state;
	struct memconn *g = memconn_new(f, f->server, 5);

	assert_non_null(g);
	assert_int_equal(RQ(f, g, 0, XS_CONTROL, "check"), EACCES);
	assert_int_equal(RQ(f, g, 0, XS_READ, "/tool"), EACCES);
	assert_int_equal(RQ(f, g, 0, XS_WRITE, "/x", "v"), EACCES);
	OK(f, f->a, 0, XS_WRITE, "/open", "o");
	OK(f, f->a, 0, XS_SET_PERMS, "/open", "b0");
	assert_string_equal(read_value(f, g, 0, "/open"), "o");
	OK(f, g, 0, XS_WRITE, "/open/mine", "m");
	assert_string_equal(perms_of(f, f->a, "/open/mine"), "b5,");
	OK(f, g, 0, XS_GET_DOMAIN_PATH, "5");
	assert_string_equal(f->reply.payload, "/local/domain/5");
	/* Its relative paths are below its home. */
	OK(f, f->a, 0, XS_MKDIR, "/local/domain/5");
	OK(f, f->a, 0, XS_SET_PERMS, "/local/domain/5", "b0");
	OK(f, g, 0, XS_WRITE, "rel", "r");
	assert_string_equal(read_value(f, f->a, 0, "/local/domain/5/rel"), "r");
}

static void test_guest_cannot_read_dom0_nodes(void **state)
{
	struct fixture *f = *state;
	struct memconn *g = introduce_guest(f, 5);

	assert_int_equal(RQ(f, g, 0, XS_READ, "/tool"), EACCES);
	assert_int_equal(RQ(f, g, 0, XS_READ, "/"), EACCES);
	assert_int_equal(RQ(f, g, 0, XS_DIRECTORY, "/"), EACCES);
	assert_int_equal(RQ(f, g, 0, XS_GET_PERMS, "/tool/xenstored"), EACCES);
	assert_int_equal(RQ(f, g, 0, XS_DIRECTORY_PART, "/tool", "0"), EACCES);
	assert_int_equal(RQ(f, g, 0, XS_WRITE, "/tool/x", "v"), EACCES);
	assert_int_equal(RQ(f, g, 0, XS_WRITE, "/newtop", "v"), EACCES);
	assert_int_equal(RQ(f, g, 0, XS_MKDIR, "/tool/y"), EACCES);
	assert_int_equal(RQ(f, g, 0, XS_RM, "/tool"), EACCES);
	assert_int_equal(RQ(f, g, 0, XS_SET_PERMS, "/tool", "n5"), EACCES);
	assert_string_equal(directory(f, f->a, 0, "/tool"), "xenstored,");
	assert_int_equal(RQ(f, f->a, 0, XS_READ, "/newtop"), ENOENT);
}

static void test_guest_missing_node_eacces_or_enoent(void **state)
{
	struct fixture *f = *state;
	struct memconn *g = introduce_guest(f, 5);

	/* Below an ancestor it may not read: it may not know. */
	assert_int_equal(RQ(f, g, 0, XS_READ, "/tool/missing"), EACCES);
	assert_int_equal(RQ(f, g, 0, XS_READ, "/missing/deeper"), EACCES);
	assert_int_equal(RQ(f, g, 0, XS_READ, "/local/domain/6"), EACCES);
	/* Below its own home: plain ENOENT. */
	assert_int_equal(RQ(f, g, 0, XS_READ, "/local/domain/5/missing"),
			 ENOENT);
	assert_int_equal(RQ(f, g, 0, XS_READ, "missing/deeper"), ENOENT);
	OK(f, g, 0, XS_RM, "missing");
}

static void test_guest_owner_has_full_access(void **state)
{
	struct fixture *f = *state;
	struct memconn *g = introduce_guest(f, 5);

	/* Home is "n5": none for others, everything for the owner. */
	OK(f, g, 0, XS_WRITE, "data", "mine");
	assert_string_equal(read_value(f, g, 0, "data"), "mine");
	assert_string_equal(read_value(f, g, 0, "/local/domain/5/data"),
			    "mine");
	assert_string_equal(read_value(f, f->a, 0, "/local/domain/5/data"),
			    "mine");
	assert_string_equal(directory(f, g, 0, "/local/domain/5"), "data,");
	OK(f, g, 0, XS_SET_PERMS, "data", "n5", "r0");
	assert_string_equal(perms_of(f, g, "data"), "n5,r0,");
	OK(f, g, 0, XS_MKDIR, "dir/sub");
	OK(f, g, 0, XS_RM, "dir");
	assert_string_equal(directory(f, g, 0, "/local/domain/5"), "data,");
}

static void test_guest_permission_entries(void **state)
{
	struct fixture *f = *state;
	struct memconn *g = introduce_guest(f, 5);
	struct memconn *other = introduce_guest(f, 6);

	OK(f, f->a, 0, XS_WRITE, "/ro", "r");
	OK(f, f->a, 0, XS_SET_PERMS, "/ro", "n0", "r5");
	OK(f, f->a, 0, XS_WRITE, "/wo", "w");
	OK(f, f->a, 0, XS_SET_PERMS, "/wo", "n0", "w5");
	OK(f, f->a, 0, XS_WRITE, "/deny", "d");
	OK(f, f->a, 0, XS_SET_PERMS, "/deny", "r0", "n5");
	OK(f, f->a, 0, XS_WRITE, "/first", "f");
	OK(f, f->a, 0, XS_SET_PERMS, "/first", "n0", "r5", "w5");

	assert_string_equal(read_value(f, g, 0, "/ro"), "r");
	assert_int_equal(RQ(f, g, 0, XS_WRITE, "/ro", "x"), EACCES);
	OK(f, g, 0, XS_WRITE, "/wo", "written");
	assert_int_equal(RQ(f, g, 0, XS_READ, "/wo"), EACCES);
	assert_string_equal(read_value(f, f->a, 0, "/wo"), "written");
	/* An entry for the domain beats the default... */
	assert_int_equal(RQ(f, g, 0, XS_READ, "/deny"), EACCES);
	assert_string_equal(read_value(f, other, 0, "/deny"), "d");
	/* ...and the first entry naming it wins. */
	assert_string_equal(read_value(f, g, 0, "/first"), "f");
	assert_int_equal(RQ(f, g, 0, XS_WRITE, "/first", "x"), EACCES);
	/* Entries for others do not apply. */
	assert_int_equal(RQ(f, other, 0, XS_READ, "/ro"), EACCES);
	/* Write access is not ownership. */
	assert_int_equal(RQ(f, g, 0, XS_SET_PERMS, "/wo", "n0", "b5"), EACCES);
}

/* A domain introduced after a node was last changed gets none of its
 * entries: a reused domid must not inherit old rights. */
static void test_guest_entries_older_than_the_domain_are_ignored(
	void **state)
{
	struct fixture *f = *state;
	struct memconn *g;

	OK(f, f->a, 0, XS_WRITE, "/stale", "s");
	OK(f, f->a, 0, XS_SET_PERMS, "/stale", "n0", "r5");
	g = introduce_guest(f, 5);
	assert_int_equal(RQ(f, g, 0, XS_READ, "/stale"), EACCES);
	assert_string_equal(perms_of(f, f->a, "/stale"), "n0,r5,");
	OK(f, f->a, 0, XS_SET_PERMS, "/stale", "n0", "r5");
	assert_string_equal(read_value(f, g, 0, "/stale"), "s");
}

static void test_guest_creator_becomes_owner(void **state)
{
	struct fixture *f = *state;
	struct memconn *g = introduce_guest(f, 5);

	OK(f, f->a, 0, XS_MKDIR, "/pub");
	OK(f, f->a, 0, XS_SET_PERMS, "/pub", "b0", "r7");
	OK(f, g, 0, XS_WRITE, "/pub/g/h", "v");
	assert_string_equal(perms_of(f, f->a, "/pub/g"), "b5,r7,");
	assert_string_equal(perms_of(f, f->a, "/pub/g/h"), "b5,r7,");
	/* dom0 creating below keeps the inherited owner. */
	OK(f, f->a, 0, XS_WRITE, "/pub/g/h/i", "v");
	assert_string_equal(perms_of(f, f->a, "/pub/g/h/i"), "b5,r7,");
	OK(f, f->a, 0, XS_WRITE, "/pub/d0", "v");
	assert_string_equal(perms_of(f, f->a, "/pub/d0"), "b0,r7,");
	/* Now the guest owns it: it may change its permissions. */
	OK(f, g, 0, XS_SET_PERMS, "/pub/g", "n5");
	assert_int_equal(RQ(f, introduce_guest(f, 6), 0, XS_READ, "/pub/g"),
			 EACCES);
}

static void test_guest_cannot_change_the_owner(void **state)
{
	struct fixture *f = *state;
	struct memconn *g = introduce_guest(f, 5);

	OK(f, g, 0, XS_WRITE, "x", "v");
	assert_int_equal(RQ(f, g, 0, XS_SET_PERMS, "x", "n0"), EPERM);
	assert_int_equal(RQ(f, g, 0, XS_SET_PERMS, "x", "b0", "r5"), EPERM);
	/* An owner that is no domain is checked first, as Xen does. */
	assert_int_equal(RQ(f, g, 0, XS_SET_PERMS, "x", "b6", "r5"), ENOENT);
	assert_string_equal(perms_of(f, g, "x"), "n5,");
	OK(f, g, 0, XS_SET_PERMS, "x", "r5", "w0");
	assert_string_equal(perms_of(f, g, "x"), "r5,w0,");
	/* dom0 may. */
	OK(f, f->a, 0, XS_SET_PERMS, "/local/domain/5/x", "n0");
	assert_int_equal(RQ(f, g, 0, XS_READ, "x"), EACCES);
}

static void test_guest_privileged_requests_are_eacces(void **state)
{
	struct fixture *f = *state;
	struct memconn *g = introduce_guest(f, 5);

	assert_int_equal(RQ(f, g, 0, XS_CONTROL, "check"), EACCES);
	assert_int_equal(RQ(f, g, 0, XS_INTRODUCE, "9", "1", "1"), EACCES);
	assert_int_equal(RQ(f, g, 0, XS_IS_DOMAIN_INTRODUCED, "5"), EACCES);
	assert_int_equal(RQ(f, g, 0, XS_RELEASE, "5"), EACCES);
	/* Privilege is checked before the transaction id, as in Xen. */
	assert_int_equal(RQ(f, g, 0x4242, XS_CONTROL, "check"), EACCES);
	assert_int_equal(RQ(f, g, 0x4242, XS_RESUME, "5"), EACCES);
	OK(f, g, 0, XS_GET_DOMAIN_PATH, "5");
	assert_string_equal(f->reply.payload, "/local/domain/5");
}

static void test_guest_node_quota(void **state)
{
	struct fixture *f = *state;
	struct memconn *g;

	restart_with_quota(f, "nodes", 4);
	g = introduce_guest(f, 5);
	/* It owns its home: three more. */
	OK(f, g, 0, XS_WRITE, "a", "1");
	OK(f, g, 0, XS_MKDIR, "b");
	OK(f, g, 0, XS_WRITE, "c", "3");
	assert_int_equal(RQ(f, g, 0, XS_WRITE, "d", "4"), ENOSPC);
	assert_int_equal(RQ(f, g, 0, XS_MKDIR, "d"), ENOSPC);
	assert_int_equal(RQ(f, g, 0, XS_READ, "d"), ENOENT);
	/* Rewriting what exists costs nothing. */
	OK(f, g, 0, XS_WRITE, "a", "again");
	OK(f, g, 0, XS_RM, "c");
	OK(f, g, 0, XS_WRITE, "d", "4");
	/* dom0 is not counted against. */
	OK(f, f->a, 0, XS_WRITE, "/local/domain/0/many/1", "");
	OK(f, f->a, 0, XS_WRITE, "/local/domain/0/many/2", "");
	assert_string_equal(directory(f, g, 0, "/local/domain/5"), "a,b,d,");
}

static void test_guest_node_quota_counts_implicit_parents(void **state)
{
	struct fixture *f = *state;
	struct memconn *g;

	restart_with_quota(f, "nodes", 4);
	g = introduce_guest(f, 5);
	assert_int_equal(RQ(f, g, 0, XS_WRITE, "p/q/r/s", "v"), ENOSPC);
	assert_int_equal(RQ(f, g, 0, XS_READ, "p"), ENOENT);
	OK(f, g, 0, XS_WRITE, "p/q/r", "v");
	assert_int_equal(RQ(f, g, 0, XS_WRITE, "p/x", "v"), ENOSPC);
}

/* Inside a transaction the count includes what the transaction created. */
static void test_guest_node_quota_in_a_transaction(void **state)
{
	struct fixture *f = *state;
	struct memconn *g;
	uint32_t tx;
	int err;

	restart_with_quota(f, "nodes", 4);
	g = introduce_guest(f, 5);
	tx = tx_start(f, g);
	OK(f, g, tx, XS_WRITE, "a", "1");
	OK(f, g, tx, XS_WRITE, "b", "2");
	OK(f, g, tx, XS_WRITE, "c", "3");
	assert_int_equal(RQ(f, g, tx, XS_WRITE, "d", "4"), ENOSPC);
	err = tx_end(f, g, tx, true);
	assert_true(err == 0 || err == ENOMEM);
	assert_int_equal(RQ(f, g, 0, XS_READ, "d"), ENOENT);
	assert_int_equal(control_check_store(f->server), 0);
}

static void test_guest_node_size_quota(void **state)
{
	struct fixture *f = *state;
	char big[200];
	struct memconn *g;
	unsigned int i;
	int err;

	restart_with_quota(f, "node-size", 100);
	g = introduce_guest(f, 5);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	OK(f, g, 0, XS_WRITE, "small", "fits");
	assert_int_equal(RQ(f, g, 0, XS_WRITE, "small", big), ENOSPC);
	assert_string_equal(read_value(f, g, 0, "small"), "fits");
	assert_int_equal(RQ(f, g, 0, XS_WRITE, "new", big), ENOSPC);
	assert_int_equal(RQ(f, g, 0, XS_READ, "new"), ENOENT);
	/* Children count too: the home fills up with names. */
	for (i = 0, err = 0; i < 40 && !err; i++) {
		char name[32];

		snprintf(name, sizeof(name), "child-with-a-long-name-%u", i);
		err = RQ(f, g, 0, XS_MKDIR, name);
	}
	assert_int_equal(err, ENOSPC);
	assert_true(i > 1);
	/* dom0 is not limited. */
	OK(f, f->a, 0, XS_WRITE, "/local/domain/5/small", big);
	assert_int_equal(control_check_store(f->server), 0);
}

static void test_guest_other_quotas(void **state)
{
	struct fixture *f = *state;
	struct memconn *g;

	restart_with_quota(f, "transactions", 2);
	g = introduce_guest(f, 5);
	tx_start(f, g);
	tx_start(f, g);
	assert_int_equal(memconn_call(g, XS_TRANSACTION_START, 0, "", 1,
				      &f->reply), ENOSPC);
	tx_start(f, f->a);
	tx_start(f, f->a);
	tx_start(f, f->a);

	restart_with_quota(f, "watches", 2);
	g = introduce_guest(f, 5);
	watch(f, g, "w1", "t");
	watch(f, g, "w2", "t");
	assert_int_equal(RQ(f, g, 0, XS_WATCH, "w3", "t"), E2BIG);
	OK(f, g, 0, XS_UNWATCH, "w1", "t");
	watch(f, g, "w3", "t");

	restart_with_quota(f, "permissions", 2);
	g = introduce_guest(f, 5);
	OK(f, g, 0, XS_WRITE, "p", "");
	OK(f, g, 0, XS_SET_PERMS, "p", "n5", "r0");
	assert_int_equal(RQ(f, g, 0, XS_SET_PERMS, "p", "n5", "r0", "r1"),
			 ENOSPC);
	OK(f, f->a, 0, XS_SET_PERMS, "/local/domain/5/p", "n5", "r0", "r1");
}

static void test_guest_path_length_limit(void **state)
{
	struct fixture *f = *state;
	struct memconn *g = introduce_guest(f, 5);
	char path[2100];
	size_t i;

	/* Short components: no node's listing grows past its size quota. */
	for (i = 0; i < sizeof(path); i++)
		path[i] = i % 100 == 99 ? '/' : 'a';
	path[2048] = '\0';
	OK(f, g, 0, XS_WRITE, path, "v");
	path[2048] = 'a';
	path[2049] = '\0';
	assert_int_equal(RQ(f, g, 0, XS_WRITE, path, "v"), EINVAL);
}

static void test_guest_sees_only_events_it_may_read(void **state)
{
	struct fixture *f = *state;
	struct memconn *g = introduce_guest(f, 5);

	watch(f, g, "/", "all");
	OK(f, f->a, 0, XS_WRITE, "/secret", "s");
	assert_int_equal(drain_events(g), 0);
	OK(f, f->a, 0, XS_WRITE, "/local/domain/5/seen", "v");
	assert_string_equal(next_event(g), "/local/domain/5/seen");
	assert_string_equal(next_event(g), "");
	/* Perms taken away: the old ones let it see that change. */
	OK(f, f->a, 0, XS_SET_PERMS, "/local/domain/5/seen", "n0");
	assert_string_equal(next_event(g), "/local/domain/5/seen");
	OK(f, f->a, 0, XS_WRITE, "/local/domain/5/seen", "hidden");
	/* Its parent is readable: still told. */
	assert_string_equal(next_event(g), "/local/domain/5/seen");
	OK(f, f->a, 0, XS_WRITE, "/secret/below", "s");
	assert_int_equal(drain_events(g), 0);
	OK(f, f->a, 0, XS_RM, "/local/domain/5");
	assert_string_equal(next_event(g), "/local/domain/5");
}

static void test_special_watches_need_permission(void **state)
{
	struct fixture *f = *state;
	struct memconn *g = introduce_guest(f, 5);

	watch(f, f->b, "@introduceDomain", "i");
	watch(f, f->b, "@releaseDomain", "r");
	watch(f, g, "@introduceDomain", "i");
	introduce_guest(f, 6);
	assert_string_equal(next_event(f->b), "@introduceDomain");
	assert_int_equal(drain_events(f->b), 0);
	assert_int_equal(drain_events(g), 0);

	OK(f, f->a, 0, XS_SET_PERMS, "@introduceDomain", "n0", "r5");
	introduce_guest(f, 7);
	assert_string_equal(next_event(g), "@introduceDomain");
	assert_string_equal(next_event(f->b), "@introduceDomain");
	/* Introducing a known domain again announces nothing new. */
	OK(f, f->a, 0, XS_INTRODUCE, "7", "1", "1");
	assert_int_equal(drain_events(g), 0);

	OK(f, f->a, 0, XS_RELEASE, "6");
	assert_string_equal(next_event(f->b), "@releaseDomain");
	assert_int_equal(drain_events(g), 0);
}

static void test_domain_requests(void **state)
{
	struct fixture *f = *state;
	struct memconn *g;

	OK(f, f->a, 0, XS_IS_DOMAIN_INTRODUCED, "5");
	assert_string_equal(f->reply.payload, "F");
	g = introduce_guest(f, 5);
	OK(f, f->a, 0, XS_IS_DOMAIN_INTRODUCED, "5");
	assert_string_equal(f->reply.payload, "T");
	OK(f, f->a, 0, XS_IS_DOMAIN_INTRODUCED, "0");
	assert_string_equal(f->reply.payload, "T");
	OK(f, g, 0, XS_WRITE, "alive", "1");

	assert_int_equal(RQ(f, f->a, 0, XS_RELEASE, "0"), EINVAL);
	assert_int_equal(RQ(f, f->a, 0, XS_RELEASE, "9"), ENOENT);
	OK(f, f->a, 0, XS_RELEASE, "5");
	assert_true(memconn_destroyed(g));
	OK(f, f->a, 0, XS_IS_DOMAIN_INTRODUCED, "5");
	assert_string_equal(f->reply.payload, "F");
	assert_int_equal(server_connection_count(f->server), 2);
}

/* A dead domain's connection goes, and so do the nodes it owned. */
static void test_domain_death_removes_its_nodes(void **state)
{
	struct fixture *f = *state;
	struct memconn *g = introduce_guest(f, 5);
	struct memconn *survivor = introduce_guest(f, 6);

	OK(f, f->a, 0, XS_MKDIR, "/pub");
	OK(f, f->a, 0, XS_SET_PERMS, "/pub", "b0");
	OK(f, g, 0, XS_WRITE, "/pub/by5/x", "v");
	OK(f, survivor, 0, XS_WRITE, "/pub/by6", "v");
	watch(f, f->b, "@releaseDomain", "r");
	watch(f, f->b, "/pub/by5/x", "x");

	f->states[5] = DOMAIN_SHUTDOWN;
	server_check_domains(f->server);
	assert_string_equal(next_event(f->b), "@releaseDomain");
	assert_false(memconn_destroyed(g));
	/* Reported once. */
	server_check_domains(f->server);
	assert_int_equal(drain_events(f->b), 0);

	f->states[5] = DOMAIN_DYING;
	server_check_domains(f->server);
	assert_true(memconn_destroyed(g));
	assert_false(memconn_destroyed(survivor));
	assert_int_equal(RQ(f, f->a, 0, XS_READ, "/local/domain/5"), ENOENT);
	assert_int_equal(RQ(f, f->a, 0, XS_READ, "/pub/by5"), ENOENT);
	assert_string_equal(directory(f, f->a, 0, "/pub"), "by6,");
	assert_string_equal(read_value(f, survivor, 0, "/pub/by6"), "v");
	assert_true(drain_events(f->b) >= 2);
	assert_int_equal(control_check_store(f->server), 0);
}

/* A failed query of the hypervisor is not a death: asked again at the tick. */
static void test_unknown_domain_state_is_not_a_death(void **state)
{
	struct fixture *f = *state;
	struct memconn *g = introduce_guest(f, 5);

	OK(f, g, 0, XS_WRITE, "data", "v");
	watch(f, f->b, "@releaseDomain", "r");
	f->states[5] = DOMAIN_UNKNOWN;
	server_check_domains(f->server);
	assert_false(memconn_destroyed(g));
	assert_int_equal(drain_events(f->b), 0);
	assert_string_equal(read_value(f, f->a, 0, "/local/domain/5/data"),
			    "v");
	assert_string_equal(read_value(f, g, 0, "data"), "v");
	/* Still unknown at the tick: still there. */
	server_tick(f->server, 1);
	assert_false(memconn_destroyed(g));
	/* The tick asks again, and this time the answer is a death. */
	f->states[5] = DOMAIN_DYING;
	server_tick(f->server, 2);
	assert_true(memconn_destroyed(g));
	assert_int_equal(RQ(f, f->a, 0, XS_READ, "/local/domain/5"), ENOENT);
	assert_string_equal(next_event(f->b), "@releaseDomain");
}

/* Without a doubt pending, the tick leaves the domains alone. */
static void test_tick_checks_domains_only_after_a_doubt(void **state)
{
	struct fixture *f = *state;
	struct memconn *g = introduce_guest(f, 5);

	f->states[5] = DOMAIN_DYING;
	server_tick(f->server, 1);
	assert_false(memconn_destroyed(g));
	server_check_domains(f->server);
	assert_true(memconn_destroyed(g));
}

/* SET_TARGET: a device model domain acts for its target. */
static void test_set_target(void **state)
{
	struct fixture *f = *state;
	struct memconn *g = introduce_guest(f, 5);
	struct memconn *dm = introduce_guest(f, 6);

	OK(f, g, 0, XS_WRITE, "private", "p");
	assert_int_equal(RQ(f, dm, 0, XS_READ, "/local/domain/5/private"),
			 EACCES);
	OK(f, f->a, 0, XS_SET_TARGET, "6", "5");
	assert_string_equal(read_value(f, dm, 0, "/local/domain/5/private"),
			    "p");
	OK(f, dm, 0, XS_WRITE, "/local/domain/5/private", "by dm");
	assert_string_equal(read_value(f, g, 0, "private"), "by dm");
}

struct owner_count {
	uint32_t domid;
	unsigned long nodes;
};

static int count_owned(const char *path, const struct node *node, void *arg)
{
	struct owner_count *count = arg;

	if (!node)
		return EIO;	/* a record that does not decode */
	if (node->perms.count && node->perms.entries[0].domid == count->domid)
		count->nodes++;
	return 0;
}

/* The nodes CONTROL quota reports for @domid. */
static unsigned long reported_nodes(struct fixture *f, uint32_t domid)
{
	char id[16];
	const char *line;

	snprintf(id, sizeof(id), "%u", domid);
	OK(f, f->a, 0, XS_CONTROL, "quota", id);
	line = strstr(f->reply.payload, "nodes");
	assert_non_null(line);
	line = strchr(line, ':');
	assert_non_null(line);
	return strtoul(line + 1, NULL, 10);
}

/*
 * Whatever a guest and the toolstack do below the guest's home, the
 * number of nodes it is charged for is the number it owns.
 */
static void test_guest_node_accounting_stays_exact(void **state)
{
	struct fixture *f = *state;
	struct memconn *g = introduce_guest(f, 5);
	struct owner_count count = { .domid = 5 };
	unsigned int seed = 77, step;
	uint32_t tx = 0;

	for (step = 0; step < 2000; step++) {
		char path[64];
		unsigned int r = next_random(&seed) % 12;
		struct memconn *who = r < 9 ? g : f->a;
		uint32_t in_tx = who == g ? tx : 0;
		int err;

		snprintf(path, sizeof(path), "/local/domain/5/%c/%c",
			 'a' + next_random(&seed) % 3,
			 'a' + next_random(&seed) % 3);
		if (next_random(&seed) % 2)
			path[17] = '\0';	/* one level only */
		switch (r % 6) {
		case 0:
			if (tx) {
				err = tx_end(f, g, tx, next_random(&seed) % 2);
				assert_true(err == 0 || err == EAGAIN);
				tx = 0;
			} else {
				tx = tx_start(f, g);
			}
			continue;
		case 1:
		case 2:
			err = RQ(f, who, in_tx, XS_WRITE, path, "v");
			break;
		case 3:
			err = RQ(f, who, in_tx, XS_RM, path);
			break;
		case 4:
			err = RQ(f, who, in_tx, XS_MKDIR, path);
			break;
		default:
			/* Only dom0 may give a node away, and take it back. */
			err = RQ(f, who, in_tx, XS_SET_PERMS, path,
				 who == g || next_random(&seed) % 2 ? "n5"
								    : "n0");
			break;
		}
		/* EINVAL: see test_rm_in_transaction_after_parent_went_elsewhere */
		if (err != 0 && err != ENOENT && err != EACCES && err != EINVAL)
			fail_msg("step %u: %s: %d (%s)", step, path, err,
				 f->reply.payload);
	}
	if (tx)
		tx_end(f, g, tx, true);
	assert_int_equal(store_traverse(f->server->store, count_owned, &count),
			 0);
	assert_true(count.nodes > 1);
	assert_int_equal(reported_nodes(f, 5), count.nodes);
	count.domid = 0;
	count.nodes = 0;
	assert_int_equal(store_traverse(f->server->store, count_owned, &count),
			 0);
	assert_int_equal(reported_nodes(f, 0), count.nodes);
}

/* A guest that does not take its replies is not read meanwhile. */
static void test_guest_is_not_read_while_replies_wait(void **state)
{
	struct fixture *f = *state;
	struct memconn *g = introduce_guest(f, 5);
	struct xsd_sockmsg hdr;
	char payload[XENSTORE_PAYLOAD_MAX + 1];
	char bytes[25 * 64];
	size_t len = 0;
	uint32_t i;

	memconn_set_room(g, 0);
	for (i = 0; i < 25; i++) {
		char req[32];
		int n = snprintf(req, sizeof(req), "q/%u", i);
		struct xsd_sockmsg h = {
			.type = XS_WRITE, .req_id = 100 + i,
			.len = (uint32_t)n + 1,
		};

		memcpy(bytes + len, &h, sizeof(h));
		memcpy(bytes + len + sizeof(h), req, (size_t)n + 1);
		len += sizeof(h) + (size_t)n + 1;
	}
	assert_true(memconn_send_bytes(g, bytes, len));
	/* Twenty handled (quota "outstanding"), the rest waits. */
	assert_string_equal(read_value(f, f->a, 0, "/local/domain/5/q/19"), "");
	assert_int_equal(RQ(f, f->a, 0, XS_READ, "/local/domain/5/q/20"),
			 ENOENT);
	assert_true(memconn_give_room(g, MEMCONN_UNLIMITED));
	for (i = 0; i < 25; i++) {
		assert_true(memconn_recv(g, &hdr, payload));
		assert_int_equal(hdr.type, XS_WRITE);
		assert_int_equal(hdr.req_id, 100 + i);
	}
	assert_false(memconn_recv(g, &hdr, payload));
	assert_string_equal(read_value(f, f->a, 0, "/local/domain/5/q/24"), "");
}

/*
 * A request may come in pieces, and a piece may end a request and start
 * the next; what a read leaves unhandled is all a connection keeps for
 * input, so an idle one holds no input buffer.
 */
static void test_requests_in_pieces_and_idle_input_memory(void **state)
{
	struct fixture *f = *state;
	struct connection *conn = memconn_connection(f->b);
	size_t idle = talloc_total_size(conn), len = 0;
	struct xsd_sockmsg hdr;
	char payload[XENSTORE_PAYLOAD_MAX + 1];
	char bytes[256];

	/* The output buffer and the bookkeeping, not 64 KiB of input. */
	assert_true(idle < 8192);
	for (uint32_t i = 0; i < 2; i++) {
		static const char req[] = "/piece\0value";
		struct xsd_sockmsg h = {
			.type = XS_WRITE, .req_id = 7 + i, .len = sizeof(req) - 1,
		};

		memcpy(bytes + len, &h, sizeof(h));
		memcpy(bytes + len + sizeof(h), req, sizeof(req) - 1);
		len += sizeof(h) + sizeof(req) - 1;
	}
	/* Half a header, then the rest of the first request and a part of
	 * the second, then the end of the second. */
	assert_true(memconn_send_bytes(f->b, bytes, 8));
	assert_false(memconn_recv(f->b, &hdr, payload));
	assert_true(talloc_total_size(conn) >= idle + 8);
	assert_true(memconn_send_bytes(f->b, bytes + 8, len - 8 - 3));
	assert_true(memconn_recv(f->b, &hdr, payload));
	assert_int_equal(hdr.req_id, 7);
	assert_false(memconn_recv(f->b, &hdr, payload));
	assert_true(memconn_send_bytes(f->b, bytes + len - 3, 3));
	assert_true(memconn_recv(f->b, &hdr, payload));
	assert_int_equal(hdr.type, XS_WRITE);
	assert_int_equal(hdr.req_id, 8);
	assert_string_equal(read_value(f, f->a, 0, "/piece"), "value");
	assert_int_equal(talloc_total_size(conn), idle);
}

/* Events a guest leaves untaken expire; replies never do. */
static void test_undelivered_guest_events_expire(void **state)
{
	struct fixture *f = *state;
	struct memconn *g = introduce_guest(f, 5);
	struct xsd_sockmsg hdr;
	char payload[XENSTORE_PAYLOAD_MAX + 1];

	server_tick(f->server, 1000);
	watch(f, g, "w", "t");
	watch(f, f->b, "/local/domain/5/w", "d0");
	memconn_set_room(g, 0);
	memconn_set_room(f->b, 0);
	assert_true(memconn_send(g, XS_GET_DOMAIN_PATH, 7, 0, "5", 2));
	OK(f, f->a, 0, XS_WRITE, "/local/domain/5/w", "v");
	server_tick(f->server, 1000 + 20);
	server_tick(f->server, 1000 + 21);
	assert_true(memconn_give_room(g, MEMCONN_UNLIMITED));
	assert_true(memconn_recv(g, &hdr, payload));
	assert_int_equal(hdr.type, XS_GET_DOMAIN_PATH);
	assert_int_equal(hdr.req_id, 7);
	assert_false(memconn_recv(g, &hdr, payload));
	/* dom0's events wait as long as it takes. */
	assert_true(memconn_give_room(f->b, MEMCONN_UNLIMITED));
	assert_string_equal(next_event(f->b), "/local/domain/5/w");

	/* An event the backend has started on is not cut. */
	memconn_set_room(g, 5);
	OK(f, f->a, 0, XS_WRITE, "/local/domain/5/w", "again");
	server_tick(f->server, 2000);
	assert_true(memconn_give_room(g, MEMCONN_UNLIMITED));
	assert_string_equal(next_event(g), "w");
}

/*
 * Expired events cut from between replies and fresh events: what stays
 * arrives whole and in order (they are cut in one pass over the buffer).
 */
static void test_expired_events_cut_between_what_stays(void **state)
{
	struct fixture *f = *state;
	struct memconn *g = introduce_guest(f, 5);
	struct xsd_sockmsg hdr;
	char payload[XENSTORE_PAYLOAD_MAX + 1];
	unsigned int i;

	server_tick(f->server, 1000);
	watch(f, g, "w", "t");
	memconn_set_room(g, 0);
	/* Fewer replies than the outstanding quota, so all are read. */
	for (i = 0; i < 50; i++) {
		char path[64];

		if (i % 5 == 0)
			assert_true(memconn_send(g, XS_GET_DOMAIN_PATH,
						 100 + i / 5, 0, "5", 2));
		snprintf(path, sizeof(path), "/local/domain/5/w/old%u", i);
		OK(f, f->a, 0, XS_WRITE, path, "v");
	}
	server_tick(f->server, 1010);
	OK(f, f->a, 0, XS_WRITE, "/local/domain/5/w/fresh", "v");
	assert_true(memconn_send(g, XS_GET_DOMAIN_PATH, 200, 0, "5", 2));
	server_tick(f->server, 1021);	/* the 50 "old" events expire */
	assert_true(memconn_give_room(g, MEMCONN_UNLIMITED));
	for (i = 0; i < 10; i++) {
		assert_true(memconn_recv(g, &hdr, payload));
		assert_int_equal(hdr.type, XS_GET_DOMAIN_PATH);
		assert_int_equal(hdr.req_id, 100 + i);
		assert_string_equal(payload, "/local/domain/5");
	}
	assert_true(memconn_recv(g, &hdr, payload));
	assert_int_equal(hdr.type, XS_WATCH_EVENT);
	assert_string_equal(payload, "w/fresh");
	assert_true(memconn_recv(g, &hdr, payload));
	assert_int_equal(hdr.type, XS_GET_DOMAIN_PATH);
	assert_int_equal(hdr.req_id, 200);
	assert_false(memconn_recv(g, &hdr, payload));
}

/* A ring reconnection forgets everything the connection had going. */
static void test_reset_forgets_input_output_watches_transactions(
	void **state)
{
	struct fixture *f = *state;
	struct memconn *g = introduce_guest(f, 5);
	struct xsd_sockmsg hdr = { .type = XS_READ, .req_id = 1, .len = 6 };
	char payload[XENSTORE_PAYLOAD_MAX + 1];
	uint32_t tx;

	watch(f, g, "w", "t");
	tx = tx_start(f, g);
	OK(f, g, tx, XS_WRITE, "in-tx", "v");
	memconn_set_room(g, 0);
	assert_true(memconn_send(g, XS_GET_DOMAIN_PATH, 2, 0, "5", 2));
	assert_true(memconn_send_bytes(g, &hdr, sizeof(hdr)));

	conn_reset(memconn_connection(g));
	assert_true(memconn_give_room(g, MEMCONN_UNLIMITED));
	assert_false(memconn_recv(g, &hdr, payload));
	OK(f, f->a, 0, XS_WRITE, "/local/domain/5/w", "v");
	assert_int_equal(drain_events(g), 0);
	assert_int_equal(tx_end(f, g, tx, true), ENOENT);
	/* A fresh start: whole requests from here on. */
	OK(f, g, 0, XS_READ, "w");
	assert_string_equal(f->reply.payload, "v");
}

/*
 * Empty values and listings are compared at commit like any others (no
 * bytes to compare is still a comparison; the sanitizer build checks
 * that no null pointer reaches memcmp).
 */
static void test_empty_value_and_listing_validate(void **state)
{
	struct fixture *f = *state;
	uint32_t tx;

	OK(f, f->a, 0, XS_MKDIR, "/empty");
	tx = tx_start(f, f->a);
	read_value(f, f->a, tx, "/empty");
	assert_int_equal(f->reply.hdr.len, 0);
	assert_string_equal(directory(f, f->a, tx, "/empty"), "");
	OK(f, f->a, tx, XS_WRITE, "/elsewhere", "v");
	/* A new generation, the same (empty) value and listing. */
	OK(f, f->b, 0, XS_SET_PERMS, "/empty", "n0");
	assert_int_equal(tx_end(f, f->a, tx, true), 0);
	assert_string_equal(read_value(f, f->b, 0, "/elsewhere"), "v");
}

/* Without a ring backend the domain requests are not available. */
static void test_domain_requests_need_a_backend(void **state)
{
	struct fixture *f = *state;

	server_set_domain_backend(f->server, NULL, NULL);
	assert_int_equal(RQ(f, f->a, 0, XS_INTRODUCE, "5", "1", "1"), ENOSYS);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_initial_tree),
		TEST(test_write_then_read),
		TEST(test_write_creates_missing_parents),
		TEST(test_mkdir),
		TEST(test_rm),
		TEST(test_directory_keeps_creation_order),
		TEST(test_directory_part),
		TEST(test_big_directory_listing_through_requests),
		TEST(test_get_and_set_perms),
		TEST(test_get_domain_path),
		TEST(test_malformed_arguments_are_einval),
		TEST(test_path_length_limit_for_dom0),
		TEST(test_transaction_isolation),
		TEST(test_transaction_sees_a_snapshot_of_what_it_read),
		TEST(test_transaction_commit_is_atomic),
		TEST(test_transaction_abort_changes_and_fires_nothing),
		TEST(test_read_modify_write_conflict_is_eagain),
		TEST(test_conflict_between_transactions_of_one_connection),
		TEST(test_transactions_adding_different_children_both_commit),
		TEST(test_transaction_that_listed_the_parent_conflicts),
		TEST(test_transactions_creating_the_same_node),
		TEST(test_blind_write_commits),
		TEST(test_read_only_transaction_commits_if_reads_hold),
		TEST(test_read_only_transaction_fails_if_a_read_changed),
		TEST(test_observed_absence_conflicts),
		TEST(test_removal_inside_a_transaction),
		TEST(test_reset_watches_ends_transactions),
		TEST(test_nested_transaction_start_is_ebusy),
		TEST(test_unknown_transaction_is_enoent),
		TEST(test_transaction_end_argument),
		TEST(test_rm_in_transaction_after_parent_went_elsewhere),
		TEST(test_commit_hits_a_quota_reached_meanwhile),
		TEST(test_failed_transaction_commits_nothing),
		TEST(test_transaction_nodes_quota),
		TEST(test_control_check_and_help),
		TEST(test_control_check_finds_a_broken_store),
		TEST(test_random_operations_match_a_model),
		TEST(test_plain_connection_from_a_guest_domid),
		TEST(test_guest_cannot_read_dom0_nodes),
		TEST(test_guest_missing_node_eacces_or_enoent),
		TEST(test_guest_owner_has_full_access),
		TEST(test_guest_permission_entries),
		TEST(test_guest_entries_older_than_the_domain_are_ignored),
		TEST(test_guest_creator_becomes_owner),
		TEST(test_guest_cannot_change_the_owner),
		TEST(test_guest_privileged_requests_are_eacces),
		TEST(test_guest_node_quota),
		TEST(test_guest_node_quota_counts_implicit_parents),
		TEST(test_guest_node_quota_in_a_transaction),
		TEST(test_guest_node_size_quota),
		TEST(test_guest_other_quotas),
		TEST(test_guest_path_length_limit),
		TEST(test_guest_sees_only_events_it_may_read),
		TEST(test_special_watches_need_permission),
		TEST(test_domain_requests),
		TEST(test_domain_death_removes_its_nodes),
		TEST(test_unknown_domain_state_is_not_a_death),
		TEST(test_tick_checks_domains_only_after_a_doubt),
		TEST(test_set_target),
		TEST(test_guest_node_accounting_stays_exact),
		TEST(test_guest_is_not_read_while_replies_wait),
		TEST(test_requests_in_pieces_and_idle_input_memory),
		TEST(test_undelivered_guest_events_expire),
		TEST(test_expired_events_cut_between_what_stays),
		TEST(test_reset_forgets_input_output_watches_transactions),
		TEST(test_domain_requests_need_a_backend),
		/* Last: under UBSan a failure here ends the program. */
		TEST(test_empty_value_and_listing_validate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
