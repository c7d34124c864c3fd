/*
 * The real hypervisor, seen from a control domain: guests' pages through
 * libxengnttab, dom0's own page through xenfs (/proc/xen/xsd_kva), event
 * channels through libxenevtchn, domain states through libxenctrl.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <talloc.h>
#include <unistd.h>
#include <xenctrl.h>
#include <xenevtchn.h>
#include <xengnttab.h>
#include <xen/grant_table.h>

#include "daemon/log.h"
#include "io-xen/platform.h"

#define XSD_KVA "/proc/xen/xsd_kva"
#define XSD_PORT "/proc/xen/xsd_port"
/* Domain infos fetched per hypercall while scanning all domains. */
#define INFO_BATCH 256

struct xen_platform {
	struct platform base;
	xc_interface *xc;
	xengnttab_handle *gnttab;
	xenevtchn_handle *evtchn;
	struct xenstore_domain_interface *dom0_page;
	size_t dom0_page_size;

	/* Between domain_scan_begin and _end: every domain, by domid. */
	bool scanning;
	xc_domaininfo_t *infos;
	unsigned int info_count;
};

static struct xen_platform *to_xen(struct platform *p)
{
	return (struct xen_platform *)p;
}

static struct xenstore_domain_interface *xen_map_ring(struct platform *p,
						      uint32_t domid)
{
	return xengnttab_map_grant_ref(to_xen(p)->gnttab, domid,
				       GNTTAB_RESERVED_XENSTORE,
				       PROT_READ | PROT_WRITE);
}

static struct xenstore_domain_interface *xen_map_dom0_ring(struct platform *p,
							   uint32_t *remote_port)
{
	struct xen_platform *xen = to_xen(p);
	unsigned long port;
	void *page;
	FILE *f;
	int fd, err;

	f = fopen(XSD_PORT, "r");
	if (!f)
		return NULL;
	if (fscanf(f, "%lu", &port) != 1 || port > UINT32_MAX) {
		fclose(f);
		errno = EINVAL;
		return NULL;
	}
	fclose(f);

	fd = open(XSD_KVA, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	xen->dom0_page_size = getpagesize();
	page = mmap(NULL, xen->dom0_page_size, PROT_READ | PROT_WRITE,
		    MAP_SHARED, fd, 0);
	err = errno;
	close(fd);
	if (page == MAP_FAILED) {
		errno = err;
		return NULL;
	}
	xen->dom0_page = page;
	*remote_port = (uint32_t)port;
	return page;
}

static void xen_unmap_ring(struct platform *p,
			   struct xenstore_domain_interface *intf)
{
	struct xen_platform *xen = to_xen(p);

	if (intf == xen->dom0_page) {
		munmap(intf, xen->dom0_page_size);
		xen->dom0_page = NULL;
		return;
	}
	xengnttab_unmap(xen->gnttab, intf, 1);
}

static int xen_bind_interdomain(struct platform *p, uint32_t domid,
				uint32_t remote_port)
{
	return xenevtchn_bind_interdomain(to_xen(p)->evtchn, domid,
					  remote_port);
}

static int xen_bind_dom_exc(struct platform *p)
{
	return xenevtchn_bind_virq(to_xen(p)->evtchn, VIRQ_DOM_EXC);
}

static void xen_unbind(struct platform *p, uint32_t port)
{
	xenevtchn_unbind(to_xen(p)->evtchn, port);
}

static int xen_notify(struct platform *p, uint32_t port)
{
	return xenevtchn_notify(to_xen(p)->evtchn, port);
}

static int xen_unmask(struct platform *p, uint32_t port)
{
	return xenevtchn_unmask(to_xen(p)->evtchn, port);
}

static int xen_pending(struct platform *p)
{
	/* The fd is non-blocking: -1 (EAGAIN) once none is pending. */
	return xenevtchn_pending(to_xen(p)->evtchn);
}

static int xen_event_fd(struct platform *p)
{
	return xenevtchn_fd(to_xen(p)->evtchn);
}

static enum domain_state state_of(const xc_domaininfo_t *info)
{
	if (info->flags & XEN_DOMINF_dying)
		return DOMAIN_DYING;
	if (info->flags & XEN_DOMINF_shutdown)	/* crashes included */
		return DOMAIN_SHUTDOWN;
	return DOMAIN_RUNNING;
}

static int compare_domid(const void *key, const void *elem)
{
	uint32_t domid = *(const uint32_t *)key;
	const xc_domaininfo_t *info = elem;

	return domid < info->domain ? -1 : domid > info->domain;
}

static enum domain_state xen_domain_state(struct platform *p, uint32_t domid)
{
	struct xen_platform *xen = to_xen(p);
	xc_domaininfo_t info, *found;

	if (xen->scanning) {
		found = bsearch(&domid, xen->infos, xen->info_count,
				sizeof(*xen->infos), compare_domid);
		return found ? state_of(found) : DOMAIN_DYING;
	}
	/* The first domain at or above @domid: absent if it is another. */
	switch (xc_domain_getinfolist(xen->xc, domid, 1, &info)) {
	case 1:
		return info.domain == domid ? state_of(&info) : DOMAIN_DYING;
	case 0:
		return DOMAIN_DYING;	/* none at or above @domid */
	default:
		/* A failed hypercall says nothing of the domain. */
		xs_log(LEVEL_WARNING, "xen: cannot ask for domain %u: %s",
		       domid, strerror(errno));
		return DOMAIN_UNKNOWN;
	}
}

static void xen_domain_scan_begin(struct platform *p)
{
	struct xen_platform *xen = to_xen(p);
	xc_domaininfo_t *infos = NULL, *grown;
	unsigned int count = 0;
	uint32_t next = 0;
	int n;

	/* Ascending domids, a batch at a time, so bsearch works. */
	for (;;) {
		grown = talloc_realloc(xen, infos, xc_domaininfo_t,
				       count + INFO_BATCH);
		if (!grown)
			goto fail;
		infos = grown;
		n = xc_domain_getinfolist(xen->xc, next, INFO_BATCH,
					  infos + count);
		if (n < 0)
			goto fail;
		count += n;
		if (n < INFO_BATCH)
			break;
		next = infos[count - 1].domain + 1;
	}
	xen->infos = infos;
	xen->info_count = count;
	xen->scanning = true;
	return;
fail:
	/* Per-domain queries still answer, one hypercall each. */
	xs_log(LEVEL_WARNING, "xen: cannot list domains: %s", strerror(errno));
	talloc_free(infos);
}

static void xen_domain_scan_end(struct platform *p)
{
	struct xen_platform *xen = to_xen(p);

	xen->scanning = false;
	TALLOC_FREE(xen->infos);
	xen->info_count = 0;
}

static int xen_save(struct platform *p)
{
	int fd = xenevtchn_fd(to_xen(p)->evtchn);
	int flags = fcntl(fd, F_GETFD);

	if (flags < 0 || fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) != 0)
		return -1;
	return fd;
}

