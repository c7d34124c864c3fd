/*
 * Path rules (store/path.c): validation, relative -> absolute, the
 * path-max limit and the small string operations the store relies on.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>
#include <talloc.h>

#include "store/path.h"

#define PATH_MAX_DEFAULT 2048

static int setup_ctx(void **state)
{
	*state = talloc_new(NULL);
	return *state ? 0 : -1;
}

static int teardown_ctx(void **state)
{
	talloc_free(*state);
	return 0;
}

/* A rejected path leaves nothing behind on the caller's context. */
static void assert_no_garbage(void *ctx)
{
	assert_int_equal(talloc_total_blocks(ctx), 1);
}

/* path_canonical with Xen's default limit. */
static char *canonical(void *ctx, const char *path, unsigned int domid,
		       bool *relative)
{
	return path_canonical(ctx, path, domid, PATH_MAX_DEFAULT, relative);
}

/* A string of @n copies of @c on @ctx. */
static char *repeat(void *ctx, char c, size_t n)
{
	char *s = talloc_size(ctx, n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void test_absolute_paths_stay_as_they_are(void **state)
{
	static const char *const paths[] = {
		"/", "/a", "/a/b/c", "/tool/xenstored",
		"/local/domain/7/device/vif/0/state",
		"/ABCxyz-_09@", "/a@b/c-d/e_f",
	};
	bool relative = true;
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		char *abs = canonical(*state, paths[i], 3, &relative);

		assert_non_null(abs);
		assert_string_equal(abs, paths[i]);
		assert_false(relative);
		talloc_free(abs);
	}
}

static void test_relative_paths_go_below_the_domain_home(void **state)
{
	bool relative = false;
	char *abs = canonical(*state, "device/vbd", 3, &relative);

	assert_non_null(abs);
	assert_string_equal(abs, "/local/domain/3/device/vbd");
	assert_true(relative);
	talloc_free(abs);

	relative = false;
	abs = canonical(*state, "x", 0, &relative);
	assert_non_null(abs);
	assert_string_equal(abs, "/local/domain/0/x");
	assert_true(relative);
	talloc_free(abs);

	abs = canonical(*state, "name", 65535, &relative);
	assert_non_null(abs);
	assert_string_equal(abs, "/local/domain/65535/name");
	talloc_free(abs);
}

static void test_invalid_characters_are_rejected(void **state)
{
	static const char *const paths[] = {
		"/a b", "/a.b", "/a\tb", "/a:b", "/a*b", "/a\\b", "/a,b",
		"/a\nb", "/\xc3\xa4", "/a\x7f", "rel.ative", "rel ative",
		"/a+b", "/a=b", "/~",
	};
	bool relative;
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		char *abs = canonical(*state, paths[i], 0, &relative);

		if (abs)
			fail_msg("'%s' accepted as '%s'", paths[i], abs);
		assert_false(path_is_valid_absolute(paths[i]));
	}
	assert_no_garbage(*state);
}

static void test_double_and_trailing_slashes_are_rejected(void **state)
{
	static const char *const paths[] = {
		"//", "/a//b", "/a/", "/a/b/", "//a", "a/", "a//b", "/a///",
	};
	bool relative;
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		char *abs = canonical(*state, paths[i], 0, &relative);

		if (abs)
			fail_msg("'%s' accepted as '%s'", paths[i], abs);
	}
	assert_no_garbage(*state);
}

static void test_empty_path_is_rejected(void **state)
{
	bool relative;

	assert_null(canonical(*state, "", 0, &relative));
	assert_false(path_is_valid_absolute(""));
	assert_no_garbage(*state);
}

