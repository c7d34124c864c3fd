/*
 * The in-memory record table (store/memtable.c) against a model: random
 * stores, replacements of every size, deletions that close holes in the
 * probe runs, growth past several doublings; parse, exists and traverse
 * must agree with the model after every step.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "store/memtable.h"

#define KEYS 6000

struct model {
	bool present;
	unsigned char data[64];
	size_t len;
};

static TDB_DATA key_of(unsigned i, char *buf)
{
	/* Keys of several lengths, with a NUL inside some (chunk keys). */
	int n = snprintf(buf, 48, "/local/domain/%u/k", i);

	if (i % 3 == 0) {
		buf[n] = '\0';
		memcpy(buf + n + 1, &i, sizeof(i));
		n += 1 + (int)sizeof(i);
	}
	return (TDB_DATA){ (unsigned char *)buf, (size_t)n };
}

static int copy_out(TDB_DATA key, TDB_DATA data, void *arg)
{
	TDB_DATA *out = arg;

	(void)key;
	out->dptr = malloc(data.dsize ? data.dsize : 1);
	memcpy(out->dptr, data.dptr, data.dsize);
	out->dsize = data.dsize;
	return 7;
}

static void check_key(struct memtable *t, struct model *m, unsigned i)
{
	char buf[48];
	TDB_DATA key = key_of(i, buf), got = { NULL, 0 };
	int r = memtable_parse(t, key, copy_out, &got);

	assert_int_equal(memtable_exists(t, key), m[i].present);
	if (!m[i].present) {
		assert_int_equal(r, -1);
		return;
	}
	assert_int_equal(r, 7);
	assert_int_equal(got.dsize, m[i].len);
	assert_memory_equal(got.dptr, m[i].data, m[i].len);
	free(got.dptr);
}

struct walk {
	struct model *m;
	size_t visited;
	size_t stop_after;
};

static int visit(TDB_DATA key, TDB_DATA data, void *arg)
{
	struct walk *w = arg;
	unsigned i;

	(void)data;
	assert_true(sscanf((const char *)key.dptr, "/local/domain/%u/k", &i) == 1);
	assert_true(i < KEYS && w->m[i].present);
	w->visited++;
	return w->stop_after && w->visited == w->stop_after;
}

static void test_random_edits_match_a_model(void **state)
{
	struct memtable *t = memtable_new();
	struct model *m = calloc(KEYS, sizeof(*m));
	size_t present = 0;
	unsigned step, i;

	(void)state;
	assert_non_null(t);
	srandom(12);
	for (step = 0; step < 60000; step++) {
		char buf[48];
		unsigned k = (unsigned)random() % KEYS;
		TDB_DATA key = key_of(k, buf);

		if (random() % 4 == 0) {
			int r = memtable_delete(t, key);

			assert_int_equal(r, m[k].present ? 0 : -1);
			present -= m[k].present;
			m[k].present = false;
		} else {
			/* Two parts, possibly empty, of random sizes. */
			unsigned char a[32], b[32];
			size_t la = (size_t)random() % 33, lb = (size_t)random() % 33;
			TDB_DATA parts[2] = { { a, la }, { b, lb } };

			for (i = 0; i < 32; i++) {
				a[i] = (unsigned char)random();
				b[i] = (unsigned char)random();
			}
			assert_int_equal(memtable_storev(t, key, parts, 2), 0);
			present += !m[k].present;
			m[k].present = true;
			memcpy(m[k].data, a, la);
			memcpy(m[k].data + la, b, lb);
			m[k].len = la + lb;
		}
		assert_int_equal(memtable_count(t), present);
		check_key(t, m, k);
		if (step % 5000 == 0)
			for (i = 0; i < KEYS; i++)
				check_key(t, m, i);
	}
	for (i = 0; i < KEYS; i++)
		check_key(t, m, i);
	{
		struct walk w = { m, 0, 0 };

		assert_int_equal(memtable_traverse(t, visit, &w), (long)present);
		assert_int_equal(w.visited, present);
		w = (struct walk){ m, 0, 3 };
		assert_int_equal(memtable_traverse(t, visit, &w), 3);
	}
	/* Everything removed: the table is empty and finds nothing. */
	for (i = 0; i < KEYS; i++) {
		char buf[48];

		assert_int_equal(memtable_delete(t, key_of(i, buf)),
				 m[i].present ? 0 : -1);
		m[i].present = false;
	}
	assert_int_equal(memtable_count(t), 0);
	for (i = 0; i < KEYS; i++)
		check_key(t, m, i);
	memtable_free(t);
	free(m);
}

static void test_keys_differing_only_after_a_nul(void **state)
{
	struct memtable *t = memtable_new();
	unsigned char k1[] = "/vm\0\1\0\0\0", k2[] = "/vm\0\2\0\0\0";
	TDB_DATA a = { k1, 8 }, b = { k2, 8 }, plain = { k1, 3 };
	TDB_DATA va = { (unsigned char *)"A", 1 }, vb = { (unsigned char *)"BB", 2 };
	TDB_DATA got;

	(void)state;
	assert_int_equal(memtable_storev(t, a, &va, 1), 0);
	assert_int_equal(memtable_storev(t, b, &vb, 1), 0);
	assert_false(memtable_exists(t, plain));
	assert_int_equal(memtable_parse(t, b, copy_out, &got), 7);
	assert_int_equal(got.dsize, 2);
	assert_memory_equal(got.dptr, "BB", 2);
	free(got.dptr);
	assert_int_equal(memtable_delete(t, a), 0);
	assert_true(memtable_exists(t, b));
	assert_int_equal(memtable_count(t), 1);
	memtable_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_edits_match_a_model),
		cmocka_unit_test(test_keys_differing_only_after_a_nul),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
