#include "storedump.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"
#include "world.h"

#define WALKERS 16

struct walk {
	struct xs_conn *c;
	bool full;
	char **todo;
	size_t todo_len, todo_cap;
	struct dump *out;
	size_t out_cap;
	unsigned active;
	int err;
	struct coro *owner;
	bool owner_waiting;
};

static void oom(void)
{
	fprintf(stderr, "bootstorm: out of memory\n");
	exit(2);
}

static void push_todo(struct walk *w, char *path)
{
	if (w->todo_len == w->todo_cap) {
		w->todo_cap = w->todo_cap ? w->todo_cap * 2 : 1024;
		w->todo = realloc(w->todo, w->todo_cap * sizeof(*w->todo));
		if (!w->todo)
			oom();
	}
	w->todo[w->todo_len++] = path;
}

static void push_line(struct walk *w, char *line)
{
	struct dump *d = w->out;

	if (d->n == w->out_cap) {
		w->out_cap = w->out_cap ? w->out_cap * 2 : 1024;
		d->lines = realloc(d->lines, w->out_cap * sizeof(*d->lines));
		if (!d->lines)
			oom();
	}
	d->lines[d->n++] = line;
}

/* Values and permission lists, printable and on one line. */
static void escape(char *dst, size_t sz, const char *src, size_t len,
		   char nul_as)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 5 < sz; i++) {
		unsigned char ch = (unsigned char)src[i];

		if (ch == 0 && nul_as) {
			dst[o++] = nul_as;
		} else if (ch < 0x20 || ch >= 0x7f || ch == '\\') {
			o += (size_t)snprintf(dst + o, sz - o, "\\x%02x", ch);
		} else {
			dst[o++] = (char)ch;
		}
	}
	dst[o] = 0;
}

static void visit(struct walk *w, char *path)
{
	struct xs_op *rd = NULL, *pm = NULL;
	struct xs_list l;
	int err;

	if (w->full) {
		rd = xs_send(w->c, 0, XS_READ, path, strlen(path) + 1);
		pm = xs_send(w->c, 0, XS_GET_PERMS, path, strlen(path) + 1);
	}
	err = xs_directory(w->c, 0, path, &l);
	if (err == ENOENT) {
		/* gone meanwhile */
	} else if (err) {
		w->err = err;
		fprintf(stderr, "bootstorm: directory %s: %s\n", path,
			strerror(err));
	} else if (l.len) {
		/* (An empty listing has no buffer: no arithmetic on NULL.) */
		for (const char *n = l.buf; n < l.buf + l.len; n += strlen(n) + 1) {
			size_t len = strlen(path) + strlen(n) + 2;
			char *child = malloc(len);

			if (!child)
				oom();
			snprintf(child, len, "%s%s%s", path,
				 strcmp(path, "/") ? "/" : "", n);
			push_todo(w, child);
		}
		xs_list_free(&l);
	}
	if (w->full) {
		int e1 = xs_wait(rd), e2 = xs_wait(pm);

		if (!err && !e1 && !e2) {
			char val[4 * XENSTORE_PAYLOAD_MAX + 1];
			char perms[4 * XENSTORE_PAYLOAD_MAX + 1];
			size_t len;
			char *line;

			escape(val, sizeof(val), rd->data, rd->len, 0);
			escape(perms, sizeof(perms), pm->data,
			       pm->len && !pm->data[pm->len - 1] ?
			       pm->len - 1 : pm->len, ',');
			len = strlen(path) + strlen(perms) + strlen(val) + 3;
			line = malloc(len);
			if (!line)
				oom();
			snprintf(line, len, "%s %s %s", path, perms, val);
			push_line(w, line);
		} else if ((e1 && e1 != ENOENT) || (e2 && e2 != ENOENT)) {
			w->err = e1 ? e1 : e2;
		}
		xs_op_free(rd);
		xs_op_free(pm);
	} else if (!err) {
		w->out->n++;
	}
	free(path);
}

static void walker(void *arg)
{
	struct walk *w = arg;

	while (w->todo_len)
		visit(w, w->todo[--w->todo_len]);
	if (--w->active == 0 && w->owner_waiting)
		loop_wake(w->owner);
}

