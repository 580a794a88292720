/*
 * smtpd_relay - may this client send mail to this recipient?
 *
 * Mail for the local and relay domains is accepted from anyone; mail for
 * any other domain only from the relay networks. The bare <postmaster>
 * is always local (RFC 5321 section 4.5.1).
 */
#include "common/addr.h"
#include "common/conf.h"
#include "smtpd/smtpd.h"

/* smtpd_relay_allowed - 1 if rcpt may be accepted from this client */
int
smtpd_relay_allowed(const struct sockaddr *sa, const char *rcpt)
{
	const struct conf	*c = env->w.conf;
	const char		*domain = addr_domain(rcpt);

	if (*domain == '\0')
		return 1;
	if (conf_is_local_domain(c, domain) == 1 ||
	    conf_is_relay_domain(c, domain) == 1)
		return 1;
	return conf_in_relay_networks(c, sa) == 1;
}
