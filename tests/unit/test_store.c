/*
 * The node database (store/store.c) and the node record (store/node.c):
 * what goes in comes out, byte for byte, in memory and in a file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <talloc.h>

#include "store/chunks.h"
#include "store/store.h"

struct fixture {
	void *ctx;
	struct store *store;
};

static int setup_memory_store(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->ctx = talloc_new(NULL);
	f->store = f->ctx ? store_open(f->ctx, NULL) : NULL;
	*state = f;
	return f->store ? 0 : -1;
}

static int teardown_store(void **state)
{
	struct fixture *f = *state;

	talloc_free(f->ctx);
	free(f);
	return 0;
}

static struct perm_list make_perms(void *ctx, unsigned int count,
				   uint32_t first_domid)
{
	struct perm_list perms = { .count = count };
	unsigned int i;

	perms.entries = talloc_array(ctx, struct node_perm, count);
	assert_non_null(perms.entries);
	for (i = 0; i < count; i++) {
		perms.entries[i].domid = first_domid + i;
		perms.entries[i].access = i % 4;
	}
	return perms;
}

static struct node *make_node(void *ctx, const void *value, uint32_t len)
{
	struct perm_list perms = make_perms(ctx, 2, 3);
	struct node *node = node_new(ctx, &perms);

	assert_non_null(node);
	assert_true(node_set_value(node, value, len));
	return node;
}

static void assert_nodes_equal(const struct node *a, const struct node *b)
{
	assert_int_equal(a->generation, b->generation);
	assert_true(perms_equal(&a->perms, &b->perms));
	assert_int_equal(a->value_len, b->value_len);
	if (a->value_len)
		assert_memory_equal(a->value, b->value, a->value_len);
	assert_int_equal(a->children_len, b->children_len);
	if (a->children_len)
		assert_memory_equal(a->children, b->children, a->children_len);
}

/* The child names of @node joined by ',' (for readable comparisons). */
static char *child_list(void *ctx, const struct node *node)
{
	char *list = talloc_strdup(ctx, "");
	const char *c;

	for (c = node_first_child(node); c; c = node_next_child(node, c))
		list = talloc_asprintf_append(list, "%s%s", *list ? "," : "",
					      c);
	assert_non_null(list);
	return list;
}

static void test_new_store_is_empty(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(store_node_count(f->store), 0);
	assert_false(store_exists(f->store, "/"));
	errno = 0;
	assert_null(store_fetch(f->store, f->ctx, "/"));
	assert_int_equal(errno, ENOENT);
}

static void test_put_then_fetch(void **state)
{
	struct fixture *f = *state;
	struct node *node = make_node(f->ctx, "hello", 5), *got;

	node->generation = 42;
	assert_true(node_add_child(node, "kid"));
	assert_int_equal(store_put(f->store, "/a", node), 0);
	assert_true(store_exists(f->store, "/a"));
	assert_false(store_exists(f->store, "/b"));
	assert_false(store_exists(f->store, "/a/kid"));
	assert_int_equal(store_node_count(f->store), 1);

	got = store_fetch(f->store, f->ctx, "/a");
	assert_non_null(got);
	assert_ptr_not_equal(got, node);
	assert_nodes_equal(got, node);
	assert_string_equal(child_list(f->ctx, got), "kid");
}

static void test_put_replaces(void **state)
{
	struct fixture *f = *state;
	struct node *node = make_node(f->ctx, "one", 3), *got;

	assert_int_equal(store_put(f->store, "/x", node), 0);
	assert_true(node_set_value(node, "second", 6));
	node->generation = 7;
	assert_int_equal(store_put(f->store, "/x", node), 0);
	assert_int_equal(store_node_count(f->store), 1);
	got = store_fetch(f->store, f->ctx, "/x");
	assert_non_null(got);
	assert_int_equal(got->value_len, 6);
	assert_memory_equal(got->value, "second", 6);
	assert_int_equal(got->generation, 7);
}

