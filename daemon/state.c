/*
 * The migration stream: writer and strict reader (state.h).
 */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <talloc.h>
#include <uthash.h>

#include "daemon/state.h"

#define RECORD_HEADER_SIZE 8
#define ALIGN8(x) (((x) + 7) & ~(size_t)7)

#if __BYTE_ORDER == __LITTLE_ENDIAN
#define HOST_FLAGS 0u
#else
#define HOST_FLAGS 1u
#endif

/* Fixed parts of each record's body. */
#define GLOBAL_SIZE 8
#define CONNECTION_SIZE 24
#define WATCH_SIZE 8
#define WATCH_EXTENDED_SIZE 12
#define TRANSACTION_SIZE 8
#define NODE_SIZE 16
#define PERM_SIZE 4
#define GLOBAL_QUOTA_SIZE 4
#define DOMAIN_SIZE 8
#define TX_LOG_SIZE 32

/* --- Little helpers on unaligned bytes, host order -------------------- */

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

/* --- Writer ------------------------------------------------------------ */

struct state_writer {
	uint8_t *buf;
	size_t len, size;
	uint32_t version;
	const char *failed;	/* why, once something failed */
};

static uint8_t *writer_grow(struct state_writer *w, size_t more)
{
	uint8_t *p;

	if (w->failed)
		return NULL;
	if (more > SIZE_MAX / 2 - w->len) {
		w->failed = "state too big";
		return NULL;
	}
	if (w->len + more > w->size) {
		size_t size = w->size ? w->size : 4096;

		while (size < w->len + more)
			size *= 2;
		p = talloc_realloc_size(w, w->buf, size);
		if (!p) {
			w->failed = "out of memory writing the state";
			return NULL;
		}
		w->buf = p;
		w->size = size;
	}
	p = w->buf + w->len;
	memset(p, 0, more);
	w->len += more;
	return p;
}

/*
 * Start a record of @type whose body is @body bytes; returns the body,
 * zeroed, padding included in the length as the C daemon writes it.
 */
static uint8_t *record_begin(struct state_writer *w, uint32_t type,
			     size_t body)
{
	size_t padded = ALIGN8(body);
	uint8_t *p;

	if (!w->failed && padded > UINT32_MAX) {
		w->failed = "state record too big";
		return NULL;
	}
	p = writer_grow(w, RECORD_HEADER_SIZE + padded);
	if (!p)
		return NULL;
	put32(p, type);
	put32(p + 4, (uint32_t)padded);
	return p + RECORD_HEADER_SIZE;
}

static bool fits16(struct state_writer *w, size_t v, const char *what)
{
	if (v <= UINT16_MAX)
		return true;
	if (!w->failed)
		w->failed = what;
	return false;
}

struct state_writer *state_writer_new(void *ctx, uint32_t version)
{
	struct state_writer *w = talloc_zero(ctx, struct state_writer);
	uint8_t *p;
	uint32_t be_version;

	if (!w)
		return NULL;
	w->version = version == 2 ? 2 : 1;
	p = writer_grow(w, STATE_HEADER_SIZE);
	if (!p) {
		talloc_free(w);
		return NULL;
	}
	memcpy(p, STATE_IDENT, 8);
	be_version = htobe32(w->version);
	memcpy(p + 8, &be_version, 4);
	put32(p + 12, HOST_FLAGS);
	return w;
}

void state_write_global(struct state_writer *w, const struct state_global *g)
{
	uint8_t *p = record_begin(w, STATE_GLOBAL, GLOBAL_SIZE);

	if (!p)
		return;
	put32(p, (uint32_t)g->socket_fd);
	put32(p + 4, (uint32_t)g->evtchn_fd);
}

