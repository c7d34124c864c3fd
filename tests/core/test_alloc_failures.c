/*
 * Every allocation the core makes for a request may fail: each request
 * type is run once to count its allocations, then once more for each of
 * them with exactly that one failing (tests/core/failing_alloc.h).  Each
 * run must end one of three ways:
 *   - the answer a run without failure gives, with the same store, the
 *     same accounting and the same watch events;
 *   - ENOMEM, with the store, the accounting, the watches and the
 *     connections as they were, no watch event, and the same request
 *     then answering as it does without failure;
 *   - the connection cut before anything was done (no room even for an
 *     error reply), with everything as it was.
 * A domain's death is run the same way: what a failure leaves behind is
 * removed at the next tick.
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
#include "daemon/domain.h"
#include "daemon/log.h"
#include "daemon/watch.h"
#include "tests/core/failing_alloc.h"
#include "tests/core/memconn.h"

#define MAX_GUESTS 8
#define GUEST 5		/* introduced, owns its home */
#define OTHER 6		/* introduced, for SET_TARGET and RELEASE */
#define NEW_GUEST 7	/* for INTRODUCE */

struct fixture {
	struct server *server;
	struct memconn *dom0, *watcher;
	struct memconn *guests[MAX_GUESTS];
	enum domain_state states[MAX_GUESTS];
	uint32_t tx;		/* the caller's open transaction, if any */
};

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

/* --- Requests, outside the armed period --------------------------------- */

struct message {
	uint32_t type;
	uint32_t len;
	char payload[XENSTORE_PAYLOAD_MAX + 1];
};

/* Strings, each with its NUL, but the last without if @raw_last. */
static uint32_t build_payload(char *buf, const char *const *args,
			      bool raw_last)
{
	uint32_t len = 0;
	size_t i;

	for (i = 0; args[i]; i++) {
		size_t n = strlen(args[i]) + (raw_last && !args[i + 1] ? 0 : 1);

		memcpy(buf + len, args[i], n);
		len += (uint32_t)n;
	}
	return len;
}

static void must(struct memconn *mc, uint32_t tx, uint32_t type, ...)
{
	const char *args[6];
	char payload[XENSTORE_PAYLOAD_MAX];
	struct memconn_reply reply;
	size_t n = 0;
	va_list ap;
	int err;

	va_start(ap, type);
	while (n < 5 && (args[n] = va_arg(ap, const char *)))
		n++;
	args[n] = NULL;
	va_end(ap);
	err = memconn_call(mc, type, tx, payload,
			   build_payload(payload, args, type == XS_WRITE),
			   &reply);
	if (err)
		fail_msg("setup request %u %s: %d", type, args[0], err);
}

static uint32_t start_transaction(struct memconn *mc)
{
	struct memconn_reply reply;

	assert_int_equal(memconn_call(mc, XS_TRANSACTION_START, 0, "", 1,
				      &reply), 0);
	return (uint32_t)strtoul(reply.payload, NULL, 10);
}

static void introduce(struct fixture *f, uint32_t domid)
{
	char id[8], home[32], owner[8];

	snprintf(id, sizeof(id), "%u", domid);
	snprintf(home, sizeof(home), "/local/domain/%u", domid);
	snprintf(owner, sizeof(owner), "n%u", domid);
	must(f->dom0, 0, XS_INTRODUCE, id, "1", "1", NULL);
	must(f->dom0, 0, XS_WRITE, home, "", NULL);
	must(f->dom0, 0, XS_SET_PERMS, home, owner, NULL);
}

static struct fixture *fixture_new(void)
{
	struct fixture *f = talloc_zero(NULL, struct fixture);
	struct server_config config;
	struct memconn_reply reply;

