/*
 * The store's redo journal (store/journal.c): a journaled store's batches,
 * replayed into a fresh store, give the same records byte for byte; a
 * batch cut short anywhere, or damaged, is dropped with all after it; a
 * rewrite is a snapshot; a sink that fails abandons the file.
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

#include "store/journal.h"
#include "store/store.h"

/* A sink into memory: the "file", and the one being written afresh. */
struct memfile {
	unsigned char *data;
	size_t len;
	unsigned char *new_data;
	size_t new_len;
	bool rewriting;
	unsigned int appends;
	bool fail;
	bool abandoned;
};

static bool mem_append(void *arg, const void *buf, size_t len)
{
	struct memfile *f = arg;
	unsigned char **data = f->rewriting ? &f->new_data : &f->data;
	size_t *have = f->rewriting ? &f->new_len : &f->len;

	if (f->fail)
		return false;
	*data = realloc(*data, *have + len);
	assert_non_null(*data);
	memcpy(*data + *have, buf, len);
	*have += len;
	f->appends++;
	return true;
}

static bool mem_rewrite_begin(void *arg)
{
	struct memfile *f = arg;

	f->rewriting = true;
	f->new_len = 0;
	return !f->fail;
}

static bool mem_rewrite_end(void *arg)
{
	struct memfile *f = arg;

	f->rewriting = false;
	free(f->data);
	f->data = f->new_data;
	f->len = f->new_len;
	f->new_data = NULL;
	f->new_len = 0;
	return true;
}

static void mem_abandon(void *arg, const char *why)
{
	struct memfile *f = arg;

	(void)why;
	f->abandoned = true;
}

static struct journal_sink sink_of(struct memfile *f)
{
	return (struct journal_sink){ mem_append, mem_rewrite_begin,
				      mem_rewrite_end, mem_abandon, f };
}

static struct store *open_from(void *ctx, struct memfile *f,
			       const void *old, size_t len, bool *restored,
			       size_t *replayed)
{
	struct journal_sink sink = sink_of(f);
	/* The store keeps a copy of the sink. */
	struct store *store = store_open_journaled(ctx, &sink, old, len,
						   restored, replayed);

	assert_non_null(store);
	return store;
}

static void put(struct store *store, const char *path, const char *value,
		uint32_t owner)
{
	struct node_perm perm = { .domid = owner, .access = 0 };
	struct perm_list perms = { .count = 1, .entries = &perm };
	struct node *node = node_new(NULL, &perms);

	assert_non_null(node);
	assert_true(node_set_value(node, value, (uint32_t)strlen(value)));
	node->generation = store_next_generation(store);
	assert_int_equal(store_put(store, path, node), 0);
	talloc_free(node);
}

/* A directory whose children are past CHUNKED_FROM: kept in chunks. */
static void put_big_directory(struct store *store, const char *path,
			      unsigned int children, unsigned int skip)
{
	struct node_perm perm = { .domid = 0, .access = 0 };
	struct perm_list perms = { .count = 1, .entries = &perm };
	struct node *node = node_new(NULL, &perms);
	unsigned int i;

	assert_non_null(node);
	for (i = 0; i < children; i++) {
		char name[64];

		if (i == skip)
			continue;
		snprintf(name, sizeof(name), "a-rather-long-child-name-%u", i);
		assert_true(node_add_child(node, name));
	}
	node->generation = store_next_generation(store);
	assert_int_equal(store_put(store, path, node), 0);
	talloc_free(node);
}

/* Every node as "path=value/owner/generation/children", sorted. */
static int dump_node(const char *path, const struct node *node, void *arg)
{
	char ***lines = arg;
	size_t n = talloc_array_length(*lines);

	assert_non_null(node);
	*lines = talloc_realloc(NULL, *lines, char *, n + 1);
	(*lines)[n] = talloc_asprintf(*lines, "%s=%.*s/%u/%llu/%u", path,
				      (int)node->value_len, node->value,
				      node->perms.entries[0].domid,
				      (unsigned long long)node->generation,
				      node->children_len);
	return 0;
}

