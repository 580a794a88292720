/*
 * ca_json - aval-ca's --json output: a writer, no parser
 *
 * Output is one compact JSON document per run. Strings are escaped per
 * RFC 8259: quote, backslash and every control byte; bytes above 127 pass
 * as they are (everything aval-ca writes is ASCII anyway).
 */
#include <stdio.h>

#include "common/log.h"
#include "federation/ca.h"

/* ca_json_init - a writer onto f */
void
ca_json_init(struct ca_json *j, FILE *f)
{
	j->f = f;
	j->depth = 0;
	j->first[0] = 1;
}

/* ca_json_quote - one escaped string */
static void
ca_json_quote(struct ca_json *j, const char *s)
{
	fputc('"', j->f);
	for (; *s != '\0'; s++) {
		unsigned char	 c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(j->f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", j->f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(j->f, "\\u%04x", c);
		else
			fputc(c, j->f);
	}
	fputc('"', j->f);
}

/* ca_json_key - the comma and the key (NULL inside an array) */
static void
ca_json_key(struct ca_json *j, const char *key)
{
	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = 0;
	if (key != NULL) {
		ca_json_quote(j, key);
		fputc(':', j->f);
	}
}

static void
ca_json_open(struct ca_json *j, const char *key, int c)
{
	if (j->depth + 1 >= CA_JSON_DEPTH)
		fatalx("%s: nested too deep", __func__);
	ca_json_key(j, key);
	fputc(c, j->f);
	j->first[++j->depth] = 1;
	j->close[j->depth] = c == '{' ? '}' : ']';
}

/* ca_json_obj - open an object */
void
ca_json_obj(struct ca_json *j, const char *key)
{
	ca_json_open(j, key, '{');
}

/* ca_json_arr - open an array */
void
ca_json_arr(struct ca_json *j, const char *key)
{
	ca_json_open(j, key, '[');
}

/* ca_json_end - close the innermost object or array; the last adds \n */
void
ca_json_end(struct ca_json *j)
{
	if (j->depth == 0)
		fatalx("%s: nothing open", __func__);
	fputc(j->close[j->depth--], j->f);
	if (j->depth == 0)
		fputc('\n', j->f);
}

/* ca_json_str - a string, or null */
void
ca_json_str(struct ca_json *j, const char *key, const char *v)
{
	ca_json_key(j, key);
	if (v == NULL)
		fputs("null", j->f);
	else
		ca_json_quote(j, v);
}

/* ca_json_int - a number */
void
ca_json_int(struct ca_json *j, const char *key, long long v)
{
	ca_json_key(j, key);
	fprintf(j->f, "%lld", v);
}

/* ca_json_bool - true or false */
void
ca_json_bool(struct ca_json *j, const char *key, int v)
{
	ca_json_key(j, key);
	fputs(v ? "true" : "false", j->f);
}

/* ca_json_time - RFC 3339, or null for 0 */
void
ca_json_time(struct ca_json *j, const char *key, time_t t)
{
	char	 s[32];

	if (t == 0) {
		ca_json_str(j, key, NULL);
		return;
	}
	fed_time_format(t, s, sizeof(s));
	ca_json_str(j, key, s);
}
