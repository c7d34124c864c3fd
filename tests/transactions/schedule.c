#include <ctype.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <talloc.h>

#include "daemon/control.h"
#include "daemon/domain.h"
#include "daemon/internal.h"
#include "tests/transactions/schedule.h"

#define MAX_TOKENS 16
#define RUNNER '$'

struct schedule_run {
	void *ctx;
	struct xs_env *env;
	char *base;
	/* Indexed by the connection's letter (and RUNNER). */
	struct xs_client *conns[128];
	uint32_t tx[128];
	char *failure;
	struct xs_reply reply;
};

static bool fail(struct schedule_run *run, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static bool fail(struct schedule_run *run, const char *fmt, ...)
{
	va_list ap;

	talloc_free(run->failure);
	va_start(ap, fmt);
	run->failure = talloc_vasprintf(run, fmt, ap);
	va_end(ap);
	return false;
}

const char *schedule_failure(const struct schedule_run *run)
{
	return run->failure ? run->failure : "";
}

static bool is_guest_letter(int letter)
{
	return letter == 'U' || letter == 'V';
}

bool schedule_step_needs_guest(const char *step)
{
	return is_guest_letter((unsigned char)step[0]);
}

static struct xs_client *conn_of(struct schedule_run *run, int letter)
{
	if (!run->conns[letter])
		run->conns[letter] = xs_connect(run->env,
			is_guest_letter(letter) ? SCHEDULE_GUEST : 0);
	return run->conns[letter];
}

/* "/t/x" -> base + "/x"; anything else unchanged. */
static char *real_path(struct schedule_run *run, const char *path)
{
	if (strncmp(path, "/t", 2) == 0 && (path[2] == '/' || !path[2]))
		return talloc_asprintf(run, "%s%s", run->base, path + 2);
	return talloc_strdup(run, path);
}

/* The inverse, for event paths. */
static const char *test_path(struct schedule_run *run, const char *path)
{
	size_t len = strlen(run->base);

	if (strncmp(path, run->base, len) == 0 &&
	    (path[len] == '/' || !path[len]))
		return talloc_asprintf(run, "/t%s", path + len);
	return path;
}

static char *value_of(struct schedule_run *run, const char *token)
{
	const char *star = strchr(token, '*');

	if (strcmp(token, "''") == 0)
		return talloc_strdup(run, "");
	if (star && star - token == 1 && isdigit((unsigned char)star[1])) {
		size_t n = strtoul(star + 1, NULL, 10);
		char *value = talloc_size(run, n + 1);

		memset(value, token[0], n);
		value[n] = '\0';
		return value;
	}
	return talloc_strdup(run, token);
}

static char *format_reply(struct schedule_run *run, uint32_t type, int err)
{
	if (err < 0)
		return talloc_strdup(run, "no reply");
	return xs_reply_text(run, type, &run->reply);
}

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *collect_events(struct schedule_run *run, struct xs_client *c)
{
	struct xs_event ev;
	char **paths = NULL;
	size_t count = 0, i;
	char *out = talloc_strdup(run, "");

	while (xs_next_event(c, &ev)) {
		paths = talloc_realloc(run, paths, char *, count + 1);
		paths[count++] = talloc_strdup(paths, test_path(run, ev.path));
	}
	if (count)
		qsort(paths, count, sizeof(*paths), compare_strings);
	for (i = 0; i < count; i++)
		out = talloc_asprintf_append(out, "%s%s", i ? " " : "",
					     paths[i]);
	talloc_free(paths);
	return out;
}

void schedule_drain_events(struct schedule_run *run)
{
	int letter;

	for (letter = 0; letter < 128; letter++)
		if (run->conns[letter])
			talloc_free(collect_events(run, run->conns[letter]));
}

/* "name=value" for @path's descendants, depth first, names relative. */
static bool dump_subtree(struct schedule_run *run, const char *path,
			 const char *rel, char **out)
{
	struct xs_client *c = conn_of(run, RUNNER);
	char *names, *p, *end;

	if (xs_callv(c, XS_DIRECTORY, 0, &run->reply, false, path, NULL))
		return false;
	names = talloc_memdup(run, run->reply.payload, run->reply.len + 1);
	end = names + run->reply.len;
	for (p = names; p < end; p += strlen(p) + 1) {
		char *child = talloc_asprintf(names, "%s/%s", path, p);
		char *child_rel = talloc_asprintf(names, "%s%s%s", rel,
						  *rel ? "/" : "", p);

		if (xs_callv(c, XS_READ, 0, &run->reply, false, child, NULL))
			return false;
		*out = talloc_asprintf_append(*out, "%s%s=%.*s",
					      **out ? " " : "", child_rel,
					      (int)run->reply.len,
					      run->reply.payload);
		if (!dump_subtree(run, child, child_rel, out))
			return false;
	}
	talloc_free(names);
	return true;
}

struct owner_count {
	uint32_t domid;
	unsigned long nodes;
};

#define MAX_OWNERS 8

static void count_owner(struct owner_count *owners, uint32_t domid)
{
	unsigned int i;

	for (i = 0; i < MAX_OWNERS; i++) {
		if (owners[i].nodes && owners[i].domid != domid)
			continue;
		owners[i].domid = domid;
		owners[i].nodes++;
		return;
	}
}

static int count_record(const char *path, const struct node *node, void *arg)
{
	if (!node)
		return EIO;	/* a record that does not decode */
	if (node->perms.count)
		count_owner(arg, node->perms.entries[0].domid);
	return 0;
}

/* In memory: the core's counters against a recount of the store. */
static bool check_memory(struct schedule_run *run, struct server *server)
{
	struct owner_count owners[MAX_OWNERS] = { { 0 } };
	const uint32_t known[] = { 0, SCHEDULE_GUEST };
	struct connection *conn;
	unsigned int i;
	long problems = control_check_store(server);

	if (problems)
		return fail(run, "control_check_store: %ld problems", problems);
	if (store_traverse(server->store, count_record, owners) != 0)
		return fail(run, "the store could not be walked");
	for (i = 0; i < MAX_OWNERS && owners[i].nodes; i++)
		if (domain_node_count(server, owners[i].domid) !=
		    owners[i].nodes)
			return fail(run, "domain %u: counted %lu nodes, "
				    "owns %lu", owners[i].domid,
				    domain_node_count(server, owners[i].domid),
				    owners[i].nodes);
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		struct domain *domain = domain_get(server, known[i]);
		unsigned int open = 0, j;
		bool owns = false;

		for (j = 0; j < MAX_OWNERS && owners[j].nodes; j++)
			owns |= owners[j].domid == known[i];
		if (!owns && domain->nodes)
			return fail(run, "domain %u: counted %lu nodes, owns 0",
				    known[i], domain->nodes);
		TAILQ_FOREACH(conn, &server->connections, link)
			if (conn->domain == domain)
				open += conn->transaction_count;
		if (domain->transactions != open)
			return fail(run, "domain %u: counted %u transactions, "
				    "%u open", known[i], domain->transactions,
				    open);
	}
	return true;
}

