#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <talloc.h>

#include "daemon/control.h"
#include "daemon/domain.h"
#include "daemon/log.h"
#include "daemon/watch.h"
#include "store/path.h"

struct control_command {
	const char *name;
	const char *usage;
	int (*fn)(struct request *req, int argc, const char **argv);
};

static const struct control_command commands[];

/* --- check --------------------------------------------------------- */

struct check_state {
	struct server *server;
	long problems;
	void *ctx;
};

static int check_node(const char *path, const struct node *node, void *arg)
{
	struct check_state *state = arg;
	const char *child;

	if (!node) {
		xs_log(LEVEL_ERROR, "check: the record of %s does not decode",
		       path);
		state->problems++;
		return 0;
	}
	if (!path_is_valid_absolute(path)) {
		xs_log(LEVEL_ERROR, "check: invalid node name '%s'", path);
		state->problems++;
	}
	if (node->perms.count == 0) {
		xs_log(LEVEL_ERROR, "check: %s has no permissions", path);
		state->problems++;
	}
	for (child = node_first_child(node); child;
	     child = node_next_child(node, child)) {
		char *child_path = talloc_asprintf(state->ctx, "%s/%s",
						   strcmp(path, "/") ? path : "",
						   child);

		if (!child_path)
			return ENOMEM;
		if (!store_exists(state->server->store, child_path)) {
			xs_log(LEVEL_ERROR, "check: %s lists missing child %s",
			       path, child);
			state->problems++;
		}
		talloc_free(child_path);
	}
	if (strcmp(path, "/") != 0) {
		size_t len = path_parent_len(path);
		char *parent = len ? talloc_strndup(state->ctx, path, len)
				   : talloc_strdup(state->ctx, "/");
		struct node *parent_node = parent ?
			store_fetch(state->server->store, state->ctx, parent) :
			NULL;

		if (!parent || (!parent_node && errno == ENOMEM)) {
			talloc_free(parent);
			return ENOMEM;
		}
		if (!parent_node ||
		    !node_has_child(parent_node, path_basename(path))) {
			xs_log(LEVEL_ERROR, "check: %s is not listed by its parent",
			       path);
			state->problems++;
		}
		talloc_free(parent_node);
		talloc_free(parent);
	}
	return 0;
}

long control_check_store(struct server *server)
{
	struct check_state state = { .server = server };
	int err;

	state.ctx = talloc_new(NULL);
	if (!state.ctx)
		return -ENOMEM;
	err = store_traverse(server->store, check_node, &state);
	talloc_free(state.ctx);
	return err ? -err : state.problems;
}

static int control_check(struct request *req, int argc, const char **argv)
{
	long problems;

	if (argc)
		return EINVAL;
	problems = control_check_store(req->conn->server);

	/* A partial walk is no clean bill: say it was not finished. */
	if (problems < 0) {
		xs_log(LEVEL_ERROR, "check: could not walk the whole store: %s",
		       strerror((int)-problems));
		return (int)-problems;
	}
	if (problems)
		xs_log(LEVEL_ERROR, "check: %ld problems in the store", problems);
	return reply_string(req, "OK");
}

/* --- log, logfile, print ------------------------------------------- */

static int control_log(struct request *req, int argc, const char **argv)
{
	const struct server_hooks *hooks = &req->conn->server->config.hooks;

	if (argc != 1)
		return EINVAL;
	if (strcmp(argv[0], "on") == 0) {
		if (!hooks->trace_open || !hooks->trace_open(NULL))
			return EINVAL;
	} else if (strcmp(argv[0], "off") == 0) {
		if (hooks->trace_close)
			hooks->trace_close();
	} else {
		return EINVAL;
	}
	return reply_string(req, "OK");
}

static int control_logfile(struct request *req, int argc, const char **argv)
{
	const struct server_hooks *hooks = &req->conn->server->config.hooks;

	if (argc != 1 || !*argv[0])
		return EINVAL;
	if (!hooks->trace_open || !hooks->trace_open(argv[0]))
		return EINVAL;
	return reply_string(req, "OK");
}

static int control_print(struct request *req, int argc, const char **argv)
{
	if (argc != 1)
		return EINVAL;
	xs_log(LEVEL_INFO, "control print: %s", argv[0]);
	return reply_string(req, "OK");
}

/* --- memreport ----------------------------------------------------- */

struct report {
	char *text;
	size_t len, max;
	bool truncated;
};

static void report_line(const void *ptr, int depth, int max_depth,
			int is_ref, void *arg)
{
	struct report *report = arg;
	const char *name = talloc_get_name(ptr);
	char line[160];
	int n;

	if (is_ref)
		return;
	n = snprintf(line, sizeof(line), "%*s%-30s %8zu bytes in %5zu blocks\n",
		     depth * 2, "", name ? name : "?", talloc_total_size(ptr),
		     talloc_total_blocks(ptr));
	if (n < 0)
		return;
	if (report->len + (size_t)n >= report->max) {
		report->truncated = true;
		return;
	}
	memcpy(report->text + report->len, line, (size_t)n + 1);
	report->len += (size_t)n;
}