void state_write_connection(struct state_writer *w,
			    const struct state_connection *c)
{
	size_t data = (size_t)c->in_len + c->out_len;
	size_t body = CONNECTION_SIZE + data;
	uint8_t *p;

	if (c->fields & STATE_CONN_HAS_UNIQUE_ID)
		body = ALIGN8(body) + 8;
	p = record_begin(w, STATE_CONNECTION, body);
	if (!p)
		return;
	put32(p, c->conn_id);
	put16(p + 4, c->type);
	put16(p + 6, c->fields);
	if (c->type == STATE_CONN_RING) {
		put16(p + 8, c->domid);
		put16(p + 10, c->target);
		put32(p + 12, c->evtchn);
	} else {
		put32(p + 8, (uint32_t)c->socket_fd);
	}
	put16(p + 16, c->in_len);
	put16(p + 18, c->resp_len);
	put32(p + 20, c->out_len);
	if (data)
		memcpy(p + CONNECTION_SIZE, c->data, data);
	if (c->fields & STATE_CONN_HAS_UNIQUE_ID)
		put64(p + ALIGN8(CONNECTION_SIZE + data), c->unique_id);
}

void state_write_watch(struct state_writer *w, const struct state_watch *wa)
{
	size_t path_len = strlen(wa->path) + 1;
	size_t token_len = strlen(wa->token) + 1;
	bool extended = wa->depth != STATE_WATCH_DEPTH_ANY;
	size_t fixed = extended ? WATCH_EXTENDED_SIZE : WATCH_SIZE;
	uint8_t *p;

	if (extended && w->version < 2 && !w->failed)
		w->failed = "watch depth needs stream version 2";
	if (!fits16(w, path_len, "watch path too long") ||
	    !fits16(w, token_len, "watch token too long"))
		return;
	p = record_begin(w, extended ? STATE_WATCH_EXTENDED : STATE_WATCH,
			 fixed + path_len + token_len);
	if (!p)
		return;
	put32(p, wa->conn_id);
	put16(p + 4, (uint16_t)path_len);
	put16(p + 6, (uint16_t)token_len);
	if (extended)
		put16(p + 8, wa->depth);
	memcpy(p + fixed, wa->path, path_len);
	memcpy(p + fixed + path_len, wa->token, token_len);
}

void state_write_transaction(struct state_writer *w,
			     const struct state_transaction *t)
{
	uint8_t *p = record_begin(w, STATE_TRANSACTION, TRANSACTION_SIZE);

	if (!p)
		return;
	put32(p, t->conn_id);
	put32(p + 4, t->tx_id);
}

void state_write_node(struct state_writer *w, const struct state_node *n)
{
	size_t path_len = strlen(n->path) + 1;
	size_t perms = (size_t)n->perm_count * PERM_SIZE;
	uint8_t *p, *q;
	unsigned int i;

	if (!fits16(w, path_len, "node path too long"))
		return;
	p = record_begin(w, STATE_NODE,
			 NODE_SIZE + perms + path_len + n->value_len);
	if (!p)
		return;
	put32(p, n->conn_id);
	put32(p + 4, n->tx_id);
	put16(p + 8, (uint16_t)path_len);
	put16(p + 10, n->value_len);
	put16(p + 12, n->access);
	put16(p + 14, n->perm_count);
	q = p + NODE_SIZE;
	for (i = 0; i < n->perm_count; i++, q += PERM_SIZE) {
		q[0] = (uint8_t)n->perms[i].access;
		q[1] = n->perms[i].flags;
		put16(q + 2, n->perms[i].domid);
	}
	memcpy(q, n->path, path_len);
	if (n->value_len)
		memcpy(q + path_len, n->value, n->value_len);
}

static size_t quota_names_len(const struct state_quota *q)
{
	size_t len = 0;
	unsigned int i;

	for (i = 0; i < q->count; i++)
		len += strlen(q->names[i]) + 1;
	return len;
}

static void put_quota(uint8_t *p, const struct state_quota *q)
{
	unsigned int i;
	size_t n;

	for (i = 0; i < q->count; i++, p += 4)
		put32(p, q->values[i]);
	for (i = 0; i < q->count; i++, p += n) {
		n = strlen(q->names[i]) + 1;
		memcpy(p, q->names[i], n);
	}
}

