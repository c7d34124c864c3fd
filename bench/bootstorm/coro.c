/*
 * Coroutine stacks come from a free list of mmap'd regions with a guard
 * page, so a harness with tens of thousands of short actors reuses a few
 * hundred stacks and touches little memory.
 */
#include "coro.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define STACK_SIZE (128 * 1024)

#if defined(__x86_64__)
#define CORO_ASM 1
#else
#include <ucontext.h>
#endif

struct coro {
	void *sp;		/* saved stack pointer while suspended */
	void *stack;		/* base of the mapping (guard page first) */
	coro_fn fn;
	void *arg;
	bool finished;
	struct coro *next_free;
#ifndef CORO_ASM
	ucontext_t ctx;
#endif
};

static struct coro *current;
static void *main_sp;
#ifndef CORO_ASM
static ucontext_t main_ctx;
#endif
static struct coro *free_list;	/* finished coroutines keep their stacks */
static unsigned long alive;

#ifdef CORO_ASM
/*
 * coro_switch(save, to): push the callee-saved registers, store the stack
 * pointer in *save, load @to and pop the other side's registers.  A new
 * stack is laid out so that the pops land in coro_start with the coroutine
 * in %r12.
 */
void coro_switch(void **save, void *to);
void coro_start(void);
__asm__(
	".text\n"
	".globl coro_switch\n"
	".type coro_switch,@function\n"
	"coro_switch:\n"
	"	pushq %rbp\n"
	"	pushq %rbx\n"
	"	pushq %r12\n"
	"	pushq %r13\n"
	"	pushq %r14\n"
	"	pushq %r15\n"
	"	movq %rsp, (%rdi)\n"
	"	movq %rsi, %rsp\n"
	"	popq %r15\n"
	"	popq %r14\n"
	"	popq %r13\n"
	"	popq %r12\n"
	"	popq %rbx\n"
	"	popq %rbp\n"
	"	ret\n"
	".size coro_switch, .-coro_switch\n"
	".globl coro_start\n"
	".type coro_start,@function\n"
	"coro_start:\n"
	"	movq %r12, %rdi\n"
	"	call coro_body@PLT\n"
	"	ud2\n"
	".size coro_start, .-coro_start\n");
#endif

void coro_body(struct coro *co);

static void switch_to_main(struct coro *co)
{
	current = NULL;
#ifdef CORO_ASM
	coro_switch(&co->sp, main_sp);
#else
	swapcontext(&co->ctx, &main_ctx);
#endif
}

void coro_body(struct coro *co)
{
	co->fn(co->arg);
	co->finished = true;
	switch_to_main(co);
	abort();		/* a finished coroutine is never resumed */
}

#ifndef CORO_ASM
static void ucontext_entry(unsigned int hi, unsigned int lo)
{
	coro_body((struct coro *)(((uintptr_t)hi << 32) | lo));
}
#endif

struct coro *coro_new(coro_fn fn, void *arg)
{
	struct coro *co = free_list;
	long page = sysconf(_SC_PAGESIZE);

	if (co) {
		free_list = co->next_free;
	} else {
		co = calloc(1, sizeof(*co));
		if (!co)
			return NULL;
		co->stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
				 -1, 0);
		if (co->stack == MAP_FAILED) {
			free(co);
			return NULL;
		}
		mprotect(co->stack, page, PROT_NONE);
	}
	co->fn = fn;
	co->arg = arg;
	co->finished = false;
#ifdef CORO_ASM
	{
		/* After six pops and a ret, %rsp must be 16-byte aligned at
		 * coro_start's call: nine slots below an aligned top. */
		uintptr_t top = ((uintptr_t)co->stack + STACK_SIZE) & ~(uintptr_t)15;
		void **sp = (void **)(top - 9 * 8);

		sp[0] = 0;			/* r15 */
		sp[1] = 0;			/* r14 */
		sp[2] = 0;			/* r13 */
		sp[3] = co;			/* r12: coro_start's argument */
		sp[4] = 0;			/* rbx */
		sp[5] = 0;			/* rbp */
		sp[6] = (void *)coro_start;	/* ret lands here */
		sp[7] = 0;
		sp[8] = 0;
		co->sp = sp;
	}
#else
	getcontext(&co->ctx);
	co->ctx.uc_stack.ss_sp = (char *)co->stack + page;
	co->ctx.uc_stack.ss_size = STACK_SIZE - page;
	co->ctx.uc_link = NULL;
	makecontext(&co->ctx, (void (*)(void))ucontext_entry, 2,
		    (unsigned int)((uintptr_t)co >> 32),
		    (unsigned int)(uintptr_t)co);
#endif
	alive++;
	return co;
}

void coro_resume(struct coro *co)
{
	if (current) {
		fprintf(stderr, "bootstorm: coroutine resumed from a coroutine\n");
		abort();
	}
	current = co;
#ifdef CORO_ASM
	coro_switch(&main_sp, co->sp);
#else
	swapcontext(&main_ctx, &co->ctx);
#endif
	if (co->finished) {
		alive--;
		co->next_free = free_list;
		free_list = co;
	}
}

void coro_yield(void)
{
	struct coro *co = current;

	if (!co) {
		fprintf(stderr, "bootstorm: coro_yield outside a coroutine\n");
		abort();
	}
	switch_to_main(co);
}

struct coro *coro_self(void)
{
	return current;
}

unsigned long coro_alive(void)
{
	return alive;
}
