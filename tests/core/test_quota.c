/*
 * Guest quotas through the core, with a stand-in domain backend so that a
 * guest domain can be introduced without Xen.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <talloc.h>

#include "daemon/core.h"
#include "tests/core/memconn.h"

#define GUEST 5

/* INTRODUCE succeeds without a ring: the guest talks through a memconn. */
static int fake_introduce(void *backend, uint32_t domid, uint64_t gfn,
			  uint32_t port)
{
	return 0;
}

static enum domain_state fake_state(void *backend, uint32_t domid)
{
	return DOMAIN_RUNNING;
}

static const struct domain_backend fake_backend = {
	.introduce = fake_introduce,
	.state = fake_state,
};

struct fixture {
	void *ctx;
	struct server *server;
	struct memconn *dom0, *guest;
};

static struct fixture *setup_with_quota(unsigned long nodes)
{
	struct fixture *f = talloc_zero(NULL, struct fixture);
	struct server_config config;
	struct memconn_reply reply;

	server_config_defaults(&config);
	config.quota.nodes = nodes;
	f->ctx = f;
	f->server = server_new(f, &config);
	assert_non_null(f->server);
	server_set_domain_backend(f->server, &fake_backend, NULL);
	f->dom0 = memconn_new(f, f->server, 0);
	assert_int_equal(memconn_callv(f->dom0, XS_INTRODUCE, 0, &reply, false,
				       "5", "0", "1", NULL), 0);
	/* The guest's home, owned by the guest: one node charged to it. */
	assert_int_equal(memconn_callv(f->dom0, XS_MKDIR, 0, &reply, false,
				       "/local/domain/5", NULL), 0);
	assert_int_equal(memconn_callv(f->dom0, XS_SET_PERMS, 0, &reply, false,
				       "/local/domain/5", "n5", NULL), 0);
	f->guest = memconn_new(f, f->server, GUEST);
	assert_non_null(f->guest);
	return f;
}

static unsigned long guest_nodes(struct fixture *f)
{
	struct memconn_reply reply;
	unsigned long nodes = 0;
	const char *line;

	assert_int_equal(memconn_callv(f->dom0, XS_CONTROL, 0, &reply, false,
				       "quota", "5", NULL), 0);
	line = strstr(reply.payload, "nodes");
	assert_non_null(line);
	assert_int_equal(sscanf(line, "nodes : %lu", &nodes), 1);
	return nodes;
}

/* Regression: creations earlier in the same transaction count too. */
static void test_node_quota_counts_the_transactions_own_nodes(void **state)
{
	struct fixture *f = setup_with_quota(4);
	struct memconn_reply reply;
	char tx[XENSTORE_PAYLOAD_MAX + 1];

	assert_int_equal(guest_nodes(f), 1);
	assert_int_equal(memconn_callv(f->guest, XS_TRANSACTION_START, 0,
				       &reply, false, "", NULL), 0);
	snprintf(tx, sizeof(tx), "%s", reply.payload);
	/* data and data/a: 3 nodes with the home. */
	assert_int_equal(memconn_callv(f->guest, XS_WRITE, atoi(tx), &reply,
				       true, "data/a", "1", NULL), 0);
	assert_int_equal(memconn_callv(f->guest, XS_WRITE, atoi(tx), &reply,
				       true, "data/b", "2", NULL), 0);
	/* A fifth node is over the quota of 4. */
	assert_int_equal(memconn_callv(f->guest, XS_WRITE, atoi(tx), &reply,
				       true, "data/c", "3", NULL), ENOSPC);
	assert_int_equal(memconn_callv(f->guest, XS_TRANSACTION_END, atoi(tx),
				       &reply, false, "T", NULL), 0);
	assert_int_equal(guest_nodes(f), 4);
	talloc_free(f);
}

/* The same limit for several plain requests. */
static void test_node_quota_plain_requests(void **state)
{
	struct fixture *f = setup_with_quota(3);
	struct memconn_reply reply;

	assert_int_equal(memconn_callv(f->guest, XS_WRITE, 0, &reply, true,
				       "a", "1", NULL), 0);
	assert_int_equal(memconn_callv(f->guest, XS_WRITE, 0, &reply, true,
				       "b", "2", NULL), 0);
	assert_int_equal(memconn_callv(f->guest, XS_WRITE, 0, &reply, true,
				       "c", "3", NULL), ENOSPC);
	/* Overwriting an owned node costs nothing. */
	assert_int_equal(memconn_callv(f->guest, XS_WRITE, 0, &reply, true,
				       "a", "again", NULL), 0);
	assert_int_equal(guest_nodes(f), 3);
	talloc_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_node_quota_counts_the_transactions_own_nodes),
		cmocka_unit_test(test_node_quota_plain_requests),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
