/*
 * Model-based test of the transaction engine: random concurrent schedules
 * of transactional and plain requests from several connections on a small
 * tree (so that they conflict often), checked against a serial model.
 *
 * The engine promises that a commit succeeds exactly when the
 * transaction's replies are those a serial run at commit time would give.
 * So the model applies plain requests when they are answered and each
 * committed transaction's requests, in order, when it commits; then:
 *   - every reply a committed transaction got must be the model's reply at
 *     its commit (else: a missed conflict),
 *   - an EAGAIN must be justified: had the aborted transaction run at its
 *     commit point, some reply would differ (else: a false conflict),
 *   - plain replies, the watch events of each change (one per changed
 *     node, none for a node that only existed inside a transaction) and
 *     the whole tree must match the model.
 *
 * Connections are dom0's (so permissions never refuse); each has two
 * transaction slots.  XS_MODEL_SEED=N replays schedule N first;
 * XS_MODEL_SECONDS bounds the random part (default 20).  A failure prints
 * the schedule and the seed that reproduces it.
 *
 * To measure another engine: XS_TEST_SOCKET runs the schedules against
 * that daemon (each in its own subtree), and XS_MODEL_TALLY=1 counts false
 * conflicts instead of failing on the first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <talloc.h>

#include "tests/transactions/xs_client.h"

#define MEMORY_ROOT "/m"
#define CONNS 3
#define SLOTS 2
#define STEPS_PER_SCHEDULE 300
#define MAX_TX_OPS 12
#define FIXED_SCHEDULES 200

/* The path space: a, b, c; below each x and y; below each of those z. */
#define NPATHS 16	/* index 0 is the root itself, never removed */
static const char *const rel_paths[NPATHS] = {
	"", "a", "b", "c",
	"a/x", "a/y", "b/x", "b/y", "c/x", "c/y",
	"a/x/z", "a/y/z", "b/x/z", "b/y/z", "c/x/z", "c/y/z",
};
static int parent_of[NPATHS];

/* The schedule's subtree: MEMORY_ROOT, or a fresh one over a socket. */
static char root[64] = MEMORY_ROOT;
static const char *test_socket;
static bool tally;

static const char *const values[] = { "", "1", "2" };
static const char *const perm_sets[][2] = {
	{ "n0", NULL }, { "r0", NULL }, { "b0", NULL }, { "n0", "r7" },
};
#define NVALUES (sizeof(values) / sizeof(values[0]))
#define NPERMS (sizeof(perm_sets) / sizeof(perm_sets[0]))

/* --- The model: a serial store ------------------------------------- */

struct mnode {
	bool exists;
	const char *value;
	unsigned int perms;	/* index in perm_sets */
	int children[NPATHS];	/* in creation order */
	int nchildren;
};

struct model {
	struct mnode n[NPATHS];
};

enum op_kind {
	OP_WRITE, OP_MKDIR, OP_RM, OP_READ, OP_DIR, OP_DIRPART, OP_GETPERMS,
	OP_SETPERMS, OP_KINDS
};
static const char *const op_names[OP_KINDS] = {
	"write", "mkdir", "rm", "read", "dir", "dirpart", "getperms",
	"setperms",
};
static const uint32_t op_types[OP_KINDS] = {
	XS_WRITE, XS_MKDIR, XS_RM, XS_READ, XS_DIRECTORY, XS_DIRECTORY_PART,
	XS_GET_PERMS, XS_SET_PERMS,
};

struct op {
	enum op_kind kind;
	int path;
	unsigned int arg;	/* value or permission set */
};

/* Paths a change fires watches for (one per path), as a bit set. */
typedef uint32_t path_set;

