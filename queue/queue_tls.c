/*
 * queue_tls - the deliverers' TLS sessions, kept by the queue
 *
 * Every aval-deliver asks here for a session before a TLS handshake
 * (IPC_DELIVER_TLS_TAKE, answered by IPC_QUEUE_TLS_SESSION) and gives
 * every new one back (IPC_DELIVER_TLS_PUT), so what one deliverer learns
 * serves all of them, and a restart of a deliverer, of the queue or of
 * avald loses nothing: the sessions live in tlsstore.h's file in the
 * spool. A take removes what it hands out: a TLS 1.3 ticket is used once,
 * whichever deliverer asks.
 *
 * Trust: the frames come from deliverers, trusted for framing only: a
 * malformed one is refused like any other (the caller closes the link);
 * tlsstore_put() bounds what is kept.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/ipc.h"
#include "common/log.h"
#include "queue/queue.h"
#include "queue/tlsstore.h"

#define QUEUE_TLS_FILE	"tls-sessions.db"

static struct tlsstore	*queue_tls_store;
static unsigned long long queue_tls_takes, queue_tls_hits, queue_tls_puts;

/* queue_tls_open - at START, in the spool; without it nothing is shared */
void
queue_tls_open(void)
{
	if ((queue_tls_store = tlsstore_open(QUEUE_TLS_FILE, 0)) == NULL)
		log_warnx("queue: TLS session store %s cannot be opened: "
		    "deliverers resume no sessions", QUEUE_TLS_FILE);
}

void
queue_tls_close(void)
{
	if (queue_tls_store != NULL)
		log_debug("queue: TLS sessions: %llu asked, %llu given, %llu "
		    "kept, %zu destinations", queue_tls_takes, queue_tls_hits,
		    queue_tls_puts, tlsstore_keys(queue_tls_store));
	tlsstore_close(queue_tls_store);
	queue_tls_store = NULL;
}

/* queue_tls_key_ok - a key as a deliverer makes them: printable, bounded */
static int
queue_tls_key_ok(const char *key)
{
	size_t	 n = 0;

	for (; key[n] != '\0'; n++)
		if ((unsigned char)key[n] < 0x20 || (unsigned char)key[n] > 0x7e)
			return 0;
	return n > 0 && n <= TLSSTORE_KEY_MAX;
}

/* queue_tls_put - a deliverer's new session; -1 if malformed */
int
queue_tls_put(struct queue_link *l, struct ipc_msgin *r)
{
	const char	*key;
	const void	*der;
	size_t		 len;
	uint32_t	 usage;
	uint64_t	 expires;

	(void)l;
	if (ipc_get_str(r, &key) == -1 || ipc_get_data(r, &der, &len) == -1 ||
	    ipc_get_u32(r, &usage) == -1 || ipc_get_u64(r, &expires) == -1 ||
	    ipc_end(r) == -1 || !queue_tls_key_ok(key) ||
	    !tlsstore_session_ok(len, usage) || expires > INT64_MAX)
		return -1;
	if (queue_tls_store == NULL)
		return 0;
	queue_tls_puts++;
	(void)tlsstore_put(queue_tls_store, key, der, len, (int)usage,
	    (int64_t)expires, (int64_t)time(NULL));
	return 0;
}

/* queue_tls_take - a deliverer asks for a session; -1 if malformed */
int
queue_tls_take(struct queue_link *l, struct ipc_msgin *r)
{
	static unsigned char	 der[TLSSTORE_DER_MAX];
	struct ipc_msg		*m;
	const char		*key;
	uint64_t		 req;
	size_t			 len = 0;
	int			 usage = 0;

	if (ipc_get_u64(r, &req) == -1 || ipc_get_str(r, &key) == -1 ||
	    ipc_end(r) == -1 || !queue_tls_key_ok(key))
		return -1;
	queue_tls_takes++;
	if (queue_tls_store != NULL && tlsstore_take(queue_tls_store, key,
	    (int64_t)time(NULL), der, &len, &usage) == 1)
		queue_tls_hits++;
	m = ipc_new(IPC_QUEUE_TLS_SESSION);
	ipc_put_u64(m, req);
	ipc_put_data(m, der, len);
	ipc_put_u32(m, (uint32_t)usage);
	ipc_send(l->peer, m);
	return 0;
}
