/*
 * Framing (daemon/connection.c) through the in-memory backend: how the
 * core cuts a byte stream into requests and puts replies and events back
 * into one, whatever the pace of the peer on either side.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <talloc.h>

#include "tests/core/memconn.h"

#define HEADER_SIZE sizeof(struct xsd_sockmsg)

struct fixture {
	struct server *server;
	struct memconn *mc;
};

static int setup_server(void **state)
{
	struct fixture *f;
	struct server_config config;

	f = talloc_zero(NULL, struct fixture);
	if (!f)
		return -1;
	server_config_defaults(&config);
	f->server = server_new(f, &config);
	if (!f->server)
		return -1;
	f->mc = memconn_new(f, f->server, 0);
	*state = f;
	return f->mc ? 0 : -1;
}

static int teardown_server(void **state)
{
	struct fixture *f = *state;

	/* Connections go with the server; their backends stay to be asked. */
	talloc_free(f->server);
	assert_true(memconn_destroyed(f->mc));
	talloc_free(f);
	return 0;
}

/* A request as the bytes a client sends. */
static size_t encode(void *buf, uint32_t type, uint32_t req_id,
		     uint32_t tx_id, const void *payload, uint32_t len)
{
	struct xsd_sockmsg hdr = {
		.type = type, .req_id = req_id, .tx_id = tx_id, .len = len,
	};

	memcpy(buf, &hdr, HEADER_SIZE);
	memcpy((char *)buf + HEADER_SIZE, payload, len);
	return HEADER_SIZE + len;
}

/* Pop one message and check all of it. */
static void expect_message(struct memconn *mc, uint32_t type, uint32_t req_id,
			   uint32_t tx_id, const void *payload, uint32_t len)
{
	struct xsd_sockmsg hdr;
	char got[XENSTORE_PAYLOAD_MAX + 1];

	assert_true(memconn_recv(mc, &hdr, got));
	assert_int_equal(hdr.type, type);
	assert_int_equal(hdr.req_id, req_id);
	assert_int_equal(hdr.tx_id, tx_id);
	assert_int_equal(hdr.len, len);
	assert_memory_equal(got, payload, len);
}

#define EXPECT(mc, type, req_id, tx_id, lit) \
	expect_message(mc, type, req_id, tx_id, lit, sizeof(lit) - 1)

static void expect_nothing_more(struct memconn *mc)
{
	assert_int_equal(memconn_output_len(mc), 0);
}

static void test_request_delivered_byte_by_byte(void **state)
{
	struct fixture *f = *state;
	char bytes[64];
	size_t len, i;

	len = encode(bytes, XS_WRITE, 11, 0, "/slow\0value", 11);
	for (i = 0; i < len - 1; i++) {
		assert_true(memconn_send_bytes(f->mc, bytes + i, 1));
		expect_nothing_more(f->mc);
	}
	assert_true(memconn_send_bytes(f->mc, bytes + i, 1));
	EXPECT(f->mc, XS_WRITE, 11, 0, "OK\0");
	expect_nothing_more(f->mc);

	len = encode(bytes, XS_READ, 12, 0, "/slow\0", 6);
	for (i = 0; i < len; i++)
		assert_true(memconn_send_bytes(f->mc, bytes + i, 1));
	EXPECT(f->mc, XS_READ, 12, 0, "value");
	expect_nothing_more(f->mc);
}

/* Requests split anywhere, even inside the header of the next one. */
static void test_requests_split_across_reads(void **state)
{
	struct fixture *f = *state;
	char bytes[256];
	size_t len = 0;

	len += encode(bytes + len, XS_WRITE, 1, 0, "/s\0abc", 6);
	len += encode(bytes + len, XS_READ, 2, 0, "/s\0", 3);
	assert_true(memconn_send_bytes(f->mc, bytes, 5));
	expect_nothing_more(f->mc);
	assert_true(memconn_send_bytes(f->mc, bytes + 5, 22 + 3));
	EXPECT(f->mc, XS_WRITE, 1, 0, "OK\0");
	expect_nothing_more(f->mc);
	assert_true(memconn_send_bytes(f->mc, bytes + 30, len - 30));
	EXPECT(f->mc, XS_READ, 2, 0, "abc");
	expect_nothing_more(f->mc);
}

