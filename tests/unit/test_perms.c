/*
 * Permission lists (store/perms.c): the wire strings of SET_PERMS and
 * GET_PERMS and their binary form.  Xen 4.17 parses an entry's domid with
 * strtol(.., 0) into an unsigned int; what it accepts, ours must accept
 * with the same meaning.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>
#include <talloc.h>

#include "store/perms.h"

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

/* Parse the entries of @wire (@len bytes, NUL-separated, NUL-terminated). */
static bool parse(void *ctx, const char *wire, size_t len,
		  struct perm_list *out)
{
	unsigned int count = 0;
	size_t i;

	for (i = 0; i < len; i++)
		if (wire[i] == '\0')
			count++;
	return perms_parse(ctx, wire, count, out);
}

#define PARSE(ctx, lit, out) parse(ctx, lit, sizeof(lit) - 1, out)

/* One entry: its access and domid, or false if it does not parse. */
static bool parse_one(void *ctx, const char *entry, uint32_t *access,
		      uint32_t *domid)
{
	struct perm_list perms;

	if (!perms_parse(ctx, entry, 1, &perms))
		return false;
	assert_int_equal(perms.count, 1);
	*access = perms.entries[0].access;
	*domid = perms.entries[0].domid;
	return true;
}

static void test_letters(void **state)
{
	struct perm_list perms;

	assert_true(PARSE(*state, "n0\0r1\0w2\0b3\0", &perms));
	assert_int_equal(perms.count, 4);
	assert_int_equal(perms.entries[0].access, PERM_NONE);
	assert_int_equal(perms.entries[0].domid, 0);
	assert_int_equal(perms.entries[1].access, PERM_READ);
	assert_int_equal(perms.entries[1].domid, 1);
	assert_int_equal(perms.entries[2].access, PERM_WRITE);
	assert_int_equal(perms.entries[2].domid, 2);
	assert_int_equal(perms.entries[3].access, PERM_BOTH);
	assert_int_equal(perms.entries[3].domid, 3);
}

static void test_decimal_domids(void **state)
{
	uint32_t access, domid;

	assert_true(parse_one(*state, "r0", &access, &domid));
	assert_int_equal(domid, 0);
	assert_true(parse_one(*state, "w7", &access, &domid));
	assert_int_equal(access, PERM_WRITE);
	assert_int_equal(domid, 7);
	assert_true(parse_one(*state, "b32752", &access, &domid));
	assert_int_equal(domid, 32752);
	assert_true(parse_one(*state, "r4294967295", &access, &domid));
	assert_int_equal(domid, 4294967295u);
}

/* strtol's leniency, accepted by Xen 4.17: blanks, signs. */
static void test_strtol_leniency(void **state)
{
	uint32_t access, domid;

	assert_true(parse_one(*state, "r 5", &access, &domid));
	assert_int_equal(domid, 5);
	assert_true(parse_one(*state, "r+5", &access, &domid));
	assert_int_equal(domid, 5);
	assert_true(parse_one(*state, "r\t6", &access, &domid));
	assert_int_equal(domid, 6);
	assert_true(parse_one(*state, "r-1", &access, &domid));
	assert_int_equal(domid, 0xffffffffu);
	/* Truncated to 32 bits, as Xen's unsigned int id. */
	assert_true(parse_one(*state, "r4294967296", &access, &domid));
	assert_int_equal(domid, 0);
	assert_true(parse_one(*state, "r99999999999", &access, &domid));
	assert_int_equal(domid, 1215752191u);
}

/* Xen 4.17 parses with base 0: "0x" is hex, a leading 0 octal. */
static void test_hex_and_octal_domids(void **state)
{
	uint32_t access, domid;

	assert_true(parse_one(*state, "r0x5", &access, &domid));
	assert_int_equal(domid, 5);
	assert_true(parse_one(*state, "b0X1f", &access, &domid));
	assert_int_equal(domid, 31);
	assert_true(parse_one(*state, "r010", &access, &domid));
	assert_int_equal(domid, 8);
	assert_false(parse_one(*state, "r08", &access, &domid));
}

static void test_malformed_entries(void **state)
{
	static const char *const bad[] = {
		"", "r", "x5", "R5", "5", "r5x", "rr5", "r5 ", "r 5 ", "r-",
		"r ", "n0n0", "r0x", "r1.0", "r+", "r0xg",
	};
	uint32_t access, domid;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse_one(*state, bad[i], &access, &domid))
			fail_msg("'%s' parsed as access %u domid %u", bad[i],
				 access, domid);
}