/* Keys are whole paths: no prefix, no case folding. */
static void test_paths_are_distinct_keys(void **state)
{
	struct fixture *f = *state;
	static const char *const paths[] = { "/a", "/ab", "/a/b", "/A" };
	size_t i;

	for (i = 0; i < 4; i++) {
		struct node *node = make_node(f->ctx, paths[i],
					      (uint32_t)strlen(paths[i]));

		assert_int_equal(store_put(f->store, paths[i], node), 0);
	}
	assert_int_equal(store_node_count(f->store), 4);
	for (i = 0; i < 4; i++) {
		struct node *got = store_fetch(f->store, f->ctx, paths[i]);

		assert_non_null(got);
		assert_int_equal(got->value_len, strlen(paths[i]));
		assert_memory_equal(got->value, paths[i], got->value_len);
	}
}

static void test_delete(void **state)
{
	struct fixture *f = *state;
	struct node *node = make_node(f->ctx, "v", 1);

	assert_int_equal(store_put(f->store, "/gone", node), 0);
	assert_int_equal(store_put(f->store, "/kept", node), 0);
	assert_int_equal(store_delete(f->store, "/gone"), 0);
	assert_false(store_exists(f->store, "/gone"));
	errno = 0;
	assert_null(store_fetch(f->store, f->ctx, "/gone"));
	assert_int_equal(errno, ENOENT);
	assert_true(store_exists(f->store, "/kept"));
	assert_int_equal(store_node_count(f->store), 1);
	assert_int_equal(store_delete(f->store, "/gone"), ENOENT);
	assert_int_equal(store_node_count(f->store), 1);
}

static void test_value_with_nuls_round_trips(void **state)
{
	struct fixture *f = *state;
	static const char value[] = "a\0b\0\0c\0";
	struct node *node = make_node(f->ctx, value, sizeof(value)), *got;

	assert_int_equal(store_put(f->store, "/nul", node), 0);
	got = store_fetch(f->store, f->ctx, "/nul");
	assert_non_null(got);
	assert_int_equal(got->value_len, sizeof(value));
	assert_memory_equal(got->value, value, sizeof(value));
}

static void test_empty_value_round_trips(void **state)
{
	struct fixture *f = *state;
	struct node *node = make_node(f->ctx, NULL, 0), *got;

	assert_int_equal(node->value_len, 0);
	assert_int_equal(store_put(f->store, "/empty", node), 0);
	got = store_fetch(f->store, f->ctx, "/empty");
	assert_non_null(got);
	assert_int_equal(got->value_len, 0);
	assert_int_equal(got->children_len, 0);
	assert_null(node_first_child(got));
}

/* Bigger than any stack buffer the store might use for small records. */
static void test_large_node_round_trips(void **state)
{
	struct fixture *f = *state;
	struct perm_list perms = make_perms(f->ctx, 40, 100);
	struct node *node = node_new(f->ctx, &perms), *got;
	char value[4000];
	unsigned int i;

	assert_non_null(node);
	for (i = 0; i < sizeof(value); i++)
		value[i] = (char)(i * 7);
	assert_true(node_set_value(node, value, sizeof(value)));
	for (i = 0; i < 1000; i++) {
		char name[16];

		snprintf(name, sizeof(name), "child%u", i);
		assert_true(node_add_child(node, name));
	}
	node->generation = UINT64_MAX - 1;
	assert_int_equal(store_put(f->store, "/big", node), 0);
	got = store_fetch(f->store, f->ctx, "/big");
	assert_non_null(got);
	assert_nodes_equal(got, node);
}

static void test_encode_decode_round_trip(void **state)
{
	struct fixture *f = *state;
	static const char value[] = "\0x\0";
	struct node *node = make_node(f->ctx, value, 3), *got;
	size_t size;
	char *record;

	node->generation = 0x0123456789abcdefull;
	assert_true(node_add_child(node, "first"));
	assert_true(node_add_child(node, "second"));
	size = node_record_size(node);
	record = talloc_size(f->ctx, size);
	assert_non_null(record);
	node_encode(node, record, 0);
	got = node_decode(f->ctx, record, size);
	assert_non_null(got);
	assert_nodes_equal(got, node);
	assert_string_equal(child_list(f->ctx, got), "first,second");
}