static void test_pipelined_requests_answered_in_order(void **state)
{
	struct fixture *f = *state;
	char bytes[512];
	size_t len = 0;

	len += encode(bytes + len, XS_WRITE, 100, 0, "/p\0one", 6);
	len += encode(bytes + len, XS_READ, 7, 0, "/p\0", 3);
	len += encode(bytes + len, XS_READ, 0xdeadbeef, 0, "/missing\0", 9);
	/* WATCH ignores the transaction id, and echoes it. */
	len += encode(bytes + len, XS_UNWATCH, 3, 77, "/p\0tok\0", 7);
	/* A transaction id that names nothing. */
	len += encode(bytes + len, XS_READ, 4, 99, "/p\0", 3);
	len += encode(bytes + len, XS_GET_DOMAIN_PATH, 0, 0, "5\0", 2);
	len += encode(bytes + len, XS_DIRECTORY, 5, 0, "/tool\0", 6);
	assert_true(memconn_send_bytes(f->mc, bytes, len));

	EXPECT(f->mc, XS_WRITE, 100, 0, "OK\0");
	EXPECT(f->mc, XS_READ, 7, 0, "one");
	EXPECT(f->mc, XS_ERROR, 0xdeadbeef, 0, "ENOENT\0");
	EXPECT(f->mc, XS_ERROR, 3, 77, "ENOENT\0");
	EXPECT(f->mc, XS_ERROR, 4, 99, "ENOENT\0");
	EXPECT(f->mc, XS_GET_DOMAIN_PATH, 0, 0, "/local/domain/5\0");
	EXPECT(f->mc, XS_DIRECTORY, 5, 0, "xenstored\0");
	expect_nothing_more(f->mc);
}

/* More than one read's worth of pipelined requests, all answered. */
static void test_long_pipeline(void **state)
{
	struct fixture *f = *state;
	enum { COUNT = 3000 };
	char *bytes = talloc_size(f, COUNT * (HEADER_SIZE + 64));
	size_t len = 0;
	uint32_t i;

	assert_non_null(bytes);
	for (i = 0; i < COUNT; i++) {
		char payload[64];
		int n;

		memset(payload, 'x', sizeof(payload));
		n = snprintf(payload, sizeof(payload), "/pipe/n%u", i % 50);

		len += encode(bytes + len, XS_WRITE, i, 0, payload,
			      (uint32_t)n + 1 + 30);
	}
	assert_true(memconn_send_bytes(f->mc, bytes, len));
	assert_int_equal(memconn_unread_input(f->mc), 0);
	for (i = 0; i < COUNT; i++)
		expect_message(f->mc, XS_WRITE, i, 0, "OK", 3);
	expect_nothing_more(f->mc);
}

static void test_oversized_request_dooms_the_connection(void **state)
{
	struct fixture *f = *state;
	struct memconn *other = memconn_new(f, f->server, 0);
	struct xsd_sockmsg hdr = {
		.type = XS_READ, .req_id = 1, .len = XENSTORE_PAYLOAD_MAX + 1,
	};
	struct memconn_reply reply;

	assert_non_null(other);
	assert_int_equal(server_connection_count(f->server), 2);
	assert_false(memconn_send_bytes(f->mc, &hdr, sizeof(hdr)));
	assert_true(memconn_protocol_error(f->mc));
	assert_true(memconn_destroyed(f->mc));
	assert_null(memconn_connection(f->mc));
	assert_int_equal(server_connection_count(f->server), 1);

	/* Nobody else notices. */
	assert_int_equal(memconn_callv(other, XS_WRITE, 0, &reply, true,
				       "/after", "x", NULL), 0);
	assert_int_equal(memconn_callv(other, XS_READ, 0, &reply, false,
				       "/after", NULL), 0);
	assert_string_equal(reply.payload, "x");
}

