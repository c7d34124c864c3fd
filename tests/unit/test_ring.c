/*
 * The ring protocol (io-xen/ring.c) on a page in memory: both queues,
 * wrap-around of offsets and of the free-running indices, partial
 * messages, a full ring, corrupted indices and the reconnection fields.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "io-xen/ring.h"

static int setup_page(void **state)
{
	/* A page, like the one the guest shares, not just the struct. */
	void *page = aligned_alloc(4096, 4096);

	if (!page)
		return -1;
	memset(page, 0, 4096);
	*state = page;
	return 0;
}

static int teardown_page(void **state)
{
	free(*state);
	return 0;
}

/* @n bytes of a pattern that differs at every offset and per @seed. */
static void fill(unsigned char *buf, size_t n, unsigned int seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf[i] = (unsigned char)(i * 7 + seed * 13 + (i >> 8));
}

static void test_empty_ring_has_nothing_to_read(void **state)
{
	struct xenstore_domain_interface *intf = *state;
	char buf[16];

	assert_false(ring_server_has_input(intf));
	assert_int_equal(ring_server_read(intf, buf, sizeof(buf)), 0);
	assert_int_equal(ring_guest_read(intf, buf, sizeof(buf)), 0);
	assert_int_equal(intf->error, XENSTORE_ERROR_NONE);
}

static void test_request_and_reply_round_trip(void **state)
{
	struct xenstore_domain_interface *intf = *state;
	static const char request[] = "request bytes";
	static const char reply[] = "the reply";
	char buf[64];

	assert_int_equal(ring_guest_write(intf, request, sizeof(request)),
			 sizeof(request));
	assert_int_equal(intf->req_prod, sizeof(request));
	assert_true(ring_server_has_input(intf));
	assert_int_equal(ring_server_read(intf, buf, sizeof(buf)),
			 sizeof(request));
	assert_memory_equal(buf, request, sizeof(request));
	assert_int_equal(intf->req_cons, sizeof(request));
	assert_false(ring_server_has_input(intf));

	assert_int_equal(ring_server_write(intf, reply, sizeof(reply)),
			 sizeof(reply));
	assert_int_equal(intf->rsp_prod, sizeof(reply));
	assert_int_equal(ring_guest_read(intf, buf, sizeof(buf)),
			 sizeof(reply));
	assert_memory_equal(buf, reply, sizeof(reply));
	assert_int_equal(intf->rsp_cons, sizeof(reply));
	/* Each side moved only its own indices. */
	assert_int_equal(intf->req_cons, intf->req_prod);
}

static void test_reads_stop_at_what_is_there(void **state)
{
	struct xenstore_domain_interface *intf = *state;
	unsigned char msg[100], got[100];

	fill(msg, sizeof(msg), 1);
	/* A message arrives in pieces; each read takes what is there. */
	assert_int_equal(ring_guest_write(intf, msg, 30), 30);
	assert_int_equal(ring_server_read(intf, got, sizeof(got)), 30);
	assert_int_equal(ring_server_read(intf, got + 30, sizeof(got)), 0);
	assert_int_equal(ring_guest_write(intf, msg + 30, 70), 70);
	/* A short read leaves the rest for the next one. */
	assert_int_equal(ring_server_read(intf, got + 30, 20), 20);
	assert_int_equal(ring_server_read(intf, got + 50, 50), 50);
	assert_memory_equal(got, msg, sizeof(msg));
}

static void test_data_wraps_around_the_end_of_the_buffer(void **state)
{
	struct xenstore_domain_interface *intf = *state;
	unsigned char msg[300], got[300];
	const XENSTORE_RING_IDX start = XENSTORE_RING_SIZE - 100;

	intf->req_cons = intf->req_prod = start;
	intf->rsp_cons = intf->rsp_prod = start;
	fill(msg, sizeof(msg), 2);

	assert_int_equal(ring_guest_write(intf, msg, sizeof(msg)),
			 sizeof(msg));
	/* 100 bytes at the end of req[], the rest from its start. */
	assert_memory_equal(intf->req + start, msg, 100);
	assert_memory_equal(intf->req, msg + 100, 200);
	assert_int_equal(ring_server_read(intf, got, sizeof(got)),
			 sizeof(got));
	assert_memory_equal(got, msg, sizeof(msg));

	assert_int_equal(ring_server_write(intf, msg, sizeof(msg)),
			 sizeof(msg));
	assert_memory_equal(intf->rsp + start, msg, 100);
	assert_memory_equal(intf->rsp, msg + 100, 200);
	memset(got, 0, sizeof(got));
	assert_int_equal(ring_guest_read(intf, got, sizeof(got)),
			 sizeof(got));
	assert_memory_equal(got, msg, sizeof(msg));
}

