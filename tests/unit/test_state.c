/*
 * The migration stream (daemon/state.c): every record written and read
 * back as it was, and every malformed stream refused before any record is
 * handed out, so that a bad image can never half-restore a daemon.
 */
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>
#include <talloc.h>

#include "daemon/state.h"

/* What the visitor saw, one line per record. */
struct seen {
	void *ctx;
	char *text;
	unsigned int records;
	int fail_at;		/* return EIO from this record (1-based), or 0 */
};

static int seen_add(struct seen *s, char *line)
{
	assert_non_null(line);
	s->text = talloc_asprintf_append(s->text, "%s\n", line);
	talloc_free(line);
	s->records++;
	return (int)s->records == s->fail_at ? EIO : 0;
}

static char *hex(void *ctx, const void *p, size_t len)
{
	char *s = talloc_strdup(ctx, "");
	size_t i;

	for (i = 0; i < len; i++)
		s = talloc_asprintf_append(s, "%02x",
					   ((const unsigned char *)p)[i]);
	return s;
}

static int see_global(void *arg, const struct state_global *g)
{
	struct seen *s = arg;

	return seen_add(s, talloc_asprintf(s->ctx, "global %d %d", g->socket_fd,
					   g->evtchn_fd));
}

static int see_connection(void *arg, const struct state_connection *c)
{
	struct seen *s = arg;
	char *data = hex(s->ctx, c->data, (size_t)c->in_len + c->out_len);

	return seen_add(s, talloc_asprintf(s->ctx,
		"conn %u type %u fields %u dom %u target %u port %u fd %d "
		"in %u resp %u out %u data %s uid %llu", c->conn_id, c->type,
		c->fields, c->domid, c->target, c->evtchn, c->socket_fd,
		c->in_len, c->resp_len, c->out_len, data,
		(unsigned long long)c->unique_id));
}

static int see_watch(void *arg, const struct state_watch *w)
{
	struct seen *s = arg;

	return seen_add(s, talloc_asprintf(s->ctx, "watch %u %s %s %u", w->conn_id,
					   w->path, w->token, w->depth));
}

static int see_transaction(void *arg, const struct state_transaction *t)
{
	struct seen *s = arg;

	return seen_add(s, talloc_asprintf(s->ctx, "tx %u %u", t->conn_id,
					   t->tx_id));
}

static int see_node(void *arg, const struct state_node *n)
{
	struct seen *s = arg;
	char *line = talloc_asprintf(s->ctx, "node %u %u %s access %u perms",
				     n->conn_id, n->tx_id, n->path, n->access);
	unsigned int i;

	for (i = 0; i < n->perm_count; i++)
		line = talloc_asprintf_append(line, " %c%u/%u",
					      n->perms[i].access,
					      n->perms[i].domid,
					      n->perms[i].flags);
	line = talloc_asprintf_append(line, " value %s",
				      hex(s->ctx, n->value, n->value_len));
	return seen_add(s, line);
}

static char *quota_text(void *ctx, const struct state_quota *q)
{
	char *line = talloc_strdup(ctx, "");
	unsigned int i;

	for (i = 0; i < q->count; i++)
		line = talloc_asprintf_append(line, " %s=%u", q->names[i],
					      q->values[i]);
	return line;
}

static int see_global_quota(void *arg, const struct state_global_quota *q)
{
	struct seen *s = arg;

	return seen_add(s, talloc_asprintf(s->ctx, "quota %u%s", q->per_domain,
					   quota_text(s->ctx, &q->quota)));
}

static int see_domain(void *arg, const struct state_domain *d)
{
	struct seen *s = arg;

	return seen_add(s, talloc_asprintf(s->ctx, "domain %u features %u%s",
					   d->domid, d->features,
					   quota_text(s->ctx, &d->quota)));
}

static int see_tx_log(void *arg, const struct state_tx_log *l)
{
	struct seen *s = arg;

	assert_int_equal(l->payload[l->payload_len], '\0');
	return seen_add(s, talloc_asprintf(s->ctx,
		"log %u %u type %u result %d reply %u/%llx payload %s",
		l->conn_id, l->tx_id, l->type, l->result, l->reply_len,
		(unsigned long long)l->reply_digest,
		hex(s->ctx, l->payload, l->payload_len)));
}

