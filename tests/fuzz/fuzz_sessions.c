/*
 * libFuzzer target: sessions of well-formed requests on six connections at
 * once (two dom0 sockets, the rings of guests 1-4), with transactions,
 * watches and the domains' lifecycle, all driven by one input.  Where
 * fuzz_dispatch attacks the framing byte by byte, this one speaks the
 * protocol: each operation is a request built from small tables (paths in
 * each other's homes, a shared directory, relative and special paths;
 * open transactions of the connection; watch tokens; permission sets), so
 * the mutations reach what the requests mean.  README.md has the format.
 *
 * Besides the sanitizers (and LeakSanitizer: everything is freed with the
 * talloc root after each input), the target aborts when:
 * - a request gets no reply (unless its guest is held back by a quota: it
 *   then gives up and closes), a reply with an unknown error name, or a
 *   connection is closed under a well-formed request of its own;
 * - a watch event names no watch of its connection (token and path: the
 *   event is for the watch's node or one below it), or carries a token
 *   after UNWATCH or a reset;
 * - a plain WRITE, or RM of a node that existed, succeeds and a dom0
 *   connection watching that node or a parent of it gets no event;
 * - a transaction does not see its own writes: READ of a node it wrote
 *   answers something else (a guest may get EACCES, if the node's
 *   permissions let it write but not read);
 * - a guest holds more transactions than its quota, or a transaction the
 *   harness knows open is unknown at TRANSACTION_END;
 * - at the end: the store's own check fails; a domain's node, node-byte,
 *   watch or transaction count differs from what the store and the
 *   connections hold; the watch index disagrees with the connections;
 *   once every connection is closed and every guest released, a domain
 *   still counts watches or transactions, or the server holds more talloc
 *   memory than before the first connection (besides what domains that
 *   still own nodes may keep).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <talloc.h>

#include "daemon/control.h"
#include "daemon/domain.h"
#include "daemon/internal.h"
#include "daemon/log.h"
#include "daemon/watch.h"
#include "tests/core/memconn.h"

#define SLOTS 6			/* 0, 1: dom0; 2-5: guests 1-4 */
#define GUESTS 4
#define MAX_TX 16		/* tracked per connection */
#define MAX_WATCHES 48		/* tracked per connection */
#define MAX_WRITES 8		/* remembered per transaction */
#define BOGUS_TX 0xdeadbeefu

#define CHECK(cond, ...)                                                    \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "fuzz_sessions: check failed: %s: ", \
				#cond);                                     \
			fprintf(stderr, __VA_ARGS__);                       \
			fputc('\n', stderr);                                \
			abort();                                            \
		}                                                           \
	} while (0)

enum op_kind {
	OP_READ, OP_WRITE, OP_MKDIR, OP_RM, OP_DIRECTORY, OP_GET_PERMS,
	OP_SET_PERMS, OP_WATCH, OP_UNWATCH, OP_TX_START, OP_TX_COMMIT,
	OP_TX_ABORT, OP_CLOSE, OP_RELEASE, OP_INTRODUCE, OP_STATE, OP_TICK,
	OP_RESET_WATCHES, OP_GET_DOMAIN_PATH, OP_IS_INTRODUCED, OP_SET_TARGET,
	OP_DIRECTORY_PART, OP_CHECK, OP_RESUME,
	OP_KINDS
};

static const char *const suffixes[16] = {
	"", "a", "b", "a/c", "a/c/d", "b/e", "a/b", "c",
	"a/c/d/e", "x", "a/", "a//b", "../a", "a b", "data", "b/e/f/g",
};

static const char *const perm_sets[8][3] = {
	{ "n0", NULL }, { "b0", NULL }, { "r0", NULL }, { "w1", "r2" },
	{ "n1", "b2", "r3" }, { "n2", "w1", NULL }, { "bogus", NULL },
	{ "n4", "b0", "n1" },
};

static const char *const tokens[4] = { "t0", "t1", "same", "" };

struct watch_reg {
	char path[400];	/* absolute, or a special name */
	char token[8];
};

struct tx_write {
	char path[400];
	char value[256];
	size_t len;
};

struct open_tx {
	uint32_t id;
	struct tx_write writes[MAX_WRITES];
	unsigned int nwrites;
};

struct slot {
	struct memconn *mc;	/* NULL: closed */
	uint32_t domid;
	struct watch_reg watches[MAX_WATCHES];
	unsigned int nwatches;
	struct open_tx tx[MAX_TX];
	unsigned int ntx;
};

struct harness {
	void *root;		/* the server and what the core allocates */
	void *scratch;		/* the harness's connections' backends */
	struct server *server;
	struct slot slots[SLOTS];
	enum domain_state states[GUESTS + 1];
	uint64_t now;
};

