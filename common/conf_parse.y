/*
 * conf_parse - the grammar and lexer of aval.conf
 *
 * The grammar gives the shape of the file and nothing else: a statement
 * is a line of words, optionally ending in a { } block whose contents are
 * more lines of words. What a statement means is decided below, by its
 * first word: "listen", a list ("local-domains", "relay-domains",
 * "relay-networks"), "transport", "tls-policy", a block of settings named in
 * conf_table.c ("smtpd", "queue", "deliver"), or a top-level setting from
 * that table. So the table stays the only place a setting is named, and
 * a mistake is reported in words about the setting ("smtpd max-errors:
 * ...") rather than as a grammar error. Each value then goes to the
 * functions of conf_priv.h, the same ones conf_apply_item() uses.
 *
 * Words are bare (any run of bytes other than blanks, newlines, braces,
 * '"' and '#') or quoted ("..." with \" and \\ as the only escapes, on one
 * line). '#' starts a comment outside quotes. A word is at most
 * CONF_TOKEN_MAX bytes. Control characters are errors, except the tab and
 * the carriage return of a CRLF file, which count as blanks.
 *
 * Every error is collected and parsing goes on: a bad word is reported by
 * the lexer and marked, so the statement holding it is skipped without a
 * second message; a grammar error skips to the end of its line. All state
 * lives in the struct conf_parse that each conf_parse_text() call makes,
 * which owns every word and list and is freed before the call returns, so
 * a reload parses from a clean slate.
 */

%code requires {
#include <stddef.h>

struct conf_parse;

struct conf_word {
	const char	*s;
	int		 line;
	int		 bad;		/* the lexer has reported it */
};

struct conf_words {
	struct conf_word *v;
	size_t		  n, cap;
};
}

%code top {
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netdb.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "common/conf_priv.h"
#include "common/conf_table.h"
#include "common/log.h"
#include "common/xmalloc.h"
}

%define api.pure full
%define api.prefix {conf_yy}
%define parse.error verbose
%define parse.lac full
%parse-param {struct conf_parse *st}
%lex-param {struct conf_parse *st}
%expect 0

%union {
	struct conf_word	 word;
	struct conf_words	*words;
}

%token <word>	WORD	"word"
%token		NL	"end of line"
%type <words>	words

%code {
enum conf_parse_block {
	CONF_P_NONE = 0,		/* at the top level */
	CONF_P_SKIP,			/* in a block reported as wrong */
	CONF_P_LIST,			/* local-domains, relay-domains, ... */
	CONF_P_TRANSPORT,
	CONF_P_TLS_POLICY,
	CONF_P_SETTINGS,		/* smtpd, queue, deliver */
};

struct conf_parse {
	struct conf		*conf;
	const char		*file;
	const char		*start, *p, *end;	/* p: next byte */
	int			 line;		/* of the next byte */
	int			 tokline;	/* of the last token */
	int			 last_nl;	/* last token ended a line */
	int			 nerr;
	struct conf_errors	*errs;
	struct conf_parse_info	*info;
	enum conf_parse_block	 block;		/* the open { }, if any */
	const char		*blockname;

	char			**strs;		/* every word, to free */
	size_t			  nstrs, capstrs;
	struct conf_words	**lists;	/* every list, to free */
	size_t			  nlists, caplists;
	char			  tok[CONF_TOKEN_MAX + 1];
};

static int	 conf_yylex(CONF_YYSTYPE *, struct conf_parse *);
static void	 conf_yyerror(struct conf_parse *, const char *);
static void	 conf_parse_error(struct conf_parse *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static struct conf_words *conf_parse_words(struct conf_parse *);
static void	 conf_parse_add(struct conf_words *, struct conf_word);
static void	 conf_parse_stmt(struct conf_parse *,
		    const struct conf_words *);
static void	 conf_parse_open(struct conf_parse *,
		    const struct conf_words *);
static void	 conf_parse_inner(struct conf_parse *,
		    const struct conf_words *);
}

%%

/*
 * Each line inside a block is acted on as soon as it is read, so errors
 * come out in file order; a grammar error skips only its own line.
 */
conf	: %empty
	| conf NL
	| conf stmt NL
	| conf error NL			{ st->block = CONF_P_NONE; yyerrok; }
	;

stmt	: words				{ conf_parse_stmt(st, $1); }
	| words '{'			{ conf_parse_open(st, $1); }
	  body '}'			{ st->block = CONF_P_NONE; }
	;

body	: lines
	| lines words			{ conf_parse_inner(st, $2); }
	;

lines	: %empty
	| lines NL
	| lines words NL		{ conf_parse_inner(st, $2); }
	| lines error NL		{ yyerrok; }
	;

words	: WORD				{
						$$ = conf_parse_words(st);
						conf_parse_add($$, $1);
					}
	| words WORD			{ $$ = $1; conf_parse_add($$, $2); }
	;

%%

/* conf_parse_error - report an error at a line of the file */
static void
conf_parse_error(struct conf_parse *st, int line, const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[CONF_ERR_MAX];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conf_errors_add(st->errs, st->file, line, "%s", msg);
	st->nerr++;
}

/* conf_yyerror - a grammar error, at the line of the token that caused it */
static void
conf_yyerror(struct conf_parse *st, const char *msg)
{
	conf_parse_error(st, st->tokline, "%s", msg);
}

/* conf_parse_words - a new, empty list of words owned by the parse */
static struct conf_words *
conf_parse_words(struct conf_parse *st)
{
	struct conf_words	*w = xcalloc(1, sizeof(*w));

	if (st->nlists == st->caplists) {
		st->caplists = st->caplists ? st->caplists * 2 : 16;
		st->lists = xreallocarray(st->lists, st->caplists,
		    sizeof(*st->lists));
	}
	st->lists[st->nlists++] = w;
	return w;
}

/* conf_parse_add - append a word to a list */
static void
conf_parse_add(struct conf_words *w, struct conf_word word)
{
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 8;
		w->v = xreallocarray(w->v, w->cap, sizeof(*w->v));
	}
	w->v[w->n++] = word;
}