static const struct state_visitor visitor = {
	.global = see_global,
	.connection = see_connection,
	.watch = see_watch,
	.transaction = see_transaction,
	.node = see_node,
	.global_quota = see_global_quota,
	.domain = see_domain,
	.tx_log = see_tx_log,
};

/* A stream with one of everything, version 2. */
static const uint8_t *full_stream(void *ctx, size_t *len)
{
	struct state_writer *w = state_writer_new(ctx, 2);
	static const uint8_t pending[] = { 1, 2, 3, 4, 5, 6, 7 };
	struct state_connection ring = {
		.conn_id = 1, .type = STATE_CONN_RING, .domid = 5,
		.target = STATE_DOMID_INVALID, .evtchn = 17,
		.data = pending, .in_len = 3, .out_len = 4, .resp_len = 1,
	};
	struct state_connection sock = {
		.conn_id = 2, .type = STATE_CONN_SOCKET, .socket_fd = 9,
		.fields = STATE_CONN_HAS_UNIQUE_ID, .unique_id = 77,
		.target = STATE_DOMID_INVALID,
	};
	struct state_perm perms[] = { { 'n', 0, 5 }, { 'r', STATE_PERM_STALE, 7 } };
	struct state_node root = { .path = "/", .perm_count = 1,
				   .perms = perms };
	struct state_node node = { .path = "/a", .perm_count = 2,
				   .perms = perms, .value = "x\0y",
				   .value_len = 3 };
	struct state_node pending_node = { .conn_id = 2, .tx_id = 3,
					   .path = "/a/b",
					   .access = STATE_NODE_WRITTEN,
					   .perm_count = 1, .perms = perms };
	static const uint32_t values[] = { 1000, 0, 8 };
	static const char *const names[] = { "nodes", "watches", "big" };
	struct state_global_quota gq = { 2, { 3, values, names } };
	struct state_domain dom = { 5, 1, { 2, values, names } };
	struct state_tx_log log = { 2, 3, 11, 0, 5, 0x1234, "/a\0v", 4 };
	const void *stream;
	const char *why = NULL;

	assert_non_null(w);
	state_write_global(w, &(struct state_global){ 3, -1 });
	state_write_connection(w, &ring);
	state_write_watch(w, &(struct state_watch){ 1, "/local", "t1",
						    STATE_WATCH_DEPTH_ANY });
	state_write_watch(w, &(struct state_watch){ 1, "data", "t2", 3 });
	state_write_connection(w, &sock);
	state_write_transaction(w, &(struct state_transaction){ 2, 3 });
	state_write_tx_log(w, &log);
	state_write_node(w, &root);
	state_write_node(w, &node);
	state_write_node(w, &pending_node);
	state_write_global_quota(w, &gq);
	state_write_domain(w, &dom);
	stream = state_writer_finish(w, len, &why);
	assert_non_null(stream);
	assert_null(why);
	return stream;
}

static const char full_text[] =
	"global 3 -1\n"
	"conn 1 type 0 fields 0 dom 5 target 32756 port 17 fd -1 in 3 resp 1 "
	"out 4 data 01020304050607 uid 0\n"
	"watch 1 /local t1 65535\n"
	"watch 1 data t2 3\n"
	"conn 2 type 1 fields 1 dom 0 target 32756 port 0 fd 9 in 0 resp 0 "
	"out 0 data  uid 77\n"
	"tx 2 3\n"
	"log 2 3 type 11 result 0 reply 5/1234 payload 2f610076\n"
	"node 0 0 / access 0 perms n5/0 value \n"
	"node 0 0 /a access 0 perms n5/0 r7/1 value 780079\n"
	"node 2 3 /a/b access 2 perms n5/0 value \n"
	"quota 2 nodes=1000 watches=0 big=8\n"
	"domain 5 features 1 nodes=1000 watches=0\n";

