/*
 * The wire protocol: Xen's installed xen/io/xs_wire.h, plus what Xen 4.21
 * and 4.22 added to it, for hosts whose header is older (Debian 12's is
 * 4.17).  The only place these are spelled out; a newer header wins
 * (configure looks for XS_GET_FEATURE, an enumerator #ifndef cannot see).
 * Include this, never xen/io/xs_wire.h directly, wherever these are used.
 */
#ifndef DAEMON_WIRE_H
#define DAEMON_WIRE_H

#include <errno.h>	/* before xs_wire.h: enables its error table */
#include <xen/io/xs_wire.h>

#if !defined(HAVE_DECL_XS_GET_FEATURE) || !HAVE_DECL_XS_GET_FEATURE
/* Xen 4.21: a domain's ring features and quotas, set by the toolstack
 * (docs/misc/xenstore.txt), numbered on from XS_DIRECTORY_PART. */
enum xsd_sockmsg_type_4_21 {
	XS_GET_FEATURE = XS_DIRECTORY_PART + 1,
	XS_SET_FEATURE,
	XS_GET_QUOTA,
	XS_SET_QUOTA,
};
#define XS_WIRE_TYPE_COUNT (XS_SET_QUOTA + 1)
#else
#define XS_WIRE_TYPE_COUNT XS_TYPE_COUNT
#endif

/* Xen 4.22: WATCH takes a third argument, the depth below the path. */
#ifndef XENSTORE_SERVER_FEATURE_WATCHDEPTH
#define XENSTORE_SERVER_FEATURE_WATCHDEPTH 4
#endif

#endif
