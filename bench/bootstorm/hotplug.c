/*
 * Hotplug scripts (/etc/xen/scripts/block and vif-bridge): shell scripts
 * whose every xenstore-read / xenstore-write is a new process with a new
 * connection.  libxl runs them after the backend reached InitWait and
 * waits for them, so they run here in the toolstack's coroutine.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "actors.h"

enum op_kind { H_READ, H_READ_OPTIONAL, H_WRITE, H_RM };

struct hotplug_step {
	enum op_kind op;
	const char *key;
	const char *value;	/* NULL: the device's own value */
};

/* One xenstore-read/-write/-rm process: connect, one request, close. */
static void one_request(struct device *d, const struct hotplug_step *s)
{
	char path[160], val[128];
	struct xs_conn *c = xs_connect_unix(opt.socket, ACTOR_HOTPLUG);
	int err;

	if (!c) {
		vm_fail(d->vm, "hotplug: connect: %s", strerror(errno));
		return;
	}
	fmt(path, "%s/%s", d->be, s->key);
	switch (s->op) {
	case H_READ:
	case H_READ_OPTIONAL:
		err = xs_read(c, 0, path, val, sizeof(val));
		if (err == ENOENT && s->op == H_READ_OPTIONAL)
			err = 0;	/* xenstore_read_default */
		break;
	case H_WRITE:
		if (s->value) {
			err = xs_write(c, 0, path, s->value);
		} else {
			fmt(val, "202:%u", d->vm->domid & 0xff);
			err = xs_write(c, 0, path, val);
		}
		break;
	default:
		err = xs_rm(c, 0, path);
		if (err == ENOENT)
			err = 0;
		break;
	}
	if (err)
		vm_fail(d->vm, "hotplug: %s: %s", path, strerror(err));
	xs_close(c);
}

static const struct hotplug_step block_add[] = {
	{ H_READ, "params", 0 },
	{ H_READ, "mode", 0 },
	{ H_READ, "type", 0 },
	{ H_READ, "frontend-id", 0 },
	{ H_WRITE, "physical-device", NULL },
	{ H_WRITE, "physical-device-path", "/dev/dm-1" },
	{ H_WRITE, "hotplug-status", "connected" },
};
static const struct hotplug_step vif_add[] = {
	{ H_READ, "script", 0 },
	{ H_READ, "bridge", 0 },
	{ H_READ_OPTIONAL, "vifname", 0 },
	{ H_READ_OPTIONAL, "ip", 0 },
	{ H_READ, "mac", 0 },
	{ H_READ, "frontend-id", 0 },
	{ H_WRITE, "hotplug-status", "connected" },
};
static const struct hotplug_step block_remove[] = {
	{ H_READ, "params", 0 },
	{ H_READ_OPTIONAL, "physical-device", 0 },
};
static const struct hotplug_step vif_remove[] = {
	{ H_READ, "bridge", 0 },
	{ H_RM, "hotplug-status", 0 },
};

static void run(struct device *d, const struct hotplug_step *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		one_request(d, &s[i]);
}

#define RUN(d, steps) run(d, steps, sizeof(steps) / sizeof(steps[0]))

void hotplug_add(struct device *d)
{
	if (d->type == DEV_VBD)
		RUN(d, block_add);
	else
		RUN(d, vif_add);
}

void hotplug_remove(struct device *d)
{
	if (d->type == DEV_VBD)
		RUN(d, block_remove);
	else
		RUN(d, vif_remove);
}