/* Over a socket: dom0's node count ("CONTROL quota 0") against a walk. */
static bool count_dom0_nodes(struct schedule_run *run, const char *path,
			     unsigned long *count)
{
	struct xs_client *c = conn_of(run, RUNNER);
	char *names, *p, *end;

	if (xs_callv(c, XS_GET_PERMS, 0, &run->reply, false, path, NULL))
		return false;
	if (strtoul(run->reply.payload + 1, NULL, 10) == 0)
		(*count)++;
	if (xs_callv(c, XS_DIRECTORY, 0, &run->reply, false, path, NULL))
		return false;
	names = talloc_memdup(run, run->reply.payload, run->reply.len + 1);
	end = names + run->reply.len;
	for (p = names; p < end; p += strlen(p) + 1) {
		char *child = talloc_asprintf(names, "%s/%s",
					      strcmp(path, "/") ? path : "", p);

		if (!count_dom0_nodes(run, child, count))
			return false;
	}
	talloc_free(names);
	return true;
}

static bool check_socket(struct schedule_run *run)
{
	struct xs_client *c = conn_of(run, RUNNER);
	unsigned long walked = 0, counted;
	const char *nodes;

	if (!count_dom0_nodes(run, "/", &walked))
		return fail(run, "cannot walk the store");
	if (xs_callv(c, XS_CONTROL, 0, &run->reply, false, "quota", "0",
		     NULL))
		return true;	/* a daemon without per-domain counts */
	/* Xen 4.17's C daemon: "nodes : N"; oxenstored: "dom0 quota: N/max". */
	nodes = strstr(run->reply.payload, "nodes");
	if (!nodes)
		nodes = strstr(run->reply.payload, "quota");
	nodes = nodes ? strchr(nodes, ':') : NULL;
	if (!nodes)
		return fail(run, "no node count in: %s", run->reply.payload);
	counted = strtoul(nodes + 1, NULL, 10);
	if (counted != walked)
		return fail(run, "dom0: counted %lu nodes, owns %lu", counted,
			    walked);
	return true;
}

