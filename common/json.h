/*
 * json - the JSON string literal (RFC 8259), one escape for all of aval
 *
 * json_str() appends s to a buf as a quoted JSON string: quote and
 * backslash escaped, newline, carriage return and tab as \n \r \t, every
 * other control byte and DEL as \u00XX, well-formed UTF-8 as it is. A byte
 * that does not start a well-formed UTF-8 sequence (RFC 3629: no overlong
 * form, no surrogate, nothing above U+10FFFF) becomes \ufffd, so what comes
 * out is valid JSON whatever a peer put into the string. NULL is written
 * as null.
 *
 * It appends all of the literal or, when the buf's cap leaves too little
 * room, nothing and returns -1.
 */
#ifndef AVAL_COMMON_JSON_H
#define AVAL_COMMON_JSON_H

struct buf;

int	 json_str(struct buf *, const char *);	/* 0, or -1 at the cap */

#endif