static const struct platform_ops xen_ops = {
	.map_ring = xen_map_ring,
	.map_dom0_ring = xen_map_dom0_ring,
	.unmap_ring = xen_unmap_ring,
	.bind_interdomain = xen_bind_interdomain,
	.bind_dom_exc = xen_bind_dom_exc,
	.unbind = xen_unbind,
	.notify = xen_notify,
	.unmask = xen_unmask,
	.pending = xen_pending,
	.event_fd = xen_event_fd,
	.domain_state = xen_domain_state,
	.domain_scan_begin = xen_domain_scan_begin,
	.domain_scan_end = xen_domain_scan_end,
	.save = xen_save,
};

static int xen_destructor(struct xen_platform *xen)
{
	if (xen->dom0_page)
		munmap(xen->dom0_page, xen->dom0_page_size);
	if (xen->evtchn)
		xenevtchn_close(xen->evtchn);
	if (xen->gnttab)
		xengnttab_close(xen->gnttab);
	if (xen->xc)
		xc_interface_close(xen->xc);
	return 0;
}

static struct platform *open_xen(void *ctx, int evtchn_fd)
{
	struct xen_platform *xen = talloc_zero(ctx, struct xen_platform);
	int fd, flags;

	if (!xen)
		return NULL;
	xen->base.ops = &xen_ops;
	xen->base.name = "xen";
	talloc_set_destructor(xen, xen_destructor);
	xen->xc = xc_interface_open(NULL, NULL, 0);
	if (!xen->xc) {
		xs_log(LEVEL_ERROR, "xen: cannot open libxenctrl: %s",
		       strerror(errno));
		goto fail;
	}
	xen->gnttab = xengnttab_open(NULL, 0);
	if (!xen->gnttab) {
		xs_log(LEVEL_ERROR, "xen: cannot open the grant device: %s",
		       strerror(errno));
		goto fail;
	}
	/* One grant per domain may be mapped at once. */
	xengnttab_set_max_grants(xen->gnttab, DOMID_FIRST_RESERVED);
	if (evtchn_fd >= 0) {
		/* The bindings live in the descriptor: ports stay valid. */
		xen->evtchn = xenevtchn_fdopen(NULL, evtchn_fd, 0);
		if (!xen->evtchn) {
			xs_log(LEVEL_ERROR, "xen: cannot take the event channel "
			       "device over from descriptor %d: %s", evtchn_fd,
			       strerror(errno));
			goto fail;
		}
	} else {
		xen->evtchn = xenevtchn_open(NULL, 0);
		if (!xen->evtchn) {
			xs_log(LEVEL_ERROR, "xen: cannot open the event "
			       "channel device: %s", strerror(errno));
			goto fail;
		}
	}
	/* The loop drains pending ports until none is left; a blocking fd
	 * would hang the daemon on the last read.  Close-on-exec until a
	 * live update says otherwise. */
	fd = xenevtchn_fd(xen->evtchn);
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 ||
	    (flags = fcntl(fd, F_GETFD)) < 0 ||
	    fcntl(fd, F_SETFD, flags | FD_CLOEXEC) != 0) {
		xs_log(LEVEL_ERROR, "xen: cannot make the event channel "
		       "device non-blocking: %s", strerror(errno));
		goto fail;
	}
	return &xen->base;
fail:
	talloc_free(xen);
	return NULL;
}

struct platform *platform_xen_open(void *ctx)
{
	return open_xen(ctx, -1);
}

struct platform *platform_xen_adopt(void *ctx, int evtchn_fd)
{
	return open_xen(ctx, evtchn_fd);
}