/* A record of the wrong length is refused, not read past its end. */
static void test_decode_rejects_bad_lengths(void **state)
{
	struct fixture *f = *state;
	struct node *node = make_node(f->ctx, "value", 5);
	size_t size;
	char *record;

	assert_true(node_add_child(node, "c"));
	size = node_record_size(node);
	record = talloc_size(f->ctx, size + 8);
	assert_non_null(record);
	node_encode(node, record, 0);
	errno = 0;
	assert_null(node_decode(f->ctx, record, size - 1));
	assert_int_equal(errno, EINVAL);	/* not taken for ENOMEM */
	assert_null(node_decode(f->ctx, record, size + 1));
	assert_null(node_decode(f->ctx, record, 3));
	assert_null(node_decode(f->ctx, record, 0));
	assert_non_null(node_decode(f->ctx, record, size));
	/* With room to grow: exactly the padding the header says. */
	node_encode(node, record, 7);
	assert_null(node_decode(f->ctx, record, size));
	assert_null(node_decode(f->ctx, record, size + 8));
	assert_non_null(node_decode(f->ctx, record, size + 7));
}

static void test_children_keep_creation_order(void **state)
{
	struct fixture *f = *state;
	struct node *node = make_node(f->ctx, NULL, 0);

	assert_null(node_first_child(node));
	assert_true(node_add_child(node, "c"));
	assert_true(node_add_child(node, "a"));
	assert_true(node_add_child(node, "b"));
	assert_string_equal(child_list(f->ctx, node), "c,a,b");
	assert_int_equal(node->children_len, 6);
	assert_memory_equal(node->children, "c\0a\0b\0", 6);
	assert_true(node_has_child(node, "a"));
	assert_false(node_has_child(node, "d"));
}

static void test_child_removal(void **state)
{
	struct fixture *f = *state;
	struct node *node = make_node(f->ctx, NULL, 0);

	assert_true(node_add_child(node, "ab"));
	assert_true(node_add_child(node, "a"));
	assert_true(node_add_child(node, "abc"));
	assert_true(node_add_child(node, "b"));

	node_remove_child(node, "a");	/* not "ab", not "abc" */
	assert_string_equal(child_list(f->ctx, node), "ab,abc,b");
	node_remove_child(node, "zz");
	assert_string_equal(child_list(f->ctx, node), "ab,abc,b");
	node_remove_child(node, "ab");
	assert_string_equal(child_list(f->ctx, node), "abc,b");
	node_remove_child(node, "b");
	assert_string_equal(child_list(f->ctx, node), "abc");
	assert_true(node_add_child(node, "a"));
	assert_string_equal(child_list(f->ctx, node), "abc,a");
	node_remove_child(node, "abc");
	node_remove_child(node, "a");
	assert_int_equal(node->children_len, 0);
	assert_null(node_first_child(node));
	assert_false(node_has_child(node, "a"));

	/* A name that ends an earlier one, and a name of 200 characters. */
	char longname[201];

	memset(longname, 'x', 200);
	longname[200] = '\0';
	assert_true(node_add_child(node, "abc"));
	assert_true(node_add_child(node, longname));
	assert_false(node_has_child(node, "bc"));
	assert_false(node_has_child(node, "c"));
	assert_true(node_add_child(node, "bc"));
	assert_true(node_has_child(node, "bc"));
	assert_true(node_has_child(node, longname));
	assert_false(node_has_child(node, longname + 1));
	node_remove_child(node, "bc");
	node_remove_child(node, longname);
	assert_string_equal(child_list(f->ctx, node), "abc");
}

static void test_many_children_round_trip(void **state)
{
	struct fixture *f = *state;
	struct node *node = make_node(f->ctx, NULL, 0), *got;
	const char *c;
	unsigned int i, n = 4999, seen = 0;

	for (i = 0; i < 5000; i++) {
		char name[16];

		snprintf(name, sizeof(name), "%u", 4999 - i);
		assert_true(node_add_child(node, name));
	}
	node_remove_child(node, "2500");
	assert_int_equal(store_put(f->store, "/parent", node), 0);
	got = store_fetch(f->store, f->ctx, "/parent");
	assert_non_null(got);
	for (c = node_first_child(got); c; c = node_next_child(got, c)) {
		char want[16];

		if (n == 2500)
			n--;
		snprintf(want, sizeof(want), "%u", n--);
		assert_string_equal(c, want);
		seen++;
	}
	assert_int_equal(seen, 4999);
}

/* A directory stored after each child it gains, then each it loses, as a
 * bootstorm does: every version reads back exactly, whatever room the
 * store keeps for it to grow in place. */
