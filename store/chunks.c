#include <errno.h>
#include <string.h>
#include <talloc.h>

#include "store/chunks.h"
#include "store/journal.h"

static TDB_DATA chunk_key(void *ctx, const char *path, uint32_t id)
{
	size_t len = strlen(path);
	unsigned char *key = talloc_size(ctx, len + 1 + sizeof(id));

	if (!key)
		return (TDB_DATA){ NULL, 0 };
	memcpy(key, path, len);
	key[len] = '\0';
	memcpy(key + len + 1, &id, sizeof(id));
	return (TDB_DATA){ key, len + 1 + sizeof(id) };
}

bool chunks_is_chunk_key(TDB_DATA key)
{
	return memchr(key.dptr, '\0', key.dsize) != NULL;
}

/* A chunk's names, as a callback of kv_parse sees them. */
struct chunk_read {
	const char *names;
	uint32_t len;
	bool valid;
};

static bool chunk_names(TDB_DATA data, struct chunk_read *read)
{
	uint32_t len;

	if (data.dsize < sizeof(len))
		return false;
	memcpy(&len, data.dptr, sizeof(len));
	if (len > data.dsize - sizeof(len) ||
	    (len && data.dptr[sizeof(len) + len - 1] != '\0'))
		return false;
	read->names = (const char *)data.dptr + sizeof(len);
	read->len = len;
	return true;
}

/* The offset of the first name @name (@len bytes with its NUL) in
 * @names, or -1. */
static long find_name(const char *names, size_t names_len, const char *name,
		      size_t len)
{
	size_t offset = 0;

	while (offset < names_len) {
		size_t here = strlen(names + offset) + 1;

		if (here == len && memcmp(names + offset, name, len) == 0)
			return (long)offset;
		offset += here;
	}
	return -1;
}

struct append_request {
	char *buf;
	uint32_t len;
	size_t size;
	bool valid;
	bool nomem;
};

static int append_chunk(TDB_DATA key, TDB_DATA data, void *private_data)
{
	struct append_request *req = private_data;
	struct chunk_read read;
	char *grown;

	(void)key;
	if (!chunk_names(data, &read))
		return 0;
	if (req->len + read.len > req->size) {
		/* More than the node says: read it all, then refuse it. */
		grown = talloc_realloc(NULL, req->buf, char,
				       req->len + read.len);
		if (!grown) {
			req->nomem = true;
			return 0;
		}
		req->buf = grown;
		req->size = req->len + read.len;
	}
	memcpy(req->buf + req->len, read.names, read.len);
	req->len += read.len;
	req->valid = true;
	return 0;
}

bool chunks_load(struct node *node)
{
	struct node_chunks *chunks = node->chunks;
	struct append_request req = { NULL, 0, 0, false, false };
	void *tmp;
	size_t size;
	uint32_t i;
	int err = ENOMEM;

	if (!chunks->kv) {
		errno = EINVAL;		/* decoded, but not from a store */
		return false;
	}
	tmp = talloc_new(NULL);
	if (!tmp)
		goto fail;
	/* The chunks hold the list less what was added, plus what was
	 * removed: one buffer for all, so that reading is one copy. */
	size = (size_t)node->children_len - chunks->added_len + 1;
	for (i = 0; i < chunks->removal_count; i++)
		size += strlen(chunks->removals[i].name) + 1;
	req.buf = talloc_size(tmp, size + chunks->added_len);
	req.size = size + chunks->added_len;
	if (!req.buf)
		goto fail;
	for (i = 0; i < chunks->count; i++) {
		TDB_DATA key = chunk_key(tmp, chunks->path, chunks->ids[i]);

		req.valid = false;
		if (!key.dptr)
			goto fail;
		if (kv_parse(chunks->kv, key, append_chunk, &req) != 0 ||
		    !req.valid) {
			err = req.nomem ? ENOMEM : EIO;
			goto fail;
		}
		talloc_free(key.dptr);
	}
	/* From here on, what fails is the chunks not matching the node. */
	err = EIO;
	for (i = 0; i < chunks->removal_count; i++) {
		const char *name = chunks->removals[i].name;
		size_t len = strlen(name) + 1;
		long at = find_name(req.buf, req.len, name, len);

		if (at < 0)
			goto fail;
		memmove(req.buf + at, req.buf + at + len,
			req.len - (size_t)at - len);
		req.len -= (uint32_t)len;
	}
	if (chunks->added_len) {
		if (req.len + chunks->added_len > req.size)
			goto fail;
		memcpy(req.buf + req.len, chunks->added, chunks->added_len);
		req.len += chunks->added_len;
	}
	if (req.len != node->children_len)
		goto fail;	/* the chunks do not say what the node does */
	node->children = talloc_steal(node, req.buf);
	chunks->loaded = true;
	talloc_free(tmp);
	return true;
fail:
	talloc_free(tmp);
	errno = err;
	return false;
}