static bool check_store(struct schedule_run *run)
{
	struct server *server = xs_env_server(run->env);

	return server ? check_memory(run, server) : check_socket(run);
}

static bool expect(struct schedule_run *run, const char *got,
		   const char *expected)
{
	if (strcmp(got, expected) == 0)
		return true;
	return fail(run, "got \"%s\", expected \"%s\"", got, expected);
}

/* A request from connection @letter; @argv are its payload strings. */
static bool request(struct schedule_run *run, int letter, bool explicit_tx,
		    uint32_t tx_id, uint32_t type, bool raw_last,
		    const char **argv, int argc, const char *expected)
{
	struct xs_client *c = conn_of(run, letter);
	char payload[2 * XENSTORE_PAYLOAD_MAX];
	size_t len = 0;
	int i, err;

	if (!c)
		return fail(run, "cannot connect %c", letter);
	if (!explicit_tx)
		tx_id = type == XS_RESET_WATCHES ? 0 : run->tx[letter];
	for (i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]);

		if (len + n + 1 > sizeof(payload))
			return fail(run, "request too long");
		memcpy(payload + len, argv[i], n + 1);
		len += n + (i == argc - 1 && raw_last ? 0 : 1);
	}
	err = xs_call(c, type, tx_id, payload, (uint32_t)len, &run->reply);
	if (type == XS_TRANSACTION_START && err == 0)
		run->tx[letter] = (uint32_t)strtoul(run->reply.payload, NULL,
						    10);
	if (type == XS_TRANSACTION_END && !explicit_tx)
		run->tx[letter] = 0;
	return expect(run, format_reply(run, type, err), expected);
}

struct op {
	const char *name;
	uint32_t type;
	int min_args, max_args;	/* path arguments, values, perms... */
	bool raw_last;
};

static const struct op ops[] = {
	{ "start", XS_TRANSACTION_START, 0, 0, false },
	{ "commit", XS_TRANSACTION_END, 0, 0, false },
	{ "abort", XS_TRANSACTION_END, 0, 0, false },
	{ "write", XS_WRITE, 2, 2, true },
	{ "mkdir", XS_MKDIR, 1, 1, false },
	{ "rm", XS_RM, 1, 1, false },
	{ "read", XS_READ, 1, 1, false },
	{ "dir", XS_DIRECTORY, 1, 1, false },
	{ "dirpart", XS_DIRECTORY_PART, 2, 2, false },
	{ "getperms", XS_GET_PERMS, 1, 1, false },
	{ "setperms", XS_SET_PERMS, 2, 6, false },
	{ "watch", XS_WATCH, 2, 2, false },
	{ "reset", XS_RESET_WATCHES, 0, 0, false },
};