static void test_growing_directory_round_trips(void **state)
{
	struct fixture *f = *state;
	struct node *node = make_node(f->ctx, "v", 1), *got;
	unsigned int i;

	for (i = 0; i < 1200; i++) {
		char name[16];

		snprintf(name, sizeof(name), "child%u", i);
		assert_true(node_add_child(node, name));
		assert_int_equal(store_put(f->store, "/dir", node), 0);
		got = store_fetch(f->store, f->ctx, "/dir");
		assert_non_null(got);
		assert_nodes_equal(got, node);
		talloc_free(got);
	}
	for (i = 0; i < 1200; i += 2) {
		char name[16];

		snprintf(name, sizeof(name), "child%u", i);
		node_remove_child(node, name);
		assert_int_equal(store_put(f->store, "/dir", node), 0);
		got = store_fetch(f->store, f->ctx, "/dir");
		assert_non_null(got);
		assert_nodes_equal(got, node);
		talloc_free(got);
	}
	assert_int_equal(store_node_count(f->store), 1);
}

/* A record too large to be written in parts (padding past 64 x 8 KiB)
 * takes the single-buffer path, and reads back the same. */
static void test_huge_record_round_trips(void **state)
{
	struct fixture *f = *state;
	size_t len = 5u << 20;
	char *value = talloc_size(f->ctx, len);
	struct node *node, *got;

	assert_non_null(value);
	for (size_t i = 0; i < len; i++)
		value[i] = (char)('a' + i % 26);
	node = make_node(f->ctx, value, len);
	assert_true(node_add_child(node, "child"));
	assert_int_equal(store_put(f->store, "/huge", node), 0);
	got = store_fetch(f->store, f->ctx, "/huge");
	assert_non_null(got);
	assert_nodes_equal(got, node);
	/* Smaller again: rewritten from parts, in the same record. */
	assert_true(node_set_value(node, "v", 1));
	assert_int_equal(store_put(f->store, "/huge", node), 0);
	got = store_fetch(f->store, f->ctx, "/huge");
	assert_non_null(got);
	assert_nodes_equal(got, node);
	assert_int_equal(store_node_count(f->store), 1);
}

static void test_dup_is_deep(void **state)
{
	struct fixture *f = *state;
	struct node *node = make_node(f->ctx, "orig", 4), *copy;

	node->generation = 9;
	assert_true(node_add_child(node, "k"));
	copy = node_dup(f->ctx, node);
	assert_non_null(copy);
	assert_nodes_equal(copy, node);
	assert_ptr_not_equal(copy->value, node->value);
	assert_ptr_not_equal(copy->children, node->children);
	assert_ptr_not_equal(copy->perms.entries, node->perms.entries);
	assert_true(node_set_value(copy, "new", 3));
	node_remove_child(copy, "k");
	copy->perms.entries[0].domid = 77;
	assert_memory_equal(node->value, "orig", 4);
	assert_true(node_has_child(node, "k"));
	assert_int_equal(node->perms.entries[0].domid, 3);
}

/* Value, children and permissions all count against the node-size quota. */
static void test_quota_size_counts_every_part(void **state)
{
	struct fixture *f = *state;
	struct node *node = make_node(f->ctx, NULL, 0);
	size_t empty = node_quota_size(node);

	assert_true(empty > 0);	/* the permissions */
	assert_true(node_set_value(node, "12345", 5));
	assert_int_equal(node_quota_size(node), empty + 5);
	assert_true(node_add_child(node, "abc"));
	assert_int_equal(node_quota_size(node), empty + 5 + 4);
}

static void test_generations_increase(void **state)
{
	struct fixture *f = *state;
	uint64_t last = store_next_generation(f->store);
	unsigned int i;

	for (i = 0; i < 1000; i++) {
		uint64_t next = store_next_generation(f->store);

		assert_true(next > last);
		last = next;
	}
}

struct visit {
	void *ctx;
	unsigned int count;
	char seen[64];
	int stop_with;
};

static int record_visit(const char *path, const struct node *node, void *arg)
{
	struct visit *v = arg;
	unsigned int n;

	assert_non_null(node);
	assert_int_equal(sscanf(path, "/n%u", &n), 1);
	assert_true(n < sizeof(v->seen));
	assert_int_equal(node->value_len, strlen(path));
	assert_memory_equal(node->value, path, node->value_len);
	v->seen[n]++;
	v->count++;
	return v->stop_with;
}