static bool dumping(void)
{
	static int dump = -1;

	if (dump < 0)
		dump = getenv("FUZZ_SESSIONS_DUMP") != NULL;
	return dump;
}

static void log_sink(enum log_level level, const char *message)
{
	if (dumping())
		fprintf(stderr, "log %d: %s\n", (int)level, message);
}

/* --- connections --------------------------------------------------------- */

static struct slot *slot_of_domid(struct harness *h, uint32_t domid)
{
	return domid >= 1 && domid <= GUESTS ? &h->slots[domid + 1] : NULL;
}

static void forget_state(struct slot *s)
{
	s->nwatches = 0;
	s->ntx = 0;
}

/* The slot's connection is gone (closed, replaced, or its domain died). */
static void slot_gone(struct slot *s)
{
	if (s->mc)
		talloc_free(s->mc);	/* closes it if the core has not */
	s->mc = NULL;
	forget_state(s);
}

/* Connections the core destroyed meanwhile (RELEASE, deaths). */
static void reap(struct harness *h)
{
	unsigned int i;

	for (i = 0; i < SLOTS; i++)
		if (h->slots[i].mc && memconn_destroyed(h->slots[i].mc))
			slot_gone(&h->slots[i]);
}

static int fake_introduce(void *data, uint32_t domid, uint64_t gfn,
			  uint32_t port)
{
	struct harness *h = data;
	struct slot *s = slot_of_domid(h, domid);
	struct memconn *mc;

	if (port == 0 || !s)
		return EINVAL;
	mc = memconn_new_domain(h->scratch, h->server, domid);
	CHECK(mc, "memconn_new_domain failed");
	/* The previous ring connection, if any, was replaced: at once, or
	 * (a privileged guest introducing itself over it) once its request
	 * is done.  Then it stays with the scratch context until the end. */
	if (s->mc && !memconn_destroyed(s->mc))
		s->mc = NULL;
	slot_gone(s);
	s->mc = mc;
	return 0;
}

static enum domain_state fake_state(void *data, uint32_t domid)
{
	struct harness *h = data;

	return domid <= GUESTS ? h->states[domid] : DOMAIN_DYING;
}

static const struct domain_backend fake_backend = {
	.introduce = fake_introduce,
	.state = fake_state,
};

/* --- watch events ------------------------------------------------------ */

static void absolute(const struct slot *s, const char *path, char *out,
		     size_t size)
{
	if (path[0] == '/' || path[0] == '@')
		snprintf(out, size, "%s", path);
	else
		snprintf(out, size, "/local/domain/%u/%s", s->domid, path);
}

/* @path is @top or below it. */
static bool within(const char *path, const char *top)
{
	size_t n = strlen(top);

	if (strcmp(top, "/") == 0)
		return path[0] == '/';
	return strncmp(path, top, n) == 0 &&
	       (path[n] == '\0' || path[n] == '/');
}

static bool event_justified(const struct slot *s, const char *path,
			    const char *token)
{
	char abs[XENSTORE_PAYLOAD_MAX + 64];
	unsigned int i;

	absolute(s, path, abs, sizeof(abs));
	for (i = 0; i < s->nwatches; i++) {
		const struct watch_reg *w = &s->watches[i];

		if (strcmp(w->token, token) != 0)
			continue;
		if (w->path[0] == '@' ? strcmp(w->path, abs) == 0 :
		    within(abs, w->path))
			return true;
	}
	return false;
}

/*
 * Take every event now waiting on @s: each must name a watch of @s.
 * @need_token, if not NULL, counts events carrying each dom0 token.
 */
static unsigned int drain_events(struct slot *s, const char *need_token)
{
	struct memconn_event ev;
	unsigned int matched = 0;

	if (!s->mc)
		return 0;
	while (memconn_next_event(s->mc, &ev)) {
		if (dumping())
			fprintf(stderr, "event dom%u %s %s\n", s->domid,
				ev.path, ev.token);
		CHECK(event_justified(s, ev.path, ev.token),
		      "domain %u: event %s token '%s' for no watch of its own",
		      s->domid, ev.path, ev.token);
		if (need_token && strcmp(ev.token, need_token) == 0)
			matched++;
	}
	return matched;
}

static void drain_all(struct harness *h)
{
	unsigned int i;

	for (i = 0; i < SLOTS; i++)
		drain_events(&h->slots[i], NULL);
}

/*
 * A plain WRITE of @path, or RM of @path that existed, succeeded: every
 * dom0 watch on it or on a parent has an event waiting.  (RM fires the
 * watches of the nodes it removed, as C does: not a watch on a node below
 * that never existed; those are checked for soundness only, as are other
 * slots' events.)
 */
