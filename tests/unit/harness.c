/*
 * harness - what the unit tests share
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "tests/unit/harness.h"

#define HARNESS_LOG_MAX	256

static char	*harness_lines[HARNESS_LOG_MAX];
static size_t	 harness_nlines;

static void
harness_log_hook(int pri, const char *line)
{
	(void)pri;
	if (harness_nlines < HARNESS_LOG_MAX)
		harness_lines[harness_nlines++] = xstrdup(line);
}

/* harness_log_start - capture every log line from now on */
void
harness_log_start(void)
{
	harness_log_stop();
	log_capture_hook = harness_log_hook;
}

/* harness_log_has - 1 if a captured line contains needle */
int
harness_log_has(const char *needle)
{
	size_t	 i;

	for (i = 0; i < harness_nlines; i++)
		if (strstr(harness_lines[i], needle) != NULL)
			return 1;
	return 0;
}

/* harness_log_stop - stop capturing and forget what was captured */
void
harness_log_stop(void)
{
	size_t	 i;

	log_capture_hook = NULL;
	for (i = 0; i < harness_nlines; i++)
		free(harness_lines[i]);
	harness_nlines = 0;
}

/* harness_tmpdir - a fresh directory for one test's fixtures */
char *
harness_tmpdir(void)
{
	const char	*t = getenv("TMPDIR");
	char		*path;

	xasprintf(&path, "%s/aval-unit.XXXXXX", t ? t : "/tmp");
	if (mkdtemp(path) == NULL)
		fatal("mkdtemp %s", path);
	return path;
}

static int
harness_rm_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* harness_rmtree - remove a fixture directory and all below it */
void
harness_rmtree(const char *path)
{
	nftw(path, harness_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* harness_srcdir - the source tree, for tests that read etc/ or docs/ */
const char *
harness_srcdir(void)
{
	const char	*s = getenv("AVAL_TEST_SRCDIR");

	return s ? s : ".";
}