static void put_numbered_nodes(struct fixture *f, unsigned int count)
{
	unsigned int i;

	for (i = 0; i < count; i++) {
		char *path = talloc_asprintf(f->ctx, "/n%u", i);
		struct node *node = make_node(f->ctx, path,
					      (uint32_t)strlen(path));

		assert_int_equal(store_put(f->store, path, node), 0);
	}
}

static void test_traverse_visits_every_node_once(void **state)
{
	struct fixture *f = *state;
	struct visit v = { .ctx = f->ctx };
	unsigned int i;

	assert_int_equal(store_traverse(f->store, record_visit, &v), 0);
	assert_int_equal(v.count, 0);
	put_numbered_nodes(f, 50);
	assert_int_equal(store_delete(f->store, "/n17"), 0);
	assert_int_equal(store_traverse(f->store, record_visit, &v), 0);
	assert_int_equal(v.count, 49);
	for (i = 0; i < 50; i++)
		assert_int_equal(v.seen[i], i == 17 ? 0 : 1);
}

static void test_traverse_stops_when_asked(void **state)
{
	struct fixture *f = *state;
	struct visit v = { .ctx = f->ctx, .stop_with = 5 };

	put_numbered_nodes(f, 10);
	assert_int_equal(store_traverse(f->store, record_visit, &v), 5);
	assert_int_equal(v.count, 1);
}

struct temp_dir {
	char path[512];
};

static void temp_dir_make(struct temp_dir *dir)
{
	const char *tmp = getenv("TMPDIR");
	int n = snprintf(dir->path, sizeof(dir->path),
			 "%s/xs-test-store.XXXXXX", tmp && *tmp ? tmp : "/tmp");

	assert_true(n > 0 && (size_t)n < sizeof(dir->path));
	assert_non_null(mkdtemp(dir->path));
}

static void temp_dir_remove(struct temp_dir *dir, const char *file)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/%s", dir->path, file);
	unlink(path);
	assert_int_equal(rmdir(dir->path), 0);
}

static void test_store_in_a_file(void **state)
{
	struct temp_dir dir;
	void *ctx = talloc_new(NULL);
	struct store *store;
	struct node *node, *got;
	struct stat st;
	char *file;

	temp_dir_make(&dir);
	file = talloc_asprintf(ctx, "%s/tdb", dir.path);
	store = store_open(ctx, file);
	assert_non_null(store);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	node = make_node(ctx, "on disk", 7);
	node->generation = 3;
	assert_true(node_add_child(node, "c"));
	assert_int_equal(store_put(store, "/f", node), 0);
	got = store_fetch(store, ctx, "/f");
	assert_non_null(got);
	assert_nodes_equal(got, node);
	assert_true(store_exists(store, "/f"));
	assert_int_equal(store_delete(store, "/f"), 0);
	assert_false(store_exists(store, "/f"));
	assert_int_equal(store_put(store, "/f", node), 0);
	talloc_free(store);

	/* A fresh store: what an earlier run left is truncated away. */
	store = store_open(ctx, file);
	assert_non_null(store);
	assert_false(store_exists(store, "/f"));
	assert_int_equal(store_node_count(store), 0);
	talloc_free(store);

	talloc_free(ctx);
	temp_dir_remove(&dir, "tdb");
}

static void test_store_in_a_missing_directory_fails(void **state)
{
	struct temp_dir dir;
	void *ctx = talloc_new(NULL);
	char *file;

	temp_dir_make(&dir);
	file = talloc_asprintf(ctx, "%s/no/such/dir/tdb", dir.path);
	errno = 0;
	assert_null(store_open(ctx, file));
	assert_int_equal(errno, ENOENT);
	assert_int_equal(talloc_total_blocks(ctx), 2);	/* ctx and file */
	talloc_free(ctx);
	temp_dir_remove(&dir, "none");
}


/* --- Big directories: children in chunk records (store/chunks.h) ------- */

/* A name of @len characters (5 and more) unique to @i. */
static char *child_name(void *ctx, unsigned int i, unsigned int len)
{
	char *name = talloc_asprintf(ctx, "%05u", i);

	assert_non_null(name);
	while (strlen(name) < len)
		name = talloc_asprintf_append(name, "%c", 'a' + i % 26);
	assert_non_null(name);
	return name;
}

/* A directory of @count children of 36 characters (a UUID's length):
 * past CHUNKED_FROM, so the store keeps them in chunks. */