	assert_non_null(f);
	server_config_defaults(&config);
	f->server = server_new(f, &config);
	assert_non_null(f->server);
	server_set_domain_backend(f->server, &fake_backend, f);
	f->dom0 = memconn_new(f, f->server, 0);
	f->watcher = memconn_new(f, f->server, 0);
	assert_non_null(f->dom0);
	assert_non_null(f->watcher);
	introduce(f, GUEST);
	introduce(f, OTHER);
	must(f->dom0, 0, XS_WRITE, "/a", "va", NULL);
	must(f->dom0, 0, XS_WRITE, "/a/b", "vb", NULL);
	must(f->dom0, 0, XS_WRITE, "/a/b/c", "vc", NULL);
	must(f->dom0, 0, XS_WRITE, "/local/domain/5/data", "v5", NULL);
	must(f->dom0, 0, XS_WRITE, "/local/domain/5/sub/x", "x", NULL);
	must(f->dom0, 0, XS_SET_PERMS, "/local/domain/5/data", "n5", NULL);
	must(f->dom0, 0, XS_SET_PERMS, "/local/domain/5/sub/x", "n5", NULL);
	/* Watches and their events through the watcher: one of every
	 * path, and a guest's so that permission checks run too. */
	assert_int_equal(memconn_callv(f->watcher, XS_WATCH, 0, &reply, 0,
				       "/", "all", NULL), 0);
	assert_int_equal(memconn_callv(f->guests[GUEST], XS_WATCH, 0, &reply,
				       0, "/a", "guest", NULL), 0);
	while (memconn_pending_events(f->watcher) ||
	       memconn_pending_events(f->guests[GUEST])) {
		struct memconn_event ev;

		memconn_next_event(f->watcher, &ev);
		memconn_next_event(f->guests[GUEST], &ev);
	}
	return f;
}

static void fixture_free(struct fixture *f)
{
	talloc_free(f->server);
	talloc_free(f);
}

/* --- What is compared ---------------------------------------------------- */

static int dump_node(const char *path, const struct node *node, void *arg)
{
	char **text = arg;
	char perms[256];
	size_t len, i;

	if (!node)
		return EIO;
	len = perms_format(&node->perms, perms, sizeof(perms));
	for (i = 0; i + 1 < len; i++)
		if (!perms[i])
			perms[i] = ',';
	*text = talloc_asprintf_append(*text, "%s=%.*s [%.*s] {", path,
				       (int)node->value_len, node->value,
				       (int)(len ? len - 1 : 0), perms);
	for (i = 0; *text && i < node->children_len; i++)
		*text = talloc_asprintf_append(*text, "%c",
					       node->children[i] ?
					       node->children[i] : ',');
	*text = talloc_asprintf_append(*text, "}\n");
	return *text ? 0 : ENOMEM;
}

static int by_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The store's records as lines, in an order TDB's layout does not change. */
static char *store_lines(void *ctx, struct fixture *f)
{
	char *text = talloc_strdup(ctx, ""), *line, *sorted, *save;
	char *lines[256];
	size_t count = 0, i;

	assert_int_equal(store_traverse(f->server->store, dump_node, &text), 0);
	assert_non_null(text);
	for (line = strtok_r(text, "\n", &save); line && count < 256;
	     line = strtok_r(NULL, "\n", &save))
		lines[count++] = line;
	qsort(lines, count, sizeof(lines[0]), by_line);
	sorted = talloc_strdup(ctx, "");
	for (i = 0; i < count; i++)
		sorted = talloc_asprintf_append(sorted, "%s\n", lines[i]);
	assert_non_null(sorted);
	return sorted;
}

/*
 * The store and each domain's accounting, then (after a "|") the watches
 * and connections: a cut connection takes its own with it.
 */
static char *snapshot(void *ctx, struct fixture *f)
{
	char *text = store_lines(ctx, f);
	uint32_t domid;

	for (domid = 0; domid < MAX_GUESTS; domid++)
		text = talloc_asprintf_append(text, "domain %u: %lu nodes\n",
					      domid,
					      domain_node_count(f->server,
								domid));
	text = talloc_asprintf_append(text, "|%lu watches, %u connections\n",
				      watch_count(f->server),
				      server_connection_count(f->server));
	assert_non_null(text);
	assert_int_equal(control_check_store(f->server), 0);
	return text;
}