/* conf_parse_keep - make the parse own a word's bytes */
static const char *
conf_parse_keep(struct conf_parse *st, const char *s, size_t len)
{
	if (st->nstrs == st->capstrs) {
		st->capstrs = st->capstrs ? st->capstrs * 2 : 64;
		st->strs = xreallocarray(st->strs, st->capstrs,
		    sizeof(*st->strs));
	}
	return st->strs[st->nstrs++] = xstrndup(s, len);
}

/* --- lexer --------------------------------------------------------------- */

/*
 * conf_lex_quoted - read a quoted string; st->p is past the opening quote.
 * An unterminated string stops at the end of its line, which is left for
 * the grammar so the statement still ends there.
 */
static void
conf_lex_quoted(struct conf_parse *st, struct conf_word *w, size_t *len)
{
	int	 c;

	for (;;) {
		if (st->p == st->end || *st->p == '\n') {
			conf_parse_error(st, st->line,
			    "unterminated quoted string");
			w->bad = 1;
			return;
		}
		c = (unsigned char)*st->p++;
		if (c == '"')
			return;
		if (c == '\\') {
			if (st->p == st->end || *st->p == '\n')
				continue;
			c = (unsigned char)*st->p++;
			if (c != '"' && c != '\\' && !w->bad) {
				conf_parse_error(st, st->line, "unknown escape "
				    "\\%c in a quoted string (only \\\" and "
				    "\\\\)", c >= 0x20 && c < 0x7f ? c : '?');
				w->bad = 1;
			}
		} else if ((c < 0x20 && c != '\t') || c == 0x7f) {
			if (!w->bad)
				conf_parse_error(st, st->line, "control "
				    "character 0x%02x in a quoted string", c);
			w->bad = 1;
		}
		if (*len < CONF_TOKEN_MAX)
			st->tok[*len] = (char)c;
		(*len)++;
	}
}

/* conf_lex_stop - 1 if c ends a bare word (a NUL does not: it is junk) */
static int
conf_lex_stop(char c)
{
	return c != '\0' && strchr(" \t\r\n{}\"#", c) != NULL;
}

/* conf_lex_bare - read a bare word, up to a blank, brace, quote or '#' */
static void
conf_lex_bare(struct conf_parse *st, struct conf_word *w, size_t *len)
{
	int	 c;

	while (st->p < st->end && !conf_lex_stop(*st->p)) {
		c = (unsigned char)*st->p++;
		if (c < 0x20 || c == 0x7f) {
			if (!w->bad)
				conf_parse_error(st, st->line,
				    "control character 0x%02x", c);
			w->bad = 1;
		}
		if (*len < CONF_TOKEN_MAX)
			st->tok[*len] = (char)c;
		(*len)++;
	}
}