static struct node *big_directory(void *ctx, unsigned int count)
{
	struct node *node = make_node(ctx, "dir", 3);
	unsigned int i;

	for (i = 0; i < count; i++)
		assert_true(node_add_child(node, child_name(ctx, i, 36)));
	return node;
}

/* What a plain request does: read lazily, edit, store back; then the
 * store's node (read whole) must be @model, and so must a lazy read's
 * children once loaded. */
static void assert_stored_as(struct fixture *f, const char *path,
			     const struct node *model)
{
	struct node *got = store_fetch(f->store, f->ctx, path);

	assert_non_null(got);
	assert_null(got->chunks);
	assert_nodes_equal(got, model);
	talloc_free(got);
	got = store_fetch_lazy(f->store, f->ctx, path);
	assert_non_null(got);
	assert_int_equal(got->children_len, model->children_len);
	assert_true(node_load_children(got));
	assert_nodes_equal(got, model);
	talloc_free(got);
}

/* A traverse sees the directory once, with its children. */
static int visit_big(const char *path, const struct node *node, void *arg)
{
	unsigned int *visits = arg;

	assert_string_equal(path, "/big");
	assert_null(node->chunks);
	assert_non_null(node->children);
	assert_int_equal(node->children_len, 1000 * 37);
	(*visits)++;
	return 0;
}

static void test_big_directory_is_chunked_and_lazy(void **state)
{
	struct fixture *f = *state;
	struct node *model = big_directory(f->ctx, 1000), *lazy;
	unsigned int visits = 0;

	model->generation = 7;
	assert_int_equal(store_put(f->store, "/big", model), 0);
	lazy = store_fetch_lazy(f->store, f->ctx, "/big");
	assert_non_null(lazy);
	assert_non_null(lazy->chunks);
	assert_true(lazy->chunks->count > 1);
	assert_null(lazy->children);	/* not read until needed */
	assert_int_equal(lazy->children_len, model->children_len);
	assert_int_equal(lazy->generation, 7);
	assert_int_equal(node_record_size(lazy), node_record_size(model));
	assert_int_equal(node_quota_size(lazy), node_quota_size(model));
	assert_string_equal(child_list(f->ctx, lazy),
			    child_list(f->ctx, model));
	assert_stored_as(f, "/big", model);
	/* One node, whatever number of records its chunks take. */
	assert_int_equal(store_node_count(f->store), 1);
	assert_int_equal(store_traverse(f->store, visit_big, &visits), 0);
	assert_int_equal(visits, 1);
}

/* Adding and removing through lazy reads keeps the creation order, at
 * the start, the middle and the end of the list, within and across
 * chunks, and adding a removed name again moves it to the end. */
static void test_big_directory_edits_keep_order(void **state)
{
	struct fixture *f = *state;
	struct node *model = big_directory(f->ctx, 600), *lazy;
	static const unsigned int removed[] = { 0, 1, 55, 56, 57, 299, 599 };
	unsigned int i;

	assert_int_equal(store_put(f->store, "/d", model), 0);
	for (i = 0; i < sizeof(removed) / sizeof(removed[0]); i++) {
		char *name = child_name(f->ctx, removed[i], 36);

		lazy = store_fetch_lazy(f->store, f->ctx, "/d");
		assert_non_null(lazy);
		assert_true(node_remove_child(lazy, name));
		assert_true(node_remove_child(model, name));
		model->generation = lazy->generation = 100 + i;
		assert_int_equal(store_put(f->store, "/d", lazy), 0);
		assert_stored_as(f, "/d", model);
		talloc_free(lazy);
	}
	/* Several changes in one write, a removed name back at the end. */
	lazy = store_fetch_lazy(f->store, f->ctx, "/d");
	assert_non_null(lazy);
	assert_true(node_add_child(lazy, "new1"));
	assert_true(node_add_child(model, "new1"));
	assert_true(node_add_child(lazy, child_name(f->ctx, 55, 36)));
	assert_true(node_add_child(model, child_name(f->ctx, 55, 36)));
	assert_true(node_remove_child(lazy, child_name(f->ctx, 2, 36)));
	assert_true(node_remove_child(model, child_name(f->ctx, 2, 36)));
	assert_true(node_remove_child(lazy, "new1"));
	assert_true(node_remove_child(model, "new1"));
	assert_true(node_remove_child(lazy, "never-there"));
	assert_true(node_remove_child(model, "never-there"));
	assert_int_equal(lazy->children_len, model->children_len);
	assert_int_equal(store_put(f->store, "/d", lazy), 0);
	assert_stored_as(f, "/d", model);
	/* The node describes the chunks it wrote: it can be written again. */
	assert_true(node_add_child(lazy, "again"));
	assert_true(node_add_child(model, "again"));
	assert_int_equal(store_put(f->store, "/d", lazy), 0);
	assert_stored_as(f, "/d", model);
	assert_int_equal(store_node_count(f->store), 1);
}