void state_write_global_quota(struct state_writer *w,
			      const struct state_global_quota *q)
{
	uint8_t *p;

	if (!fits16(w, q->per_domain, "too many quotas") ||
	    !fits16(w, q->quota.count - q->per_domain, "too many quotas"))
		return;
	p = record_begin(w, STATE_GLOBAL_QUOTA,
			 GLOBAL_QUOTA_SIZE + 4 * (size_t)q->quota.count +
			 quota_names_len(&q->quota));
	if (!p)
		return;
	put16(p, (uint16_t)q->per_domain);
	put16(p + 2, (uint16_t)(q->quota.count - q->per_domain));
	put_quota(p + GLOBAL_QUOTA_SIZE, &q->quota);
}

void state_write_domain(struct state_writer *w, const struct state_domain *d)
{
	uint8_t *p;

	if (!fits16(w, d->quota.count, "too many quotas"))
		return;
	p = record_begin(w, STATE_DOMAIN,
			 DOMAIN_SIZE + 4 * (size_t)d->quota.count +
			 quota_names_len(&d->quota));
	if (!p)
		return;
	put16(p, d->domid);
	put16(p + 2, (uint16_t)d->quota.count);
	put32(p + 4, w->version >= 2 ? d->features : 0);
	put_quota(p + DOMAIN_SIZE, &d->quota);
}

void state_write_tx_log(struct state_writer *w, const struct state_tx_log *l)
{
	uint8_t *p = record_begin(w, STATE_TX_LOG,
				  TX_LOG_SIZE + (size_t)l->payload_len);

	if (!p)
		return;
	put32(p, l->conn_id);
	put32(p + 4, l->tx_id);
	put32(p + 8, l->type);
	put32(p + 12, (uint32_t)l->result);
	put32(p + 16, l->reply_len);
	put32(p + 20, l->payload_len);
	put64(p + 24, l->reply_digest);
	if (l->payload_len)
		memcpy(p + TX_LOG_SIZE, l->payload, l->payload_len);
}

const void *state_writer_finish(struct state_writer *w, size_t *len,
				const char **why)
{
	record_begin(w, STATE_END, 0);
	if (w->failed) {
		if (why)
			*why = w->failed;
		return NULL;
	}
	*len = w->len;
	return w->buf;
}

/* --- Reader ------------------------------------------------------------ */

struct id_entry {
	uint64_t key;		/* conn_id, or conn_id << 32 | tx_id */
	UT_hash_handle hh;
};

struct reader {
	void *ctx;		/* scratch, freed at the end */
	const uint8_t *stream;
	size_t len;
	uint32_t version;
	const struct state_visitor *visitor;	/* NULL while checking */
	void *arg;
	struct id_entry *ids;	/* connections and transactions seen */
	bool seen_global, seen_global_quota;
	const char *why;
};

static int bad(struct reader *r, const char *why)
{
	r->why = why;
	return EINVAL;
}

static bool id_known(struct reader *r, uint64_t key)
{
	struct id_entry *e;

	HASH_FIND(hh, r->ids, &key, sizeof(key), e);
	return e != NULL;
}

/* Only while checking: the visiting pass saw them already. */
static int id_add(struct reader *r, uint64_t key)
{
	struct id_entry *e;

	if (r->visitor)
		return 0;
	e = talloc_zero(r->ctx, struct id_entry);
	if (!e)
		return ENOMEM;
	e->key = key;
	HASH_ADD(hh, r->ids, key, sizeof(e->key), e);
	return 0;
}

/* A string of @len bytes (NUL included) at @p: one NUL, at its end. */
static bool is_string(const uint8_t *p, size_t len)
{
	return len >= 1 && p[len - 1] == '\0' &&
	       memchr(p, '\0', len) == p + len - 1;
}

static int read_global(struct reader *r, const uint8_t *p, size_t len)
{
	struct state_global g;

	if (len < GLOBAL_SIZE)
		return bad(r, "GLOBAL_DATA too short");
	if (len > ALIGN8(GLOBAL_SIZE))
		return bad(r, "GLOBAL_DATA too long");
	if (r->seen_global && !r->visitor)
		return bad(r, "two GLOBAL_DATA records");
	r->seen_global = true;
	g.socket_fd = (int32_t)get32(p);
	g.evtchn_fd = (int32_t)get32(p + 4);
	if (g.socket_fd < -1 || g.evtchn_fd < -1)
		return bad(r, "GLOBAL_DATA: negative descriptor");
	if (r->visitor && r->visitor->global)
		return r->visitor->global(r->arg, &g);
	return 0;
}

