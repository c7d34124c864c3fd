#include <errno.h>
#include <string.h>
#include <talloc.h>

#include "store/chunks.h"
#include "store/node.h"

/* The record layout is in node.h. */
struct node_record_header {
	uint64_t generation;
	uint32_t perm_count;
	uint32_t value_len;
	uint32_t children_len;
	uint32_t padding;	/* | NODE_RECORD_CHUNKED */
};

struct node *node_new(void *ctx, const struct perm_list *perms)
{
	struct node *node = talloc_zero(ctx, struct node);

	if (!node)
		return NULL;
	if (!perms_copy(node, perms, &node->perms)) {
		talloc_free(node);
		return NULL;
	}
	return node;
}

struct node *node_dup(void *ctx, const struct node *src)
{
	struct node *node = talloc_zero(ctx, struct node);

	if (!node)
		return NULL;
	if (!node_load_children(src)) {
		talloc_free(node);
		return NULL;
	}
	node->generation = src->generation;
	if (!perms_copy(node, &src->perms, &node->perms) ||
	    !node_set_value(node, src->value, src->value_len)) {
		talloc_free(node);
		return NULL;
	}
	if (src->children_len) {
		node->children = talloc_memdup(node, src->children,
					       src->children_len);
		if (!node->children) {
			talloc_free(node);
			return NULL;
		}
		node->children_len = src->children_len;
	}
	return node;
}

bool node_set_value(struct node *node, const void *value, uint32_t len)
{
	char *copy = NULL;

	if (len) {
		copy = talloc_memdup(node, value, len);
		if (!copy)
			return false;
	}
	talloc_free(node->value);
	node->value = copy;
	node->value_len = len;
	return true;
}

bool node_set_perms(struct node *node, const struct perm_list *perms)
{
	struct perm_list copy;

	if (!perms_copy(node, perms, &copy))
		return false;
	talloc_free(node->perms.entries);
	node->perms = copy;
	return true;
}

bool node_load_children(const struct node *node)
{
	if (!node->chunks || node->chunks->loaded)
		return true;
	return chunks_load((struct node *)node);
}

const char *node_first_child(const struct node *node)
{
	if (!node_load_children(node))
		return NULL;
	return node->children_len ? node->children : NULL;
}

const char *node_next_child(const struct node *node, const char *child)
{
	const char *next = child + strlen(child) + 1;

	return next < node->children + node->children_len ? next : NULL;
}

static const char *find_child(const struct node *node, const char *name)
{
	const char *c;

	for (c = node_first_child(node); c; c = node_next_child(node, c))
		if (strcmp(c, name) == 0)
			return c;
	return NULL;
}

bool node_has_child(const struct node *node, const char *name)
{
	return node_load_children(node) && find_child(node, name) != NULL;
}

bool node_add_child(struct node *node, const char *name)
{
	size_t len = strlen(name) + 1;
	struct node_chunks *chunks = node->chunks;
	char *grown;

	if (chunks) {
		if (!chunks_note_added(chunks, name, len))
			return false;
		if (!chunks->loaded) {
			node->children_len += (uint32_t)len;
			return true;
		}
	}
	grown = talloc_realloc(node, node->children, char,
			       node->children_len + len);
	if (!grown) {
		if (chunks)
			chunks->added_len -= (uint32_t)len;
		return false;
	}
	memcpy(grown + node->children_len, name, len);
	node->children = grown;
	node->children_len += len;
	return true;
}

static void remove_loaded_child(struct node *node, const char *name)
{
	const char *c = find_child(node, name);
	size_t len, offset;

	if (!c)
		return;
	len = strlen(c) + 1;
	offset = (size_t)(c - node->children);
	memmove(node->children + offset, node->children + offset + len,
		node->children_len - offset - len);
	node->children_len -= len;
}

bool node_remove_child(struct node *node, const char *name)
{
	size_t len = strlen(name) + 1;

	if (!node->chunks) {
		remove_loaded_child(node, name);
		return true;
	}
	switch (chunks_note_removal(node->chunks, name, len)) {
	case CHUNK_REMOVAL_FAILED:
		return false;
	case CHUNK_ABSENT:
		return true;
	case CHUNK_REPEATED:
		/* Only the whole list says which one goes: keep the list
		 * and write all of it. */
		if (!node_load_children(node))
			return false;
		talloc_free(node->chunks);
		node->chunks = NULL;
		remove_loaded_child(node, name);
		return true;
	case CHUNK_REMOVED:
		break;
	}
	if (node->chunks->loaded)
		remove_loaded_child(node, name);
	else
		node->children_len -= (uint32_t)len;
	return true;
}