static void test_indices_wrap_around_32_bits(void **state)
{
	struct xenstore_domain_interface *intf = *state;
	unsigned char msg[200], got[200];
	/* Guests must not assume indices start at zero (xenstore-ring.txt). */
	const XENSTORE_RING_IDX start = UINT32_MAX - 50;

	intf->req_cons = intf->req_prod = start;
	intf->rsp_cons = intf->rsp_prod = start;
	fill(msg, sizeof(msg), 3);

	assert_int_equal(ring_guest_write(intf, msg, sizeof(msg)),
			 sizeof(msg));
	assert_int_equal(intf->req_prod, (XENSTORE_RING_IDX)(start + 200));
	assert_true(intf->req_prod < start);
	assert_int_equal(ring_server_read(intf, got, sizeof(got)),
			 sizeof(got));
	assert_memory_equal(got, msg, sizeof(msg));
	assert_int_equal(intf->req_cons, intf->req_prod);

	assert_int_equal(ring_server_write(intf, msg, sizeof(msg)),
			 sizeof(msg));
	assert_int_equal(ring_guest_read(intf, got, sizeof(got)),
			 sizeof(got));
	assert_memory_equal(got, msg, sizeof(msg));
	assert_int_equal(intf->error, XENSTORE_ERROR_NONE);
}

static void test_full_ring_takes_no_more(void **state)
{
	struct xenstore_domain_interface *intf = *state;
	unsigned char big[2 * XENSTORE_RING_SIZE], got[2 * XENSTORE_RING_SIZE];

	intf->rsp_cons = intf->rsp_prod = 123;
	fill(big, sizeof(big), 4);

	/* A reply larger than the ring: a short write, then no room. */
	assert_int_equal(ring_server_write(intf, big, sizeof(big)),
			 XENSTORE_RING_SIZE);
	assert_int_equal(ring_server_write(intf, big, 1), 0);
	assert_int_equal(intf->error, XENSTORE_ERROR_NONE);

	/* The guest consumes some: exactly that much room comes back. */
	assert_int_equal(ring_guest_read(intf, got, 100), 100);
	assert_int_equal(ring_server_write(intf, big + XENSTORE_RING_SIZE,
					   sizeof(big)), 100);
	assert_int_equal(ring_guest_read(intf, got + 100, sizeof(got)),
			 XENSTORE_RING_SIZE);
	assert_memory_equal(got, big, XENSTORE_RING_SIZE + 100);

	/* Same on the request side: the guest's writes stop when full. */
	assert_int_equal(ring_guest_write(intf, big, sizeof(big)),
			 XENSTORE_RING_SIZE);
	assert_int_equal(ring_guest_write(intf, big, 1), 0);
	assert_true(ring_server_has_input(intf));
}

/* A message bigger than the ring (4096 + header) passed in rounds. */
static void test_large_message_crosses_in_rounds(void **state)
{
	struct xenstore_domain_interface *intf = *state;
	enum { LEN = 16 + XENSTORE_PAYLOAD_MAX };
	static unsigned char msg[LEN], got[LEN];
	size_t sent = 0, received = 0;
	int rounds = 0;

	fill(msg, sizeof(msg), 5);
	while (received < LEN) {
		ssize_t n = ring_guest_write(intf, msg + sent, LEN - sent);

		assert_true(n >= 0);
		sent += n;
		/* The reader takes odd-sized bites to move the offsets about. */
		n = ring_server_read(intf, got + received,
				     LEN - received < 333 ? LEN - received : 333);
		assert_true(n >= 0);
		received += n;
		assert_true(++rounds < 100);
	}
	assert_memory_equal(got, msg, LEN);
	assert_true(rounds > LEN / XENSTORE_RING_SIZE);
}

static void test_corrupted_request_indices_are_refused(void **state)
{
	struct xenstore_domain_interface *intf = *state;
	char buf[16];

	/* A guest claiming more than a ring's worth of requests. */
	intf->req_cons = 1000;
	intf->req_prod = 1000 + XENSTORE_RING_SIZE + 1;
	assert_int_equal(ring_server_read(intf, buf, sizeof(buf)), -1);
	assert_int_equal(intf->error, XENSTORE_ERROR_RINGIDX);
	/* Nothing moved. */
	assert_int_equal(intf->req_cons, 1000);
	assert_int_equal(intf->req_prod, 1000 + XENSTORE_RING_SIZE + 1);

	/* A consumer index ahead of the producer is the same lie. */
	intf->error = XENSTORE_ERROR_NONE;
	intf->req_cons = 5;
	intf->req_prod = 4;
	assert_int_equal(ring_server_read(intf, buf, sizeof(buf)), -1);
	assert_int_equal(intf->error, XENSTORE_ERROR_RINGIDX);
}

static void test_exactly_full_is_not_corrupted(void **state)
{
	struct xenstore_domain_interface *intf = *state;
	char buf[XENSTORE_RING_SIZE];

	intf->req_cons = 7;
	intf->req_prod = 7 + XENSTORE_RING_SIZE;
	assert_int_equal(ring_server_read(intf, buf, sizeof(buf)),
			 XENSTORE_RING_SIZE);
	assert_int_equal(intf->error, XENSTORE_ERROR_NONE);
}

