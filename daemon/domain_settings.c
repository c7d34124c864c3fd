/*
 * A domain's settings, as Xen 4.21's toolstack sets them before it
 * introduces the domain: the ring features it gets (GET_FEATURE,
 * SET_FEATURE) and its quotas (GET_QUOTA, SET_QUOTA).  Arguments are read
 * and refused as Xen's C daemon does (tools/xenstored/domain.c), so that
 * the same requests fail alike.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <talloc.h>

#include "daemon/domain.h"

/* Xen's parse_domid: all of it decimal (strtoul's leniency for leading
 * blanks and signs included), at most 65535. */
static int parse_domid(const char *arg, uint32_t *domid)
{
	unsigned long value;
	char *end;

	value = strtoul(arg, &end, 10);
	if (*end != '\0' || value > 65535)
		return EINVAL;
	*domid = (uint32_t)value;
	return 0;
}

/* Xen reads values with atoi: glibc's (int)strtol. */
static unsigned int xen_atoi(const char *arg)
{
	return (unsigned int)(int)strtol(arg, NULL, 10);
}

/* Xen's find_or_alloc_existing_domain: a domain that exists, else ENOENT. */
static int existing_domain(struct request *req, const char *arg,
			   struct domain **domain)
{
	uint32_t domid;
	int err = parse_domid(arg, &domid);

	if (err)
		return err;
	*domain = domain_find_known(req->conn->server, domid);
	return *domain ? 0 : ENOENT;
}

static int reply_number(struct request *req, unsigned long value)
{
	char *text = talloc_asprintf(req->ctx, "%lu", value);

	return text ? reply_string(req, text) : ENOMEM;
}

/* [domid\0]: the features of the caller's ring, or of domid's (dom0). */
int domain_request_get_feature(struct request *req)
{
	const char *argv[1];
	struct domain *domain;
	int argc = request_strings(req, argv, 1);
	int err;

	if (argc == 0)
		return reply_number(req, req->conn->domain ?
					 req->conn->domain->features :
					 DOMAIN_FEATURES);
	if (!req->conn->who.privileged)
		return EACCES;
	if (argc > 1)
		return EINVAL;
	err = existing_domain(req, argv[0], &domain);
	return err ? err : reply_number(req, domain->features);
}

/* domid\0features\0, before the domain's INTRODUCE (EBUSY after). */
int domain_request_set_feature(struct request *req)
{
	const char *argv[2];
	struct domain *domain;
	unsigned int features;
	int err;

	if (request_strings(req, argv, 2) != 2)
		return EINVAL;
	err = existing_domain(req, argv[0], &domain);
	if (err)
		return err;
	features = xen_atoi(argv[1]);
	/* dom0's ring is there from the start. */
	if (domain->introduced || domain->domid == 0)
		return EBUSY;
	if (features & ~(unsigned int)DOMAIN_FEATURES)
		return EINVAL;
	domain->features = features;
	return reply_string(req, "OK");
}

/* [[domid\0]name\0]: the names, or one value (global, or domid's). */
int domain_request_get_quota(struct request *req)
{
	const char *argv[2];
	const struct quota_settings *quota = &req->conn->server->config.quota;
	struct domain *domain;
	int argc = request_strings(req, argv, 2);
	int index, err;

	if (argc > 2)
		return EINVAL;
	if (argc == 0)
		return reply_string(req, quota_names());
	if (argc == 2) {
		err = existing_domain(req, argv[0], &domain);
		if (err)
			return err;
		quota = &domain->quota;
	}
	index = quota_index(argv[argc - 1]);
	if (index < 0)
		return EINVAL;
	return reply_number(req, quota_get_index(quota, index));
}

/*
 * [domid\0]name\0value\0: the global value (which every domain follows
 * unless it has its own), or domid's own.  0 is no limit; Xen refuses
 * UINT_MAX (atoi's -1), its "not set".
 */
int domain_request_set_quota(struct request *req)
{
	struct server *server = req->conn->server;
	const char *argv[3];
	struct domain *domain = NULL;
	int argc = request_strings(req, argv, 3);
	unsigned int value;
	int index, err;

	if (argc < 2 || argc > 3)
		return EINVAL;
	if (argc == 3) {
		err = existing_domain(req, argv[0], &domain);
		if (err)
			return err;
	}
	index = quota_index(argv[argc - 2]);
	value = xen_atoi(argv[argc - 1]);
	if (index < 0 || value == UINT_MAX)
		return EINVAL;
	if (domain) {
		quota_set_index(&domain->quota, index, value);
		domain->quota_own |= 1u << index;
	} else {
		quota_set_index(&server->config.quota, index, value);
		domain_quotas_follow(server);
	}
	return reply_string(req, "OK");
}
