#include "loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#define MAX_EVENTS 256

static int epfd = -1;
static unsigned long fds_watched;

/* Run queue: a growable ring of coroutines; a coroutine is queued once. */
static struct coro **runq;
static size_t runq_cap, runq_head, runq_len;

/* A coroutine may be woken several times before it runs (a reply and an
 * event); a small open-addressing set remembers which are queued. */
static struct coro **queued;
static size_t queued_cap, queued_len;

struct timer {
	uint64_t at;
	uint64_t seq;		/* FIFO among equal deadlines */
	void (*fn)(void *arg);
	void *arg;
};
static struct timer *timers;
static size_t timers_len, timers_cap;
static uint64_t timer_seq;

static void (*flush_hook)(void);
static void (*tick_fn)(void);
static uint64_t tick_period, next_tick;

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p) {
		fprintf(stderr, "bootstorm: out of memory\n");
		exit(2);
	}
	return p;
}

void loop_init(void)
{
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) {
		perror("bootstorm: epoll_create1");
		exit(2);
	}
	queued_cap = 1024;
	queued = calloc(queued_cap, sizeof(*queued));
	if (!queued)
		exit(2);
}

int loop_add_fd(struct fd_watch *w)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP,
		.data.ptr = w,
	};

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0)
		return -1;
	fds_watched++;
	return 0;
}

void loop_del_fd(struct fd_watch *w)
{
	if (epoll_ctl(epfd, EPOLL_CTL_DEL, w->fd, NULL) == 0)
		fds_watched--;
}

static size_t slot_of(struct coro *co, size_t cap)
{
	uintptr_t h = (uintptr_t)co;

	h ^= h >> 17;
	h *= 0x9e3779b97f4a7c15ull;
	return (h >> 20) & (cap - 1);
}

static bool queued_insert(struct coro *co)
{
	size_t i;

	if ((queued_len + 1) * 2 > queued_cap) {
		struct coro **old = queued;
		size_t old_cap = queued_cap;

		queued_cap *= 2;
		queued = calloc(queued_cap, sizeof(*queued));
		if (!queued)
			exit(2);
		for (size_t j = 0; j < old_cap; j++) {
			if (!old[j])
				continue;
			for (i = slot_of(old[j], queued_cap); queued[i];
			     i = (i + 1) & (queued_cap - 1))
				;
			queued[i] = old[j];
		}
		free(old);
	}
	for (i = slot_of(co, queued_cap); queued[i];
	     i = (i + 1) & (queued_cap - 1))
		if (queued[i] == co)
			return false;
	queued[i] = co;
	queued_len++;
	return true;
}

static void queued_remove(struct coro *co)
{
	size_t i = slot_of(co, queued_cap);

	while (queued[i] != co)
		i = (i + 1) & (queued_cap - 1);
	queued[i] = NULL;
	queued_len--;
	/* Re-seat the rest of the cluster (linear probing deletion). */
	for (i = (i + 1) & (queued_cap - 1); queued[i];
	     i = (i + 1) & (queued_cap - 1)) {
		struct coro *c = queued[i];
		size_t j;

		queued[i] = NULL;
		for (j = slot_of(c, queued_cap); queued[j];
		     j = (j + 1) & (queued_cap - 1))
			;
		queued[j] = c;
	}
}

void loop_wake(struct coro *co)
{
	if (!queued_insert(co))
		return;
	if (runq_len == runq_cap) {
		size_t new_cap = runq_cap ? runq_cap * 2 : 256;
		struct coro **n = xrealloc(NULL, new_cap * sizeof(*n));

		for (size_t i = 0; i < runq_len; i++)
			n[i] = runq[(runq_head + i) % runq_cap];
		free(runq);
		runq = n;
		runq_cap = new_cap;
		runq_head = 0;
	}
	runq[(runq_head + runq_len) % runq_cap] = co;
	runq_len++;
}

static bool timer_before(const struct timer *a, const struct timer *b)
{
	return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

void loop_at(uint64_t at_ns, void (*fn)(void *arg), void *arg)
{
	size_t i;

	if (timers_len == timers_cap) {
		timers_cap = timers_cap ? timers_cap * 2 : 256;
		timers = xrealloc(timers, timers_cap * sizeof(*timers));
	}
	i = timers_len++;
	timers[i] = (struct timer){ at_ns, timer_seq++, fn, arg };
	while (i > 0 && timer_before(&timers[i], &timers[(i - 1) / 2])) {
		struct timer t = timers[i];

		timers[i] = timers[(i - 1) / 2];
		timers[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

static struct timer timer_pop(void)
{
	struct timer top = timers[0];
	size_t i = 0;

	timers[0] = timers[--timers_len];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < timers_len && timer_before(&timers[l], &timers[m]))
			m = l;
		if (r < timers_len && timer_before(&timers[r], &timers[m]))
			m = r;
		if (m == i)
			break;
		struct timer t = timers[i];
		timers[i] = timers[m];
		timers[m] = t;
		i = m;
	}
	return top;
}

static void wake_timer(void *arg)
{
	loop_wake(arg);
}

void loop_sleep(uint64_t ns)
{
	loop_at(now_ns() + ns, wake_timer, coro_self());
	coro_yield();
}

void loop_spawn(coro_fn fn, void *arg)
{
	struct coro *co = coro_new(fn, arg);

	if (!co) {
		fprintf(stderr, "bootstorm: cannot create a coroutine\n");
		exit(2);
	}
	loop_wake(co);
}

void loop_set_flush_hook(void (*fn)(void))
{
	flush_hook = fn;
}

void loop_set_tick(uint64_t period_ns, void (*fn)(void))
{
	tick_fn = fn;
	tick_period = period_ns;
	next_tick = now_ns() + period_ns;
}

static void run_ready(void)
{
	/* Only what is queued now: coroutines woken while these run wait for
	 * the next round, after their requests have been flushed. */
	size_t n = runq_len;

	while (n-- > 0) {
		struct coro *co = runq[runq_head];

		runq_head = (runq_head + 1) % runq_cap;
		runq_len--;
		queued_remove(co);
		coro_resume(co);
	}
}

static void run_timers(uint64_t now)
{
	while (timers_len && timers[0].at <= now) {
		struct timer t = timer_pop();

		t.fn(t.arg);
	}
}

bool loop_run(bool (*done)(void))
{
	struct epoll_event evs[MAX_EVENTS];

	for (;;) {
		uint64_t now = now_ns();
		int timeout_ms = -1, n;

		run_timers(now);
		run_ready();
		if (flush_hook)
			flush_hook();
		if (done())
			return true;
		if (tick_fn && now >= next_tick) {
			next_tick = now + tick_period;
			tick_fn();
		}
		if (runq_len) {
			timeout_ms = 0;
		} else {
			if (timers_len) {
				uint64_t at = timers[0].at;

				timeout_ms = at <= now ? 0 :
					(int)((at - now + 999999) / 1000000);
			}
			if (tick_fn) {
				int t = next_tick <= now ? 0 :
					(int)((next_tick - now + 999999) / 1000000);

				if (timeout_ms < 0 || t < timeout_ms)
					timeout_ms = t;
			}
			if (timeout_ms < 0 && !fds_watched)
				return false;
		}
		n = epoll_wait(epfd, evs, MAX_EVENTS, timeout_ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("bootstorm: epoll_wait");
			exit(2);
		}
		for (int i = 0; i < n; i++) {
			struct fd_watch *w = evs[i].data.ptr;

			w->ready(w, evs[i].events);
		}
	}
}