bool chunks_note_added(struct node_chunks *chunks, const char *name,
		       size_t len)
{
	char *grown = talloc_realloc(chunks, chunks->added, char,
				     chunks->added_len + len);

	if (!grown)
		return false;
	memcpy(grown + chunks->added_len, name, len);
	chunks->added = grown;
	chunks->added_len += (uint32_t)len;
	return true;
}

struct find_request {
	const char *name;
	size_t len;
	bool found;
	bool valid;
};

static int find_in_chunk(TDB_DATA key, TDB_DATA data, void *private_data)
{
	struct find_request *req = private_data;
	struct chunk_read read;

	(void)key;
	if (!chunk_names(data, &read))
		return 0;
	req->valid = true;
	req->found = find_name(read.names, read.len, req->name, req->len) >= 0;
	return 0;
}

/* The chunk whose names hold @name first: 1 (in *@chunk), 0 if none,
 * -1 if a chunk cannot be read. */
static int find_chunk(const struct node_chunks *chunks, const char *name,
		      size_t len, uint32_t *chunk)
{
	struct find_request req = { .name = name, .len = len };
	void *tmp = talloc_new(NULL);
	uint32_t i;
	int result = 0;

	if (!tmp)
		return -1;
	for (i = 0; i < chunks->count && !result; i++) {
		TDB_DATA key = chunk_key(tmp, chunks->path, chunks->ids[i]);

		req.valid = false;
		if (!key.dptr ||
		    kv_parse(chunks->kv, key, find_in_chunk, &req) != 0 ||
		    !req.valid) {
			result = -1;
			break;
		}
		if (req.found) {
			*chunk = chunks->ids[i];
			result = 1;
		}
		talloc_free(key.dptr);
	}
	talloc_free(tmp);
	return result;
}

enum chunk_removal_result chunks_note_removal(struct node_chunks *chunks,
					      const char *name, size_t len)
{
	struct chunk_removal *grown;
	uint32_t chunk = 0;
	unsigned int i;
	long at;

	if (!chunks->kv)
		return CHUNK_REMOVAL_FAILED;
	/* The list is the chunks' names, then those added: the first child
	 * of that name is in a chunk if any chunk has it. */
	switch (find_chunk(chunks, name, len, &chunk)) {
	case -1:
		return CHUNK_REMOVAL_FAILED;
	case 1:
		for (i = 0; i < chunks->removal_count; i++)
			if (strcmp(chunks->removals[i].name, name) == 0)
				return CHUNK_REPEATED;
		grown = talloc_realloc(chunks, chunks->removals,
				       struct chunk_removal,
				       chunks->removal_count + 1);
		if (!grown)
			return CHUNK_REMOVAL_FAILED;
		chunks->removals = grown;
		grown[chunks->removal_count].chunk = chunk;
		grown[chunks->removal_count].name = talloc_strdup(grown, name);
		if (!grown[chunks->removal_count].name)
			return CHUNK_REMOVAL_FAILED;
		chunks->removal_count++;
		return CHUNK_REMOVED;
	}
	at = find_name(chunks->added, chunks->added_len, name, len);
	if (at < 0)
		return CHUNK_ABSENT;
	memmove(chunks->added + at, chunks->added + at + len,
		chunks->added_len - (size_t)at - len);
	chunks->added_len -= (uint32_t)len;
	return CHUNK_REMOVED;
}

/* A chunk being rewritten. */
struct chunk_edit {
	uint32_t id;
	TDB_DATA key;			/* made before anything is written */
	char names[CHUNK_RECORD_SIZE];	/* may overflow into a long name */
	char *long_names;		/* when one name is past CHUNK_MAX */
	uint32_t len;
};