bool schedule_step(struct schedule_run *run, const char *step)
{
	char *copy = talloc_strdup(run, step), *arrow, *save = NULL;
	const char *tokens[MAX_TOKENS], *expected = "OK", *argv[MAX_TOKENS];
	int ntok = 0, letter, i;
	bool explicit_tx = false, ok;
	uint32_t tx_id = 0;
	const struct op *op = NULL;

	arrow = strstr(copy, "->");
	if (arrow) {
		*arrow = '\0';
		expected = arrow + 2;
		while (*expected == ' ')
			expected++;
	}
	for (char *t = strtok_r(copy, " ", &save); t && ntok < MAX_TOKENS;
	     t = strtok_r(NULL, " ", &save))
		tokens[ntok++] = t;
	if (ntok == 1 && strcmp(tokens[0], "check") == 0)
		return check_store(run);
	if (ntok < 2)
		return fail(run, "bad step \"%s\"", step);
	letter = (unsigned char)tokens[0][0];
	if (tokens[0][1] == '#') {
		explicit_tx = true;
		tx_id = (uint32_t)strtoul(tokens[0] + 2, NULL, 10);
	}
	if (strcmp(tokens[1], "close") == 0) {
		if (run->conns[letter])
			xs_close(run->conns[letter]);
		run->conns[letter] = NULL;
		run->tx[letter] = 0;
		return true;
	}
	if (strcmp(tokens[1], "events") == 0)
		return expect(run, collect_events(run, conn_of(run, letter)),
			      expected);
	if (strcmp(tokens[1], "store") == 0 && ntok == 3) {
		char *out = talloc_strdup(run, "");

		if (!dump_subtree(run, real_path(run, tokens[2]), "", &out))
			return fail(run, "cannot read the subtree %s",
				    tokens[2]);
		return expect(run, out, expected);
	}
	if (strcmp(tokens[1], "quota") == 0 && ntok == 4) {
		const char *args[] = { "quota", "set", tokens[2], tokens[3] };

		return request(run, letter, false, 0, XS_CONTROL, false, args,
			       4, expected);
	}
	for (i = 0; i < (int)(sizeof(ops) / sizeof(ops[0])); i++)
		if (strcmp(ops[i].name, tokens[1]) == 0)
			op = &ops[i];
	if (!op || ntok - 2 < op->min_args || ntok - 2 > op->max_args)
		return fail(run, "bad step \"%s\"", step);
	for (i = 2; i < ntok; i++) {
		if (i == 2 && op->type != XS_TRANSACTION_END)
			argv[i - 2] = real_path(run, tokens[i]);
		else if (op->type == XS_WRITE)
			argv[i - 2] = value_of(run, tokens[i]);
		else
			argv[i - 2] = tokens[i];
	}
	if (op->type == XS_TRANSACTION_END)
		argv[ntok++ - 2] = strcmp(op->name, "commit") == 0 ? "T" : "F";
	else if (op->type == XS_TRANSACTION_START ||
		 op->type == XS_RESET_WATCHES)
		argv[ntok++ - 2] = "";
	ok = request(run, letter, explicit_tx, tx_id, op->type, op->raw_last,
		     argv, ntok - 2, expected);
	talloc_free(copy);
	return ok;
}

struct schedule_run *schedule_begin(void *ctx, struct xs_env *env,
				    const char *base)
{
	struct schedule_run *run = talloc_zero(ctx, struct schedule_run);

	if (!run)
		return NULL;
	run->ctx = ctx;
	run->env = env;
	run->base = talloc_strdup(run, base);
	if (!schedule_step(run, "$ mkdir /t") ||
	    !schedule_step(run, "W watch /t w")) {
		talloc_free(run);
		return NULL;
	}
	schedule_drain_events(run);
	return run;
}

void schedule_end(struct schedule_run *run)
{
	int letter;

	if (!xs_env_server(run->env))
		schedule_step(run, "$ rm /t");
	for (letter = 0; letter < 128; letter++)
		if (run->conns[letter])
			xs_close(run->conns[letter]);
	talloc_free(run);
}