static int read_connection(struct reader *r, const uint8_t *p, size_t len)
{
	struct state_connection c = { 0 };
	size_t data;
	int err;

	if (len < CONNECTION_SIZE)
		return bad(r, "CONNECTION_DATA too short");
	c.conn_id = get32(p);
	c.type = get16(p + 4);
	c.fields = get16(p + 6);
	c.in_len = get16(p + 16);
	c.resp_len = get16(p + 18);
	c.out_len = get32(p + 20);
	c.data = p + CONNECTION_SIZE;
	if (c.conn_id == 0)
		return bad(r, "CONNECTION_DATA: connection id 0");
	if (!r->visitor && id_known(r, c.conn_id))
		return bad(r, "CONNECTION_DATA: connection id used twice");
	if (c.fields & ~STATE_CONN_HAS_UNIQUE_ID)
		return bad(r, "CONNECTION_DATA: unknown fields");
	if (c.resp_len > c.out_len)
		return bad(r, "CONNECTION_DATA: partial response longer than "
			      "the output");
	switch (c.type) {
	case STATE_CONN_RING:
		c.domid = get16(p + 8);
		c.target = get16(p + 10);
		c.evtchn = get32(p + 12);
		c.socket_fd = -1;
		if (c.domid >= STATE_DOMID_INVALID)
			return bad(r, "CONNECTION_DATA: domain id out of range");
		if (c.target != STATE_DOMID_INVALID &&
		    c.target >= STATE_DOMID_INVALID)
			return bad(r, "CONNECTION_DATA: target out of range");
		break;
	case STATE_CONN_SOCKET:
		c.socket_fd = (int32_t)get32(p + 8);
		c.target = STATE_DOMID_INVALID;
		if (c.socket_fd < 0)
			return bad(r, "CONNECTION_DATA: negative socket");
		break;
	default:
		return bad(r, "CONNECTION_DATA: unknown connection type");
	}
	data = (size_t)c.in_len + c.out_len;
	if (data > len - CONNECTION_SIZE)
		return bad(r, "CONNECTION_DATA: pending data past the record");
	if (c.fields & STATE_CONN_HAS_UNIQUE_ID) {
		size_t at = ALIGN8(CONNECTION_SIZE + data);

		if (at > len || len - at < 8)
			return bad(r, "CONNECTION_DATA: unique id past the "
				      "record");
		c.unique_id = get64(p + at);
		data = at + 8 - CONNECTION_SIZE;
	}
	if (len > ALIGN8(CONNECTION_SIZE + data))
		return bad(r, "CONNECTION_DATA: bytes after the pending data");
	err = id_add(r, c.conn_id);
	if (err)
		return err;
	if (r->visitor && r->visitor->connection)
		return r->visitor->connection(r->arg, &c);
	return 0;
}

static int read_watch(struct reader *r, const uint8_t *p, size_t len,
		      bool extended)
{
	size_t fixed = extended ? WATCH_EXTENDED_SIZE : WATCH_SIZE;
	struct state_watch w;
	size_t path_len, token_len;

	if (extended && r->version < 2)
		return bad(r, "WATCH_DATA_EXTENDED in a version 1 stream");
	if (len < fixed)
		return bad(r, "WATCH_DATA too short");
	w.conn_id = get32(p);
	path_len = get16(p + 4);
	token_len = get16(p + 6);
	w.depth = extended ? get16(p + 8) : STATE_WATCH_DEPTH_ANY;
	if (!id_known(r, w.conn_id))
		return bad(r, "WATCH_DATA: unknown connection");
	if (path_len + token_len > len - fixed)
		return bad(r, "WATCH_DATA: strings past the record");
	if (path_len < 2 || !is_string(p + fixed, path_len))
		return bad(r, "WATCH_DATA: path is not a string");
	if (!is_string(p + fixed + path_len, token_len))
		return bad(r, "WATCH_DATA: token is not a string");
	if (len > ALIGN8(fixed + path_len + token_len))
		return bad(r, "WATCH_DATA: bytes after the token");
	w.path = (const char *)p + fixed;
	w.token = (const char *)p + fixed + path_len;
	if (r->visitor && r->visitor->watch)
		return r->visitor->watch(r->arg, &w);
	return 0;
}