static void expect_events(struct harness *h, const char *path)
{
	unsigned int i, w;

	for (i = 0; i < SLOTS; i++) {
		struct slot *s = &h->slots[i];
		struct watch_reg need[MAX_WATCHES];
		unsigned int nneed = 0;

		if (!s->mc)
			continue;
		if (s->domid != 0) {
			drain_events(s, NULL);
			continue;
		}
		for (w = 0; w < s->nwatches; w++) {
			const struct watch_reg *reg = &s->watches[w];

			if (reg->path[0] == '@')
				continue;
			if (within(path, reg->path))
				need[nneed++] = *reg;
		}
		if (!nneed) {
			drain_events(s, NULL);
			continue;
		}
		/* One token at a time: events for the others stay counted
		 * as drained, so check each token over one drain. */
		{
			struct memconn_event ev;
			bool seen[MAX_WATCHES] = { false };

			while (memconn_next_event(s->mc, &ev)) {
				CHECK(event_justified(s, ev.path, ev.token),
				      "dom0: event %s token '%s' for no watch",
				      ev.path, ev.token);
				for (w = 0; w < nneed; w++)
					if (strcmp(need[w].token, ev.token) == 0)
						seen[w] = true;
			}
			for (w = 0; w < nneed; w++)
				CHECK(seen[w], "dom0 slot %u: no event for %s "
				      "(watch %s token '%s')", i, path,
				      need[w].path, need[w].token);
		}
	}
}

/* --- input ------------------------------------------------------------- */

struct cursor {
	const uint8_t *p;
	size_t left;
};

static uint8_t take_byte(struct cursor *c)
{
	if (!c->left)
		return 0;
	c->left--;
	return *c->p++;
}

static size_t take_bytes(struct cursor *c, size_t want, const uint8_t **p)
{
	if (want > c->left)
		want = c->left;
	*p = c->p;
	c->p += want;
	c->left -= want;
	return want;
}

/* A path from the tables: bits 0-3 a suffix, bits 4-6 a base. */
static void make_path(const struct slot *s, uint8_t sel, char *out,
		      size_t size)
{
	const char *suffix = suffixes[sel & 15];
	uint32_t other = s->domid % GUESTS + 1;

	switch ((sel >> 4) & 7) {
	case 0:
		snprintf(out, size, "/local/domain/%u%s%s", s->domid,
			 *suffix ? "/" : "", suffix);
		break;
	case 1:
		snprintf(out, size, "/local/domain/%u%s%s", other,
			 *suffix ? "/" : "", suffix);
		break;
	case 2:
		snprintf(out, size, "/shared%s%s", *suffix ? "/" : "", suffix);
		break;
	case 3:
		snprintf(out, size, "%s", suffix);	/* relative */
		break;
	case 4:
		snprintf(out, size, "/%s", suffix);
		break;
	case 5:
		snprintf(out, size, "/tool%s%s", *suffix ? "/" : "", suffix);
		break;
	case 6:
		snprintf(out, size, "/local/domain%s%s", *suffix ? "/" : "",
			 suffix);
		break;
	default:
		snprintf(out, size, "%s", sel & 1 ? "@releaseDomain" :
			 "@introduceDomain");
		break;
	}
	/* A path past the quota's length, now and then. */
	if ((sel & 0x8f) == 0x8e) {
		size_t n = strlen(out);

		while (n + 1 < size && n < 300)
			out[n++] = 'p';
		out[n] = '\0';
	}
}

/* A path a test can compare: absolute and in canonical form, or "". */
static void canonical(const struct slot *s, const char *path, char *out,
		      size_t size)
{
	absolute(s, path, out, size);
	if (out[0] != '/' || strstr(out, "//") || strstr(out, "..") ||
	    strchr(out, ' ') || (strlen(out) > 1 && out[strlen(out) - 1] == '/'))
		out[0] = '\0';
}

static struct open_tx *pick_tx(struct slot *s, uint8_t sel, uint32_t *id)
{
	if (sel == 0 || (sel != 0xff && !s->ntx)) {
		*id = 0;
		return NULL;
	}
	if (sel == 0xff) {
		*id = BOGUS_TX;
		return NULL;
	}
	*id = s->tx[(sel - 1) % s->ntx].id;
	return &s->tx[(sel - 1) % s->ntx];
}

static struct tx_write *find_tx_write(struct open_tx *tx, const char *path)
{
	unsigned int i;

	for (i = 0; i < tx->nwrites; i++)
		if (strcmp(tx->writes[i].path, path) == 0)
			return &tx->writes[i];
	return NULL;
}