static void test_round_trip(void **state)
{
	void *ctx = *state;
	size_t len;
	const uint8_t *stream = full_stream(ctx, &len);
	struct seen seen = { .ctx = ctx, .text = talloc_strdup(ctx, "") };
	const char *why = NULL;

	assert_int_equal(len % 8, 0);
	assert_int_equal(state_read(ctx, stream, len, &visitor, &seen, &why), 0);
	assert_string_equal(seen.text, full_text);
	/* Checking alone visits nothing and agrees. */
	assert_int_equal(state_read(ctx, stream, len, NULL, NULL, &why), 0);
}

/* Expect @stream to be refused as malformed, with nothing visited. */
static void expect_refused(void *ctx, const void *stream, size_t len,
			   const char *why_part)
{
	struct seen seen = { .ctx = ctx, .text = talloc_strdup(ctx, "") };
	const char *why = NULL;

	assert_int_equal(state_read(ctx, stream, len, &visitor, &seen, &why),
			 EINVAL);
	assert_non_null(why);
	if (why_part && !strstr(why, why_part))
		fail_msg("refused for \"%s\", expected \"%s\"", why, why_part);
	assert_int_equal(seen.records, 0);
}

static void test_every_truncation_refused(void **state)
{
	void *ctx = *state;
	size_t len, cut;
	const uint8_t *stream = full_stream(ctx, &len);

	for (cut = 0; cut < len; cut++)
		expect_refused(ctx, stream, cut, NULL);
}

/* Flipping any byte never crashes, and a refusal visits nothing. */
static void test_every_byte_flipped(void **state)
{
	void *ctx = *state;
	size_t len, i;
	const uint8_t *stream = full_stream(ctx, &len);
	uint8_t *copy = talloc_memdup(ctx, stream, len);
	unsigned int bit;

	for (i = 0; i < len; i++) {
		for (bit = 0; bit < 8; bit++) {
			struct seen seen = { .ctx = ctx, .text = talloc_strdup(ctx, "") };
			int err;

			copy[i] ^= 1u << bit;
			err = state_read(ctx, copy, len, &visitor, &seen,
					 NULL);
			if (err) {
				assert_int_equal(err, EINVAL);
				assert_int_equal(seen.records, 0);
			}
			copy[i] ^= 1u << bit;
			talloc_free(seen.text);
		}
	}
}

/* A stream of the header and one record (plus END) as raw words. */
static uint8_t *raw_stream(void *ctx, uint32_t version, const void *records,
			   size_t records_len, size_t *len)
{
	uint8_t *s = talloc_zero_size(ctx, 16 + records_len + 8);
	uint32_t v = htobe32(version), flags = 0;

	memcpy(s, "xenstore", 8);
	memcpy(s + 8, &v, 4);
#if __BYTE_ORDER == __BIG_ENDIAN
	flags = 1;
#endif
	memcpy(s + 12, &flags, 4);
	if (records_len)
		memcpy(s + 16, records, records_len);
	*len = 16 + records_len + 8;	/* END: type 0, length 0 */
	return s;
}

struct bad_case {
	const char *name;
	uint32_t words[16];
	size_t n_words;
	const char *why;
};

/*
 * Records as 32-bit words; two 16-bit fields share a word, low half
 * first, as a little-endian host lays them out (where this suite runs).
 */
/* A socket connection with id 1, to precede records that need one. */
#define CONN1 2, 24, 1, 1, 9, 0, 0, 0

