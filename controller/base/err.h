/* err: the one error slot every fallible function fills. Functions return 0 on success and a
 * negative value on failure, after writing a message a user can act on into *err (which may be
 * NULL when the caller does not care). cf_err_set returns -1 so `return cf_err_set(...)` reads
 * naturally; cf_err_prefix adds context while the error travels up ("reading x: ..."). */
#ifndef CLAWFLEET_ERR_H
#define CLAWFLEET_ERR_H

#define CF_ERR_MSG 1024

struct cf_err {
	char msg[CF_ERR_MSG];
};

int cf_err_set(struct cf_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cf_err_errno(struct cf_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cf_err_prefix(struct cf_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