static uint64_t tx_key(uint32_t conn_id, uint32_t tx_id)
{
	return (uint64_t)conn_id << 32 | tx_id;
}

static int read_transaction(struct reader *r, const uint8_t *p, size_t len)
{
	struct state_transaction t;
	int err;

	if (len < TRANSACTION_SIZE)
		return bad(r, "TRANSACTION_DATA too short");
	if (len > ALIGN8(TRANSACTION_SIZE))
		return bad(r, "TRANSACTION_DATA too long");
	t.conn_id = get32(p);
	t.tx_id = get32(p + 4);
	if (!id_known(r, t.conn_id))
		return bad(r, "TRANSACTION_DATA: unknown connection");
	if (t.tx_id == 0)
		return bad(r, "TRANSACTION_DATA: transaction id 0");
	if (!r->visitor && id_known(r, tx_key(t.conn_id, t.tx_id)))
		return bad(r, "TRANSACTION_DATA: transaction given twice");
	err = id_add(r, tx_key(t.conn_id, t.tx_id));
	if (err)
		return err;
	if (r->visitor && r->visitor->transaction)
		return r->visitor->transaction(r->arg, &t);
	return 0;
}

static int read_node(struct reader *r, const uint8_t *p, size_t len)
{
	struct state_node n;
	struct state_perm *perms;
	size_t path_len, perms_len;
	const uint8_t *q;
	unsigned int i;
	int err;

	if (len < NODE_SIZE)
		return bad(r, "NODE_DATA too short");
	n.conn_id = get32(p);
	n.tx_id = get32(p + 4);
	path_len = get16(p + 8);
	n.value_len = get16(p + 10);
	n.access = get16(p + 12);
	n.perm_count = get16(p + 14);
	perms_len = (size_t)n.perm_count * PERM_SIZE;
	if (perms_len + path_len + n.value_len > len - NODE_SIZE)
		return bad(r, "NODE_DATA: contents past the record");
	if (n.conn_id && !id_known(r, tx_key(n.conn_id, n.tx_id)))
		return bad(r, "NODE_DATA: unknown transaction");
	if (!n.conn_id && n.perm_count == 0)
		return bad(r, "NODE_DATA: a node without an owner");
	if (n.access & ~(STATE_NODE_READ | STATE_NODE_WRITTEN))
		return bad(r, "NODE_DATA: unknown access bits");
	q = p + NODE_SIZE;
	for (i = 0; i < n.perm_count; i++, q += PERM_SIZE) {
		if (!strchr("nrwb", q[0]) || q[0] == '\0')
			return bad(r, "NODE_DATA: unknown permission");
		if (q[1] & ~STATE_PERM_STALE)
			return bad(r, "NODE_DATA: unknown permission flags");
		if (get16(q + 2) >= STATE_DOMID_INVALID)
			return bad(r, "NODE_DATA: permission domain out of "
				      "range");
	}
	if (path_len < 2 || !is_string(q, path_len))
		return bad(r, "NODE_DATA: path is not a string");
	if (q[0] != '/' && q[0] != '@')
		return bad(r, "NODE_DATA: path neither absolute nor special");
	if (len > ALIGN8(NODE_SIZE + perms_len + path_len + n.value_len))
		return bad(r, "NODE_DATA: bytes after the value");
	if (!r->visitor || !r->visitor->node)
		return 0;

	perms = talloc_array(r->ctx, struct state_perm, n.perm_count + 1);
	if (!perms)
		return ENOMEM;
	for (i = 0, q = p + NODE_SIZE; i < n.perm_count; i++, q += PERM_SIZE) {
		perms[i].access = (char)q[0];
		perms[i].flags = q[1];
		perms[i].domid = get16(q + 2);
	}
	n.perms = perms;
	n.path = (const char *)q;
	n.value = q + path_len;
	err = r->visitor->node(r->arg, &n);
	talloc_free(perms);
	return err;
}

