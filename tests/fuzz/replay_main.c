/*
 * main() for builds without libFuzzer: runs the fuzz target once on each
 * file named on the command line, or on each file in a named directory, so
 * a gcc build can replay the corpus (and any crash reproducer) under its
 * sanitizers.  A failed check aborts the process, which is the verdict.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* LeakSanitizer's entry point, present only in sanitizer builds: a leak is
 * then blamed on the input that caused it, not reported once at exit. */
int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *data = NULL, *exact;
	size_t size = 0, cap = 0;

	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		size_t n;

		if (size == cap) {
			unsigned char *grown;

			cap = cap ? cap * 2 : 65536;
			grown = realloc(data, cap);
			if (!grown) {
				fprintf(stderr, "replay: %s: out of memory\n",
					path);
				free(data);
				fclose(f);
				return -1;
			}
			data = grown;
		}
		n = fread(data + size, 1, cap - size, f);
		size += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "replay: %s: read error\n", path);
		free(data);
		fclose(f);
		return -1;
	}
	fclose(f);
	/* An exact-size copy, as libFuzzer gives: reading past it is a bug
	 * the sanitizer must see. */
	exact = malloc(size ? size : 1);
	if (!exact) {
		fprintf(stderr, "replay: %s: out of memory\n", path);
		free(data);
		return -1;
	}
	memcpy(exact, data, size);
	free(data);
	fprintf(stderr, "replay: %s\n", path);
	LLVMFuzzerTestOneInput(exact, size);
	free(exact);
	if (__lsan_do_recoverable_leak_check &&
	    __lsan_do_recoverable_leak_check()) {
		fprintf(stderr, "replay: %s: memory leaked\n", path);
		return -1;
	}
	return 0;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file directly in @dir, in name order (a stable replay). */
static int replay_dir(const char *dir, unsigned long *count)
{
	DIR *d = opendir(dir);
	struct dirent *entry;
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	int err = 0;

	if (!d) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((entry = readdir(d))) {
		struct stat st;
		char *path;

		if (entry->d_name[0] == '.')
			continue;
		if (asprintf(&path, "%s/%s", dir, entry->d_name) < 0) {
			err = -1;
			break;
		}
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
			free(path);
			continue;
		}
		if (n == cap) {
			char **grown;

			cap = cap ? cap * 2 : 64;
			grown = realloc(names, cap * sizeof(*names));
			if (!grown) {
				free(path);
				err = -1;
				break;
			}
			names = grown;
		}
		names[n++] = path;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), compare_names);
	for (i = 0; i < n; i++) {
		if (!err && replay_file(names[i]) != 0)
			err = -1;
		else if (!err)
			(*count)++;
		free(names[i]);
	}
	free(names);
	return err;
}

int main(int argc, char **argv)
{
	unsigned long count = 0;
	int i, err = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc && !err; i++) {
		struct stat st;

		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
				strerror(errno));
			err = -1;
		} else if (S_ISDIR(st.st_mode)) {
			err = replay_dir(argv[i], &count);
		} else {
			err = replay_file(argv[i]);
			if (!err)
				count++;
		}
	}
	if (err)
		return 1;
	printf("replayed %lu inputs\n", count);
	return 0;
}
