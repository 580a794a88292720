/*
 * qid - queue IDs
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "common/qid.h"

/* qid_new - a fresh queue ID, greater than any this process made before */
void
qid_new(char out[QID_SIZE])
{
	static uint64_t	 last;
	struct timeval	 tv;
	uint64_t	 now;

	gettimeofday(&tv, NULL);
	now = (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec;
	if (now <= last)
		now = last + 1;
	last = now;
	snprintf(out, QID_SIZE, "%014llX", (unsigned long long)now);
}

/* qid_valid - 1 if s is QID_LEN upper-case hex digits */
int
qid_valid(const char *s)
{
	size_t	 i;

	for (i = 0; i < QID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return s[QID_LEN] == '\0';
}