/*
 * @count values then @count NUL-terminated names at @p (@len bytes, the
 * record's padding at the end allowed).
 */
static int read_quota(struct reader *r, const uint8_t *p, size_t len,
		      unsigned int count, struct state_quota *q,
		      uint32_t **values, const char ***names)
{
	const uint8_t *s, *end;
	unsigned int i;

	if ((size_t)count * 4 > len)
		return bad(r, "quota values past the record");
	s = p + (size_t)count * 4;
	end = p + len;
	if (r->visitor) {
		*values = talloc_array(r->ctx, uint32_t, count + 1);
		*names = talloc_array(r->ctx, const char *, count + 1);
		if (!*values || !*names)
			return ENOMEM;
	}
	for (i = 0; i < count; i++) {
		const uint8_t *nul = memchr(s, '\0', end - s);

		if (!nul || nul == s)
			return bad(r, "quota name is not a string");
		if (r->visitor) {
			(*values)[i] = get32(p + 4 * (size_t)i);
			(*names)[i] = (const char *)s;
		}
		s = nul + 1;
	}
	/* What follows the names is padding: at most 7 zero bytes. */
	if (end - s > 7)
		return bad(r, "bytes after the quota names");
	for (; s < end; s++)
		if (*s)
			return bad(r, "bytes after the quota names");
	q->count = count;
	q->values = r->visitor ? *values : NULL;
	q->names = r->visitor ? *names : NULL;
	return 0;
}

static int read_global_quota(struct reader *r, const uint8_t *p, size_t len)
{
	struct state_global_quota g;
	uint32_t *values = NULL;
	const char **names = NULL;
	int err;

	if (len < GLOBAL_QUOTA_SIZE)
		return bad(r, "GLOBAL_QUOTA_DATA too short");
	if (r->seen_global_quota && !r->visitor)
		return bad(r, "two GLOBAL_QUOTA_DATA records");
	r->seen_global_quota = true;
	g.per_domain = get16(p);
	err = read_quota(r, p + GLOBAL_QUOTA_SIZE, len - GLOBAL_QUOTA_SIZE,
			 g.per_domain + get16(p + 2), &g.quota, &values,
			 &names);
	if (!err && r->visitor && r->visitor->global_quota)
		err = r->visitor->global_quota(r->arg, &g);
	talloc_free(values);
	talloc_free(names);
	return err;
}

static int read_domain(struct reader *r, const uint8_t *p, size_t len)
{
	struct state_domain d;
	uint32_t *values = NULL;
	const char **names = NULL;
	int err;

	if (len < DOMAIN_SIZE)
		return bad(r, "DOMAIN_DATA too short");
	d.domid = get16(p);
	d.features = r->version >= 2 ? get32(p + 4) : 0;
	if (d.domid >= STATE_DOMID_INVALID)
		return bad(r, "DOMAIN_DATA: domain id out of range");
	err = read_quota(r, p + DOMAIN_SIZE, len - DOMAIN_SIZE, get16(p + 2),
			 &d.quota, &values, &names);
	if (!err && r->visitor && r->visitor->domain)
		err = r->visitor->domain(r->arg, &d);
	talloc_free(values);
	talloc_free(names);
	return err;
}

static int read_tx_log(struct reader *r, const uint8_t *p, size_t len)
{
	struct state_tx_log l;
	char *payload;
	int err;

	if (len < TX_LOG_SIZE)
		return bad(r, "transaction log record too short");
	l.conn_id = get32(p);
	l.tx_id = get32(p + 4);
	l.type = get32(p + 8);
	l.result = (int32_t)get32(p + 12);
	l.reply_len = get32(p + 16);
	l.payload_len = get32(p + 20);
	l.reply_digest = get64(p + 24);
	if (!id_known(r, tx_key(l.conn_id, l.tx_id)))
		return bad(r, "transaction log: unknown transaction");
	if (l.payload_len > len - TX_LOG_SIZE)
		return bad(r, "transaction log: payload past the record");
	if (l.result < 0)
		return bad(r, "transaction log: negative result");
	if (len > ALIGN8(TX_LOG_SIZE + (size_t)l.payload_len))
		return bad(r, "transaction log: bytes after the payload");
	if (!r->visitor || !r->visitor->tx_log)
		return 0;
	/* The replay parses the payload as a request's: give it its NUL. */
	payload = talloc_size(r->ctx, (size_t)l.payload_len + 1);
	if (!payload)
		return ENOMEM;
	memcpy(payload, p + TX_LOG_SIZE, l.payload_len);
	payload[l.payload_len] = '\0';
	l.payload = payload;
	err = r->visitor->tx_log(r->arg, &l);
	talloc_free(payload);
	return err;
}