/* conf_yylex - the next token: a word, a brace or the end of a line */
static int
conf_yylex(CONF_YYSTYPE *lval, struct conf_parse *st)
{
	struct conf_word	 w;
	size_t			 len = 0;

	memset(lval, 0, sizeof(*lval));
	while (st->p < st->end && (*st->p == ' ' || *st->p == '\t' ||
	    *st->p == '\r'))
		st->p++;
	if (st->p < st->end && *st->p == '#')
		while (st->p < st->end && *st->p != '\n')
			st->p++;
	st->tokline = st->line;
	if (st->p == st->end) {
		/* Blame the last line, not the one after it. */
		if (st->end > st->start && st->end[-1] == '\n')
			st->tokline = st->line - 1;
		/* A last line without its newline still ends a statement. */
		if (st->last_nl)
			return CONF_YYEOF;
		st->last_nl = 1;
		return NL;
	}
	if (*st->p == '\n') {
		st->p++;
		st->line++;
		st->last_nl = 1;
		return NL;
	}
	st->last_nl = 0;
	if (*st->p == '{' || *st->p == '}')
		return *st->p++;

	memset(&w, 0, sizeof(w));
	w.line = st->line;
	if (*st->p == '"') {
		st->p++;
		conf_lex_quoted(st, &w, &len);
	} else
		conf_lex_bare(st, &w, &len);
	if (len > CONF_TOKEN_MAX) {
		if (!w.bad)
			conf_parse_error(st, w.line, "a word or string longer "
			    "than %d bytes", CONF_TOKEN_MAX);
		w.bad = 1;
		len = CONF_TOKEN_MAX;
	}
	w.s = conf_parse_keep(st, st->tok, len);
	lval->word = w;
	return WORD;
}

/* --- statements ---------------------------------------------------------- */

/* conf_parse_is - 1 if the word is s */
static int
conf_parse_is(const struct conf_word *w, const char *s)
{
	return strcmp(w->s, s) == 0;
}

/* conf_parse_has_bad - 1 if a word in v[0..n) was already reported */
static int
conf_parse_has_bad(const struct conf_word *v, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (v[i].bad)
			return 1;
	return 0;
}

/*
 * conf_parse_misplaced - report a setting that is not in block (NULL: the
 * top level), saying where it does belong if anywhere
 */
static void
conf_parse_misplaced(struct conf_parse *st, const char *block,
    const struct conf_word *w)
{
	char	 where[128] = "";
	size_t	 i;
	int	 top = 0;

	for (i = 0; i < conf_table_len; i++) {
		if (strcmp(conf_table[i].name, w->s) != 0)
			continue;
		if (conf_table[i].block == NULL) {
			top = 1;
			continue;
		}
		snprintf(where + strlen(where), sizeof(where) - strlen(where),
		    "%s%s { }", where[0] != '\0' ? " or " : "",
		    conf_table[i].block);
	}
	if (top)
		conf_parse_error(st, w->line, "%s is a top-level setting, not "
		    "part of %s { }", w->s, block);
	else if (where[0] != '\0' && block == NULL)
		conf_parse_error(st, w->line, "%s is a setting of %s, not of "
		    "the top level", w->s, where);
	else if (where[0] != '\0')
		conf_parse_error(st, w->line, "%s is a setting of %s, not of "
		    "%s { }", w->s, where, block);
	else if (block == NULL)
		conf_parse_error(st, w->line, "unknown statement \"%s\"", w->s);
	else
		conf_parse_error(st, w->line, "unknown %s setting \"%s\"",
		    block, w->s);
}