/* Exactly 4096 bytes of payload is still a request. */
static void test_largest_request_is_accepted(void **state)
{
	struct fixture *f = *state;
	char payload[XENSTORE_PAYLOAD_MAX];
	struct memconn_reply reply;

	memset(payload, 'v', sizeof(payload));
	memcpy(payload, "/big\0", 5);
	assert_int_equal(memconn_call(f->mc, XS_WRITE, 0, payload,
				      sizeof(payload), &reply), 0);
	assert_int_equal(memconn_callv(f->mc, XS_READ, 0, &reply, false,
				       "/big", NULL), 0);
	assert_int_equal(reply.hdr.len, XENSTORE_PAYLOAD_MAX - 5);
	assert_false(memconn_destroyed(f->mc));
}

static void test_oversized_reply_becomes_e2big(void **state)
{
	struct fixture *f = *state;
	struct memconn_reply reply;
	char name[128];
	unsigned int i;

	/* 41 children of 100 bytes each: 4100 bytes of listing. */
	for (i = 0; i < 41; i++) {
		snprintf(name, sizeof(name), "/wide/%099u", i);
		assert_int_equal(memconn_callv(f->mc, XS_MKDIR, 0, &reply,
					       false, name, NULL), 0);
	}
	assert_int_equal(memconn_callv(f->mc, XS_DIRECTORY, 0, &reply, false,
				       "/wide", NULL), E2BIG);
	assert_int_equal(reply.hdr.type, XS_ERROR);
	assert_int_equal(reply.hdr.len, sizeof("E2BIG"));
	assert_false(memconn_destroyed(f->mc));

	/* One fewer child fits. */
	assert_int_equal(memconn_callv(f->mc, XS_RM, 0, &reply, false, name,
				       NULL), 0);
	assert_int_equal(memconn_callv(f->mc, XS_DIRECTORY, 0, &reply, false,
				       "/wide", NULL), 0);
	assert_int_equal(reply.hdr.len, 40 * 100);
}

/* An event too big for one message is dropped; the connection lives. */
static void test_oversized_event_is_dropped(void **state)
{
	struct fixture *f = *state;
	char token[4000], path[200];
	struct memconn_reply reply;
	struct memconn_event ev;

	memset(token, 't', sizeof(token) - 1);
	token[sizeof(token) - 1] = '\0';
	assert_int_equal(memconn_callv(f->mc, XS_WATCH, 0, &reply, false,
				       "/ev", token, NULL), 0);
	assert_true(memconn_next_event(f->mc, &ev));
	assert_string_equal(ev.path, "/ev");
	assert_string_equal(ev.token, token);

	snprintf(path, sizeof(path), "/ev/%0150u", 1);
	assert_int_equal(memconn_callv(f->mc, XS_WRITE, 0, &reply, true,
				       path, "", NULL), 0);
	assert_int_equal(memconn_pending_events(f->mc), 0);
	assert_int_equal(memconn_callv(f->mc, XS_WRITE, 0, &reply, true,
				       "/ev/x", "", NULL), 0);
	assert_true(memconn_next_event(f->mc, &ev));
	assert_string_equal(ev.path, "/ev/x");
}

static void test_short_writes_keep_output_queued(void **state)
{
	struct fixture *f = *state;
	struct xsd_sockmsg hdr;
	char payload[XENSTORE_PAYLOAD_MAX + 1];
	char bytes[128];
	size_t len = 0;

	len += encode(bytes + len, XS_WRITE, 1, 0, "/q\0queued", 9);
	len += encode(bytes + len, XS_READ, 2, 0, "/q\0", 3);
	memconn_set_room(f->mc, 10);
	assert_true(memconn_send_bytes(f->mc, bytes, len));
	assert_int_equal(memconn_output_len(f->mc), 10);
	assert_false(memconn_recv(f->mc, &hdr, payload));

	/* Still reading while the peer is slow. */
	len = encode(bytes, XS_DIRECTORY, 3, 0, "/tool\0", 6);
	assert_true(memconn_send_bytes(f->mc, bytes, len));
	assert_int_equal(memconn_output_len(f->mc), 10);

	/* A little room: a little more output, nothing lost or reordered. */
	assert_true(memconn_give_room(f->mc, 9));
	assert_int_equal(memconn_output_len(f->mc), 19);
	EXPECT(f->mc, XS_WRITE, 1, 0, "OK\0");

	assert_true(memconn_give_room(f->mc, MEMCONN_UNLIMITED));
	EXPECT(f->mc, XS_READ, 2, 0, "queued");
	EXPECT(f->mc, XS_DIRECTORY, 3, 0, "xenstored\0");
	expect_nothing_more(f->mc);
}

