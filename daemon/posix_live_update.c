/*
 * The POSIX half of a live update: the state file, the check of the new
 * binary, and the exec.
 *
 * The state goes where Xen 4.17's C daemon puts it, $XENSTORED_RUNDIR/
 * state_dump (default /var/run/xenstored: its xs_daemon_rootdir() is the
 * run directory), and the new binary is started
 * as C starts it: its command line (live-update -c, else ours) with -U
 * added.  So the C daemon can live-update into this one, and back.
 *
 * Before the exec, the new binary is run once as `BINARY --check-state
 * FILE` in a child: it must start, read the whole stream and restore it
 * into a scratch server.  Only then does this process exec it; a binary
 * that does not run, or a state it would refuse, leaves this daemon
 * serving as before, with the reason in the live-update reply.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <talloc.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/posix_live_update.h"

#define DEFAULT_RUNDIR "/var/run/xenstored"
#define STATE_FILE "state_dump"

static int saved_argc;
static char **saved_argv;

void posix_live_update_init(int argc, char **argv)
{
	saved_argc = argc;
	saved_argv = argv;
}

char *posix_state_file(void *ctx)
{
	const char *rundir = getenv("XENSTORED_RUNDIR");

	if (!rundir || !*rundir)
		rundir = DEFAULT_RUNDIR;
	/* As C, which makes it at start: the socket may live elsewhere. */
	if (mkdir(rundir, 0755) != 0 && errno != EEXIST)
		return NULL;
	return talloc_asprintf(ctx, "%s/" STATE_FILE, rundir);
}

/* Write all of @buf to a new @file (mode 0600); false with errno set. */
static bool write_file(const char *file, const void *buf, size_t len,
		       mode_t mode)
{
	const char *p = buf;
	int fd, err;

	unlink(file);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return false;
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? errno : EIO;
			close(fd);
			unlink(file);
			errno = err;
			return false;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		err = errno;
		unlink(file);
		errno = err;
		return false;
	}
	return true;
}

void *posix_state_read(void *ctx, const char *file, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || st.st_size < 0)
		goto fail;
	buf = talloc_size(ctx, (size_t)st.st_size + 1);
	if (!buf)
		goto fail;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			goto fail;
		}
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	return buf;
fail:
	talloc_free(buf);
	close(fd);
	return NULL;
}

/* The new binary's words: @cmdline's, or ours; "-U" added if missing. */
static char **new_argv(void *ctx, const char *binary, const char *cmdline)
{
	char **argv;
	bool has_u = false;
	int argc = 0, i;

	if (cmdline) {
		char *copy = talloc_strdup(ctx, cmdline), *word, *save = NULL;
		size_t words = 1;

		if (!copy)
			return NULL;
		for (i = 0; copy[i]; i++)
			words += isspace((unsigned char)copy[i]) != 0;
		argv = talloc_array(ctx, char *, words + 3);
		if (!argv)
			return NULL;
		argv[argc++] = (char *)binary;
		for (word = strtok_r(copy, " \t\n", &save); word;
		     word = strtok_r(NULL, " \t\n", &save)) {
			has_u |= !strcmp(word, "-U");
			argv[argc++] = word;
		}
	} else {
		argv = talloc_array(ctx, char *, saved_argc + 2);
		if (!argv)
			return NULL;
		argv[argc++] = (char *)binary;
		for (i = 1; i < saved_argc; i++) {
			has_u |= !strcmp(saved_argv[i], "-U");
			argv[argc++] = saved_argv[i];
		}
	}
	if (!has_u)
		argv[argc++] = "-U";
	argv[argc] = NULL;
	return argv;
}

/* Run `@binary --check-state @file`: NULL if it exited 0, else why. */
static const char *check_binary(void *ctx, const char *binary,
				const char *file)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return talloc_asprintf(ctx, "cannot fork to check the new "
				       "binary: %s", strerror(errno));
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		if (devnull >= 0) {
			dup2(devnull, STDIN_FILENO);
			dup2(devnull, STDOUT_FILENO);
		}
		execl(binary, binary, "--check-state", file, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return "cannot wait for the check of the new binary";
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return NULL;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return "Error activating new binary.";
	if (WIFEXITED(status))
		return talloc_asprintf(ctx, "the new binary refused the state "
				       "(--check-state exited %d)",
				       WEXITSTATUS(status));
	return talloc_asprintf(ctx, "the new binary died checking the state "
			       "(signal %d)", WTERMSIG(status));
}

bool posix_is_executable(const char *file)
{
	struct stat st;

	return access(file, X_OK) == 0 && stat(file, &st) == 0 &&
	       S_ISREG(st.st_mode);
}

const char *posix_live_update_exec(const void *state, size_t len,
				   const char *binary, const void *blob,
				   size_t blob_len, const char *cmdline)
{
	static char why[256];
	void *ctx = talloc_new(NULL);
	char *file = posix_state_file(ctx);
	char *blob_file = NULL;
	const char *err;
	char **argv;

	if (!file) {
		talloc_free(ctx);
		return "Allocation failure.";
	}
	if (!binary && blob) {
		/* -b/-d: the binary came over the connection. */
		blob_file = talloc_asprintf(ctx, "%s.new-binary", file);
		if (!blob_file || !write_file(blob_file, blob, blob_len, 0700)) {
			snprintf(why, sizeof(why), "cannot store the new "
				 "binary: %s", strerror(errno));
			talloc_free(ctx);
			return why;
		}
		binary = blob_file;
	}
	if (access(binary, X_OK) != 0) {
		talloc_free(ctx);
		return "File not executable.";
	}
	argv = new_argv(ctx, binary, cmdline);
	if (!argv || !write_file(file, state, len, 0600)) {
		snprintf(why, sizeof(why), "Dump state open error: %s",
			 strerror(errno));
		talloc_free(ctx);
		return why;
	}
	err = check_binary(ctx, binary, file);
	if (err) {
		snprintf(why, sizeof(why), "%s", err);
		unlink(file);
		talloc_free(ctx);
		return why;
	}
	xs_log(LEVEL_INFO, "live-update: exec %s", binary);
	execv(binary, argv);
	snprintf(why, sizeof(why), "Error activating new binary: %s",
		 strerror(errno));
	unlink(file);
	talloc_free(ctx);
	return why;
}