/* Everything a connection was sent, one message a line. */
static char *received(void *ctx, struct memconn *mc)
{
	struct xsd_sockmsg hdr;
	char payload[XENSTORE_PAYLOAD_MAX + 1];
	char *text = talloc_strdup(ctx, "");
	uint32_t i;

	memconn_give_room(mc, MEMCONN_UNLIMITED);
	while (memconn_recv(mc, &hdr, payload)) {
		for (i = 0; i < hdr.len; i++)
			if (!payload[i])
				payload[i] = ',';
		text = talloc_asprintf_append(text, "%u:%s\n", hdr.type,
					      payload);
	}
	assert_non_null(text);
	return text;
}

/* --- The cases ------------------------------------------------------------ */

enum caller { DOM0, GUEST_CALLER };

struct alloc_case {
	const char *name;
	enum caller caller;
	bool in_tx;		/* the caller has a transaction open first */
	bool tx_wrote;		/* ... and wrote /a in it */
	bool ends_tx;		/* TRANSACTION_END: a retry cannot answer alike */
	uint32_t type;
	const char *args[5];
};

static const struct alloc_case cases[] = {
	{ "READ", DOM0, .type = XS_READ, .args = { "/a" } },
	{ "READ missing", DOM0, .type = XS_READ, .args = { "/a/none" } },
	{ "WRITE existing", DOM0, .type = XS_WRITE, .args = { "/a", "v2" } },
	{ "WRITE with parents", DOM0, .type = XS_WRITE,
	  .args = { "/n/e/w", "v" } },
	{ "MKDIR", DOM0, .type = XS_MKDIR, .args = { "/m/k" } },
	{ "RM subtree", DOM0, .type = XS_RM, .args = { "/a" } },
	{ "RM missing", DOM0, .type = XS_RM, .args = { "/a/none" } },
	{ "DIRECTORY", DOM0, .type = XS_DIRECTORY, .args = { "/a" } },
	{ "DIRECTORY_PART", DOM0, .type = XS_DIRECTORY_PART,
	  .args = { "/local/domain", "0" } },
	{ "GET_PERMS", DOM0, .type = XS_GET_PERMS, .args = { "/a" } },
	{ "SET_PERMS", DOM0, .type = XS_SET_PERMS,
	  .args = { "/a/b", "n0", "r5", "b6" } },
	{ "SET_PERMS special", DOM0, .type = XS_SET_PERMS,
	  .args = { "@releaseDomain", "n0", "r5" } },
	{ "GET_PERMS special", DOM0, .type = XS_GET_PERMS,
	  .args = { "@introduceDomain" } },
	{ "WATCH", DOM0, .type = XS_WATCH, .args = { "/a/b", "t" } },
	{ "UNWATCH", GUEST_CALLER, .type = XS_UNWATCH,
	  .args = { "/a", "guest" } },
	{ "RESET_WATCHES", GUEST_CALLER, .type = XS_RESET_WATCHES,
	  .args = { "" } },
	{ "TRANSACTION_START", DOM0, .type = XS_TRANSACTION_START,
	  .args = { "" } },
	{ "TRANSACTION_END commit", DOM0, true, true, true,
	  XS_TRANSACTION_END, { "T" } },
	{ "TRANSACTION_END abort", DOM0, true, true, true,
	  XS_TRANSACTION_END, { "F" } },
	{ "READ in a transaction", DOM0, true, true, .type = XS_READ,
	  .args = { "/a" } },
	{ "WRITE in a transaction", DOM0, true, .type = XS_WRITE,
	  .args = { "/a/b/d", "v" } },
	{ "RM in a transaction", DOM0, true, true, .type = XS_RM,
	  .args = { "/a/b" } },
	{ "INTRODUCE", DOM0, .type = XS_INTRODUCE,
	  .args = { "7", "1", "1" } },
	{ "RELEASE", DOM0, .type = XS_RELEASE, .args = { "6" } },
	{ "RESUME", DOM0, .type = XS_RESUME, .args = { "5" } },
	{ "IS_DOMAIN_INTRODUCED", DOM0, .type = XS_IS_DOMAIN_INTRODUCED,
	  .args = { "5" } },
	{ "GET_DOMAIN_PATH", DOM0, .type = XS_GET_DOMAIN_PATH,
	  .args = { "5" } },
	{ "SET_TARGET", DOM0, .type = XS_SET_TARGET, .args = { "6", "5" } },
	{ "CONTROL check", DOM0, .type = XS_CONTROL, .args = { "check" } },
	{ "CONTROL help", DOM0, .type = XS_CONTROL, .args = { "help" } },
	{ "CONTROL quota", DOM0, .type = XS_CONTROL, .args = { "quota" } },
	{ "CONTROL quota of a domain", DOM0, .type = XS_CONTROL,
	  .args = { "quota", "5" } },
	{ "CONTROL quota set", DOM0, .type = XS_CONTROL,
	  .args = { "quota", "set", "nodes", "2000" } },
	{ "CONTROL memreport", DOM0, .type = XS_CONTROL,
	  .args = { "memreport" } },
	{ "guest WRITE", GUEST_CALLER, .type = XS_WRITE,
	  .args = { "new/node", "v" } },
	{ "guest WRITE of its node", GUEST_CALLER, .type = XS_WRITE,
	  .args = { "data", "v" } },
	{ "guest READ refused", GUEST_CALLER, .type = XS_READ,
	  .args = { "/a/b" } },
	{ "guest RM", GUEST_CALLER, .type = XS_RM, .args = { "sub" } },
	{ "guest SET_PERMS", GUEST_CALLER, .type = XS_SET_PERMS,
	  .args = { "data", "n5", "r0" } },
	{ "guest WRITE in a transaction", GUEST_CALLER, true,
	  .type = XS_WRITE, .args = { "t/x", "v" } },
};

