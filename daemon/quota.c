#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/quota.h"

struct quota_field {
	const char *name;
	const char *description;
	size_t offset;
	bool soft;
};

#define FIELD(name, member, soft, description) \
	{ name, description, offsetof(struct quota_settings, member), soft }

static const struct quota_field quota_fields[] = {
	FIELD("nodes", nodes, false, "Nodes per domain"),
	FIELD("watches", watches, false, "Watches per domain"),
	FIELD("transactions", transactions, false, "Transactions per domain"),
	FIELD("outstanding", outstanding, false,
	      "Outstanding requests per domain"),
	FIELD("transaction-nodes", transaction_nodes, false,
	      "Max. number of accessed nodes per transaction"),
	FIELD("memory", memory, false,
	      "Total Xenstore memory per domain (error level)"),
	FIELD("node-size", node_size, false, "Max. size of a node"),
	FIELD("path-max", path_max, false, "Max. length of a node path"),
	FIELD("permissions", permissions, false,
	      "Max. number of permissions per node"),
	FIELD("memory", memory_soft, true,
	      "Total Xenstore memory per domain (warning level)"),
};

/* Xen 4.21's GET_QUOTA names and order (its enum accitem), as indices
 * into quota_fields. */
static const struct {
	const char *name;
	int index;
} wire_names[] = {
	{ "nodes", 0 },
	{ "watches", 1 },
	{ "outstanding", 3 },
	{ "memory", 5 },
	{ "soft-memory", 9 },
	{ "transactions", 2 },
	{ "transaction-nodes", 4 },
	{ "node-permissions", 8 },
	{ "path-max", 7 },
	{ "node-size", 6 },
	{ "permissions", 8 },	/* Xen 4.17's name, not listed */
};

_Static_assert(sizeof(quota_fields) / sizeof(quota_fields[0]) == QUOTA_FIELDS,
	       "QUOTA_FIELDS counts quota_fields");

int quota_index(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(wire_names) / sizeof(wire_names[0]); i++)
		if (strcmp(wire_names[i].name, name) == 0)
			return wire_names[i].index;
	return -1;
}

const char *quota_names(void)
{
	return "nodes watches outstanding memory soft-memory transactions "
	       "transaction-nodes node-permissions path-max node-size";
}

unsigned long quota_get_index(const struct quota_settings *quota, int index)
{
	return *(const unsigned long *)((const char *)quota +
					quota_fields[index].offset);
}

void quota_set_index(struct quota_settings *quota, int index,
		     unsigned long value)
{
	*(unsigned long *)((char *)quota + quota_fields[index].offset) = value;
}

void quota_inherit(struct quota_settings *own,
		   const struct quota_settings *global, unsigned int own_mask)
{
	struct quota_settings result = *global;
	int i;

	for (i = 0; i < QUOTA_FIELDS; i++)
		if (own_mask & (1u << i))
			quota_set_index(&result, i, quota_get_index(own, i));
	*own = result;
}

void quota_defaults(struct quota_settings *quota)
{
	*quota = (struct quota_settings) {
		.nodes = 1000,
		.watches = 128,
		.transactions = 10,
		.outstanding = 20,
		.transaction_nodes = 1024,
		.memory = 2621440,
		.memory_soft = 2097152,
		.node_size = 2048,
		.path_max = 2048,
		.permissions = 5,
		.watch_event_timeout = 20,
	};
}

static unsigned long *field_of(struct quota_settings *quota,
			       const struct quota_field *field)
{
	return (unsigned long *)((char *)quota + field->offset);
}

bool quota_set(struct quota_settings *quota, const char *name,
	       unsigned long value, bool soft)
{
	size_t i;

	for (i = 0; i < sizeof(quota_fields) / sizeof(quota_fields[0]); i++) {
		if (quota_fields[i].soft == soft &&
		    strcmp(quota_fields[i].name, name) == 0) {
			*field_of(quota, &quota_fields[i]) = value;
			return true;
		}
	}
	return false;
}

static bool parse_number(const char *s, unsigned long *value)
{
	char *end;

	if (!*s || *s == '-')
		return false;
	errno = 0;
	*value = strtoul(s, &end, 10);
	return *end == '\0' && errno == 0;
}

bool quota_set_assignment(struct quota_settings *quota, const char *arg,
			  bool soft)
{
	const char *eq = strchr(arg, '=');
	unsigned long value;
	char name[32];

	if (!eq || (size_t)(eq - arg) >= sizeof(name) ||
	    !parse_number(eq + 1, &value))
		return false;
	memcpy(name, arg, (size_t)(eq - arg));
	name[eq - arg] = '\0';
	return quota_set(quota, name, value, soft);
}

bool quota_set_timeout(struct quota_settings *quota, const char *arg)
{
	const char *prefix = "watch-event=";
	unsigned long value;

	if (strncmp(arg, prefix, strlen(prefix)) != 0 ||
	    !parse_number(arg + strlen(prefix), &value))
		return false;
	quota->watch_event_timeout = value;
	return true;
}

size_t quota_format(const struct quota_settings *quota, bool soft,
		    char *buf, size_t len)
{
	size_t used, i;

	used = (size_t)snprintf(buf, len, "Quota settings:\n");
	for (i = 0; i < sizeof(quota_fields) / sizeof(quota_fields[0]); i++) {
		const struct quota_field *f = &quota_fields[i];

		if (f->soft != soft || used >= len)
			continue;
		used += (size_t)snprintf(buf + used, len - used,
					 "%-17s: %8lu %s\n", f->name,
					 *field_of((struct quota_settings *)quota, f),
					 f->description);
	}
	return used < len ? used : len - 1;
}