static void drop_tx(struct slot *s, struct open_tx *tx)
{
	unsigned int i = (unsigned int)(tx - s->tx);

	memmove(&s->tx[i], &s->tx[i + 1], (s->ntx - i - 1) * sizeof(*tx));
	s->ntx--;
}

static bool held_back(struct connection *conn)
{
	const struct quota_settings *quota = &conn->server->config.quota;

	if (conn->who.privileged)
		return false;
	return conn->queued_replies >= quota->outstanding ||
	       domain_data_memory(conn->domain) > quota->memory;
}

/* Whether @s, a guest, sends RELEASE of its own domain. */
static bool releases_itself(const struct slot *s, uint32_t type,
			    const void *payload, size_t len)
{
	char arg[16];

	if (type != XS_RELEASE || s->domid == 0 || len == 0 ||
	    len > sizeof(arg))
		return false;
	memcpy(arg, payload, len);
	arg[len - 1] = '\0';
	return (uint32_t)atoi(arg) == s->domid;
}

/*
 * Send one request from @s and take its reply.  -1: no reply, because the
 * guest is held back by its quota (the guest then gives up and closes).
 */
static int call(struct harness *h, struct slot *s, uint32_t type,
		uint32_t tx_id, const void *payload, size_t len,
		struct memconn_reply *reply)
{
	struct memconn *mc = s->mc;
	int err;

	drain_all(h);
	err = memconn_call(mc, type, tx_id, payload, (uint32_t)len, reply);
	if (s->mc != mc)
		return err;	/* it introduced itself: a new connection */
	if (dumping())
		fprintf(stderr, "dom%u type %u tx %u \"%.*s\" -> %d %.*s\n",
			s->domid, type, tx_id, (int)(len > 80 ? 80 : len),
			(const char *)payload, err, 60, reply->payload);
	if (err == -1 && reply->hdr.type == XS_WIRE_TYPE_COUNT &&
	    releases_itself(s, type, payload, len)) {
		/* A privileged guest that releases its own domain loses
		 * its connection with it, as in Xen's C daemon: there is
		 * nobody left to answer. */
		slot_gone(s);
		return -1;
	}
	if (err == -1 && reply->hdr.type == XS_WIRE_TYPE_COUNT) {
		struct connection *conn = memconn_connection(s->mc);

		CHECK(conn && !memconn_destroyed(s->mc),
		      "domain %u: connection gone under a well-formed request "
		      "(type %u)", s->domid, type);
		CHECK(held_back(conn), "domain %u: no reply to type %u",
		      s->domid, type);
		slot_gone(s);
		return -1;
	}
	CHECK(err >= 0, "domain %u: reply to type %u names no known error: "
	      "%s", s->domid, type, reply->payload);
	CHECK(!memconn_destroyed(s->mc), "domain %u: closed after its "
	      "request of type %u", s->domid, type);
	return err;
}

/* A payload of NUL-terminated strings, the last raw if @raw_last. */
static size_t pack(char *buf, size_t size, bool raw_last, const char **args,
		   unsigned int nargs)
{
	size_t len = 0;
	unsigned int i;

	for (i = 0; i < nargs; i++) {
		size_t n = strlen(args[i]) + (raw_last && i == nargs - 1 ? 0 : 1);

		if (len + n > size)
			break;
		memcpy(buf + len, args[i], n);
		len += n;
	}
	return len;
}

/* Whether @path exists now, as a dom0 connection sees it. */
static bool node_exists(struct harness *h, const char *path)
{
	static struct memconn_reply reply;
	struct slot *s = h->slots[0].mc ? &h->slots[0] : &h->slots[1];

	if (!s->mc)
		return false;
	return call(h, s, XS_DIRECTORY, 0, path, strlen(path) + 1,
		    &reply) == 0;
}

/* One request on the node @path, in transaction @tx_sel. */
static void node_request(struct harness *h, struct slot *s,
			 enum op_kind kind, struct cursor *c)
{
	static struct memconn_reply reply;
	char path[400], canon[400], payload[2048];
	uint8_t tx_sel = take_byte(c), path_sel = take_byte(c);
	struct open_tx *tx;
	uint32_t tx_id;
	const char *args[4];
	size_t len = 0;
	int err;

