/*
 * The crash-survival file (--persist): where the store's journal
 * (store/journal.h) appends its batches, and what a restarted daemon
 * reads back.  POSIX IO lives here, not in the core.
 */
#ifndef DAEMON_POSIX_JOURNAL_H
#define DAEMON_POSIX_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "store/journal.h"

struct posix_journal;

/*
 * Open @file for appending, first reading what it holds (a daemon that
 * died left it; empty if it did not exist).  NULL on failure (logged).
 */
struct posix_journal *posix_journal_open(void *ctx, const char *file);

/* The sink to give the store (server_config.journal). */
const struct journal_sink *posix_journal_sink(struct posix_journal *journal);

/* What the file held when opened, and forgetting it once replayed. */
const void *posix_journal_old(const struct posix_journal *journal,
			      size_t *len);
void posix_journal_forget_old(struct posix_journal *journal);

/* A clean stop: the next start is a fresh one, so the file goes. */
void posix_journal_remove(struct posix_journal *journal);

#endif