static char *edit_names(struct chunk_edit *edit)
{
	return edit->long_names ? edit->long_names : edit->names;
}

static int read_into_edit(TDB_DATA key, TDB_DATA data, void *private_data)
{
	struct chunk_edit *edit = private_data;
	struct chunk_read read;

	(void)key;
	if (!chunk_names(data, &read))
		return 0;
	if (read.len > CHUNK_MAX) {
		edit->long_names = talloc_memdup(edit, read.names, read.len);
		if (!edit->long_names)
			return 0;
	} else {
		memcpy(edit->names, read.names, read.len);
	}
	edit->len = read.len;
	return 1;
}

static struct chunk_edit *edit_of(void *ctx, struct chunk_edit ***edits,
				  unsigned int *count,
				  const struct node_chunks *chunks, uint32_t id,
				  bool read)
{
	struct chunk_edit **grown, *edit;
	unsigned int i;

	for (i = 0; i < *count; i++)
		if ((*edits)[i]->id == id)
			return (*edits)[i];
	edit = talloc_zero(ctx, struct chunk_edit);
	grown = talloc_realloc(ctx, *edits, struct chunk_edit *, *count + 1);
	if (!edit || !grown)
		return NULL;
	*edits = grown;
	edit->id = id;
	edit->key = chunk_key(edit, chunks->path, id);
	if (!edit->key.dptr)
		return NULL;
	if (read && kv_parse(chunks->kv, edit->key, read_into_edit,
				     edit) != 1)
		return NULL;
	grown[(*count)++] = edit;
	return edit;
}

/* Append @len bytes (one name) to @edit; false if it is out of room. */
static bool edit_append(struct chunk_edit *edit, const char *name,
			size_t len)
{
	if (edit->len && edit->len + len > CHUNK_MAX)
		return false;
	if (len > CHUNK_MAX || edit->long_names) {
		char *grown = talloc_realloc(edit, edit->long_names, char,
					     edit->len + len);

		if (!grown)
			return false;
		if (!edit->long_names)
			memcpy(grown, edit->names, edit->len);
		edit->long_names = grown;
	}
	memcpy(edit_names(edit) + edit->len, name, len);
	edit->len += (uint32_t)len;
	return true;
}

static const unsigned char chunk_zeros[CHUNK_RECORD_SIZE];

static int write_chunk(struct kv *kv, struct journal *journal,
		       const struct chunk_edit *edit)
{
	TDB_DATA parts[3];
	uint32_t len = edit->len;

	parts[0] = (TDB_DATA){ (unsigned char *)&len, sizeof(len) };
	parts[1] = (TDB_DATA){ (unsigned char *)edit_names((struct chunk_edit *)edit),
			       len };
	parts[2] = (TDB_DATA){ (unsigned char *)chunk_zeros,
			       len < CHUNK_MAX ? CHUNK_MAX - len : 0 };
	return journal_storev(journal, kv, edit->key, parts, 3) == 0 ? 0
								       : ENOMEM;
}

static void delete_chunk(struct kv *kv, struct journal *journal,
			 const char *path, uint32_t id)
{
	TDB_DATA key = chunk_key(NULL, path, id);

	if (key.dptr)
		journal_delete(journal, kv, key);
	talloc_free(key.dptr);
}

/* Append the names of @names to the chunks of @edits, the last chunk
 * of the list first, then new chunks. */
static int append_names(void *ctx, struct chunk_edit ***edits,
			unsigned int *edit_count, struct node_chunks *chunks,
			const char *names, uint32_t names_len,
			uint32_t **ids, uint32_t *count)
{
	struct chunk_edit *last = NULL;
	uint32_t offset = 0;

	if (*count) {
		last = edit_of(ctx, edits, edit_count, chunks,
			       (*ids)[*count - 1], true);
		if (!last)
			return ENOMEM;
	}
	while (offset < names_len) {
		size_t len = strlen(names + offset) + 1;

		if (!last || !edit_append(last, names + offset, len)) {
			uint32_t *grown = talloc_realloc(ctx, *ids, uint32_t,
							 *count + 1);

			if (!grown)
				return ENOMEM;
			*ids = grown;
			last = edit_of(ctx, edits, edit_count, chunks,
				       chunks->next_id, false);
			if (!last)
				return ENOMEM;
			grown[(*count)++] = chunks->next_id++;
			if (!edit_append(last, names + offset, len))
				return ENOMEM;
		}
		offset += (uint32_t)len;
	}
	return 0;
}