static int read_record(struct reader *r, uint32_t type, const uint8_t *p,
		       size_t len)
{
	switch (type) {
	case STATE_GLOBAL:
		return read_global(r, p, len);
	case STATE_CONNECTION:
		return read_connection(r, p, len);
	case STATE_WATCH:
		return read_watch(r, p, len, false);
	case STATE_WATCH_EXTENDED:
		return read_watch(r, p, len, true);
	case STATE_TRANSACTION:
		return read_transaction(r, p, len);
	case STATE_NODE:
		return read_node(r, p, len);
	case STATE_GLOBAL_QUOTA:
		return read_global_quota(r, p, len);
	case STATE_DOMAIN:
		return read_domain(r, p, len);
	case STATE_TX_LOG:
		return read_tx_log(r, p, len);
	default:
		return bad(r, "unknown record type");
	}
}

/* One pass over the records: checking (no visitor) or visiting. */
static int read_records(struct reader *r)
{
	size_t at = STATE_HEADER_SIZE;
	int err;

	for (;;) {
		uint32_t type, len;

		if (r->len - at < RECORD_HEADER_SIZE)
			return bad(r, "stream ends without END");
		type = get32(r->stream + at);
		len = get32(r->stream + at + 4);
		at += RECORD_HEADER_SIZE;
		if (len > r->len - at)
			return bad(r, "record past the end of the stream");
		if (type == STATE_END) {
			if (ALIGN8((size_t)len) != r->len - at)
				return bad(r, "bytes after END");
			return 0;
		}
		err = read_record(r, type, r->stream + at, len);
		if (err)
			return err;
		/* The C daemon counts the padding in len; the design does
		 * not: either way the next record starts 8-aligned. */
		if (ALIGN8((size_t)len) > r->len - at)
			return bad(r, "record padding past the end");
		at += ALIGN8((size_t)len);
	}
}

int state_read(void *ctx, const void *stream, size_t len,
	       const struct state_visitor *visitor, void *arg,
	       const char **why)
{
	struct reader r = { .stream = stream, .len = len, .arg = arg };
	uint32_t be_version, flags;
	int err;

	r.why = "out of memory reading the state";
	if (len < STATE_HEADER_SIZE || memcmp(stream, STATE_IDENT, 8)) {
		err = bad(&r, "not a xenstore migration stream");
		goto out;
	}
	memcpy(&be_version, r.stream + 8, 4);
	r.version = be32toh(be_version);
	flags = get32(r.stream + 12);
	if (r.version < STATE_VERSION_MIN || r.version > STATE_VERSION_MAX) {
		err = bad(&r, "unsupported stream version");
		goto out;
	}
	if (flags & ~1u) {
		err = bad(&r, "reserved header flags set");
		goto out;
	}
	if (flags != HOST_FLAGS) {
		err = bad(&r, "stream of the other byte order");
		goto out;
	}
	r.ctx = talloc_new(ctx);
	if (!r.ctx) {
		err = ENOMEM;
		goto out;
	}
	err = read_records(&r);
	if (!err && visitor) {
		r.visitor = visitor;
		r.why = "a record could not be restored";
		r.seen_global = r.seen_global_quota = false;
		err = read_records(&r);
	}
	HASH_CLEAR(hh, r.ids);
	talloc_free(r.ctx);
out:
	if (err && why)
		*why = r.why;
	return err;
}