static void init_paths(void)
{
	int i, j;

	for (i = 1; i < NPATHS; i++) {
		const char *slash = strrchr(rel_paths[i], '/');
		size_t len = slash ? (size_t)(slash - rel_paths[i]) : 0;

		parent_of[i] = 0;
		for (j = 1; j < NPATHS && slash; j++)
			if (strlen(rel_paths[j]) == len &&
			    strncmp(rel_paths[j], rel_paths[i], len) == 0)
				parent_of[i] = j;
	}
}

static void model_init(struct model *m)
{
	memset(m, 0, sizeof(*m));
	m->n[0].exists = true;
	m->n[0].value = "";
}

static void unlink_child(struct model *m, int parent, int child)
{
	struct mnode *p = &m->n[parent];
	int i;

	for (i = 0; i < p->nchildren; i++) {
		if (p->children[i] != child)
			continue;
		memmove(&p->children[i], &p->children[i + 1],
			(size_t)(p->nchildren - i - 1) * sizeof(int));
		p->nchildren--;
		return;
	}
}

static void remove_subtree(struct model *m, int path)
{
	struct mnode *node = &m->n[path];

	while (node->nchildren)
		remove_subtree(m, node->children[0]);
	if (path)
		unlink_child(m, parent_of[path], path);
	node->exists = false;
	node->nchildren = 0;
}

/* Make @path and its missing ancestors with the nearest one's perms. */
static void create(struct model *m, int path, const char *value)
{
	int chain[NPATHS], depth = 0, ancestor = path, i;

	while (!m->n[ancestor].exists) {
		chain[depth++] = ancestor;
		ancestor = parent_of[ancestor];
	}
	for (i = depth - 1; i >= 0; i--) {
		struct mnode *node = &m->n[chain[i]];
		struct mnode *parent = &m->n[parent_of[chain[i]]];

		node->exists = true;
		node->value = "";
		node->perms = m->n[ancestor].perms;
		node->nchildren = 0;
		parent->children[parent->nchildren++] = chain[i];
	}
	m->n[path].value = value;
}

static char *listing(void *ctx, const struct model *m, int path)
{
	const struct mnode *node = &m->n[path];
	char *out = talloc_strdup(ctx, "[");
	int i;

	for (i = 0; i < node->nchildren; i++) {
		const char *name = strrchr(rel_paths[node->children[i]], '/');

		name = name ? name + 1 : rel_paths[node->children[i]];
		out = talloc_asprintf_append(out, "%s%s", i ? " " : "", name);
	}
	return talloc_asprintf_append(out, "]");
}

static char *perms_text(void *ctx, unsigned int set)
{
	return talloc_asprintf(ctx, "<%s%s%s>", perm_sets[set][0],
			       perm_sets[set][1] ? " " : "",
			       perm_sets[set][1] ? perm_sets[set][1] : "");
}

/* Run @op on the model; its reply as the tests write it; @fired: events. */
static char *model_apply(void *ctx, struct model *m, const struct op *op,
			 path_set *fired)
{
	struct mnode *node = &m->n[op->path];

	switch (op->kind) {
	case OP_WRITE:
		if (node->exists)
			node->value = values[op->arg];
		else
			create(m, op->path, values[op->arg]);
		*fired |= 1u << op->path;
		return talloc_strdup(ctx, "OK");
	case OP_MKDIR:
		if (!node->exists) {
			create(m, op->path, "");
			*fired |= 1u << op->path;
		}
		return talloc_strdup(ctx, "OK");
	case OP_RM:
		if (node->exists) {
			remove_subtree(m, op->path);
			*fired |= 1u << op->path;
			return talloc_strdup(ctx, "OK");
		}
		return talloc_strdup(ctx, m->n[parent_of[op->path]].exists ?
					  "OK" : "ENOENT");
	case OP_SETPERMS:
		if (!node->exists)
			return talloc_strdup(ctx, "ENOENT");
		node->perms = op->arg;
		*fired |= 1u << op->path;
		return talloc_strdup(ctx, "OK");
	default:
		break;
	}
	if (!node->exists)
		return talloc_strdup(ctx, "ENOENT");
	switch (op->kind) {
	case OP_READ:
		return talloc_asprintf(ctx, "'%s'", node->value);
	case OP_DIR:
	case OP_DIRPART:
		return listing(ctx, m, op->path);
	default:
		return perms_text(ctx, node->perms);
	}
}