static void test_malformed_records(void **state)
{
	void *ctx = *state;
	static const struct bad_case cases[] = {
		{ "unknown type", { 99, 0 }, 2, "unknown record" },
		{ "global too short", { 1, 4, 3, 0 }, 4, "too short" },
		{ "global too long", { 1, 16, 3, 4, 0, 0 }, 6, "too long" },
		{ "two globals", { 1, 8, 3, 4, 1, 8, 3, 4 }, 8, "two GLOBAL" },
		{ "global negative fd", { 1, 8, (uint32_t)-5, 4 }, 4,
		  "negative" },
		{ "connection id 0", { 2, 24, 0, 1, 9, 0, 0, 0 }, 8, "id 0" },
		{ "connection twice", { CONN1, CONN1 }, 16, "twice" },
		{ "connection type", { 2, 24, 1, 7, 9, 0, 0, 0 }, 8,
		  "connection type" },
		{ "connection fields", { 2, 24, 1, 0x20001, 9, 0, 0, 0 }, 8,
		  "unknown fields" },
		{ "connection negative socket",
		  { 2, 24, 1, 1, (uint32_t)-1, 0, 0, 0 }, 8, "negative" },
		{ "connection domid", { 2, 24, 1, 0, 0x7ff4, 0, 0, 0 }, 8,
		  "out of range" },
		{ "connection data past record",
		  { 2, 24, 1, 1, 9, 0, 4, 0 }, 8, "past the record" },
		{ "response longer than output",
		  { 2, 24, 1, 1, 9, 0, 0x00040000, 0 }, 8, "partial" },
		{ "unique id missing", { 2, 24, 1, 0x10001, 9, 0, 0, 0 }, 8,
		  "unique id" },
		{ "watch of unknown connection",
		  { 3, 16, 1, 0x00020002, 0x0074002f, 0 }, 6,
		  "unknown connection" },
		{ "watch path not a string",
		  { CONN1, 3, 16, 1, 0x00020002, 0x0074782f, 0 }, 14,
		  "not a string" },
		{ "watch empty path", { CONN1, 3, 16, 1, 0x00020001, 0x74, 0 },
		  14, "path" },
		{ "watch strings past record",
		  { CONN1, 3, 8, 1, 0x00020020 }, 12, "past" },
		{ "extended watch in version 1",
		  { CONN1, 8, 16, 1, 0x00020002, 0, 0x0074002f }, 14,
		  "version 1" },
		{ "transaction id 0", { CONN1, 4, 8, 1, 0 }, 12, "id 0" },
		{ "transaction of unknown connection", { 4, 8, 5, 1 }, 4,
		  "unknown connection" },
		{ "node without owner", { 5, 24, 0, 0, 0x00000002, 0, 0x2f, 0 },
		  8, "owner" },
		{ "node bad permission",
		  { 5, 24, 0, 0, 0x00000002, 0x00010000, 0x0000007a, 0x2f }, 8,
		  "permission" },
		{ "node relative path",
		  { 5, 24, 0, 0, 0x00000002, 0x00010000, 0x0000006e, 0x61 }, 8,
		  "neither absolute" },
		{ "node of unknown transaction",
		  { 5, 24, 1, 1, 0x00000002, 0x00010000, 0x0000006e, 0x2f }, 8,
		  "unknown transaction" },
		{ "node contents past record",
		  { 5, 24, 0, 0, 0x00200002, 0x00010000, 0x0000006e, 0x2f }, 8,
		  "past the record" },
		{ "domain quota name missing", { 7, 8, 0x00010005, 0 }, 4,
		  "quota" },
		{ "two global quotas", { 6, 8, 0, 0, 6, 8, 0, 0 }, 8,
		  "two GLOBAL_QUOTA" },
		{ "quota garbage after names",
		  { 6, 16, 0x00000001, 5, 0x00000061, 0x00000062 }, 6,
		  "after the quota" },
		{ "tx log of unknown transaction",
		  { 0x78730001, 32, 1, 1, 11, 0, 0, 0, 0, 0 }, 10,
		  "unknown transaction" },
	};
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len;
		uint8_t *s = raw_stream(ctx, 1, cases[i].words,
					cases[i].n_words * 4, &len);

		print_message("# %s\n", cases[i].name);
		expect_refused(ctx, s, len, cases[i].why);
	}
}

static void test_bad_headers(void **state)
{
	void *ctx = *state;
	size_t len;
	uint8_t *s;
	uint32_t v;

	s = raw_stream(ctx, 1, NULL, 0, &len);
	assert_int_equal(state_read(ctx, s, len, NULL, NULL, NULL), 0);

	s[0] = 'X';
	expect_refused(ctx, s, len, "not a xenstore");
	s = raw_stream(ctx, 3, NULL, 0, &len);
	expect_refused(ctx, s, len, "version");
	s = raw_stream(ctx, 0, NULL, 0, &len);
	expect_refused(ctx, s, len, "version");
	s = raw_stream(ctx, 1, NULL, 0, &len);
	v = 2;
	memcpy(s + 12, &v, 4);
	expect_refused(ctx, s, len, "reserved");
	s = raw_stream(ctx, 1, NULL, 0, &len);
	v = 1;
#if __BYTE_ORDER == __BIG_ENDIAN
	v = 0;
#endif
	memcpy(s + 12, &v, 4);
	expect_refused(ctx, s, len, "byte order");
	/* Bytes after END. */
	s = raw_stream(ctx, 1, NULL, 0, &len);
	s = talloc_realloc(ctx, s, uint8_t, len + 8);
	memset(s + len, 0, 8);
	expect_refused(ctx, s, len + 8, "after END");
	/* No END at all. */
	s = raw_stream(ctx, 1, NULL, 0, &len);
	expect_refused(ctx, s, len - 8, "without END");
}