static void test_output_trickles_out_a_byte_at_a_time(void **state)
{
	struct fixture *f = *state;
	char bytes[512];
	size_t len = 0, rounds = 0;
	uint32_t i;

	memconn_set_room(f->mc, 0);
	for (i = 0; i < 10; i++)
		len += encode(bytes + len, XS_GET_DOMAIN_PATH, i, 0, "3\0", 2);
	assert_true(memconn_send_bytes(f->mc, bytes, len));
	assert_int_equal(memconn_output_len(f->mc), 0);
	while (memconn_output_len(f->mc) < 10 * (HEADER_SIZE + 16)) {
		size_t before = memconn_output_len(f->mc);

		assert_true(memconn_give_room(f->mc, 1));
		assert_int_equal(memconn_output_len(f->mc), before + 1);
		assert_true(++rounds <= 10 * (HEADER_SIZE + 16));
	}
	for (i = 0; i < 10; i++)
		EXPECT(f->mc, XS_GET_DOMAIN_PATH, i, 0, "/local/domain/3\0");
	expect_nothing_more(f->mc);
}

/* A peer that is gone when the core writes: the connection goes. */
static void test_write_failure_dooms_the_connection(void **state)
{
	struct fixture *f = *state;
	struct memconn *watcher = memconn_new(f, f->server, 0);
	struct memconn_reply reply;
	struct memconn_event ev;

	assert_non_null(watcher);
	assert_int_equal(memconn_callv(watcher, XS_WATCH, 0, &reply, false,
				       "/w", "tok", NULL), 0);
	assert_true(memconn_next_event(watcher, &ev));

	/* The watcher's peer is gone before the core hears of it. */
	memconn_hang_up(watcher);
	assert_false(memconn_destroyed(watcher));
	assert_int_equal(memconn_callv(f->mc, XS_WRITE, 0, &reply, true,
				       "/w", "v", NULL), 0);
	assert_true(memconn_destroyed(watcher));
	assert_int_equal(server_connection_count(f->server), 1);
	assert_int_equal(memconn_callv(f->mc, XS_WRITE, 0, &reply, true,
				       "/w", "again", NULL), 0);
}

/* A peer that hangs up with nothing to read: the connection goes. */
static void test_read_failure_dooms_the_connection(void **state)
{
	struct fixture *f = *state;

	memconn_hang_up(f->mc);
	assert_false(memconn_notify(f->mc));
	assert_true(memconn_destroyed(f->mc));
	assert_false(memconn_protocol_error(f->mc));
	assert_int_equal(server_connection_count(f->server), 0);
}

static void test_writers_own_event_comes_before_its_reply(void **state)
{
	struct fixture *f = *state;
	char bytes[128];
	size_t len;

	len = encode(bytes, XS_WATCH, 1, 0, "/mine\0me\0", 9);
	assert_true(memconn_send_bytes(f->mc, bytes, len));
	/* WATCH: the reply, then the event every new watch gets. */
	EXPECT(f->mc, XS_WATCH, 1, 0, "OK\0");
	EXPECT(f->mc, XS_WATCH_EVENT, 0, 0, "/mine\0me\0");
	expect_nothing_more(f->mc);

	len = encode(bytes, XS_WRITE, 2, 0, "/mine/x\0v", 9);
	assert_true(memconn_send_bytes(f->mc, bytes, len));
	EXPECT(f->mc, XS_WATCH_EVENT, 0, 0, "/mine/x\0me\0");
	EXPECT(f->mc, XS_WRITE, 2, 0, "OK\0");
	expect_nothing_more(f->mc);
}