static void test_one_bad_entry_spoils_the_list(void **state)
{
	struct perm_list perms;

	assert_false(PARSE(*state, "n0\0r5\0q7\0", &perms));
	assert_false(PARSE(*state, "n0\0\0", &perms));
	assert_false(perms_parse(*state, "n0", 0, &perms));
}

static void test_format(void **state)
{
	struct node_perm entries[] = {
		{ .domid = 0, .access = PERM_NONE },
		{ .domid = 5, .access = PERM_READ },
		{ .domid = 12, .access = PERM_WRITE },
		{ .domid = 32767, .access = PERM_BOTH },
	};
	struct perm_list perms = { .count = 4, .entries = entries };
	static const char want[] = "n0\0r5\0w12\0b32767\0";
	char buf[64];

	assert_int_equal(perms_format(&perms, NULL, 0), sizeof(want) - 1);
	memset(buf, 'X', sizeof(buf));
	assert_int_equal(perms_format(&perms, buf, sizeof(buf)),
			 sizeof(want) - 1);
	assert_memory_equal(buf, want, sizeof(want) - 1);
}

/* The size is always returned; a short buffer gets no partial entry. */
static void test_format_into_a_short_buffer(void **state)
{
	struct node_perm entries[] = {
		{ .domid = 1, .access = PERM_READ },
		{ .domid = 22, .access = PERM_WRITE },
	};
	struct perm_list perms = { .count = 2, .entries = entries };
	char buf[8];

	memset(buf, 'X', sizeof(buf));
	assert_int_equal(perms_format(&perms, buf, 5), 7);
	assert_memory_equal(buf, "r1\0XXXXX", 8);
}

static void test_round_trip(void **state)
{
	static const char wire[] = "b5\0n0\0r7\0w65535\0b1\0";
	struct perm_list perms, again;
	char buf[64];
	size_t len;

	assert_true(PARSE(*state, wire, &perms));
	len = perms_format(&perms, buf, sizeof(buf));
	assert_int_equal(len, sizeof(wire) - 1);
	assert_memory_equal(buf, wire, len);
	assert_true(parse(*state, buf, len, &again));
	assert_true(perms_equal(&perms, &again));
}

/* What goes in lenient comes out canonical, and means the same. */
static void test_round_trip_normalises(void **state)
{
	static const char wire[] = "r 5\0w+6\0b07\0";
	static const char want[] = "r5\0w6\0b7\0";
	struct perm_list perms, again;
	char buf[64];
	size_t len;

	assert_true(PARSE(*state, wire, &perms));
	len = perms_format(&perms, buf, sizeof(buf));
	assert_int_equal(len, sizeof(want) - 1);
	assert_memory_equal(buf, want, len);
	assert_true(parse(*state, buf, len, &again));
	assert_true(perms_equal(&perms, &again));
}

static void test_equal(void **state)
{
	struct perm_list a, b;

	assert_true(PARSE(*state, "n0\0r5\0", &a));
	assert_true(PARSE(*state, "n0\0r5\0", &b));
	assert_true(perms_equal(&a, &b));
	assert_true(PARSE(*state, "n0\0w5\0", &b));
	assert_false(perms_equal(&a, &b));
	assert_true(PARSE(*state, "n0\0r6\0", &b));
	assert_false(perms_equal(&a, &b));
	assert_true(PARSE(*state, "n0\0", &b));
	assert_false(perms_equal(&a, &b));
	assert_true(PARSE(*state, "r5\0n0\0", &b));
	assert_false(perms_equal(&a, &b));
	assert_true(PARSE(*state, "n0\0r5\0r5\0", &b));
	assert_false(perms_equal(&a, &b));
}

static void test_copy_is_deep(void **state)
{
	struct perm_list src, dst;

	assert_true(PARSE(*state, "b3\0r4\0", &src));
	assert_true(perms_copy(*state, &src, &dst));
	assert_true(perms_equal(&src, &dst));
	assert_ptr_not_equal(src.entries, dst.entries);
	src.entries[1].access = PERM_WRITE;
	assert_false(perms_equal(&src, &dst));
	assert_int_equal(dst.entries[1].access, PERM_READ);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup_ctx, teardown_ctx)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_letters),
		TEST(test_decimal_domids),
		TEST(test_strtol_leniency),
		TEST(test_hex_and_octal_domids),
		TEST(test_malformed_entries),
		TEST(test_one_bad_entry_spoils_the_list),
		TEST(test_format),
		TEST(test_format_into_a_short_buffer),
		TEST(test_round_trip),
		TEST(test_round_trip_normalises),
		TEST(test_equal),
		TEST(test_copy_is_deep),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