	tx = pick_tx(s, tx_sel, &tx_id);
	make_path(s, path_sel, path, sizeof(path));
	canonical(s, path, canon, sizeof(canon));
	args[0] = path;
	switch (kind) {
	case OP_WRITE: {
		const uint8_t *bytes;
		size_t n = take_bytes(c, take_byte(c), &bytes);
		size_t plen = strlen(path) + 1;

		memcpy(payload, path, plen);
		memcpy(payload + plen, bytes, n);
		len = plen + n;
		err = call(h, s, XS_WRITE, tx_id, payload, len, &reply);
		if (err != 0)
			return;
		if (tx && canon[0]) {
			/* One entry per path, the latest write: a path
			 * written again once the table is full must not
			 * keep an older value. */
			struct tx_write *w = find_tx_write(tx, canon);

			if (!w && tx->nwrites < MAX_WRITES)
				w = &tx->writes[tx->nwrites++];
			if (w) {
				snprintf(w->path, sizeof(w->path), "%s", canon);
				memcpy(w->value, bytes, n);
				w->len = n;
			}
		} else if (!tx_id && canon[0]) {
			expect_events(h, canon);
		}
		return;
	}
	case OP_SET_PERMS: {
		const char *const *set = perm_sets[take_byte(c) & 7];
		unsigned int n = 1;

		while (n < 4 && set[n - 1])
			args[n] = set[n - 1], n++;
		len = pack(payload, sizeof(payload), false, args, n);
		call(h, s, XS_SET_PERMS, tx_id, payload, len, &reply);
		return;
	}
	case OP_WATCH:
	case OP_UNWATCH: {
		const char *token = tokens[take_byte(c) & 3];

		args[1] = token;
		len = pack(payload, sizeof(payload), false, args, 2);
		err = call(h, s, kind == OP_WATCH ? XS_WATCH : XS_UNWATCH,
			   tx_id, payload, len, &reply);
		if (err == 0 && kind == OP_WATCH && s->nwatches < MAX_WATCHES) {
			struct watch_reg *w = &s->watches[s->nwatches++];

			absolute(s, path, w->path, sizeof(w->path));
			snprintf(w->token, sizeof(w->token), "%s", token);
		} else if (err == 0 && kind == OP_UNWATCH) {
			char abs[400];
			unsigned int i;

			/* Events queued before the reply came before it:
			 * taken during the call, checked against the watch
			 * as it was.  From now on none may come. */
			drain_events(s, NULL);
			absolute(s, path, abs, sizeof(abs));
			for (i = 0; i < s->nwatches; i++)
				if (strcmp(s->watches[i].path, abs) == 0 &&
				    strcmp(s->watches[i].token, token) == 0) {
					s->watches[i] = s->watches[--s->nwatches];
					break;
				}
		}
		return;
	}
	case OP_DIRECTORY_PART: {
		char offset[8];

		snprintf(offset, sizeof(offset), "%u", take_byte(c) % 40);
		args[1] = offset;
		len = pack(payload, sizeof(payload), false, args, 2);
		call(h, s, XS_DIRECTORY_PART, tx_id, payload, len, &reply);
		return;
	}
	default:
		break;
	}
	len = pack(payload, sizeof(payload), false, args, 1);
	switch (kind) {
	case OP_READ:
		err = call(h, s, XS_READ, tx_id, payload, len, &reply);
		if (tx && canon[0] && err >= 0) {
			int i;

			for (i = (int)tx->nwrites - 1; i >= 0; i--)
				if (strcmp(tx->writes[i].path, canon) == 0)
					break;
			if (i < 0)
				return;
			/* ENOSPC: a guest's transaction past its quotas
			 * refuses every later request. */
			CHECK(((err == EACCES || err == ENOSPC) &&
			       !memconn_connection(s->mc)->who.privileged) ||
			      (err == 0 && reply.hdr.len == tx->writes[i].len &&
			       memcmp(reply.payload, tx->writes[i].value,
				      tx->writes[i].len) == 0),
			      "domain %u: transaction %u does not see its "
			      "write of %s (error %d)", s->domid, tx_id,
			      canon, err);
		}
		return;
	case OP_MKDIR:
		call(h, s, XS_MKDIR, tx_id, payload, len, &reply);
		return;
	case OP_RM: {
		bool existed = !tx_id && canon[0] && node_exists(h, canon);

		err = call(h, s, XS_RM, tx_id, payload, len, &reply);
		if (err != 0 || !canon[0])
			return;
		if (tx) {
			unsigned int i = 0;

			while (i < tx->nwrites)
				if (within(tx->writes[i].path, canon))
					tx->writes[i] = tx->writes[--tx->nwrites];
				else
					i++;
		} else if (existed && s->mc) {
			expect_events(h, canon);
		}
		return;
	}
	case OP_DIRECTORY:
		call(h, s, XS_DIRECTORY, tx_id, payload, len, &reply);
		return;
	case OP_GET_PERMS:
		call(h, s, XS_GET_PERMS, tx_id, payload, len, &reply);
		return;
	default:
		return;
	}
}

static void transaction_op(struct harness *h, struct slot *s,
			   enum op_kind kind, struct cursor *c)
{
	static struct memconn_reply reply;
	const struct quota_settings *quota = &h->server->config.quota;
	uint8_t sel = take_byte(c);
	struct open_tx *tx;
	uint32_t tx_id;
	int err;