/* Write the edited chunks; those left empty go, and leave the list.
 * Nothing is allocated here: a failure is TDB's own. */
static int write_edits(struct node_chunks *chunks, struct chunk_edit **edits,
		       unsigned int edit_count, uint32_t *ids,
		       uint32_t *count)
{
	unsigned int i;
	uint32_t j, kept;

	for (i = 0; i < edit_count; i++) {
		int err;

		if (edits[i]->len) {
			err = write_chunk(chunks->kv, chunks->journal,
					  edits[i]);
			if (err)
				return err;
			continue;
		}
		journal_delete(chunks->journal, chunks->kv, edits[i]->key);
		for (j = kept = 0; j < *count; j++)
			if (ids[j] != edits[i]->id)
				ids[kept++] = ids[j];
		*count = kept;
	}
	return 0;
}

int chunks_write_changes(struct node_chunks *chunks)
{
	void *tmp = talloc_new(NULL);
	struct chunk_edit **edits = NULL;
	unsigned int edit_count = 0, i;
	uint32_t *ids, count = chunks->count;
	int err = ENOMEM;

	if (!tmp)
		return ENOMEM;
	ids = count ? talloc_memdup(tmp, chunks->ids, count * sizeof(*ids))
		    : NULL;
	if (count && !ids)
		goto out;
	for (i = 0; i < chunks->removal_count; i++) {
		const struct chunk_removal *r = &chunks->removals[i];
		struct chunk_edit *edit = edit_of(tmp, &edits, &edit_count,
						  chunks, r->chunk, true);
		size_t len = strlen(r->name) + 1;
		long at;

		if (!edit)
			goto out;
		at = find_name(edit_names(edit), edit->len, r->name, len);
		if (at < 0) {
			err = EIO;	/* the chunk changed under the node */
			goto out;
		}
		memmove(edit_names(edit) + at, edit_names(edit) + at + len,
			edit->len - (size_t)at - len);
		edit->len -= (uint32_t)len;
	}
	err = append_names(tmp, &edits, &edit_count, chunks, chunks->added,
			   chunks->added_len, &ids, &count);
	if (!err)
		err = write_edits(chunks, edits, edit_count, ids, &count);
	if (err)
		goto out;
	/* The chunks are as the node says now: start afresh from them. */
	talloc_free(chunks->ids);
	chunks->ids = talloc_steal(chunks, ids);
	chunks->count = count;
	talloc_free(chunks->removals);
	chunks->removals = NULL;
	chunks->removal_count = 0;
	chunks->added_len = 0;
out:
	talloc_free(tmp);
	return err;
}

int chunks_write_all(struct kv *kv, struct journal *journal,
		     const char *path, const char *names, uint32_t len,
		     void *ctx, uint32_t *next_id, uint32_t **ids,
		     uint32_t *count)
{
	struct node_chunks writer = {
		.kv = kv,
		.journal = journal,
		.path = (char *)path,
		.next_id = *next_id,
	};
	void *tmp = talloc_new(NULL);
	struct chunk_edit **edits = NULL;
	unsigned int edit_count = 0;
	uint32_t *new_ids = NULL, new_count = 0;
	int err;

	if (!tmp)
		return ENOMEM;
	err = append_names(tmp, &edits, &edit_count, &writer, names, len,
			   &new_ids, &new_count);
	if (!err)
		err = write_edits(&writer, edits, edit_count, new_ids,
				  &new_count);
	if (!err) {
		*ids = new_count ? talloc_steal(ctx, new_ids) : NULL;
		*count = new_count;
		*next_id = writer.next_id;
	}
	talloc_free(tmp);
	return err;
}

void chunks_delete(struct kv *kv, struct journal *journal,
		   const char *path, const uint32_t *ids, uint32_t count)
{
	uint32_t i;

	for (i = 0; i < count; i++)
		delete_chunk(kv, journal, path, ids[i]);
}