/* A visitor's error stops the reading and is returned. */
static void test_visitor_error(void **state)
{
	void *ctx = *state;
	size_t len;
	const uint8_t *stream = full_stream(ctx, &len);
	struct seen seen = { .ctx = ctx, .text = talloc_strdup(ctx, ""), .fail_at = 3 };
	const char *why = NULL;

	assert_int_equal(state_read(ctx, stream, len, &visitor, &seen, &why),
			 EIO);
	assert_int_equal(seen.records, 3);
	assert_non_null(why);
}

/* What the writer cannot represent is reported, not truncated. */
static void test_writer_limits(void **state)
{
	void *ctx = *state;
	struct state_writer *w = state_writer_new(ctx, 1);
	char *long_path = talloc_zero_size(ctx, 70000);
	const char *why = NULL;
	size_t len;

	memset(long_path, 'a', 69999);
	long_path[0] = '/';
	state_write_watch(w, &(struct state_watch){ 1, long_path, "t",
						    STATE_WATCH_DEPTH_ANY });
	assert_null(state_writer_finish(w, &len, &why));
	assert_non_null(why);

	w = state_writer_new(ctx, 1);
	why = NULL;
	state_write_watch(w, &(struct state_watch){ 1, "/a", "t", 2 });
	assert_null(state_writer_finish(w, &len, &why));
	assert_non_null(strstr(why, "version 2"));
}

/*
 * The C daemon's layout, byte for byte as Xen 4.17 writes it (its
 * xenstore_state.h): a socket connection and a node, lengths rounded up.
 */
static void test_c_daemon_layout(void **state)
{
	void *ctx = *state;
	static const uint32_t words[] = {
		1, 8, 5, 6,				/* GLOBAL fds 5, 6 */
		2, 24, 1, 1, 11, 0, 0, 0,		/* CONN 1 socket fd 11 */
		5, 24, 0, 0, 0x00000002, 0x00010000,	/* NODE "/" n0 */
		0x00000062, 0x0000002f,
	};
	size_t len;
	uint8_t *s = raw_stream(ctx, 1, words, sizeof(words), &len);
	struct seen seen = { .ctx = ctx, .text = talloc_strdup(ctx, "") };

	assert_int_equal(state_read(ctx, s, len, &visitor, &seen, NULL), 0);
	assert_string_equal(seen.text,
		"global 5 6\n"
		"conn 1 type 1 fields 0 dom 0 target 32756 port 0 fd 11 in 0 "
		"resp 0 out 0 data  uid 0\n"
		"node 0 0 / access 0 perms b0/0 value \n");
}

static int setup_ctx(void **state)
{
	*state = talloc_new(NULL);
	return *state ? 0 : -1;
}

static int teardown_ctx(void **state)
{
	talloc_free(*state);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup_ctx,
						teardown_ctx),
		cmocka_unit_test_setup_teardown(test_every_truncation_refused,
						setup_ctx, teardown_ctx),
		cmocka_unit_test_setup_teardown(test_every_byte_flipped,
						setup_ctx, teardown_ctx),
		cmocka_unit_test_setup_teardown(test_malformed_records,
						setup_ctx, teardown_ctx),
		cmocka_unit_test_setup_teardown(test_bad_headers, setup_ctx,
						teardown_ctx),
		cmocka_unit_test_setup_teardown(test_visitor_error, setup_ctx,
						teardown_ctx),
		cmocka_unit_test_setup_teardown(test_writer_limits, setup_ctx,
						teardown_ctx),
		cmocka_unit_test_setup_teardown(test_c_daemon_layout,
						setup_ctx, teardown_ctx),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
