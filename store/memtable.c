#include <stdlib.h>
#include <string.h>

#include "store/memtable.h"

/* One record, key then data, in one allocation. */
struct record {
	uint32_t hash;
	uint32_t key_len;
	uint32_t data_len;
	unsigned char bytes[];
};

struct memtable {
	struct record **slots;	/* linear probing, NULL: empty */
	size_t mask;		/* slots - 1, a power of two less one */
	size_t count;
};

#define INITIAL_SLOTS 1024

/* FNV-1a, 32 bits: paths differ mostly in their last bytes, and it
 * mixes every byte in. */
static uint32_t hash_key(TDB_DATA key)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < key.dsize; i++) {
		h ^= key.dptr[i];
		h *= 16777619u;
	}
	return h;
}

struct memtable *memtable_new(void)
{
	struct memtable *table = calloc(1, sizeof(*table));

	if (!table)
		return NULL;
	table->slots = calloc(INITIAL_SLOTS, sizeof(*table->slots));
	if (!table->slots) {
		free(table);
		return NULL;
	}
	table->mask = INITIAL_SLOTS - 1;
	return table;
}

void memtable_free(struct memtable *table)
{
	size_t i;

	if (!table)
		return;
	for (i = 0; i <= table->mask; i++)
		free(table->slots[i]);
	free(table->slots);
	free(table);
}

/* The slot holding @key (true), or the empty slot where it would go. */
static bool find_slot(const struct memtable *table, TDB_DATA key,
		      uint32_t hash, size_t *slot)
{
	size_t i = hash & table->mask;
	const struct record *r;

	while ((r = table->slots[i]) != NULL) {
		if (r->hash == hash && r->key_len == key.dsize &&
		    memcmp(r->bytes, key.dptr, key.dsize) == 0) {
			*slot = i;
			return true;
		}
		i = (i + 1) & table->mask;
	}
	*slot = i;
	return false;
}

/* Twice the slots, every record placed again; false if memory ran out
 * (the table is unchanged then). */
static bool grow(struct memtable *table)
{
	size_t size = (table->mask + 1) * 2, i;
	struct record **slots = calloc(size, sizeof(*slots));

	if (!slots)
		return false;
	for (i = 0; i <= table->mask; i++) {
		struct record *r = table->slots[i];
		size_t j;

		if (!r)
			continue;
		for (j = r->hash & (size - 1); slots[j]; j = (j + 1) & (size - 1))
			;
		slots[j] = r;
	}
	free(table->slots);
	table->slots = slots;
	table->mask = size - 1;
	return true;
}

static TDB_DATA record_key(struct record *r)
{
	return (TDB_DATA){ r->bytes, r->key_len };
}

static TDB_DATA record_data(struct record *r)
{
	return (TDB_DATA){ r->bytes + r->key_len, r->data_len };
}

int memtable_parse(struct memtable *table, TDB_DATA key,
		   int (*fn)(TDB_DATA key, TDB_DATA data, void *arg),
		   void *arg)
{
	size_t slot;
	struct record *r;

	if (!find_slot(table, key, hash_key(key), &slot))
		return -1;
	r = table->slots[slot];
	return fn(record_key(r), record_data(r), arg);
}

bool memtable_exists(struct memtable *table, TDB_DATA key)
{
	size_t slot;

	return find_slot(table, key, hash_key(key), &slot);
}

static void copy_parts(struct record *r, const TDB_DATA *parts, int count)
{
	unsigned char *to = r->bytes + r->key_len;
	int i;

	for (i = 0; i < count; i++) {
		if (parts[i].dsize)
			memcpy(to, parts[i].dptr, parts[i].dsize);
		to += parts[i].dsize;
	}
}

int memtable_storev(struct memtable *table, TDB_DATA key,
		    const TDB_DATA *parts, int count)
{
	uint32_t hash = hash_key(key);
	size_t len = 0, slot;
	struct record *r;
	int i;

	for (i = 0; i < count; i++)
		len += parts[i].dsize;
	if (len > UINT32_MAX - key.dsize - sizeof(*r))
		return -1;
	if (find_slot(table, key, hash, &slot)) {
		r = table->slots[slot];
		if (r->data_len != len) {
			/* Only the size changes: realloc may keep it in place.
			 * On failure the old record is still in its slot. */
			r = realloc(r, sizeof(*r) + key.dsize + len);
			if (!r)
				return -1;
			r->data_len = (uint32_t)len;
			table->slots[slot] = r;
		}
		copy_parts(r, parts, count);
		return 0;
	}
	/* At most three quarters full, so that probes stay short. */
	if ((table->count + 1) * 4 > (table->mask + 1) * 3) {
		if (!grow(table))
			return -1;
		find_slot(table, key, hash, &slot);
	}
	r = malloc(sizeof(*r) + key.dsize + len);
	if (!r)
		return -1;
	r->hash = hash;
	r->key_len = (uint32_t)key.dsize;
	r->data_len = (uint32_t)len;
	memcpy(r->bytes, key.dptr, key.dsize);
	copy_parts(r, parts, count);
	table->slots[slot] = r;
	table->count++;
	return 0;
}

int memtable_delete(struct memtable *table, TDB_DATA key)
{
	size_t hole, j;

	if (!find_slot(table, key, hash_key(key), &hole))
		return -1;
	free(table->slots[hole]);
	table->count--;
	/* Close the hole: a later record of the same probe run moves into
	 * it unless its home slot lies after the hole (cyclically). */
	for (j = (hole + 1) & table->mask; table->slots[j];
	     j = (j + 1) & table->mask) {
		size_t home = table->slots[j]->hash & table->mask;
		bool stays = hole <= j ? hole < home && home <= j
				       : hole < home || home <= j;

		if (stays)
			continue;
		table->slots[hole] = table->slots[j];
		hole = j;
	}
	table->slots[hole] = NULL;
	return 0;
}

long memtable_traverse(struct memtable *table,
		       int (*fn)(TDB_DATA key, TDB_DATA data, void *arg),
		       void *arg)
{
	long visited = 0;
	size_t i;

	for (i = 0; i <= table->mask; i++) {
		struct record *r = table->slots[i];

		if (!r)
			continue;
		visited++;
		if (fn(record_key(r), record_data(r), arg))
			break;
	}
	return visited;
}

size_t memtable_count(const struct memtable *table)
{
	return table->count;
}