/* conf_parse_setting - "NAME VALUE", at the top level or in a block */
static void
conf_parse_setting(struct conf_parse *st, const char *block,
    const struct conf_word *v, size_t n)
{
	const struct conf_row	*r;
	char			 err[CONF_ERR_MAX], lbl[128];
	int			 idx;

	if ((r = conf_row_find(block, v[0].s)) == NULL) {
		conf_parse_misplaced(st, block, &v[0]);
		return;
	}
	snprintf(lbl, sizeof(lbl), "%s%s%s", block ? block : "",
	    block ? " " : "", v[0].s);
	if (n != 2) {
		conf_parse_error(st, v[0].line, "%s: %s", lbl, n < 2 ?
		    "missing value" : "one value expected (quote a value "
		    "that has spaces)");
		return;
	}
	idx = conf_row_index(r);
	if (st->info->row_line[idx] != 0) {
		conf_parse_error(st, v[0].line, "%s is already set on line %d",
		    lbl, st->info->row_line[idx]);
		return;
	}
	st->info->row_line[idx] = v[0].line;
	if (conf_set_row(st->conf, r, v[1].s, err, sizeof(err)) == -1)
		conf_parse_error(st, v[1].line, "%s", err);
}

/*
 * conf_parse_route - "DOMAIN METHOD [NEXTHOP]", or "DOMAIN error D.D.D
 * TEXT..." (the words of the text joined by single spaces). The method
 * may also be joined to its argument by a colon, as Postfix writes it:
 * "smtp:[192.0.2.25]:25", "lmtp:unix:/run/lmtp", "error:5.1.1 gone".
 * conf_add_transport() reads the argument.
 */
static void
conf_parse_route(struct conf_parse *st, const struct conf_word *v, size_t n)
{
	char		 err[CONF_ERR_MAX], method[16], arg[CONF_TOKEN_MAX + 1];
	const char	*colon;
	size_t		 i, len = 0, mlen;

	if (n < 2) {
		conf_parse_error(st, v[0].line, "transport: expected \"DOMAIN "
		    "METHOD [NEXTHOP]\"");
		return;
	}
	arg[0] = '\0';
	mlen = (colon = strchr(v[1].s, ':')) != NULL ?
	    (size_t)(colon - v[1].s) : strlen(v[1].s);
	if (mlen >= sizeof(method)) {
		conf_parse_error(st, v[1].line, "transport: unknown method "
		    "\"%s\" (smtp, lmtp, maildir, discard or error)", v[1].s);
		return;
	}
	memcpy(method, v[1].s, mlen);
	method[mlen] = '\0';
	if (colon != NULL)
		len = strlcpy(arg, colon + 1, sizeof(arg));
	for (i = 2; i < n && len < sizeof(arg); i++)
		len += (size_t)snprintf(arg + len, sizeof(arg) - len, "%s%s",
		    len > 0 ? " " : "", v[i].s);
	if (len >= sizeof(arg)) {
		conf_parse_error(st, v[1].line, "transport: next hop too long");
		return;
	}
	if (strcmp(method, "error") != 0 && n > (colon != NULL ? 2u : 3u)) {
		conf_parse_error(st, v[n - 1].line, "transport: %s takes one "
		    "next hop", method);
		return;
	}
	if (conf_add_transport(st->conf, v[0].s, method, len > 0 ? arg : NULL,
	    err, sizeof(err)) == -1)
		conf_parse_error(st, v[1].line, "%s", err);
}

/*
 * conf_parse_listen_local - "listen on unix PATH [local]": the local
 * submission socket that sendmail(1) speaks to; local is its only kind
 */
static void
conf_parse_listen_local(struct conf_parse *st, const struct conf_word *v,
    size_t n)
{
	char	 err[CONF_ERR_MAX];

	if (n < 4 || n > 5 || (n == 5 && !conf_parse_is(&v[4], "local"))) {
		conf_parse_error(st, v[0].line, "listen: expected \"listen on "
		    "unix PATH [local]\"");
		return;
	}
	if (conf_add_listen_local(st->conf, v[3].s, err, sizeof(err)) == -1)
		conf_parse_error(st, v[3].line, "%s", err);
}

/*
 * conf_parse_listen - "listen on ADDRESS port PORT [KIND] [OPTION VALUE]...":
 * KIND mx, submission or submissions; options "client-cert request|off"
 * and "pregreet DURATION". ADDRESS may be numeric, "*" (0.0.0.0 and ::)
 * or a host name, which is looked up now and gives one listener for each
 * address it has, of both families. "listen on unix PATH [local]" is the
 * local submission socket (conf_parse_listen_local).
 */