static void test_special_names_are_returned_unchanged(void **state)
{
	bool relative = true;
	char *abs = canonical(*state, "@introduceDomain", 4, &relative);

	assert_non_null(abs);
	assert_string_equal(abs, "@introduceDomain");
	assert_false(relative);
	talloc_free(abs);

	abs = canonical(*state, "@releaseDomain", 4, &relative);
	assert_non_null(abs);
	assert_string_equal(abs, "@releaseDomain");
	talloc_free(abs);

	assert_true(path_is_special("@introduceDomain"));
	assert_true(path_is_special("@releaseDomain"));
	assert_false(path_is_special("@introduceDomainX"));
	assert_false(path_is_special("@other"));
	assert_false(path_is_special("/@introduceDomain"));
	/* Not a node path: callers decide where '@' names are allowed. */
	assert_false(path_is_valid_absolute("@introduceDomain"));
}

static void test_special_names_are_limited_in_length(void **state)
{
	char *name = repeat(*state, 'x', 20);
	bool relative;

	name[0] = '@';
	assert_null(path_canonical(*state, name, 0, 19, &relative));
	talloc_free(name);
	assert_no_garbage(*state);
	name = repeat(*state, 'x', 20);
	name[0] = '@';
	assert_non_null(path_canonical(*state, name, 0, 20, &relative));
}

/* An '@' inside a name is an ordinary character. */
static void test_at_sign_inside_names_is_valid(void **state)
{
	bool relative;
	char *abs = canonical(*state, "a@b", 2, &relative);

	assert_non_null(abs);
	assert_string_equal(abs, "/local/domain/2/a@b");
	assert_true(relative);
	talloc_free(abs);
	assert_true(path_is_valid_absolute("/@x/y@"));
}

/*
 * The limit counts what follows "/local/domain/<N>/" (Xen 4.17's
 * is_valid_nodename), for absolute and relative paths alike.
 */
static void test_path_max_counts_after_the_domain_prefix(void **state)
{
	void *ctx = *state;
	bool relative;
	char *tail = repeat(ctx, 'a', PATH_MAX_DEFAULT);
	char *longer = repeat(ctx, 'a', PATH_MAX_DEFAULT + 1);
	char *path;

	path = talloc_asprintf(ctx, "/local/domain/0/%s", tail);
	assert_non_null(canonical(ctx, path, 0, &relative));
	path = talloc_asprintf(ctx, "/local/domain/0/%s", longer);
	assert_null(canonical(ctx, path, 0, &relative));

	path = talloc_asprintf(ctx, "/local/domain/12345/%s", tail);
	assert_non_null(canonical(ctx, path, 0, &relative));
	path = talloc_asprintf(ctx, "/local/domain/12345/%s", longer);
	assert_null(canonical(ctx, path, 0, &relative));

	assert_non_null(canonical(ctx, tail, 9, &relative));
	assert_null(canonical(ctx, longer, 9, &relative));
	talloc_free_children(ctx);
}

static void test_path_max_counts_whole_paths_elsewhere(void **state)
{
	void *ctx = *state;
	bool relative;
	char *path;

	/* "/" plus 2047 characters is 2048 in all. */
	path = repeat(ctx, 'b', PATH_MAX_DEFAULT);
	path[0] = '/';
	assert_non_null(canonical(ctx, path, 0, &relative));
	path = repeat(ctx, 'b', PATH_MAX_DEFAULT + 1);
	path[0] = '/';
	assert_null(canonical(ctx, path, 0, &relative));

	/* Not a domain's home: the prefix counts. */
	path = talloc_asprintf(ctx, "/local/domain/x/%s",
			       repeat(ctx, 'c', PATH_MAX_DEFAULT - 10));
	assert_null(canonical(ctx, path, 0, &relative));
	talloc_free_children(ctx);
}

/*
 * Xen 4.17 reads the domid with "%5u": a longer number is no domain
 * home, and then the whole path counts.
 */
static void test_path_max_discounts_at_most_five_digit_domids(void **state)
{
	void *ctx = *state;
	bool relative;
	char *path;

	path = talloc_asprintf(ctx, "/local/domain/123456/%s",
			       repeat(ctx, 'd', PATH_MAX_DEFAULT - 5));
	assert_null(canonical(ctx, path, 0, &relative));
	assert_int_equal(path_length_for_quota(path), strlen(path));
	talloc_free_children(ctx);
}