/*
 * Random edits through lazy reads, some with the list read in between
 * (as a transaction's replay that lists the directory does), against the
 * same edits on a node that is not chunked: the store answers the same.
 * The directory crosses CHUNKED_FROM and INLINE_BELOW both ways.
 */
static void test_big_directory_random_edits_match_model(void **state)
{
	struct fixture *f = *state;
	struct node *model = make_node(f->ctx, "v", 1);
	unsigned int next = 0, round, live[400], nlive = 0;

	srand(12);
	assert_int_equal(store_put(f->store, "/r", model), 0);
	for (round = 0; round < 400; round++) {
		struct node *lazy = store_fetch_lazy(f->store, f->ctx, "/r");
		unsigned int ops = 1 + (unsigned int)rand() % 8, op;
		/* Grow for the first half, shrink to nothing in the second. */
		bool growing = round < 200;

		assert_non_null(lazy);
		for (op = 0; op < ops; op++) {
			int what = rand() % 10;

			if (what == 0) {
				/* Read the list mid-way. */
				assert_true(node_load_children(lazy));
				assert_memory_equal(lazy->children,
						    model->children,
						    model->children_len);
			} else if ((growing ? what < 7 : what < 2) &&
				   nlive < 400) {
				char *name = child_name(f->ctx, next,
							5 + next % 40);

				live[nlive++] = next++;
				assert_true(node_add_child(lazy, name));
				assert_true(node_add_child(model, name));
			} else if (nlive) {
				unsigned int k = (unsigned int)rand() % nlive;
				char *name = child_name(f->ctx, live[k],
							5 + live[k] % 40);

				live[k] = live[--nlive];
				assert_true(node_remove_child(lazy, name));
				assert_true(node_remove_child(model, name));
			}
			assert_int_equal(lazy->children_len,
					 model->children_len);
		}
		model->generation = lazy->generation = round + 1;
		assert_int_equal(store_put(f->store, "/r", lazy), 0);
		talloc_free(lazy);
		assert_stored_as(f, "/r", model);
	}
	assert_int_equal(model->children_len, 0);
	assert_int_equal(store_node_count(f->store), 1);
}

/* A name longer than a chunk gets a chunk of its own. */
static void test_big_directory_long_names(void **state)
{
	struct fixture *f = *state;
	struct node *model = big_directory(f->ctx, 200), *lazy;
	char *longname = child_name(f->ctx, 9999, 3000);

	assert_int_equal(store_put(f->store, "/l", model), 0);
	lazy = store_fetch_lazy(f->store, f->ctx, "/l");
	assert_non_null(lazy);
	assert_true(node_add_child(lazy, longname));
	assert_true(node_add_child(model, longname));
	assert_true(node_add_child(lazy, "after"));
	assert_true(node_add_child(model, "after"));
	assert_int_equal(store_put(f->store, "/l", lazy), 0);
	assert_stored_as(f, "/l", model);
	talloc_free(lazy);
	lazy = store_fetch_lazy(f->store, f->ctx, "/l");
	assert_non_null(lazy);
	assert_true(node_remove_child(lazy, longname));
	assert_true(node_remove_child(model, longname));
	assert_int_equal(store_put(f->store, "/l", lazy), 0);
	assert_stored_as(f, "/l", model);
}

/* A duplicate name (only a broken store has one) goes as it would from
 * a node that is not chunked: the first one first. */