static void test_unknown_types_get_enosys(void **state)
{
	struct fixture *f = *state;
	static const uint32_t types[] = {
		20, XS_WIRE_TYPE_COUNT, XS_WIRE_TYPE_COUNT + 1, 999, XS_INVALID,
		0xffffffffu,
	};
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		assert_true(memconn_send(f->mc, types[i], (uint32_t)i, 0,
					 "/x\0", 3));
		EXPECT(f->mc, XS_ERROR, (uint32_t)i, 0, "ENOSYS\0");
	}
	/* Even with a transaction id that names nothing. */
	assert_true(memconn_send(f->mc, 20, 50, 1234, "", 0));
	EXPECT(f->mc, XS_ERROR, 50, 1234, "ENOSYS\0");
	expect_nothing_more(f->mc);
	assert_false(memconn_destroyed(f->mc));
}

static void test_client_sent_event_or_error_gets_enosys(void **state)
{
	struct fixture *f = *state;

	assert_true(memconn_send(f->mc, XS_WATCH_EVENT, 8, 0, "/a\0tok\0", 7));
	EXPECT(f->mc, XS_ERROR, 8, 0, "ENOSYS\0");
	assert_true(memconn_send(f->mc, XS_ERROR, 9, 0, "EINVAL\0", 7));
	EXPECT(f->mc, XS_ERROR, 9, 0, "ENOSYS\0");
	expect_nothing_more(f->mc);
	assert_false(memconn_destroyed(f->mc));
}

/* The peer hangs up half-way through a request: nothing is answered. */
static void test_hang_up_mid_request(void **state)
{
	struct fixture *f = *state;
	char bytes[64];
	size_t len = encode(bytes, XS_WRITE, 1, 0, "/half\0v", 7);

	assert_true(memconn_send_bytes(f->mc, bytes, len - 3));
	memconn_hang_up(f->mc);
	assert_false(memconn_notify(f->mc));
	assert_true(memconn_destroyed(f->mc));
	assert_false(memconn_protocol_error(f->mc));
	assert_int_equal(server_connection_count(f->server), 0);
}

/* A connection closed by its backend releases everything it held. */
static void test_close_from_the_backend(void **state)
{
	struct fixture *f = *state;
	struct memconn *watcher = memconn_new(f, f->server, 0);
	struct memconn_reply reply;

	assert_non_null(watcher);
	assert_int_equal(memconn_callv(watcher, XS_WATCH, 0, &reply, false,
				       "/c", "t", NULL), 0);
	assert_int_equal(memconn_callv(watcher, XS_TRANSACTION_START, 0,
				       &reply, false, "", NULL), 0);
	conn_close(memconn_connection(watcher));
	assert_true(memconn_destroyed(watcher));
	assert_int_equal(server_connection_count(f->server), 1);
	assert_int_equal(memconn_callv(f->mc, XS_WRITE, 0, &reply, true,
				       "/c", "v", NULL), 0);
}

/* Freeing the backend side first is a close too. */
static void test_backend_freed_first(void **state)
{
	struct fixture *f = *state;
	struct memconn *other = memconn_new(f, f->server, 0);
	struct memconn_reply reply;

	assert_non_null(other);
	assert_int_equal(memconn_callv(other, XS_WATCH, 0, &reply, false,
				       "/f", "t", NULL), 0);
	talloc_free(other);
	assert_int_equal(server_connection_count(f->server), 1);
	assert_int_equal(memconn_callv(f->mc, XS_WRITE, 0, &reply, true,
				       "/f", "v", NULL), 0);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup_server, \
						 teardown_server)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_request_delivered_byte_by_byte),
		TEST(test_requests_split_across_reads),
		TEST(test_pipelined_requests_answered_in_order),
		TEST(test_long_pipeline),
		TEST(test_oversized_request_dooms_the_connection),
		TEST(test_largest_request_is_accepted),
		TEST(test_oversized_reply_becomes_e2big),
		TEST(test_oversized_event_is_dropped),
		TEST(test_short_writes_keep_output_queued),
		TEST(test_output_trickles_out_a_byte_at_a_time),
		TEST(test_write_failure_dooms_the_connection),
		TEST(test_read_failure_dooms_the_connection),
		TEST(test_writers_own_event_comes_before_its_reply),
		TEST(test_unknown_types_get_enosys),
		TEST(test_client_sent_event_or_error_gets_enosys),
		TEST(test_hang_up_mid_request),
		TEST(test_close_from_the_backend),
		TEST(test_backend_freed_first),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