static void
conf_parse_listen(struct conf_parse *st, const struct conf_word *v,
    size_t n)
{
	struct addrinfo		 hints, *res = NULL, *ai;
	char			 err[CONF_ERR_MAX], host[NI_MAXHOST];
	const char		*kind = "mx", *cc = "request", *pg = "0";
	enum conf_listen_kind	 k;
	unsigned char		 a[16];
	size_t			 i = 5;
	int			 rv, added = 0;

	if (st->info->nlisten++ == 0)
		st->info->listen_line = v[0].line;
	if (n >= 3 && conf_parse_is(&v[1], "on") &&
	    conf_parse_is(&v[2], "unix")) {
		conf_parse_listen_local(st, v, n);
		return;
	}
	if (n < 5 || !conf_parse_is(&v[1], "on") ||
	    !conf_parse_is(&v[3], "port")) {
		conf_parse_error(st, v[0].line, "listen: expected \"listen on "
		    "ADDRESS port PORT [mx|submission|submissions] "
		    "[client-cert request|off] [pregreet DURATION]\" or "
		    "\"listen on unix PATH [local]\"");
		return;
	}
	if (i < n && conf_listen_kind_parse(v[i].s, &k) == 0)
		kind = v[i++].s;
	for (; i < n; i += 2) {
		if (!conf_parse_is(&v[i], "client-cert") &&
		    !conf_parse_is(&v[i], "pregreet")) {
			conf_parse_error(st, v[i].line, "listen: unknown "
			    "option \"%s\" (client-cert, pregreet)", v[i].s);
			return;
		}
		if (i + 1 == n) {
			conf_parse_error(st, v[i].line, "listen: %s needs a "
			    "value", v[i].s);
			return;
		}
		if (conf_parse_is(&v[i], "client-cert"))
			cc = v[i + 1].s;
		else
			pg = v[i + 1].s;
	}
	if (conf_parse_is(&v[2], "*")) {
		if (conf_add_listen(st->conf, "0.0.0.0", v[4].s, kind, cc, pg,
		    err, sizeof(err)) == -1 ||
		    conf_add_listen(st->conf, "::", v[4].s, kind, cc, pg, err,
		    sizeof(err)) == -1)
			conf_parse_error(st, v[0].line, "%s", err);
		return;
	}
	if (inet_pton(AF_INET, v[2].s, a) == 1 ||
	    inet_pton(AF_INET6, v[2].s, a) == 1) {
		if (conf_add_listen(st->conf, v[2].s, v[4].s, kind, cc, pg, err,
		    sizeof(err)) == -1)
			conf_parse_error(st, v[0].line, "%s", err);
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rv = getaddrinfo(v[2].s, NULL, &hints, &res)) != 0) {
		conf_parse_error(st, v[2].line, "listen: cannot look up \"%s\":"
		    " %s", v[2].s, gai_strerror(rv));
		return;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		struct conf_listen	*l;
		int			 dup = 0;

		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host,
		    sizeof(host), NULL, 0, NI_NUMERICHOST) != 0)
			continue;
		/* getaddrinfo repeats an address once per protocol. */
		for (l = st->conf->listeners; l != NULL; l = l->next)
			if (added && strcmp(l->addr, host) == 0)
				dup = 1;
		if (dup)
			continue;
		if (conf_add_listen(st->conf, host, v[4].s, kind, cc, pg, err,
		    sizeof(err)) == -1) {
			conf_parse_error(st, v[0].line, "%s", err);
			break;
		}
		added++;
	}
	freeaddrinfo(res);
}

/*
 * conf_parse_tls_policy - "DOMAIN LEVEL [ca FILE|system] [crl FILE]
 * [match NAME...]"; match takes the rest of the line
 */