size_t node_quota_size(const struct node *node)
{
	return node->value_len + node->children_len +
	       node->perms.count * sizeof(struct node_perm);
}

size_t node_record_size(const struct node *node)
{
	return sizeof(struct node_record_header) +
	       node->perms.count * sizeof(struct node_perm) +
	       node->value_len + node->children_len;
}

_Static_assert(sizeof(struct node_record_header) == NODE_RECORD_HEADER_SIZE,
	       "the header's size is part of the record format");

void node_encode_header(const struct node *node, void *header,
			uint32_t padding, bool chunked)
{
	struct node_record_header hdr = {
		.generation = node->generation,
		.perm_count = node->perms.count,
		.value_len = node->value_len,
		.children_len = node->children_len,
		.padding = padding | (chunked ? NODE_RECORD_CHUNKED : 0),
	};

	memcpy(header, &hdr, sizeof(hdr));
}

void node_encode(const struct node *node, void *record, uint32_t padding)
{
	size_t perm_bytes = node->perms.count * sizeof(struct node_perm);
	char *p = record;

	node_encode_header(node, p, padding, false);
	p += NODE_RECORD_HEADER_SIZE;
	memcpy(p, node->perms.entries, perm_bytes);
	p += perm_bytes;
	if (node->value_len)
		memcpy(p, node->value, node->value_len);
	p += node->value_len;
	if (node->children_len)
		memcpy(p, node->children, node->children_len);
	p += node->children_len;
	memset(p, 0, padding);
}

struct node *node_decode(void *ctx, const void *record, size_t len)
{
	struct node_record_header hdr;
	const char *p = record;
	struct node *node;
	size_t perm_bytes, list_bytes;
	uint32_t chunk_list[2] = { 0, 0 };	/* next id, count */
	bool chunked;

	errno = EINVAL;
	if (len < sizeof(hdr))
		return NULL;
	memcpy(&hdr, p, sizeof(hdr));
	chunked = hdr.padding & NODE_RECORD_CHUNKED;
	hdr.padding &= ~NODE_RECORD_CHUNKED;
	perm_bytes = (size_t)hdr.perm_count * sizeof(struct node_perm);
	if (len < sizeof(hdr) + perm_bytes + hdr.value_len + hdr.padding)
		return NULL;
	list_bytes = len - (sizeof(hdr) + perm_bytes + hdr.value_len +
			    hdr.padding);
	if (chunked) {
		if (list_bytes < sizeof(chunk_list))
			return NULL;
		memcpy(chunk_list, p + sizeof(hdr) + perm_bytes + hdr.value_len,
		       sizeof(chunk_list));
		if (list_bytes != sizeof(chunk_list) +
				  (size_t)chunk_list[1] * sizeof(uint32_t))
			return NULL;
	} else if (list_bytes != hdr.children_len) {
		return NULL;
	}
	errno = ENOMEM;
	node = talloc_zero(ctx, struct node);
	if (!node)
		return NULL;
	node->generation = hdr.generation;
	p += sizeof(hdr);
	/* Separate chunks, so that each field can be replaced on its own. */
	node->perms.count = hdr.perm_count;
	node->perms.entries = talloc_memdup(node, p, perm_bytes);
	p += perm_bytes;
	if (!node->perms.entries ||
	    !node_set_value(node, p, hdr.value_len))
		goto nomem;
	p += hdr.value_len;
	if (chunked) {
		struct node_chunks *chunks = talloc_zero(node,
							 struct node_chunks);

		if (!chunks)
			goto nomem;
		node->chunks = chunks;
		node->children_len = hdr.children_len;
		chunks->next_id = chunk_list[0];
		chunks->count = chunk_list[1];
		if (chunks->count) {
			chunks->ids = talloc_memdup(chunks,
						    p + sizeof(chunk_list),
						    chunks->count *
						    sizeof(uint32_t));
			if (!chunks->ids)
				goto nomem;
		}
	} else if (hdr.children_len) {
		node->children = talloc_memdup(node, p, hdr.children_len);
		if (!node->children)
			goto nomem;
		node->children_len = hdr.children_len;
	}
	return node;
nomem:
	talloc_free(node);
	return NULL;
}

bool node_record_is_chunked(const void *record, size_t len)
{
	struct node_record_header hdr;

	if (len < sizeof(hdr))
		return false;
	memcpy(&hdr, record, sizeof(hdr));
	return hdr.padding & NODE_RECORD_CHUNKED;
}

bool node_record_generation(const void *record, size_t len,
			    uint64_t *generation)
{
	struct node_record_header hdr;

	if (len < sizeof(hdr))
		return false;
	memcpy(&hdr, record, sizeof(hdr));
	*generation = hdr.generation;
	return true;
}
