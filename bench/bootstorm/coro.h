/*
 * Coroutines for the bootstorm harness: every actor (a toolstack worker, a
 * guest's frontend, a hotplug script...) is written as straight-line code
 * that blocks on xenstore replies, the way the real programs are written,
 * while one thread runs them all.  A switch costs a few nanoseconds on
 * x86-64 (hand-written register switch); elsewhere ucontext is used.
 */
#ifndef BOOTSTORM_CORO_H
#define BOOTSTORM_CORO_H

#include <stdbool.h>

struct coro;
typedef void (*coro_fn)(void *arg);

/* A new coroutine, not yet running: coro_resume() starts it. */
struct coro *coro_new(coro_fn fn, void *arg);

/* Run @co until it yields or finishes (a finished one is freed). */
void coro_resume(struct coro *co);

/* From inside a coroutine: give control back to whoever resumed it. */
void coro_yield(void);

/* The running coroutine, or NULL in the main loop. */
struct coro *coro_self(void);

/* Coroutines alive (started or not, not finished): for leak checks. */
unsigned long coro_alive(void);

#endif
