/*
 * check_json - the JSON string literal: escapes, UTF-8, the cap
 */
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "tests/unit/harness.h"

static const struct {
	const char	*in;
	const char	*out;
} json_cases[] = {
	{ "", "\"\"" },
	{ "uni-a", "\"uni-a\"" },
	{ "say \"hi\" \\o/", "\"say \\\"hi\\\" \\\\o/\"" },
	{ "a\nb\rc\td", "\"a\\nb\\rc\\td\"" },
	{ "\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"" },
	{ "</script>", "\"</script>\"" },
	/* Well-formed UTF-8 of every length passes as it is. */
	{ "\xc3\xb1" "\xe2\x82\xac" "\xf0\x9f\x93\xa7",
	    "\"\xc3\xb1\xe2\x82\xac\xf0\x9f\x93\xa7\"" },
	/* A stray continuation byte, a lone lead byte, a cut sequence. */
	{ "a\x80z", "\"a\\ufffdz\"" },
	{ "\xc3", "\"\\ufffd\"" },
	{ "\xe2\x82", "\"\\ufffd\\ufffd\"" },
	/* Overlong forms, a surrogate, beyond U+10FFFF, bytes never used. */
	{ "\xc0\xaf", "\"\\ufffd\\ufffd\"" },
	{ "\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"" },
	{ "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"" },
	{ "\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },
	{ "\xfe\xff", "\"\\ufffd\\ufffd\"" },
	/* The edges that are allowed. */
	{ "\xed\x9f\xbf" "\xee\x80\x80" "\xf4\x8f\xbf\xbf",
	    "\"\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf\"" },
};

START_TEST(json_str_escapes_as_rfc_8259_wants)
{
	struct buf	*b = buf_new(8, 4096);

	ck_assert_int_eq(json_str(b, json_cases[_i].in), 0);
	ck_assert_str_eq(buf_data(b), json_cases[_i].out);
	buf_free(b);
}
END_TEST

START_TEST(json_str_writes_null_for_null)
{
	struct buf	*b = buf_new(8, 64);

	ck_assert_int_eq(json_str(b, NULL), 0);
	ck_assert_str_eq(buf_data(b), "null");
	buf_free(b);
}
END_TEST

START_TEST(json_str_spans_many_chunks)
{
	struct buf	*b = buf_new(8, 1 << 20);
	char		 in[3001];
	size_t		 i;

	for (i = 0; i < 3000; i++)
		in[i] = i % 3 == 0 ? '"' : i % 3 == 1 ? '\x01' : 'x';
	in[3000] = '\0';
	ck_assert_int_eq(json_str(b, in), 0);
	/* Each of 1000 triples: \" \u0001 x, and the two quotes. */
	ck_assert_uint_eq(buf_len(b), 1000 * (2 + 6 + 1) + 2);
	ck_assert_int_eq(buf_data(b)[0], '"');
	ck_assert_int_eq(buf_data(b)[buf_len(b) - 1], '"');
	ck_assert_int_eq(strncmp(buf_data(b) + 1, "\\\"\\u0001x\\\"", 11), 0);
	buf_free(b);
}
END_TEST

START_TEST(json_str_adds_all_or_nothing_at_the_cap)
{
	struct buf	*b = buf_new(4, 10);

	ck_assert_int_eq(buf_addstr(b, "[ "), 0);
	/* "abcdefg" takes 9: two too many. */
	ck_assert_int_eq(json_str(b, "abcdefg"), -1);
	ck_assert_str_eq(buf_data(b), "[ ");
	ck_assert_int_eq(json_str(b, "abcdef"), 0);
	ck_assert_str_eq(buf_data(b), "[ \"abcdef\"");
	buf_free(b);
}
END_TEST

Suite *
json_suite(void)
{
	Suite	*s = suite_create("json");
	TCase	*tc = tcase_create("str");

	tcase_add_loop_test(tc, json_str_escapes_as_rfc_8259_wants, 0,
	    sizeof(json_cases) / sizeof(json_cases[0]));
	tcase_add_test(tc, json_str_writes_null_for_null);
	tcase_add_test(tc, json_str_spans_many_chunks);
	tcase_add_test(tc, json_str_adds_all_or_nothing_at_the_cap);
	suite_add_tcase(s, tc);
	return s;
}
