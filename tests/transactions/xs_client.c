#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <talloc.h>
#include <unistd.h>

#include "tests/core/memconn.h"
#include "tests/transactions/xs_client.h"

#define HEADER_SIZE sizeof(struct xsd_sockmsg)

struct xs_env {
	struct server *server;	/* in memory */
	char *socket_path;	/* or over a socket */
};

struct kept_event {
	struct kept_event *next;
	struct xs_event ev;
};

struct xs_client {
	struct xs_env *env;
	struct memconn *mc;
	int fd;
	uint32_t next_req_id;
	struct kept_event *events, **events_tail;
	/* Every event queued before the last round trip has been read. */
	bool synced;
};

struct xs_env *xs_env_memory(void *ctx, const struct server_config *config)
{
	struct xs_env *env = talloc_zero(ctx, struct xs_env);
	struct server_config defaults;

	if (!env)
		return NULL;
	if (!config) {
		server_config_defaults(&defaults);
		config = &defaults;
	}
	env->server = server_new(env, config);
	if (!env->server) {
		talloc_free(env);
		return NULL;
	}
	return env;
}

struct xs_env *xs_env_socket(void *ctx, const char *socket_path)
{
	struct xs_env *env = talloc_zero(ctx, struct xs_env);

	if (!env)
		return NULL;
	env->socket_path = talloc_strdup(env, socket_path);
	if (!env->socket_path) {
		talloc_free(env);
		return NULL;
	}
	return env;
}

struct server *xs_env_server(const struct xs_env *env)
{
	return env->server;
}

static int client_destroy(struct xs_client *client)
{
	/* The core must not call into a backend that is going away. */
	if (client->mc && memconn_connection(client->mc))
		conn_close(memconn_connection(client->mc));
	if (client->fd >= 0)
		close(client->fd);
	return 0;
}