static struct memconn *caller_of(struct fixture *f, const struct alloc_case *c)
{
	return c->caller == DOM0 ? f->dom0 : f->guests[GUEST];
}

static void prepare(struct fixture *f, const struct alloc_case *c)
{
	f->tx = 0;
	if (!c->in_tx)
		return;
	f->tx = start_transaction(caller_of(f, c));
	if (c->tx_wrote)
		must(caller_of(f, c), f->tx, XS_WRITE, "/a", "in-tx", NULL);
}

struct outcome {
	char *reply;		/* what the caller was sent */
	char *events;		/* what the watcher was sent */
	char *state;		/* snapshot() after */
	bool cut;		/* the caller's connection is gone */
	unsigned long allocations;
	bool failed;		/* the injected failure happened */
};

/* Send the case's request with allocation @fail_at failing (0: none). */
static void run_once(void *ctx, struct fixture *f, const struct alloc_case *c,
		     unsigned long fail_at, struct outcome *out)
{
	struct memconn *mc = caller_of(f, c);
	char payload[XENSTORE_PAYLOAD_MAX];
	uint32_t len = build_payload(payload, c->args, c->type == XS_WRITE);
	struct xsd_sockmsg hdr = {
		.type = c->type, .req_id = 77, .tx_id = f->tx, .len = len,
	};

	/* The backends take nothing while armed, so only the core allocates. */
	memconn_set_room(mc, 0);
	memconn_set_room(f->watcher, 0);
	assert_true(memconn_queue_input(mc, &hdr, sizeof(hdr)));
	assert_true(memconn_queue_input(mc, payload, len));
	failing_alloc_arm(fail_at);
	memconn_notify(mc);
	out->allocations = failing_alloc_disarm();
	out->failed = failing_alloc_failed();
	out->cut = memconn_destroyed(mc);
	out->reply = received(ctx, mc);
	out->events = received(ctx, f->watcher);
	out->state = snapshot(ctx, f);
}

/* A snapshot without its connections part. */
static char *store_part(void *ctx, const char *state)
{
	return talloc_strndup(ctx, state, (size_t)(strchr(state, '|') - state));
}

static bool is_enomem(const char *reply)
{
	return strncmp(reply, "16:ENOMEM,", 10) == 0 && !strchr(reply + 10, ':');
}