static int control_memreport(struct request *req, int argc, const char **argv)
{
	struct server *server = req->conn->server;
	const struct server_hooks *hooks = &server->config.hooks;
	struct report report = { .max = XENSTORE_PAYLOAD_MAX - 64 };
	long free_records;

	if (argc > 1)
		return EINVAL;
	if (argc == 1) {
		if (!hooks->memreport_to_file ||
		    !hooks->memreport_to_file(server, argv[0]))
			return EINVAL;
		return reply_string(req, "OK");
	}
	/* The reply has to fit one message: the top levels only. */
	report.text = talloc_size(req->ctx, report.max);
	if (!report.text)
		return ENOMEM;
	/* The node database first: its records are not talloc's. */
	free_records = store_free_records(server->store);
	if (free_records < 0)
		report.len = (size_t)snprintf(report.text, report.max,
					      "store: %lu nodes, in memory\n",
					      store_node_count(server->store));
	else
		report.len = (size_t)snprintf(report.text, report.max,
					      "store: %lu nodes, %ld records on "
					      "TDB's free list\n",
					      store_node_count(server->store),
					      free_records);
	talloc_report_depth_cb(server, 0, 2, report_line, &report);
	if (report.truncated)
		strcat(report.text, "(truncated: memreport FILE has it all)\n");
	return reply_string(req, report.text);
}

/* --- quota --------------------------------------------------------- */

static int control_quota_common(struct request *req, int argc,
				const char **argv, bool soft)
{
	struct server *server = req->conn->server;
	char *text;
	size_t max = XENSTORE_PAYLOAD_MAX - 1;

	if (argc == 0) {
		text = talloc_size(req->ctx, max);
		if (!text)
			return ENOMEM;
		quota_format(&server->config.quota, soft, text, max);
		return reply_string(req, text);
	}
	if (strcmp(argv[0], "set") == 0) {
		/* Xen reads the value with atoi and wants at least 1. */
		int value;

		if (argc != 3)
			return EINVAL;
		value = atoi(argv[2]);
		if (value < 1 || !quota_set(&server->config.quota, argv[1],
					    (unsigned long)value, soft))
			return EINVAL;
		domain_quotas_follow(server);
		return reply_string(req, "OK");
	}
	if (!soft && argc == 1) {
		/* atoi, as Xen: "abc" is domain 0. */
		unsigned int domid = (unsigned int)atoi(argv[0]);
		struct domain *domain;

		domain = domain_find_known(server, (uint32_t)domid);
		if (!domain)
			return ENOENT;
		text = talloc_asprintf(req->ctx,
				       "Domain %u:\n"
				       "nodes           : %8lu\n"
				       "watches         : %8u\n"
				       "transactions    : %8u\n"
				       "outstanding     : %8lu\n"
				       "memory          : %8lu\n",
				       domid, domain->nodes, domain->watches,
				       domain->transactions,
				       domain_outstanding(server, domain),
				       domain_memory(server, domain));
		return text ? reply_string(req, text) : ENOMEM;
	}
	return EINVAL;
}

static int control_quota(struct request *req, int argc, const char **argv)
{
	return control_quota_common(req, argc, argv, false);
}

static int control_quota_soft(struct request *req, int argc,
			      const char **argv)
{
	return control_quota_common(req, argc, argv, true);
}

/* --- help ---------------------------------------------------------- */

static int control_help(struct request *req, int argc, const char **argv)
{
	char *text = talloc_strdup(req->ctx, "");
	const struct control_command *cmd;

	if (argc)
		return EINVAL;
	for (cmd = commands; cmd->name && text; cmd++)
		text = talloc_asprintf_append(text, "%s\t%s\n", cmd->name,
					      cmd->usage);
	return text ? reply_string(req, text) : ENOMEM;
}

static const struct control_command commands[] = {
	{ "check", "", control_check },
	{ "log", "on|off", control_log },
	/* The parameters are xenstore-control's (live_update.c). */
	{ "live-update", "[-c <cmdline>] [-F] [-t <timeout>] <file>\n"
	  "    Default timeout is 60 seconds.", NULL },
	{ "logfile", "<file>", control_logfile },
	{ "memreport", "[<file>]", control_memreport },
	{ "print", "<string>", control_print },
	{ "quota", "[set <name> <val>|<domid>]", control_quota },
	{ "quota-soft", "[set <name> <val>]", control_quota_soft },
	{ "help", "", control_help },
	{ NULL, NULL, NULL },
};

int control_request(struct request *req)
{
	const char *argv[8];
	const struct control_command *cmd;
	int argc;

	/* Its -d carries binary data (NULs included): parsed apart. */
	if (req->hdr.len >= sizeof("live-update") &&
	    memcmp(req->payload, "live-update", sizeof("live-update")) == 0)
		return live_update_request(req);
	argc = request_strings(req, argv, 8);
	if (argc < 1 || argc > 8)
		return EINVAL;
	for (cmd = commands; cmd->name; cmd++)
		if (cmd->fn && strcmp(cmd->name, argv[0]) == 0)
			return cmd->fn(req, argc - 1, argv + 1);
	return EINVAL;
}
