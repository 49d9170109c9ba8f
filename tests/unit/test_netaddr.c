/* netaddr: address blocks as a configuration names them, and which peers they hold. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/netaddr.h"

static bool holds(const char *block_text, const char *peer)
{
	struct netaddr_block block;
	struct cf_err err = { { 0 } };
	if (netaddr_parse_block(block_text, &block, &err) < 0)
		fail_msg("%s: %s", block_text, err.msg);
	struct sockaddr_in v4 = {.sin_family = AF_INET};
	struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
	if (inet_pton(AF_INET, peer, &v4.sin_addr) == 1)
		return netaddr_block_contains(&block, (struct sockaddr *)&v4, sizeof(v4));
	assert_int_equal(inet_pton(AF_INET6, peer, &v6.sin6_addr), 1);
	return netaddr_block_contains(&block, (struct sockaddr *)&v6, sizeof(v6));
}

static void test_blocks_hold_their_peers(void **state)
{
	(void)state;
	assert_true(holds("10.0.4.7", "10.0.4.7"));
	assert_false(holds("10.0.4.7", "10.0.4.8"));
	assert_true(holds("10.0.4.0/28", "10.0.4.15"));
	assert_false(holds("10.0.4.0/28", "10.0.4.16"));
	assert_true(holds("10.0.0.0/9", "10.127.255.255"));
	assert_false(holds("10.0.0.0/9", "10.128.0.0"));
	assert_true(holds("0.0.0.0/0", "192.0.2.1"));
	assert_true(holds("fd00::/8", "fdab::1"));
	assert_false(holds("fd00::/8", "fe80::1"));
	assert_true(holds("::1", "::1"));
	/* The families never meet, mapped addresses included. */
	assert_false(holds("10.0.4.7", "::ffff:10.0.4.7"));
	assert_false(holds("::/0", "10.0.4.7"));
}

static void test_bad_blocks_are_refused(void **state)
{
	static const char *const bad[] = {
		"", "controller.local", "10.0.4", "10.0.4.7/", "10.0.4.7/33", "10.0.4.7/8",
		"fd00::1/8", "::1/129", "10.0.0.0/-1", "10.0.0.0/08x", "10.0.0.0/1000",
	};
	struct netaddr_block block;
	struct cf_err err;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		if (netaddr_parse_block(bad[i], &block, &err) == 0)
			fail_msg("\"%s\" was accepted", bad[i]);
		assert_true(err.msg[0] != '\0');
	}
	assert_int_equal(netaddr_parse_block("10.0.4.7/8", &block, &err), -1);
	assert_non_null(strstr(err.msg, "write the network address"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blocks_hold_their_peers),
		cmocka_unit_test(test_bad_blocks_are_refused),
	};
	return cmocka_run_group_tests_name("netaddr", tests, NULL, NULL);
}