static int by_string(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *dump(struct store *store)
{
	char **lines = talloc_array(NULL, char *, 0);
	char *all;
	size_t i;

	assert_int_equal(store_traverse(store, dump_node, &lines), 0);
	qsort(lines, talloc_array_length(lines), sizeof(*lines), by_string);
	all = talloc_strdup(NULL, "");
	for (i = 0; i < talloc_array_length(lines); i++)
		all = talloc_asprintf_append(all, "%s\n", lines[i]);
	talloc_free(lines);
	return all;
}

static void test_replay_gives_the_same_store(void **state)
{
	void *ctx = talloc_new(NULL);
	struct memfile f = { 0 }, g = { 0 };
	bool restored;
	size_t replayed;
	struct store *a = open_from(ctx, &f, NULL, 0, &restored, &replayed);
	struct store *b;
	char *before, *after;

	(void)state;
	assert_false(restored);
	store_batch_begin(a);
	put(a, "/", "", 0);
	put(a, "/local", "", 0);
	put(a, "/local/domain/1/name", "guest1", 1);
	store_batch_end(a);
	put(a, "/local/domain/2/name", "guest2", 2);
	put_big_directory(a, "/big", 400, 400);
	put_big_directory(a, "/big", 400, 17);	/* a change in a chunk */
	assert_int_equal(store_delete(a, "/local/domain/2/name"), 0);

	b = open_from(ctx, &g, f.data, f.len, &restored, &replayed);
	assert_true(restored);
	assert_int_equal(replayed, f.len);
	before = dump(a);
	after = dump(b);
	assert_string_equal(before, after);
	assert_non_null(strstr(after, "/local/domain/1/name=guest1/1/"));
	assert_null(strstr(after, "guest2"));
	/* The new file holds what was taken over, as one snapshot. */
	{
		struct memfile h = { 0 };
		struct store *c = open_from(ctx, &h, g.data, g.len, &restored,
					    &replayed);
		char *again = dump(c);

		assert_int_equal(replayed, g.len);
		assert_string_equal(again, before);
		talloc_free(again);
		free(h.data);
	}
	free(f.data);
	free(g.data);
	talloc_free(before);
	talloc_free(after);
	talloc_free(ctx);
}

static void test_one_append_per_batch(void **state)
{
	void *ctx = talloc_new(NULL);
	struct memfile f = { 0 };
	bool restored;
	size_t replayed;
	struct store *a = open_from(ctx, &f, NULL, 0, &restored, &replayed);
	unsigned int before = f.appends;

	(void)state;
	store_batch_begin(a);
	store_batch_begin(a);	/* nested: joins */
	put(a, "/x", "1", 0);
	put(a, "/y", "2", 0);
	store_batch_end(a);
	assert_int_equal(f.appends, before);
	store_batch_end(a);
	assert_int_equal(f.appends, before + 1);
	/* An empty batch hands nothing over. */
	store_batch_begin(a);
	store_batch_end(a);
	assert_int_equal(f.appends, before + 1);
	free(f.data);
	talloc_free(ctx);
}

/* A kill cuts the last batch at any byte: it goes, the rest stays. */
static void test_cut_batch_is_dropped(void **state)
{
	void *ctx = talloc_new(NULL);
	struct memfile f = { 0 };
	bool restored;
	size_t replayed, complete, cut;
	struct store *a = open_from(ctx, &f, NULL, 0, &restored, &replayed);
	char *want;

	(void)state;
	put(a, "/kept", "yes", 0);
	want = dump(a);
	complete = f.len;
	store_batch_begin(a);
	put(a, "/lost", "1", 0);
	put(a, "/kept", "overwritten", 0);
	store_batch_end(a);
	assert_true(f.len > complete);
	for (cut = complete; cut < f.len; cut++) {
		struct memfile g = { 0 };
		struct store *b = open_from(ctx, &g, f.data, cut, &restored,
					    &replayed);
		char *got = dump(b);

		assert_int_equal(replayed, complete);
		assert_string_equal(got, want);
		talloc_free(got);
		talloc_free(b);
		free(g.data);
	}
	talloc_free(want);
	free(f.data);
	talloc_free(ctx);
}

/* A damaged byte in a batch ends the replay there. */
static void test_damaged_batch_ends_replay(void **state)
{
	void *ctx = talloc_new(NULL);
	struct memfile f = { 0 }, g = { 0 };
	bool restored;
	size_t replayed, first;
	struct store *a = open_from(ctx, &f, NULL, 0, &restored, &replayed);
	struct store *b;
	char *got;

	(void)state;
	put(a, "/one", "1", 0);
	first = f.len;
	put(a, "/two", "2", 0);
	put(a, "/three", "3", 0);
	f.data[first + 20] ^= 0x40;	/* inside /two's batch */
	b = open_from(ctx, &g, f.data, f.len, &restored, &replayed);
	assert_int_equal(replayed, first);
	got = dump(b);
	assert_non_null(strstr(got, "/one=1"));
	assert_null(strstr(got, "/two"));
	assert_null(strstr(got, "/three"));
	talloc_free(got);
	free(f.data);
	free(g.data);
	talloc_free(ctx);
}

/* Garbage is no state: nothing restored. */
static void test_garbage_restores_nothing(void **state)
{
	void *ctx = talloc_new(NULL);
	struct memfile g = { 0 };
	bool restored = true;
	size_t replayed;
	static const char garbage[] = "this is not a journal at all";

	(void)state;
	open_from(ctx, &g, garbage, sizeof(garbage), &restored, &replayed);
	assert_false(restored);
	assert_int_equal(replayed, 0);
	free(g.data);
	talloc_free(ctx);
}

/* The sink fails: the journal abandons the file, the store goes on. */
static void test_failing_sink_abandons(void **state)
{
	void *ctx = talloc_new(NULL);
	struct memfile f = { 0 };
	bool restored;
	size_t replayed;
	struct store *a = open_from(ctx, &f, NULL, 0, &restored, &replayed);
	struct node *node;

	(void)state;
	f.fail = true;
	put(a, "/x", "1", 0);
	assert_true(f.abandoned);
	put(a, "/y", "2", 0);
	node = store_fetch(a, ctx, "/y");
	assert_non_null(node);
	assert_int_equal(node->value_len, 1);
	free(f.data);
	talloc_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replay_gives_the_same_store),
		cmocka_unit_test(test_one_append_per_batch),
		cmocka_unit_test(test_cut_batch_is_dropped),
		cmocka_unit_test(test_damaged_batch_ends_replay),
		cmocka_unit_test(test_garbage_restores_nothing),
		cmocka_unit_test(test_failing_sink_abandons),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
