/*
 * check_qid - queue IDs
 */
#include <string.h>

#include "common/qid.h"
#include "tests/unit/harness.h"

START_TEST(qid_new_is_valid_and_strictly_increasing)
{
	char	 a[QID_SIZE], b[QID_SIZE];
	int	 i;

	qid_new(a);
	ck_assert_int_eq(qid_valid(a), 1);
	for (i = 0; i < 10000; i++) {
		qid_new(b);
		ck_assert_int_eq(qid_valid(b), 1);
		ck_assert_int_lt(strcmp(a, b), 0);
		memcpy(a, b, sizeof(a));
	}
}
END_TEST

static const struct {
	const char	*s;
	int		 valid;
} qid_cases[] = {
	{ "06612C9C9D97FC", 1 },
	{ "06612c9c9d97fc", 0 },	/* lower case */
	{ "06612C9C9D97F", 0 },		/* short */
	{ "06612C9C9D97FC0", 0 },	/* long */
	{ "06612C9C9D97FG", 0 },
	{ "../../etc/pas", 0 },
	{ "", 0 },
};

START_TEST(qid_valid_accepts_only_the_exact_form)
{
	ck_assert_int_eq(qid_valid(qid_cases[_i].s), qid_cases[_i].valid);
}
END_TEST

Suite *
qid_suite(void)
{
	Suite	*s = suite_create("qid");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, qid_new_is_valid_and_strictly_increasing);
	tcase_add_loop_test(tc, qid_valid_accepts_only_the_exact_form, 0,
	    sizeof(qid_cases) / sizeof(qid_cases[0]));
	suite_add_tcase(s, tc);
	return s;
}