static void test_big_directory_duplicate_names(void **state)
{
	struct fixture *f = *state;
	struct node *model = big_directory(f->ctx, 300), *lazy;

	assert_true(node_add_child(model, child_name(f->ctx, 3, 36)));
	assert_int_equal(store_put(f->store, "/dup", model), 0);
	lazy = store_fetch_lazy(f->store, f->ctx, "/dup");
	assert_non_null(lazy);
	assert_true(node_remove_child(lazy, child_name(f->ctx, 3, 36)));
	assert_true(node_remove_child(model, child_name(f->ctx, 3, 36)));
	assert_true(node_remove_child(lazy, child_name(f->ctx, 3, 36)));
	assert_true(node_remove_child(model, child_name(f->ctx, 3, 36)));
	assert_int_equal(store_put(f->store, "/dup", lazy), 0);
	assert_stored_as(f, "/dup", model);
}

/* Removing a chunked directory removes its chunks; a node stored at
 * another path is written whole there, and the original stays. */
static void test_big_directory_delete_and_copy(void **state)
{
	struct fixture *f = *state;
	struct node *model = big_directory(f->ctx, 400), *lazy;

	assert_int_equal(store_put(f->store, "/a", model), 0);
	lazy = store_fetch_lazy(f->store, f->ctx, "/a");
	assert_non_null(lazy);
	assert_true(node_add_child(lazy, "extra"));
	assert_int_equal(store_put(f->store, "/b", lazy), 0);
	assert_stored_as(f, "/a", model);
	assert_true(node_add_child(model, "extra"));
	assert_stored_as(f, "/b", model);
	assert_int_equal(store_delete(f->store, "/a"), 0);
	assert_null(store_fetch(f->store, f->ctx, "/a"));
	assert_int_equal(store_node_count(f->store), 1);
	/* A new directory at the same path starts with no stale chunk. */
	talloc_free(model);
	model = big_directory(f->ctx, 150);
	assert_int_equal(store_put(f->store, "/a", model), 0);
	assert_stored_as(f, "/a", model);
}

/* The same, with the database in a file (-I off): the chunk records are
 * in it beside the node records. */
static void test_big_directory_in_a_file(void **state)
{
	struct temp_dir dir;
	void *ctx = talloc_new(NULL);
	struct fixture f = { .ctx = ctx };
	struct node *model, *lazy;
	char *file;

	(void)state;
	temp_dir_make(&dir);
	file = talloc_asprintf(ctx, "%s/tdb", dir.path);
	f.store = store_open(ctx, file);
	assert_non_null(f.store);
	model = big_directory(ctx, 500);
	assert_int_equal(store_put(f.store, "/vm", model), 0);
	lazy = store_fetch_lazy(f.store, ctx, "/vm");
	assert_non_null(lazy);
	assert_true(node_remove_child(lazy, child_name(ctx, 250, 36)));
	assert_true(node_remove_child(model, child_name(ctx, 250, 36)));
	assert_true(node_add_child(lazy, "last"));
	assert_true(node_add_child(model, "last"));
	assert_int_equal(store_put(f.store, "/vm", lazy), 0);
	assert_stored_as(&f, "/vm", model);
	talloc_free(f.store);
	talloc_free(ctx);
	temp_dir_remove(&dir, "tdb");
}

#define TEST(fn) \
	cmocka_unit_test_setup_teardown(fn, setup_memory_store, teardown_store)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_new_store_is_empty),
		TEST(test_put_then_fetch),
		TEST(test_put_replaces),
		TEST(test_paths_are_distinct_keys),
		TEST(test_delete),
		TEST(test_value_with_nuls_round_trips),
		TEST(test_empty_value_round_trips),
		TEST(test_large_node_round_trips),
		TEST(test_encode_decode_round_trip),
		TEST(test_decode_rejects_bad_lengths),
		TEST(test_children_keep_creation_order),
		TEST(test_child_removal),
		TEST(test_many_children_round_trip),
		TEST(test_growing_directory_round_trips),
		TEST(test_huge_record_round_trips),
		TEST(test_dup_is_deep),
		TEST(test_quota_size_counts_every_part),
		TEST(test_generations_increase),
		TEST(test_traverse_visits_every_node_once),
		TEST(test_traverse_stops_when_asked),
		cmocka_unit_test(test_store_in_a_file),
		cmocka_unit_test(test_store_in_a_missing_directory_fails),
		TEST(test_big_directory_is_chunked_and_lazy),
		TEST(test_big_directory_edits_keep_order),
		TEST(test_big_directory_random_edits_match_model),
		TEST(test_big_directory_long_names),
		TEST(test_big_directory_duplicate_names),
		TEST(test_big_directory_delete_and_copy),
		cmocka_unit_test(test_big_directory_in_a_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