static void test_corrupted_reply_indices_are_refused(void **state)
{
	struct xenstore_domain_interface *intf = *state;

	/* The guest moved its reply consumer past what we produced. */
	intf->rsp_prod = 10;
	intf->rsp_cons = 11;
	assert_int_equal(ring_server_write(intf, "x", 1), -1);
	assert_int_equal(intf->error, XENSTORE_ERROR_RINGIDX);
	assert_int_equal(intf->rsp_prod, 10);

	intf->error = XENSTORE_ERROR_NONE;
	intf->rsp_prod = 2000;
	intf->rsp_cons = 2000 - XENSTORE_RING_SIZE - 1;
	assert_int_equal(ring_server_write(intf, "x", 1), -1);
	assert_int_equal(intf->error, XENSTORE_ERROR_RINGIDX);
}

static void test_guest_side_reports_corruption_too(void **state)
{
	struct xenstore_domain_interface *intf = *state;
	char buf[4];

	intf->rsp_cons = 0;
	intf->rsp_prod = XENSTORE_RING_SIZE + 1;
	assert_int_equal(ring_guest_read(intf, buf, sizeof(buf)), -1);
	intf->req_prod = 0;
	intf->req_cons = 1;
	assert_int_equal(ring_guest_write(intf, buf, sizeof(buf)), -1);
	/* The error field belongs to the server. */
	assert_int_equal(intf->error, XENSTORE_ERROR_NONE);
}

static void test_attach_advertises_features_and_clears_error(void **state)
{
	struct xenstore_domain_interface *intf = *state;
	const uint32_t other_bit = 1u << 7;

	/* The field is the server's: what was there before goes. */
	intf->server_features = other_bit;
	intf->error = XENSTORE_ERROR_PROTO;
	ring_server_attach(intf, XENSTORE_SERVER_FEATURE_RECONNECTION |
				 XENSTORE_SERVER_FEATURE_ERROR);
	assert_int_equal(intf->server_features,
			 XENSTORE_SERVER_FEATURE_RECONNECTION |
			 XENSTORE_SERVER_FEATURE_ERROR);
	assert_int_equal(intf->error, XENSTORE_ERROR_NONE);
	assert_int_equal(intf->connection, XENSTORE_CONNECTED);
}

static void test_reconnection_empties_the_queues(void **state)
{
	struct xenstore_domain_interface *intf = *state;
	char buf[8];

	assert_false(ring_reconnect_requested(intf));
	/* Half a request and an unread reply are in flight. */
	intf->req_cons = 300;
	intf->req_prod = 310;
	intf->rsp_cons = 900;
	intf->rsp_prod = 950;
	intf->connection = XENSTORE_RECONNECT;
	assert_true(ring_reconnect_requested(intf));

	ring_reconnect_complete(intf);
	assert_false(ring_reconnect_requested(intf));
	assert_int_equal(intf->connection, XENSTORE_CONNECTED);
	assert_int_equal(intf->req_cons, 0);
	assert_int_equal(intf->req_prod, 0);
	assert_int_equal(intf->rsp_cons, 0);
	assert_int_equal(intf->rsp_prod, 0);
	assert_false(ring_server_has_input(intf));
	assert_int_equal(ring_guest_read(intf, buf, sizeof(buf)), 0);

	/* The ring works again from the reset state. */
	assert_int_equal(ring_guest_write(intf, "abc", 3), 3);
	assert_int_equal(ring_server_read(intf, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "abc", 3);
}

static void test_reconnection_clears_an_error(void **state)
{
	struct xenstore_domain_interface *intf = *state;

	intf->error = XENSTORE_ERROR_RINGIDX;
	intf->connection = XENSTORE_RECONNECT;
	ring_reconnect_complete(intf);
	assert_int_equal(intf->error, XENSTORE_ERROR_NONE);
}

static void test_unknown_connection_values_are_not_reconnects(void **state)
{
	struct xenstore_domain_interface *intf = *state;

	intf->connection = 0xdeadbeef;
	assert_false(ring_reconnect_requested(intf));
}

static void test_set_error(void **state)
{
	struct xenstore_domain_interface *intf = *state;

	ring_set_error(intf, XENSTORE_ERROR_PROTO);
	assert_int_equal(intf->error, XENSTORE_ERROR_PROTO);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup_page, teardown_page)
	const struct CMUnitTest tests[] = {
		T(test_empty_ring_has_nothing_to_read),
		T(test_request_and_reply_round_trip),
		T(test_reads_stop_at_what_is_there),
		T(test_data_wraps_around_the_end_of_the_buffer),
		T(test_indices_wrap_around_32_bits),
		T(test_full_ring_takes_no_more),
		T(test_large_message_crosses_in_rounds),
		T(test_corrupted_request_indices_are_refused),
		T(test_exactly_full_is_not_corrupted),
		T(test_corrupted_reply_indices_are_refused),
		T(test_guest_side_reports_corruption_too),
		T(test_attach_advertises_features_and_clears_error),
		T(test_reconnection_empties_the_queues),
		T(test_reconnection_clears_an_error),
		T(test_unknown_connection_values_are_not_reconnects),
		T(test_set_error),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