static int cmp_lines(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int dump_store(struct xs_conn *c, bool full, struct dump *out)
{
	struct walk w = { .c = c, .full = full, .out = out };

	memset(out, 0, sizeof(*out));
	push_todo(&w, strdup("/"));
	w.owner = coro_self();
	/* Walkers take from one shared stack: the tree's width sets how many
	 * requests are in flight.  Restart walkers while work appears. */
	while (w.todo_len) {
		unsigned want = WALKERS - w.active;

		for (unsigned i = 0; i < want && i < w.todo_len; i++) {
			w.active++;
			loop_spawn(walker, &w);
		}
		w.owner_waiting = true;
		while (w.active)
			coro_yield();
		w.owner_waiting = false;
	}
	free(w.todo);
	if (full)
		qsort(out->lines, out->n, sizeof(*out->lines), cmp_lines);
	return w.err;
}

void dump_free(struct dump *d)
{
	for (size_t i = 0; d->lines && i < d->n; i++)
		free(d->lines[i]);
	free(d->lines);
	memset(d, 0, sizeof(*d));
}

size_t dump_compare(const struct dump *a, const struct dump *b, size_t show)
{
	size_t i = 0, j = 0, diffs = 0;

	while (i < a->n || j < b->n) {
		int c = i >= a->n ? 1 : j >= b->n ? -1 :
			strcmp(a->lines[i], b->lines[j]);

		if (c == 0) {
			i++;
			j++;
			continue;
		}
		if (diffs++ < show)
			fprintf(stderr, "bootstorm: store differs: %s %s\n",
				c < 0 ? "-" : "+",
				c < 0 ? a->lines[i] : b->lines[j]);
		if (c < 0)
			i++;
		else
			j++;
	}
	return diffs;
}

static const char *const host_nodes[][2] = {
	{ "/local/domain/0/name", "Domain-0" },
	{ "/local/domain/0/domid", "0" },
	{ "/vm", "" },
	{ "/libxl", "" },
	/* standing only for the optimized toolstack (host_setup's argument) */
	{ "/local/domain/0/backend/vbd", "" },
	{ "/local/domain/0/backend/vif", "" },
	{ "/local/domain/0/backend/console", "" },
};
#define N_COMMON_HOST 4
#define N_HOST (sizeof(host_nodes) / sizeof(*host_nodes))
static bool host_created[N_HOST];
static bool local_domain_created, backend_dir_created;

int host_setup(struct xs_conn *c, bool backend_dirs)
{
	size_t n = backend_dirs ? N_HOST : N_COMMON_HOST;
	int err;

	local_domain_created = xs_read(c, 0, "/local/domain", NULL, 0) == ENOENT;
	backend_dir_created = backend_dirs &&
		xs_read(c, 0, "/local/domain/0/backend", NULL, 0) == ENOENT;
	for (size_t i = 0; i < n; i++) {
		err = xs_read(c, 0, host_nodes[i][0], NULL, 0);
		if (err != ENOENT)
			continue;
		err = xs_write(c, 0, host_nodes[i][0], host_nodes[i][1]);
		if (err)
			return err;
		host_created[i] = true;
	}
	return 0;
}

int host_teardown(struct xs_conn *c)
{
	int err = 0;

	for (size_t i = N_HOST; i-- > 0;)
		if (host_created[i] && xs_rm(c, 0, host_nodes[i][0]))
			err = EIO;
	if (backend_dir_created && xs_rm(c, 0, "/local/domain/0/backend"))
		err = EIO;
	if (local_domain_created) {
		if (!host_created[0] || !host_created[1])
			return err;
		/* /local/domain/0 and its parents came with our nodes. */
		if (xs_rm(c, 0, "/local"))
			err = EIO;
	}
	return err;
}

#define BATCH 256

static int prefill_batch(struct xs_conn *c, unsigned from, unsigned to,
			 bool remove)
{
	struct xs_op *ops[BATCH * 4];
	size_t n = 0;
	int err = 0;

	for (unsigned d = from; d < to; d++) {
		char p[96], v[64];

		if (remove) {
			fmt(p, "/local/domain/%u", d);
			ops[n++] = xs_send(c, 0, XS_RM, p, strlen(p) + 1);
			fmt(p, "/vm/00000000-f111-0000-0000-%012x", d);
			ops[n++] = xs_send(c, 0, XS_RM, p, strlen(p) + 1);
			continue;
		}
		fmt(p, "/local/domain/%u/name", d);
		fmt(v, "prefill-%u", d);
		ops[n++] = xs_send_write(c, 0, p, v);
		fmt(p, "/local/domain/%u/domid", d);
		fmt(v, "%u", d);
		ops[n++] = xs_send_write(c, 0, p, v);
		fmt(p, "/local/domain/%u/vm", d);
		fmt(v, "/vm/00000000-f111-0000-0000-%012x", d);
		ops[n++] = xs_send_write(c, 0, p, v);
		fmt(p, "%s/name", v);
		fmt(v, "prefill-%u", d);
		ops[n++] = xs_send_write(c, 0, p, v);
	}
	for (size_t i = 0; i < n; i++) {
		int e = xs_wait(ops[i]);

		if (e && !err)
			err = e;
		xs_op_free(ops[i]);
	}
	return err;
}

static int prefill_all(struct xs_conn *c, unsigned m, bool remove)
{
	for (unsigned d = 1; d <= m; d += BATCH) {
		unsigned to = d + BATCH > m + 1 ? m + 1 : d + BATCH;
		int err = prefill_batch(c, d, to, remove);

		if (err)
			return err;
	}
	return 0;
}

int prefill(struct xs_conn *c, unsigned m)
{
	return prefill_all(c, m, false);
}

int unprefill(struct xs_conn *c, unsigned m)
{
	return prefill_all(c, m, true);
}