	if (kind == OP_TX_START) {
		err = call(h, s, XS_TRANSACTION_START, 0, "", 1, &reply);
		if (err != 0)
			return;
		/* dom0 and the privileged domain (--priv-domid) have no
		 * transaction quota, as in Xen's C daemon. */
		CHECK(memconn_connection(s->mc)->who.privileged ||
		      s->ntx < quota->transactions,
		      "domain %u: transaction %u past its quota of %lu",
		      s->domid, s->ntx + 1, quota->transactions);
		if (s->ntx < MAX_TX) {
			tx = &s->tx[s->ntx++];
			memset(tx, 0, sizeof(*tx));
			tx->id = (uint32_t)strtoul(reply.payload, NULL, 10);
		}
		return;
	}
	/* TRANSACTION_END of no transaction (sel 0) or a bogus one, too. */
	tx = sel ? pick_tx(s, sel, &tx_id) : NULL;
	if (!sel)
		tx_id = 0;
	err = call(h, s, XS_TRANSACTION_END, tx_id,
		   kind == OP_TX_COMMIT ? "T" : "F", 2, &reply);
	if (err < 0 || !s->mc)
		return;
	if (tx) {
		CHECK(err != ENOENT, "domain %u: open transaction %u unknown "
		      "at its end", s->domid, tx_id);
		CHECK(kind == OP_TX_COMMIT || err == 0,
		      "domain %u: abort of transaction %u: error %d",
		      s->domid, tx_id, err);
		drop_tx(s, tx);
	}
}

static int dom0_call(struct harness *h, uint32_t type, const char **args,
		     unsigned int nargs)
{
	static struct memconn_reply reply;
	char payload[512];
	size_t len = pack(payload, sizeof(payload), false, args, nargs);
	struct slot *s = &h->slots[0];

	if (!s->mc)
		s = &h->slots[1];
	if (!s->mc)
		return -1;
	return call(h, s, type, 0, payload, len, &reply);
}

static void domain_op(struct harness *h, struct slot *s, enum op_kind kind,
		      struct cursor *c)
{
	static struct memconn_reply reply;
	uint8_t arg = take_byte(c);
	uint32_t domid = arg % (GUESTS + 2);	/* 0-4, and 5 unknown */
	char d[16], port[16], target[16];
	const char *args[4] = { d, "1", port, NULL };
	int err;

	snprintf(d, sizeof(d), "%u", domid);
	snprintf(port, sizeof(port), "%u", arg >> 4);
	snprintf(target, sizeof(target), "%u", (arg >> 3) % (GUESTS + 1));
	switch (kind) {
	case OP_RELEASE:
		err = call(h, s, XS_RELEASE, 0, d, strlen(d) + 1, &reply);
		break;
	case OP_INTRODUCE: {
		char payload[64];
		size_t len = pack(payload, sizeof(payload), false, args, 3);

		err = call(h, s, XS_INTRODUCE, 0, payload, len, &reply);
		break;
	}
	case OP_STATE:
		if (domid >= 1 && domid <= GUESTS) {
			h->states[domid] = arg & 0x40 ? DOMAIN_RUNNING :
					   arg & 0x80 ? DOMAIN_SHUTDOWN :
					   DOMAIN_DYING;
			server_check_domains(h->server);
		}
		err = 0;
		break;
	case OP_RESUME:
		err = call(h, s, XS_RESUME, 0, d, strlen(d) + 1, &reply);
		break;
	case OP_GET_DOMAIN_PATH:
		err = call(h, s, XS_GET_DOMAIN_PATH, 0, d, strlen(d) + 1,
			   &reply);
		if (err == 0) {
			char want[32];

			snprintf(want, sizeof(want), "/local/domain/%u", domid);
			CHECK(strcmp(reply.payload, want) == 0,
			      "GET_DOMAIN_PATH %u: %s", domid, reply.payload);
		}
		break;
	case OP_IS_INTRODUCED:
		err = call(h, s, XS_IS_DOMAIN_INTRODUCED, 0, d, strlen(d) + 1,
			   &reply);
		break;
	case OP_SET_TARGET: {
		char payload[64];
		const char *targs[2] = { d, target };
		size_t len = pack(payload, sizeof(payload), false, targs, 2);

		err = call(h, s, XS_SET_TARGET, 0, payload, len, &reply);
		break;
	}
	default:
		err = 0;
		break;
	}
	(void)err;
	reap(h);
}

