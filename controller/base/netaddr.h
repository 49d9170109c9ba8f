/* netaddr: IP address blocks as a configuration names them ("10.0.0.7", "10.0.0.0/24",
 * "fd00::/8", "::1") and whether a connected peer's address falls inside one. Numeric forms only:
 * a host name would make a security decision depend on DNS. An IPv4 block never matches an IPv6
 * peer, IPv4-mapped or not (the servers listen on one family each). */
#ifndef CLAWFLEET_NETADDR_H
#define CLAWFLEET_NETADDR_H
#include <stdbool.h>
#include <sys/socket.h>

#include "base/err.h"

struct netaddr_block {
	int family;		/* AF_INET or AF_INET6 */
	unsigned char addr[16];	/* network order; the first 4 bytes for AF_INET */
	unsigned int prefix;	/* bits that must match: 0-32 or 0-128 */
};

/* "ADDR" (the one address) or "ADDR/PREFIX"; bits past the prefix must be zero, so that a typo
 * such as 10.0.0.7/8 is refused rather than read as 10.0.0.0/8. */
int netaddr_parse_block(const char *text, struct netaddr_block *out, struct cf_err *err);
bool netaddr_block_contains(const struct netaddr_block *block, const struct sockaddr *addr,
			    socklen_t addrlen);

#endif
