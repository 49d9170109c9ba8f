#include "base/netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#define BLOCK_TEXT_MAX (INET6_ADDRSTRLEN + 4)

int netaddr_parse_block(const char *text, struct netaddr_block *out, struct cf_err *err)
{
	char host[BLOCK_TEXT_MAX];
	size_t len = strlen(text);
	if (len == 0 || len >= sizeof(host))
		return cf_err_set(err, "\"%.*s\": expected an IP address or ADDRESS/PREFIX",
				  BLOCK_TEXT_MAX, text);
	memcpy(host, text, len + 1);
	memset(out, 0, sizeof(*out));

	char *slash = strchr(host, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, host, out->addr) == 1) {
		out->family = AF_INET;
		out->prefix = 32;
	} else if (inet_pton(AF_INET6, host, out->addr) == 1) {
		out->family = AF_INET6;
		out->prefix = 128;
	} else {
		return cf_err_set(err, "\"%s\": not a numeric IPv4 or IPv6 address", text);
	}
	if (slash) {
		unsigned int max = out->prefix, prefix = 0;
		const char *c = slash + 1;
		if (!*c || strlen(c) > 3)
			return cf_err_set(err, "\"%s\": the prefix length must be 0 to %u", text, max);
		for (; *c; c++) {
			if (*c < '0' || *c > '9')
				return cf_err_set(err, "\"%s\": the prefix length must be 0 to %u",
						  text, max);
			prefix = prefix * 10 + (unsigned int)(*c - '0');
		}
		if (prefix > max)
			return cf_err_set(err, "\"%s\": the prefix length must be 0 to %u", text, max);
		out->prefix = prefix;
	}
	unsigned int bytes = out->family == AF_INET ? 4 : 16;
	for (unsigned int bit = out->prefix; bit < bytes * 8; bit++)
		if (out->addr[bit / 8] & (0x80u >> (bit % 8)))
			return cf_err_set(err,
					  "\"%s\": address bits past the /%u prefix are set; "
					  "write the network address",
					  text, out->prefix);
	return 0;
}

bool netaddr_block_contains(const struct netaddr_block *block, const struct sockaddr *addr,
			    socklen_t addrlen)
{
	const unsigned char *peer;
	if (addr->sa_family != block->family)
		return false;
	if (block->family == AF_INET && addrlen >= (socklen_t)sizeof(struct sockaddr_in))
		peer = (const unsigned char *)&((const struct sockaddr_in *)addr)->sin_addr;
	else if (block->family == AF_INET6 && addrlen >= (socklen_t)sizeof(struct sockaddr_in6))
		peer = ((const struct sockaddr_in6 *)addr)->sin6_addr.s6_addr;
	else
		return false;
	unsigned int whole = block->prefix / 8, rest = block->prefix % 8;
	if (memcmp(peer, block->addr, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	unsigned char mask = (unsigned char)(0xffu << (8 - rest));
	return (peer[whole] & mask) == block->addr[whole];
}