static void reopen(struct harness *h, unsigned int i)
{
	struct slot *s = &h->slots[i];

	if (i < 2) {
		s->mc = memconn_new(h->scratch, h->server, 0);
		CHECK(s->mc, "memconn_new failed");
		return;
	}
	/* A guest comes back when dom0 introduces it again. */
	{
		char d[16];
		const char *args[3] = { d, "1", "1" };

		snprintf(d, sizeof(d), "%u", s->domid);
		dom0_call(h, XS_INTRODUCE, args, 3);
	}
}

static void run_op(struct harness *h, uint8_t op, struct cursor *c)
{
	unsigned int i = (op & 7) % SLOTS;
	struct slot *s = &h->slots[i];
	enum op_kind kind = (enum op_kind)((op >> 3) % OP_KINDS);

	if (dumping())
		fprintf(stderr, "op %u slot %u\n", kind, i);
	if (!s->mc && kind != OP_CLOSE && kind != OP_TICK &&
	    kind != OP_STATE) {
		/* Its connection is gone: the operation's bytes still go. */
		take_byte(c);
		take_byte(c);
		return;
	}
	switch (kind) {
	case OP_READ: case OP_WRITE: case OP_MKDIR: case OP_RM:
	case OP_DIRECTORY: case OP_GET_PERMS: case OP_SET_PERMS:
	case OP_WATCH: case OP_UNWATCH: case OP_DIRECTORY_PART:
		node_request(h, s, kind, c);
		break;
	case OP_TX_START: case OP_TX_COMMIT: case OP_TX_ABORT:
		transaction_op(h, s, kind, c);
		break;
	case OP_CLOSE:
		if (s->mc)
			slot_gone(s);
		else
			reopen(h, i);
		break;
	case OP_RELEASE: case OP_INTRODUCE: case OP_RESUME:
	case OP_GET_DOMAIN_PATH: case OP_IS_INTRODUCED: case OP_SET_TARGET:
	case OP_STATE:
		domain_op(h, s, kind, c);
		break;
	case OP_TICK:
		h->now += take_byte(c) % 32;
		server_tick(h->server, h->now);
		break;
	case OP_RESET_WATCHES: {
		static struct memconn_reply reply;

		/* As in C, it ends the connection's transactions too. */
		if (call(h, s, XS_RESET_WATCHES, 0, "", 1, &reply) == 0) {
			drain_events(s, NULL);
			forget_state(s);
		}
		break;
	}
	case OP_CHECK:
		CHECK(control_check_store(h->server) == 0,
		      "the store check failed");
		break;
	case OP_KINDS:
		break;
	}
	reap(h);
	drain_all(h);
}

/* --- the end: accounting ------------------------------------------------ */

struct census {
	unsigned long nodes[GUESTS + 2], bytes[GUESTS + 2];	/* 5: others */
	unsigned long total;
};

static int count_node(const char *path, const struct node *node, void *arg)
{
	struct census *census = arg;
	uint32_t owner;

	census->total++;
	if (!node->perms.count)
		return 0;	/* control_check_store reports it */
	owner = node->perms.entries[0].domid;
	if (owner > GUESTS)
		owner = GUESTS + 1;
	census->nodes[owner]++;
	census->bytes[owner] += node_record_size(node);
	return 0;
}

static void check_accounting(struct harness *h)
{
	struct census census = { .total = 0 };
	unsigned long watches = 0;
	struct connection *conn;
	uint32_t d;

	CHECK(control_check_store(h->server) == 0, "the store check failed");
	CHECK(store_traverse(h->server->store, count_node, &census) == 0,
	      "store traverse failed");
	CHECK(census.total == store_node_count(h->server->store),
	      "store counts %lu nodes, holds %lu",
	      store_node_count(h->server->store), census.total);
	for (d = 0; d <= GUESTS; d++) {
		struct domain *domain = domain_get(h->server, d);
		unsigned long w = 0, t = 0;

		CHECK(domain, "out of memory");
		TAILQ_FOREACH(conn, &h->server->connections, link)
			if (conn->domain == domain) {
				w += conn->watch_count;
				t += conn->transaction_count;
			}
		CHECK(domain->nodes == census.nodes[d],
		      "domain %u: %lu nodes accounted, %lu owned", d,
		      domain->nodes, census.nodes[d]);
		CHECK(domain->node_bytes == census.bytes[d],
		      "domain %u: %lu node bytes accounted, %lu owned", d,
		      domain->node_bytes, census.bytes[d]);
		CHECK(domain->watches == w, "domain %u: %u watches accounted, "
		      "%lu registered", d, domain->watches, w);
		CHECK(w || domain->watch_bytes == 0,
		      "domain %u: %lu watch bytes with no watch", d,
		      domain->watch_bytes);
		CHECK(domain->transactions == t, "domain %u: %u transactions "
		      "accounted, %lu open", d, domain->transactions, t);
	}
	TAILQ_FOREACH(conn, &h->server->connections, link)
		watches += conn->watch_count;
	CHECK(watch_count(h->server) == watches,
	      "%lu watches in the index, %lu on connections",
	      watch_count(h->server), watches);
}