static void test_path_max_is_a_parameter(void **state)
{
	bool relative;

	assert_non_null(path_canonical(*state, "/abcd", 0, 5, &relative));
	talloc_free_children(*state);
	assert_null(path_canonical(*state, "/abcde", 0, 5, &relative));
	assert_no_garbage(*state);
	assert_non_null(path_canonical(*state, "abcde", 0, 5, &relative));
	talloc_free_children(*state);
	assert_null(path_canonical(*state, "abcdef", 0, 5, &relative));
	assert_no_garbage(*state);
}

static void test_length_for_quota(void **state)
{
	assert_int_equal(path_length_for_quota("/local/domain/0/abc"), 3);
	assert_int_equal(path_length_for_quota("/local/domain/17/a/b"), 3);
	assert_int_equal(path_length_for_quota("/local/domain/17"), 16);
	assert_int_equal(path_length_for_quota("/local/domain"), 13);
	assert_int_equal(path_length_for_quota("/local/domain/x/abc"), 19);
	assert_int_equal(path_length_for_quota("/tool/xenstored"), 15);
	assert_int_equal(path_length_for_quota("/"), 1);
}

static void test_parent_len(void **state)
{
	assert_int_equal(path_parent_len("/a/b"), 2);
	assert_int_equal(path_parent_len("/a"), 1);
	assert_int_equal(path_parent_len("/"), 0);
	assert_int_equal(path_parent_len("/abc/defg/h"), 9);
	assert_int_equal(path_parent_len("/local/domain/0"), 13);
}

static void test_basename(void **state)
{
	assert_string_equal(path_basename("/a/b"), "b");
	assert_string_equal(path_basename("/abc"), "abc");
	assert_string_equal(path_basename("/"), "");
	assert_string_equal(path_basename("/local/domain/12"), "12");
}

static void test_self_or_descendant(void **state)
{
	assert_true(path_is_self_or_descendant("/a", "/a"));
	assert_true(path_is_self_or_descendant("/a/b", "/a"));
	assert_true(path_is_self_or_descendant("/a/b/c", "/a/b"));
	assert_true(path_is_self_or_descendant("/x", "/"));
	assert_true(path_is_self_or_descendant("/", "/"));
	assert_false(path_is_self_or_descendant("/ab", "/a"));
	assert_false(path_is_self_or_descendant("/a", "/a/b"));
	assert_false(path_is_self_or_descendant("/b/a", "/a"));
	assert_false(path_is_self_or_descendant("/a/bc", "/a/b"));
	assert_false(path_is_self_or_descendant("@releaseDomain", "/"));
}

static void test_depth(void **state)
{
	assert_int_equal(path_depth("/"), 0);
	assert_int_equal(path_depth("/a"), 1);
	assert_int_equal(path_depth("/a/b"), 2);
	assert_int_equal(path_depth("/local/domain/0/x"), 4);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup_ctx, teardown_ctx)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_absolute_paths_stay_as_they_are),
		TEST(test_relative_paths_go_below_the_domain_home),
		TEST(test_invalid_characters_are_rejected),
		TEST(test_double_and_trailing_slashes_are_rejected),
		TEST(test_empty_path_is_rejected),
		TEST(test_special_names_are_returned_unchanged),
		TEST(test_special_names_are_limited_in_length),
		TEST(test_at_sign_inside_names_is_valid),
		TEST(test_path_max_counts_after_the_domain_prefix),
		TEST(test_path_max_counts_whole_paths_elsewhere),
		TEST(test_path_max_discounts_at_most_five_digit_domids),
		TEST(test_path_max_is_a_parameter),
		TEST(test_length_for_quota),
		TEST(test_parent_len),
		TEST(test_basename),
		TEST(test_self_or_descendant),
		TEST(test_depth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