static int socket_connect(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -1;
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

struct xs_client *xs_connect(struct xs_env *env, uint32_t domid)
{
	struct xs_client *client = talloc_zero(env, struct xs_client);

	if (!client)
		return NULL;
	client->env = env;
	client->fd = -1;
	client->next_req_id = 1;
	client->events_tail = &client->events;
	talloc_set_destructor(client, client_destroy);
	if (env->server) {
		client->mc = memconn_new(client, env->server, domid);
		if (!client->mc)
			goto fail;
	} else {
		if (domid != 0)
			goto fail;
		client->fd = socket_connect(env->socket_path);
		if (client->fd < 0)
			goto fail;
	}
	return client;
fail:
	talloc_free(client);
	return NULL;
}

struct connection *xs_client_connection(const struct xs_client *client)
{
	return client->mc ? memconn_connection(client->mc) : NULL;
}

static bool keep_event(struct xs_client *client, const char *payload,
		       uint32_t len)
{
	struct kept_event *kept = talloc_zero(client, struct kept_event);
	size_t path_len = strnlen(payload, len);

	if (!kept)
		return false;
	memcpy(kept->ev.path, payload, path_len);
	if (path_len < len)
		memcpy(kept->ev.token, payload + path_len + 1,
		       strnlen(payload + path_len + 1, len - path_len - 1));
	*client->events_tail = kept;
	client->events_tail = &kept->next;
	return true;
}

static bool read_full(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Over a socket: send, then read messages until the reply, keeping events. */
static bool socket_exchange(struct xs_client *client,
			    const struct xsd_sockmsg *hdr, const void *payload,
			    struct xs_reply *reply, struct xsd_sockmsg *got)
{
	if (!write_full(client->fd, hdr, HEADER_SIZE) ||
	    !write_full(client->fd, payload, hdr->len))
		return false;
	for (;;) {
		if (!read_full(client->fd, got, HEADER_SIZE) ||
		    got->len > XENSTORE_PAYLOAD_MAX ||
		    !read_full(client->fd, reply->payload, got->len))
			return false;
		reply->payload[got->len] = '\0';
		if (got->type != XS_WATCH_EVENT)
			return true;
		if (!keep_event(client, reply->payload, got->len))
			return false;
	}
}

static bool memory_exchange(struct xs_client *client, uint32_t type,
			    uint32_t tx_id, const void *payload, uint32_t len,
			    struct xs_reply *reply, struct xsd_sockmsg *got)
{
	struct memconn_reply *mr = talloc(client, struct memconn_reply);
	struct memconn_event ev;
	bool ok;

	if (!mr)
		return false;
	memconn_call(client->mc, type, tx_id, payload, len, mr);
	/* memconn keeps the events that came before the reply: take them. */
	while (memconn_next_event(client->mc, &ev)) {
		struct kept_event *kept = talloc_zero(client,
						      struct kept_event);

		if (!kept) {
			talloc_free(mr);
			return false;
		}
		strcpy(kept->ev.path, ev.path);
		strcpy(kept->ev.token, ev.token);
		*client->events_tail = kept;
		client->events_tail = &kept->next;
	}
	ok = mr->hdr.type != XS_TYPE_COUNT;
	*got = mr->hdr;
	memcpy(reply->payload, mr->payload, sizeof(reply->payload));
	talloc_free(mr);
	return ok;
}

int xs_call(struct xs_client *client, uint32_t type, uint32_t tx_id,
	    const void *payload, uint32_t len, struct xs_reply *reply)
{
	struct xsd_sockmsg hdr = {
		.type = type, .req_id = client->next_req_id++,
		.tx_id = tx_id, .len = len,
	};
	struct xsd_sockmsg got;
	bool ok;

	memset(reply, 0, offsetof(struct xs_reply, payload));
	reply->payload[0] = '\0';
	reply->err = -1;
	client->synced = false;
	if (client->mc)
		ok = memory_exchange(client, type, tx_id, payload, len, reply,
				     &got);
	else
		ok = socket_exchange(client, &hdr, payload, reply, &got);
	/* memconn numbers its own requests: only the socket's are ours. */
	if (!ok || (!client->mc && got.req_id != hdr.req_id) ||
	    got.tx_id != tx_id)
		return -1;
	reply->type = got.type;
	reply->len = got.len;
	if (got.type == XS_ERROR)
		reply->err = xs_error_number(reply->payload);
	else if (got.type == type)
		reply->err = 0;
	return reply->err;
}

int xs_callv(struct xs_client *client, uint32_t type, uint32_t tx_id,
	     struct xs_reply *reply, int raw_last, ...)
{
	char payload[2 * XENSTORE_PAYLOAD_MAX];
	size_t len = 0;
	const char *arg, *next;
	va_list ap;

	va_start(ap, raw_last);
	for (arg = va_arg(ap, const char *); arg; arg = next) {
		size_t n = strlen(arg);

		next = va_arg(ap, const char *);
		if (len + n + 1 > sizeof(payload))
			break;
		memcpy(payload + len, arg, n + 1);
		len += n + (!next && raw_last ? 0 : 1);
	}
	va_end(ap);
	return xs_call(client, type, tx_id, payload, (uint32_t)len, reply);
}

bool xs_next_event(struct xs_client *client, struct xs_event *ev)
{
	struct kept_event *kept;

	if (!client->synced) {
		/* Any request will do: its reply comes after queued events. */
		struct xs_reply *reply = talloc(client, struct xs_reply);

		if (reply)
			xs_callv(client, XS_GET_DOMAIN_PATH, 0, reply, false,
				 "0", NULL);
		talloc_free(reply);
		client->synced = true;
	}
	kept = client->events;
	if (!kept) {
		client->synced = false;	/* the next call looks again */
		return false;
	}
	*ev = kept->ev;
	client->events = kept->next;
	if (!client->events)
		client->events_tail = &client->events;
	talloc_free(kept);
	return true;
}

void xs_close(struct xs_client *client)
{
	if (client->mc)
		memconn_hang_up(client->mc);
	talloc_free(client);
}

int xs_error_number(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++)
		if (strcmp(xsd_errors[i].errstring, name) == 0)
			return xsd_errors[i].errnum;
	return -1;
}

const char *xs_error_name(int err)
{
	size_t i;

	for (i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++)
		if (xsd_errors[i].errnum == err)
			return xsd_errors[i].errstring;
	return "E?";
}

/* The NUL-separated strings of a reply, joined by spaces. */
static char *join_strings(void *ctx, const char *p, const char *end)
{
	char *out = talloc_strdup(ctx, "");

	for (; p < end && out; p += strlen(p) + 1)
		out = talloc_asprintf_append(out, "%s%s", *out ? " " : "", p);
	return out;
}

char *xs_reply_text(void *ctx, uint32_t type, const struct xs_reply *r)
{
	const char *end = r->payload + r->len;
	size_t gen, i;

	if (r->err)
		return talloc_strdup(ctx, r->err < 0 ? "no reply"
						     : xs_error_name(r->err));
	switch (type) {
	case XS_READ:
		return talloc_asprintf(ctx, "'%.*s'", (int)r->len, r->payload);
	case XS_DIRECTORY:
		return talloc_asprintf(ctx, "[%s]",
				       join_strings(ctx, r->payload, end));
	case XS_DIRECTORY_PART:
		/* generation NUL names... NUL: the generation is opaque. */
		gen = strnlen(r->payload, r->len);
		for (i = 0; i < gen; i++)
			if (!isdigit((unsigned char)r->payload[i]))
				return talloc_strdup(ctx, "bad generation");
		if (gen == 0 || r->len < gen + 2 || end[-1] || end[-2])
			return talloc_strdup(ctx, "bad DIRECTORY_PART reply");
		return talloc_asprintf(ctx, "[%s]",
			join_strings(ctx, r->payload + gen + 1, end - 1));
	case XS_GET_PERMS:
		return talloc_asprintf(ctx, "<%s>",
				       join_strings(ctx, r->payload, end));
	case XS_TRANSACTION_START:
		return talloc_strdup(ctx, strtoul(r->payload, NULL, 10) ?
					  "OK" : "id 0");
	default:
		return talloc_asprintf(ctx, "%.*s", (int)r->len, r->payload);
	}
}