static void configure(struct server_config *config, uint8_t flags)
{
	server_config_defaults(config);
	if (flags & 1) {	/* quotas within reach of small inputs */
		config->quota.nodes = 10;
		config->quota.watches = 3;
		config->quota.transactions = 2;
		config->quota.transaction_nodes = 8;
		config->quota.node_size = 96;
		config->quota.path_max = 40;
		config->quota.permissions = 2;
		config->quota.memory = 8192;
	}
	if (flags & 2) {
		config->has_priv_domid = true;
		config->priv_domid = 4;
	}
}

static void setup(struct harness *h)
{
	static struct memconn_reply reply;
	unsigned int i;

	h->slots[0].mc = memconn_new(h->scratch, h->server, 0);
	h->slots[1].mc = memconn_new(h->scratch, h->server, 0);
	CHECK(h->slots[0].mc && h->slots[1].mc, "memconn_new failed");
	CHECK(memconn_callv(h->slots[0].mc, XS_MKDIR, 0, &reply, 0, "/shared",
			    NULL) == 0, "mkdir /shared");
	CHECK(memconn_callv(h->slots[0].mc, XS_SET_PERMS, 0, &reply, 0,
			    "/shared", "b0", NULL) == 0, "perms of /shared");
	for (i = 1; i <= GUESTS; i++) {
		char home[32], owner[16], d[16];

		snprintf(home, sizeof(home), "/local/domain/%u", i);
		snprintf(owner, sizeof(owner), "n%u", i);
		snprintf(d, sizeof(d), "%u", i);
		CHECK(memconn_callv(h->slots[0].mc, XS_MKDIR, 0, &reply, 0,
				    home, NULL) == 0, "mkdir %s", home);
		CHECK(memconn_callv(h->slots[0].mc, XS_SET_PERMS, 0, &reply, 0,
				    home, owner, NULL) == 0, "perms %s", home);
		CHECK(memconn_callv(h->slots[0].mc, XS_INTRODUCE, 0, &reply, 0,
				    d, "1", "1", NULL) == 0, "introduce %u", i);
		CHECK(h->slots[i + 1].mc, "no ring for %u", i);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct harness h = { .now = 1 };
	struct cursor c = { data, size };
	struct server_config config;
	size_t baseline;
	unsigned int i;

	log_set_sink(log_sink);
	h.root = talloc_new(NULL);
	h.scratch = talloc_new(NULL);
	CHECK(h.root && h.scratch, "out of memory");
	configure(&config, take_byte(&c));
	h.server = server_new(h.root, &config);
	CHECK(h.server, "server_new failed");
	server_set_domain_backend(h.server, &fake_backend, &h);
	baseline = talloc_total_blocks(h.server) -
		   talloc_total_blocks(h.server->domains);
	for (i = 0; i < SLOTS; i++)
		h.slots[i].domid = i < 2 ? 0 : i - 1;
	for (i = 0; i <= GUESTS; i++)
		h.states[i] = DOMAIN_RUNNING;
	setup(&h);

	while (c.left)
		run_op(&h, take_byte(&c), &c);

	check_accounting(&h);
	/* Everyone leaves: nothing of theirs may stay behind. */
	for (i = 0; i < SLOTS; i++)
		slot_gone(&h.slots[i]);
	for (i = 1; i <= GUESTS; i++) {
		struct domain *domain = domain_find_known(h.server, i);

		if (domain) {
			CHECK(domain->watches == 0 && domain->transactions == 0,
			      "domain %u: %u watches, %u transactions after "
			      "its connections closed", i, domain->watches,
			      domain->transactions);
		}
	}
	CHECK(server_connection_count(h.server) == 0,
	      "%u connections left", server_connection_count(h.server));
	CHECK(watch_count(h.server) == 0, "%lu watches left",
	      watch_count(h.server));
	/* Domains stay known (they own nodes, or were named): the rest of
	 * the server is back to its size before the first connection. */
	if (talloc_total_blocks(h.server) - talloc_total_blocks(h.server->domains)
	    != baseline) {
		talloc_report_full(h.server, stderr);
		CHECK(false, "the server kept %zu talloc blocks, %zu before",
		      talloc_total_blocks(h.server) -
		      talloc_total_blocks(h.server->domains), baseline);
	}

	talloc_free(h.root);
	talloc_free(h.scratch);
	log_set_sink(NULL);
	return 0;
}