/* --- The schedule ---------------------------------------------------- */

struct logged_op {
	struct op op;
	char *reply;
};

struct slot {
	uint32_t tx_id;		/* 0: no transaction open */
	struct logged_op ops[MAX_TX_OPS];
	int nops;
};

struct stats {
	unsigned long schedules, steps, commits, eagains, aborts;
	unsigned long false_conflicts;	/* counted with XS_MODEL_TALLY */
};

struct schedule {
	void *ctx;
	uint64_t seed, rng;
	struct xs_env *env;
	struct xs_client *conns[CONNS], *watcher;
	struct slot slots[CONNS][SLOTS];
	struct model model;
	char *log;		/* what happened, for a failure report */
	char *failure;
	struct stats *stats;
};

static uint64_t next_random(struct schedule *s)
{
	/* xorshift64*: small, good enough, the same everywhere. */
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 2685821657736338717ull;
}

static unsigned int pick(struct schedule *s, unsigned int n)
{
	return (unsigned int)((next_random(s) >> 33) % n);
}

static void note(struct schedule *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void note(struct schedule *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	s->log = talloc_vasprintf_append(s->log, fmt, ap);
	va_end(ap);
}

static bool failed(struct schedule *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static bool failed(struct schedule *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	s->failure = talloc_vasprintf(s->ctx, fmt, ap);
	va_end(ap);
	return false;
}

static char *abs_path(void *ctx, int path)
{
	return path ? talloc_asprintf(ctx, "%s/%s", root, rel_paths[path])
		    : talloc_strdup(ctx, root);
}

static char *describe(void *ctx, const struct op *op)
{
	const char *arg = "";

	if (op->kind == OP_WRITE)
		arg = talloc_asprintf(ctx, " '%s'", values[op->arg]);
	else if (op->kind == OP_SETPERMS)
		arg = talloc_asprintf(ctx, " %s", perms_text(ctx, op->arg));
	return talloc_asprintf(ctx, "%s %s%s", op_names[op->kind],
			       abs_path(ctx, op->path), arg);
}

static struct op random_op(struct schedule *s)
{
	/* Reads as often as changes: conflicts need both. */
	static const enum op_kind mix[] = {
		OP_WRITE, OP_WRITE, OP_WRITE, OP_MKDIR, OP_RM, OP_RM,
		OP_READ, OP_READ, OP_READ, OP_DIR, OP_DIR, OP_DIRPART,
		OP_GETPERMS, OP_SETPERMS,
	};
	struct op op = { .kind = mix[pick(s, sizeof(mix) / sizeof(mix[0]))] };

	op.path = (int)pick(s, NPATHS);
	/* The root stays: removing it would end the schedule. */
	if (op.kind == OP_RM && op.path == 0)
		op.path = 1 + (int)pick(s, NPATHS - 1);
	if (op.kind == OP_WRITE)
		op.arg = pick(s, NVALUES);
	if (op.kind == OP_SETPERMS)
		op.arg = pick(s, NPERMS);
	return op;
}

/* Send @op on @conn in transaction @tx_id; the reply as text. */
static char *send_op(struct schedule *s, struct xs_client *conn,
		     uint32_t tx_id, const struct op *op)
{
	struct xs_reply *reply = talloc(s->ctx, struct xs_reply);
	char *path = abs_path(reply, op->path);
	uint32_t type = op_types[op->kind];
	char *text;

	switch (op->kind) {
	case OP_WRITE:
		xs_callv(conn, type, tx_id, reply, true, path,
			 values[op->arg], NULL);
		break;
	case OP_DIRPART:
		xs_callv(conn, type, tx_id, reply, false, path, "0", NULL);
		break;
	case OP_SETPERMS:
		xs_callv(conn, type, tx_id, reply, false, path,
			 perm_sets[op->arg][0], perm_sets[op->arg][1], NULL);
		break;
	default:
		xs_callv(conn, type, tx_id, reply, false, path, NULL);
		break;
	}
	text = xs_reply_text(s->ctx, type, reply);
	talloc_free(reply);
	return text;
}

static path_set path_bit(const char *path)
{
	int i;

	for (i = 0; i < NPATHS; i++) {
		char *p = abs_path(NULL, i);
		bool same = strcmp(p, path) == 0;

		talloc_free(p);
		if (same)
			return 1u << i;
	}
	return 0;
}

static char *set_text(void *ctx, path_set set)
{
	char *out = talloc_strdup(ctx, "{");
	int i;

	for (i = 0; i < NPATHS; i++)
		if (set & (1u << i))
			out = talloc_asprintf_append(out, " %s",
						     abs_path(out, i));
	return talloc_asprintf_append(out, " }");
}

/* The watcher must have got exactly one event for each path in @expected. */
static bool check_events(struct schedule *s, path_set expected)
{
	struct xs_event ev;
	path_set got = 0;

	while (xs_next_event(s->watcher, &ev)) {
		path_set bit = path_bit(ev.path);

		if (!bit || (got & bit))
			return failed(s, "unexpected or repeated event %s "
				      "(expected %s)", ev.path,
				      set_text(s->ctx, expected));
		got |= bit;
	}
	if (got != expected)
		return failed(s, "events %s, expected %s",
			      set_text(s->ctx, got),
			      set_text(s->ctx, expected));
	return true;
}

/* Nodes absent before and after a change never changed for anyone. */
static path_set changed_only(const struct model *before,
			     const struct model *after, path_set fired)
{
	int i;

	for (i = 0; i < NPATHS; i++)
		if (!before->n[i].exists && !after->n[i].exists)
			fired &= ~(1u << i);
	return fired;
}

static bool plain_step(struct schedule *s, int c)
{
	struct op op = random_op(s);
	struct model before = s->model;
	path_set fired = 0;
	char *got = send_op(s, s->conns[c], 0, &op);
	char *want = model_apply(s->ctx, &s->model, &op, &fired);

	note(s, "conn %d: %s -> %s\n", c, describe(s->ctx, &op), got);
	if (strcmp(got, want) != 0)
		return failed(s, "plain request answered %s, the model says %s",
			      got, want);
	return check_events(s, changed_only(&before, &s->model, fired));
}

/*
 * Run @slot's requests on a copy of the model as it is now: true if every
 * reply is the one the transaction got; @differs names the first that is
 * not.
 */
static bool replays_identically(struct schedule *s, const struct slot *slot,
				struct model *after, path_set *fired,
				char **differs)
{
	int i;

	*after = s->model;
	for (i = 0; i < slot->nops; i++) {
		const struct logged_op *lop = &slot->ops[i];
		char *want = model_apply(s->ctx, after, &lop->op, fired);

		if (strcmp(want, lop->reply) != 0) {
			*differs = talloc_asprintf(s->ctx,
				"request %d (%s) got %s, at commit it gives %s",
				i + 1, describe(s->ctx, &lop->op), lop->reply,
				want);
			return false;
		}
	}
	return true;
}

static bool end_step(struct schedule *s, int c, struct slot *slot, bool commit)
{
	struct xs_reply reply;
	struct model after;
	path_set fired = 0;
	char *differs = NULL;
	bool identical;
	int err;

	err = xs_callv(s->conns[c], XS_TRANSACTION_END, slot->tx_id, &reply,
		       false, commit ? "T" : "F", NULL);
	note(s, "conn %d tx %u: %s -> %s\n", c, slot->tx_id,
	     commit ? "commit" : "abort", xs_reply_text(s->ctx,
		XS_TRANSACTION_END, &reply));
	slot->tx_id = 0;
	identical = replays_identically(s, slot, &after, &fired, &differs);
	if (!commit || err == EAGAIN) {
		if (err != 0 && commit && identical && !tally)
			return failed(s, "false conflict: EAGAIN, but every "
				      "request would get the same reply at "
				      "commit");
		s->stats->false_conflicts += err != 0 && commit && identical;
		if (!commit && err != 0)
			return failed(s, "abort answered %s",
				      xs_error_name(err));
		s->stats->eagains += commit;
		s->stats->aborts += !commit;
		return check_events(s, 0);
	}
	if (err != 0)
		return failed(s, "commit answered %s", xs_error_name(err));
	if (!identical)
		return failed(s, "missed conflict: committed, but %s", differs);
	s->stats->commits++;
	fired = changed_only(&s->model, &after, fired);
	s->model = after;
	return check_events(s, fired);
}

static bool tx_step(struct schedule *s, int c, struct slot *slot)
{
	struct logged_op *lop;

	if (slot->nops == MAX_TX_OPS || pick(s, 100) < 15)
		return end_step(s, c, slot, pick(s, 10) != 0);
	lop = &slot->ops[slot->nops++];
	lop->op = random_op(s);
	lop->reply = send_op(s, s->conns[c], slot->tx_id, &lop->op);
	note(s, "conn %d tx %u: %s -> %s\n", c, slot->tx_id,
	     describe(s->ctx, &lop->op), lop->reply);
	/* Nothing is visible before the commit. */
	return check_events(s, 0);
}

static bool start_step(struct schedule *s, int c, struct slot *slot)
{
	struct xs_reply reply;

	if (xs_callv(s->conns[c], XS_TRANSACTION_START, 0, &reply, false, "",
		     NULL))
		return failed(s, "TRANSACTION_START answered %s",
			      xs_reply_text(s->ctx, XS_TRANSACTION_START,
					    &reply));
	slot->tx_id = (uint32_t)strtoul(reply.payload, NULL, 10);
	slot->nops = 0;
	note(s, "conn %d: start -> tx %u\n", c, slot->tx_id);
	return true;
}

/* The daemon's tree below the root against the model, node by node. */
static bool check_tree(struct schedule *s)
{
	struct op read_op = { .kind = OP_READ }, dir_op = { .kind = OP_DIR };
	struct op perms_op = { .kind = OP_GETPERMS };
	path_set unused = 0;
	struct model copy = s->model;
	int i;

	for (i = 0; i < NPATHS; i++) {
		const struct op *ops[] = { &read_op, &dir_op, &perms_op };
		unsigned int k;

		for (k = 0; k < 3; k++) {
			struct op op = *ops[k];
			char *got, *want;

			op.path = i;
			got = send_op(s, s->watcher, 0, &op);
			want = model_apply(s->ctx, &copy, &op, &unused);
			if (strcmp(got, want) != 0)
				return failed(s, "the tree differs: %s gives "
					      "%s, the model says %s",
					      describe(s->ctx, &op), got,
					      want);
		}
	}
	return true;
}

static bool step(struct schedule *s)
{
	int c = (int)pick(s, CONNS);
	struct slot *slot = &s->slots[c][pick(s, SLOTS)];

	s->stats->steps++;
	if (slot->tx_id)
		return tx_step(s, c, slot);
	if (pick(s, 100) < 30)
		return start_step(s, c, slot);
	return plain_step(s, c);
}

static bool run_schedule(struct schedule *s)
{
	struct xs_reply reply;
	struct xs_event ev;
	int c, i;

	if (test_socket)
		snprintf(root, sizeof(root), "/xsmodel-%d-%llu", (int)getpid(),
			 (unsigned long long)s->seed);
	s->env = test_socket ? xs_env_socket(s->ctx, test_socket)
			     : xs_env_memory(s->ctx, NULL);
	s->watcher = s->env ? xs_connect(s->env, 0) : NULL;
	if (!s->watcher)
		return failed(s, "cannot make a server");
	for (c = 0; c < CONNS; c++) {
		s->conns[c] = xs_connect(s->env, 0);
		if (!s->conns[c])
			return failed(s, "cannot connect");
	}
	model_init(&s->model);
	if (xs_callv(s->watcher, XS_MKDIR, 0, &reply, false, root, NULL) ||
	    xs_callv(s->watcher, XS_WATCH, 0, &reply, false, root, "w", NULL))
		return failed(s, "cannot set up %s", root);
	while (xs_next_event(s->watcher, &ev))
		;
	for (i = 0; i < STEPS_PER_SCHEDULE; i++) {
		if (!step(s))
			return false;
		if (i % 50 == 49 && !check_tree(s))
			return false;
	}
	if (!check_tree(s))
		return false;
	if (test_socket)
		xs_callv(s->watcher, XS_RM, 0, &reply, false, root, NULL);
	return true;
}

/* One schedule from @seed; on failure its log, then the test fails. */
static void one_schedule(uint64_t seed, struct stats *stats)
{
	struct schedule *s = talloc_zero(NULL, struct schedule);

	s->ctx = s;
	s->seed = seed;
	s->rng = seed * 0x9e3779b97f4a7c15ull + 1;
	s->log = talloc_strdup(s, "");
	s->stats = stats;
	stats->schedules++;
	if (!run_schedule(s)) {
		print_message("# schedule of seed %llu:\n",
			      (unsigned long long)seed);
		for (char *line = strtok(s->log, "\n"); line;
		     line = strtok(NULL, "\n"))
			print_message("#   %s\n", line);
		print_message("# %s\n", s->failure);
		fail_msg("seed %llu fails: XS_MODEL_SEED=%llu reproduces it",
			 (unsigned long long)seed, (unsigned long long)seed);
	}
	talloc_free(s);
}

static void report(const char *what, const struct stats *st)
{
	print_message("# %s: %lu schedules, %lu steps, %lu commits, %lu "
		      "EAGAIN (%lu false conflicts), %lu aborts\n", what,
		      st->schedules, st->steps, st->commits, st->eagains,
		      st->false_conflicts, st->aborts);
}

/* The same schedules every run: a regression suite that never varies. */
static void test_fixed_seeds(void **state)
{
	struct stats stats = { 0 };
	uint64_t seed;

	for (seed = 1; seed <= FIXED_SCHEDULES; seed++)
		one_schedule(seed, &stats);
	report("fixed seeds", &stats);
}

/* New schedules each run, for as long as XS_MODEL_SECONDS allows. */
static void test_random_seeds(void **state)
{
	const char *env_seed = getenv("XS_MODEL_SEED");
	const char *env_seconds = getenv("XS_MODEL_SECONDS");
	double seconds = env_seconds ? atof(env_seconds) : 20;
	struct stats stats = { 0 };
	struct timespec start, now;
	uint64_t seed;

	seed = env_seed ? strtoull(env_seed, NULL, 10)
			: ((uint64_t)time(NULL) << 16) ^ (uint64_t)getpid();
	print_message("# first seed %llu\n", (unsigned long long)seed);
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		one_schedule(seed++, &stats);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((double)(now.tv_sec - start.tv_sec) +
		 (double)(now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
	report("random seeds", &stats);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed_seeds),
		cmocka_unit_test(test_random_seeds),
	};

	init_paths();
	test_socket = getenv("XS_TEST_SOCKET");
	if (test_socket && !*test_socket)
		test_socket = NULL;
	tally = getenv("XS_MODEL_TALLY") && atoi(getenv("XS_MODEL_TALLY"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
