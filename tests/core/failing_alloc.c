#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <talloc.h>

#include "tests/core/failing_alloc.h"

static bool armed, failed;
static unsigned long calls, fail_at;

void failing_alloc_arm(unsigned long n)
{
	armed = true;
	failed = false;
	calls = 0;
	fail_at = n;
}

unsigned long failing_alloc_disarm(void)
{
	armed = false;
	return calls;
}

bool failing_alloc_failed(void)
{
	return failed;
}

/* True if this allocation is the one to fail (errno set). */
static bool fail_now(void)
{
	if (!armed)
		return false;
	if (++calls != fail_at)
		return false;
	failed = true;
	errno = ENOMEM;
	return true;
}

static void *real(const char *name)
{
	void *fn = dlsym(RTLD_NEXT, name);

	if (!fn) {
		fprintf(stderr, "failing_alloc: no %s in libtalloc\n", name);
		abort();
	}
	return fn;
}

/* @real_fn: libtalloc's own @name, of the function pointer type given. */
#define REAL(name, ...) \
	static __typeof__(__VA_ARGS__) real_fn; \
	if (!real_fn) \
		real_fn = (__typeof__(__VA_ARGS__))real(name)

void *_talloc_zero(const void *ctx, size_t size, const char *name)
{
	REAL("_talloc_zero", void *(*)(const void *, size_t, const char *));
	return fail_now() ? NULL : real_fn(ctx, size, name);
}

void *_talloc_array(const void *ctx, size_t el_size, unsigned count,
		    const char *name)
{
	REAL("_talloc_array",
	     void *(*)(const void *, size_t, unsigned, const char *));
	return fail_now() ? NULL : real_fn(ctx, el_size, count, name);
}

void *_talloc_memdup(const void *t, const void *p, size_t size,
		     const char *name)
{
	REAL("_talloc_memdup",
	     void *(*)(const void *, const void *, size_t, const char *));
	return fail_now() ? NULL : real_fn(t, p, size, name);
}

void *_talloc_realloc(const void *ctx, void *ptr, size_t size,
		      const char *name)
{
	REAL("_talloc_realloc",
	     void *(*)(const void *, void *, size_t, const char *));
	/* Size 0 frees: nothing to fail. */
	return size && fail_now() ? NULL : real_fn(ctx, ptr, size, name);
}

void *_talloc_realloc_array(const void *ctx, void *ptr, size_t el_size,
			    unsigned count, const char *name)
{
	REAL("_talloc_realloc_array",
	     void *(*)(const void *, void *, size_t, unsigned, const char *));
	return count && fail_now() ? NULL
				   : real_fn(ctx, ptr, el_size, count, name);
}

void *talloc_named_const(const void *ctx, size_t size, const char *name)
{
	REAL("talloc_named_const",
	     void *(*)(const void *, size_t, const char *));
	return fail_now() ? NULL : real_fn(ctx, size, name);
}

void *talloc_pool(const void *ctx, size_t size)
{
	REAL("talloc_pool", void *(*)(const void *, size_t));
	return fail_now() ? NULL : real_fn(ctx, size);
}

char *talloc_strdup(const void *t, const char *p)
{
	REAL("talloc_strdup", char *(*)(const void *, const char *));
	return fail_now() ? NULL : real_fn(t, p);
}

char *talloc_strndup(const void *t, const char *p, size_t n)
{
	REAL("talloc_strndup", char *(*)(const void *, const char *, size_t));
	return fail_now() ? NULL : real_fn(t, p, n);
}

char *talloc_asprintf(const void *t, const char *fmt, ...)
{
	va_list ap;
	char *s;

	REAL("talloc_vasprintf", char *(*)(const void *, const char *, va_list));
	if (fail_now())
		return NULL;
	va_start(ap, fmt);
	s = real_fn(t, fmt, ap);
	va_end(ap);
	return s;
}

char *talloc_asprintf_append(char *s, const char *fmt, ...)
{
	va_list ap;
	char *r;

	REAL("talloc_vasprintf_append", char *(*)(char *, const char *, va_list));
	if (fail_now())
		return NULL;
	va_start(ap, fmt);
	r = real_fn(s, fmt, ap);
	va_end(ap);
	return r;
}
