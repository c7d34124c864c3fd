/*
 * The harness's single event loop: file descriptors under epoll
 * (edge-triggered), a run queue of coroutines woken by replies or events,
 * timers, and a hook run once per iteration (progress, stall detection).
 */
#ifndef BOOTSTORM_LOOP_H
#define BOOTSTORM_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "coro.h"

/* Monotonic nanoseconds. */
uint64_t now_ns(void);

struct fd_watch {
	int fd;
	/* EPOLLIN/EPOLLOUT/EPOLLERR/EPOLLHUP bits that fired. */
	void (*ready)(struct fd_watch *w, uint32_t events);
};

void loop_init(void);

/* Watch @w->fd for input and output readiness (edge-triggered). */
int loop_add_fd(struct fd_watch *w);
void loop_del_fd(struct fd_watch *w);

/* Resume @co from the loop soon (once, however often it is woken). */
void loop_wake(struct coro *co);

/* Call @fn(@arg) at monotonic time @at_ns. */
void loop_at(uint64_t at_ns, void (*fn)(void *arg), void *arg);

/* From a coroutine: sleep for @ns. */
void loop_sleep(uint64_t ns);

/* Start @fn(@arg) as a coroutine (it first runs from the loop). */
void loop_spawn(coro_fn fn, void *arg);

/* Called before every output flush; used by connections to batch writes. */
void loop_set_flush_hook(void (*fn)(void));

/* Called about every @period_ns: progress bar, stall detection. */
void loop_set_tick(uint64_t period_ns, void (*fn)(void));

/* Run until @done() is true.  Returns false if nothing can make progress
 * any more (no fd, timer or runnable coroutine) before that. */
bool loop_run(bool (*done)(void));

#endif