static void
conf_parse_tls_policy(struct conf_parse *st, const struct conf_word *v,
    size_t n)
{
	char		 err[CONF_ERR_MAX], match[CONF_TOKEN_MAX + 1];
	const char	*ca = NULL, *crl = NULL;
	size_t		 i, len = 0, wl;
	int		 have_match = 0;

	if (n < 2) {
		conf_parse_error(st, v[0].line, "tls-policy: expected \"DOMAIN "
		    "LEVEL [ca FILE] [crl FILE] [match NAME...]\"");
		return;
	}
	for (i = 2; i < n; i++) {
		if (conf_parse_is(&v[i], "match")) {
			have_match = 1;
			for (i++; i < n; i++) {
				wl = strlen(v[i].s);
				if (len + wl + 1 >= sizeof(match)) {
					conf_parse_error(st, v[i].line,
					    "tls-policy: match: too many "
					    "names");
					return;
				}
				if (len > 0)
					match[len++] = ' ';
				memcpy(match + len, v[i].s, wl);
				len += wl;
			}
			match[len] = '\0';
			if (len == 0) {
				conf_parse_error(st, v[0].line, "tls-policy: "
				    "match needs at least one name");
				return;
			}
			break;
		}
		if (!conf_parse_is(&v[i], "ca") && !conf_parse_is(&v[i],
		    "crl")) {
			conf_parse_error(st, v[i].line, "tls-policy: unknown "
			    "option \"%s\" (ca, crl, match)", v[i].s);
			return;
		}
		if (i + 1 == n) {
			conf_parse_error(st, v[i].line, "tls-policy: %s needs "
			    "a value", v[i].s);
			return;
		}
		if (conf_parse_is(&v[i], "ca"))
			ca = v[++i].s;
		else
			crl = v[++i].s;
	}
	if (conf_add_tls_policy(st->conf, v[0].s, v[1].s, ca, crl,
	    have_match ? match : NULL, err, sizeof(err)) == -1)
		conf_parse_error(st, v[0].line, "%s", err);
}

/*
 * conf_parse_tls - a line of tls { }: "certificate CERT KEY",
 * "client-certificate CERT KEY", or a setting
 */
static void
conf_parse_tls(struct conf_parse *st, const struct conf_word *v, size_t n)
{
	char	 err[CONF_ERR_MAX];

	if (conf_parse_is(&v[0], "client-certificate")) {
		if (n != 3)
			conf_parse_error(st, v[0].line, "tls: expected "
			    "\"client-certificate CERTFILE KEYFILE\"");
		else if (conf_set_tls_client_cert(st->conf, v[1].s, v[2].s,
		    err, sizeof(err)) == -1)
			conf_parse_error(st, v[0].line, "%s", err);
		return;
	}
	if (!conf_parse_is(&v[0], "certificate")) {
		conf_parse_setting(st, "tls", v, n);
		return;
	}
	if (n != 3) {
		conf_parse_error(st, v[0].line, "tls: expected \"certificate "
		    "CERTFILE KEYFILE\"");
		return;
	}
	if (conf_add_tls_cert(st->conf, v[1].s, v[2].s, err,
	    sizeof(err)) == -1)
		conf_parse_error(st, v[1].line, "%s", err);
}

/* conf_parse_federation - "certificate CERT KEY", or a setting */
static void
conf_parse_federation(struct conf_parse *st, const struct conf_word *v,
    size_t n)
{
	char	 err[CONF_ERR_MAX];

	if (!conf_parse_is(&v[0], "certificate")) {
		conf_parse_setting(st, "federation", v, n);
		return;
	}
	if (n != 3)
		conf_parse_error(st, v[0].line, "federation: expected "
		    "\"certificate CERTFILE KEYFILE\"");
	else if (conf_set_fed_cert(st->conf, v[1].s, v[2].s, err,
	    sizeof(err)) == -1)
		conf_parse_error(st, v[1].line, "%s", err);
}

/* conf_parse_list - the words of a domain or network list */
static void
conf_parse_list(struct conf_parse *st, const char *what,
    const struct conf_word *v, size_t n)
{
	struct conf		*c = st->conf;
	char			 err[CONF_ERR_MAX];
	size_t			 i;
	int			 rv;

	for (i = 0; i < n; i++) {
		if (v[i].bad)
			continue;
		if (strcmp(what, "local-domains") == 0)
			rv = conf_add_domain(&c->local_domains, what, v[i].s,
			    err, sizeof(err));
		else if (strcmp(what, "relay-domains") == 0)
			rv = conf_add_domain(&c->relay_domains, what, v[i].s,
			    err, sizeof(err));
		else
			rv = conf_add_net(c, v[i].s, err, sizeof(err));
		if (rv == -1)
			conf_parse_error(st, v[i].line, "%s", err);
	}
}

/* conf_parse_is_list - 1 if the statement is a list of domains or networks */
static int
conf_parse_is_list(const char *name)
{
	return strcmp(name, "local-domains") == 0 ||
	    strcmp(name, "relay-domains") == 0 ||
	    strcmp(name, "relay-networks") == 0;
}