static void run_case(void **state)
{
	const struct alloc_case *c = *state;
	void *ctx = talloc_new(NULL);
	struct outcome pristine, out, retry;
	unsigned long n, enomem = 0, same = 0, cut = 0, watchers_cut = 0;
	struct fixture *f = fixture_new();
	char *before;

	prepare(f, c);
	run_once(ctx, f, c, 0, &pristine);
	fixture_free(f);
	assert_false(pristine.cut);
	assert_true(pristine.allocations > 0);

	for (n = 1; n <= pristine.allocations; n++) {
		f = fixture_new();
		prepare(f, c);
		before = snapshot(ctx, f);
		run_once(ctx, f, c, n, &out);
		if (!out.failed)
			fail_msg("%s: allocation %lu of %lu never came", c->name,
				 n, pristine.allocations);
		if (out.cut) {
			*strchr(out.state, '|') = '\0';
			*strchr(before, '|') = '\0';
			assert_string_equal(out.state, before);
			assert_string_equal(out.events, "");
			cut++;
		} else if (strcmp(out.reply, pristine.reply) == 0) {
			/* Failed, and took another way to the same end; or
			 * a watcher that could not be told was cut. */
			if (strcmp(out.state, pristine.state) != 0) {
				assert_true(memconn_destroyed(f->guests[GUEST]));
				*strchr(out.state, '|') = '\0';
				assert_string_equal(out.state, store_part(ctx,
							pristine.state));
				watchers_cut++;
			}
			assert_string_equal(out.events, pristine.events);
			same++;
		} else {
			if (!is_enomem(out.reply))
				fail_msg("%s, allocation %lu failing: answered "
					 "%s instead of %s or ENOMEM", c->name, n,
					 out.reply, pristine.reply);
			assert_string_equal(out.state, before);
			assert_string_equal(out.events, "");
			enomem++;
			if (!c->ends_tx) {
				/* Nothing was left half-done: the same
				 * request now answers as it would have. */
				run_once(ctx, f, c, 0, &retry);
				assert_string_equal(retry.reply, pristine.reply);
				assert_string_equal(retry.state, pristine.state);
				assert_string_equal(retry.events,
						    pristine.events);
			}
		}
		fixture_free(f);
	}
	print_message("# %s: %lu allocations: %lu ENOMEM, %lu cut, %lu "
		      "answered alike (%lu cutting a watcher)\n", c->name,
		      pristine.allocations, enomem, cut, same, watchers_cut);
	talloc_free(ctx);
}

/* A domain's death with each allocation failing: the rest goes next tick. */
static void test_domain_death(void **state)
{
	void *ctx = talloc_new(NULL);
	struct fixture *f = fixture_new();
	char *gone;
	unsigned long n, total, left_over = 0;

	f->states[GUEST] = DOMAIN_DYING;
	memconn_set_room(f->watcher, 0);
	failing_alloc_arm(0);
	server_check_domains(f->server);
	total = failing_alloc_disarm();
	gone = snapshot(ctx, f);
	assert_non_null(strstr(gone, "domain 5: 0 nodes"));
	assert_null(strstr(gone, "/local/domain/5"));
	fixture_free(f);

	for (n = 1; n <= total; n++) {
		char *after;

		f = fixture_new();
		f->states[GUEST] = DOMAIN_DYING;
		memconn_set_room(f->watcher, 0);	/* only the core allocates */
		failing_alloc_arm(n);
		server_check_domains(f->server);
		failing_alloc_disarm();
		after = snapshot(ctx, f);
		if (strcmp(after, gone) != 0) {
			left_over++;
			server_tick(f->server, 1);
			assert_string_equal(snapshot(ctx, f), gone);
		}
		fixture_free(f);
	}
	print_message("# domain death: %lu allocations, %lu left nodes for "
		      "the next tick\n", total, left_over);
	talloc_free(ctx);
}

static void log_to_stderr(enum log_level level, const char *message)
{
	if (level <= LEVEL_WARNING)
		fprintf(stderr, "# log: %s\n", message);
}

int main(void)
{
	enum { COUNT = sizeof(cases) / sizeof(cases[0]) };
	struct CMUnitTest tests[COUNT + 1];
	size_t i;

	log_set_sink(log_to_stderr);
	for (i = 0; i < COUNT; i++) {
		tests[i] = (struct CMUnitTest)cmocka_unit_test(run_case);
		tests[i].name = cases[i].name;
		tests[i].initial_state = (void *)&cases[i];
	}
	tests[COUNT] = (struct CMUnitTest)cmocka_unit_test(test_domain_death);
	return _cmocka_run_group_tests("alloc_failures", tests, COUNT + 1,
				       NULL, NULL);
}
