/* cfgtable: a daemon's YAML configuration file as one declarative table of keys, as redis
 * declares its config: a dotted name ("service.manager" is `manager` inside `service`), a type,
 * where the value goes in the config struct, a default, and whether it is required. cfgtable_load
 * reads the file and reports every problem at once as FILE:LINE:COL: -: KEY: message (unknown
 * keys, wrong types, bad values, missing required keys); values are never echoed, since some
 * (webhook URLs) are credentials. A config with errors is freed, never half-applied. */
#ifndef CLAWFLEET_CFGTABLE_H
#define CLAWFLEET_CFGTABLE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/diag.h"

enum cfg_type {
	CFG_STRING,   /* char * */
	CFG_PATH,     /* char *, absolute */
	CFG_INT,      /* int64_t within [min, max] */
	CFG_DURATION, /* int64_t milliseconds ("30s", "5m") */
	CFG_BOOL,     /* bool */
	CFG_ARGV,     /* char **, NULL-terminated list of 1..64 strings */
	CFG_ENUM,     /* int: the index of the value in choices */
	CFG_RECORDS,  /* struct cfg_records: a list of 1..64 maps, each key one of choices */
};

/* A CFG_RECORDS value: n rows of width (the number of choices) strings, row-major, in the order
 * of choices; NULL where a map left that key out. A map needs at least one key. */
struct cfg_records {
	size_t n, width;
	char **values;
};

struct cfg_key {
	const char *name;
	enum cfg_type type;
	size_t offset;
	const char *def; /* default as text; NULL: none */
	bool required;
	int64_t min, max;           /* CFG_INT */
	const char *const *choices; /* CFG_ENUM values, CFG_RECORDS keys; NULL-terminated */
};

/* The caller's cross-key checks (cfgtable_report each problem); they run whenever the file
 * parsed, even after key errors, so every problem shows in one run. */
typedef void cfgtable_check_fn(const char *path, void *cfg, struct diag_list *diags);

/* Loads path into cfg (zeroed by the caller) following keys, then runs check (may be NULL).
 * 0 when clean; else -1 with every problem in diags and cfg freed. */
int cfgtable_load(const struct cfg_key *keys, size_t nkeys, const char *path, void *cfg,
		  cfgtable_check_fn *check, struct diag_list *diags);
/* For a caller's cross-key checks after a load: one problem at KEY, no position. */
void cfgtable_report(struct diag_list *diags, const char *path, const char *key, const char *msg);
/* Frees every string, argv and record list the table put into cfg, and zeroes it. */
void cfgtable_free(const struct cfg_key *keys, size_t nkeys, void *cfg);

#endif
