/*
 * The crash-survival file: one batch per write(2), each whole or cut
 * short only by the kill itself (the replay drops a cut batch).  No
 * fsync: the file guards against the daemon's death, not the host's, and
 * a host that goes down takes its guests with it; it lives in the run
 * directory (a tmpfs) for that reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <talloc.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/posix_journal.h"

struct posix_journal {
	struct journal_sink sink;
	char *file;
	char *new_file;		/* being written afresh, then renamed */
	int fd;
	int new_fd;
	void *old;
	size_t old_len;
	bool removed;		/* a clean stop: nothing more to keep */
};

static bool write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool journal_append(void *arg, const void *buf, size_t len)
{
	struct posix_journal *journal = arg;
	int fd = journal->new_fd >= 0 ? journal->new_fd : journal->fd;

	if (journal->removed)
		return true;
	if (fd < 0 || !write_all(fd, buf, len)) {
		xs_log(LEVEL_ERROR, "cannot write %s: %s",
		       journal->new_fd >= 0 ? journal->new_file : journal->file,
		       fd < 0 ? "not open" : strerror(errno));
		return false;
	}
	return true;
}

static bool journal_rewrite_begin(void *arg)
{
	struct posix_journal *journal = arg;

	if (journal->removed)
		return true;
	journal->new_fd = open(journal->new_file,
			       O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (journal->new_fd < 0) {
		xs_log(LEVEL_ERROR, "cannot create %s: %s", journal->new_file,
		       strerror(errno));
		return false;
	}
	return true;
}

static bool journal_rewrite_end(void *arg)
{
	struct posix_journal *journal = arg;
	int fd = journal->new_fd;

	journal->new_fd = -1;
	if (journal->removed)
		return true;
	if (fd < 0)
		return false;
	if (rename(journal->new_file, journal->file) != 0) {
		xs_log(LEVEL_ERROR, "cannot rename %s to %s: %s",
		       journal->new_file, journal->file, strerror(errno));
		close(fd);
		unlink(journal->new_file);
		return false;
	}
	if (journal->fd >= 0)
		close(journal->fd);
	journal->fd = fd;
	return true;
}

static void journal_abandon(void *arg, const char *why)
{
	struct posix_journal *journal = arg;

	if (journal->removed)
		return;
	xs_log(LEVEL_ERROR, "crash survival lost: %s; %s is removed and the "
	       "daemon goes on in memory (a restart now starts afresh)", why,
	       journal->file);
	posix_journal_remove(journal);
}

static int journal_destroy(struct posix_journal *journal)
{
	if (journal->fd >= 0)
		close(journal->fd);
	if (journal->new_fd >= 0)
		close(journal->new_fd);
	return 0;
}

/* The whole file into memory (a restart replays it once). */
static bool read_old(struct posix_journal *journal)
{
	int fd = open(journal->file, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t done = 0;

	if (fd < 0)
		return errno == ENOENT;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return false;
	}
	journal->old = talloc_size(journal, (size_t)st.st_size + 1);
	if (!journal->old) {
		close(fd);
		errno = ENOMEM;
		return false;
	}
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, (char *)journal->old + done,
				 (size_t)st.st_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	close(fd);
	journal->old_len = done;
	return true;
}

struct posix_journal *posix_journal_open(void *ctx, const char *file)
{
	struct posix_journal *journal = talloc_zero(ctx, struct posix_journal);

	if (!journal)
		return NULL;
	journal->fd = journal->new_fd = -1;
	talloc_set_destructor(journal, journal_destroy);
	journal->file = talloc_strdup(journal, file);
	journal->new_file = talloc_asprintf(journal, "%s.new", file);
	if (!journal->file || !journal->new_file) {
		talloc_free(journal);
		return NULL;
	}
	if (!read_old(journal)) {
		xs_log(LEVEL_ERROR, "cannot read %s: %s", file,
		       strerror(errno));
		talloc_free(journal);
		return NULL;
	}
	journal->sink = (struct journal_sink){
		.append = journal_append,
		.rewrite_begin = journal_rewrite_begin,
		.rewrite_end = journal_rewrite_end,
		.abandon = journal_abandon,
		.arg = journal,
	};
	return journal;
}

const struct journal_sink *posix_journal_sink(struct posix_journal *journal)
{
	return &journal->sink;
}

const void *posix_journal_old(const struct posix_journal *journal,
			      size_t *len)
{
	*len = journal->old_len;
	return journal->old;
}

void posix_journal_forget_old(struct posix_journal *journal)
{
	talloc_free(journal->old);
	journal->old = NULL;
	journal->old_len = 0;
}

void posix_journal_remove(struct posix_journal *journal)
{
	if (journal->fd >= 0)
		close(journal->fd);
	if (journal->new_fd >= 0)
		close(journal->new_fd);
	journal->fd = journal->new_fd = -1;
	journal->removed = true;
	if (unlink(journal->file) != 0 && errno != ENOENT)
		xs_log(LEVEL_WARNING, "cannot remove %s: %s", journal->file,
		       strerror(errno));
	unlink(journal->new_file);
}