/* conf_parse_stmt - act on a statement without a block */
static void
conf_parse_stmt(struct conf_parse *st, const struct conf_words *w)
{
	const struct conf_word	*v = w->v;
	const char		*name = v[0].s;

	if (conf_parse_has_bad(v, w->n))
		return;
	if (strcmp(name, "listen") == 0)
		conf_parse_listen(st, v, w->n);
	else if (conf_parse_is_list(name) || strcmp(name, "transport") == 0 ||
	    strcmp(name, "tls-policy") == 0 || conf_is_block(name))
		conf_parse_error(st, v[0].line, "%s needs a { } block%s",
		    name, conf_parse_is_list(name) ?
		    " holding its list" : "");
	else
		conf_parse_setting(st, NULL, v, w->n);
}

/*
 * conf_parse_open - a statement that opens a block: say what the lines
 * inside it are, or report it and have them skipped
 */
static void
conf_parse_open(struct conf_parse *st, const struct conf_words *w)
{
	const struct conf_word	*v = w->v;
	const char		*name = v[0].s;

	st->block = CONF_P_SKIP;
	st->blockname = name;
	if (strcmp(name, "listen") == 0 && st->info->nlisten++ == 0)
		st->info->listen_line = v[0].line;	/* no "no listener" too */
	if (conf_parse_has_bad(v, w->n))
		return;
	if (conf_parse_is_list(name))
		st->block = CONF_P_LIST;
	else if (strcmp(name, "transport") == 0)
		st->block = CONF_P_TRANSPORT;
	else if (strcmp(name, "tls-policy") == 0)
		st->block = CONF_P_TLS_POLICY;
	else if (conf_is_block(name))
		st->block = CONF_P_SETTINGS;
	else if (strcmp(name, "listen") == 0 || conf_row_find(NULL, name))
		conf_parse_error(st, v[0].line, "%s takes no { } block", name);
	else
		conf_parse_error(st, v[0].line, "unknown block \"%s\"", name);
	if (st->block != CONF_P_SKIP && w->n != 1) {
		conf_parse_error(st, v[1].line, "%s: nothing goes between %s "
		    "and its {", name, name);
		st->block = CONF_P_SKIP;
	}
}

/* conf_parse_inner - act on one line inside the open block */
static void
conf_parse_inner(struct conf_parse *st, const struct conf_words *w)
{
	switch (st->block) {
	case CONF_P_LIST:
		conf_parse_list(st, st->blockname, w->v, w->n);
		break;
	case CONF_P_TRANSPORT:
		if (!conf_parse_has_bad(w->v, w->n))
			conf_parse_route(st, w->v, w->n);
		break;
	case CONF_P_TLS_POLICY:
		if (!conf_parse_has_bad(w->v, w->n))
			conf_parse_tls_policy(st, w->v, w->n);
		break;
	case CONF_P_SETTINGS:
		if (conf_parse_has_bad(w->v, w->n))
			break;
		if (strcmp(st->blockname, "tls") == 0)
			conf_parse_tls(st, w->v, w->n);
		else if (strcmp(st->blockname, "federation") == 0)
			conf_parse_federation(st, w->v, w->n);
		else
			conf_parse_setting(st, st->blockname, w->v, w->n);
		break;
	case CONF_P_NONE:
		fatalx("%s: block line outside a block", __func__);
	case CONF_P_SKIP:
		break;
	}
}

/* conf_parse_text - parse a whole file's text into c */
int
conf_parse_text(struct conf *c, const char *file, const char *text,
    size_t len, struct conf_errors *errs, struct conf_parse_info *info)
{
	struct conf_parse	*st;
	size_t			 i;
	int			 nerr;

	/* The token buffer makes it large: keep it off the stack. */
	st = xcalloc(1, sizeof(*st));
	st->conf = c;
	st->file = file;
	st->start = st->p = text;
	st->end = text + len;
	st->line = 1;
	st->last_nl = 1;
	st->errs = errs;
	st->info = info;
	if (conf_yyparse(st) == 2)
		conf_parse_error(st, st->tokline, "out of parser memory");
	for (i = 0; i < st->nstrs; i++)
		free(st->strs[i]);
	free(st->strs);
	for (i = 0; i < st->nlists; i++) {
		free(st->lists[i]->v);
		free(st->lists[i]);
	}
	free(st->lists);
	nerr = st->nerr;
	free(st);
	return nerr;
}
