/* desired_load when memory runs out: the example repository is loaded again and again, the
 * n-th of clawfleet's own allocations failing on the n-th run, until a run needs no more than
 * that. Every run either loads the whole desired state or fails with "out of memory"; none
 * crashes, aborts or succeeds with less. The allocator is replaced for this program only (glibc
 * lets a program do that, and its own functions, strdup and asprintf, then allocate through the
 * replacement too). Allocations inside the libraries (json-c, libyaml, OpenSSL) never fail
 * here: how a library copes is the library's business, and json-c 0.16 crashes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <execinfo.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/diag.h"
#include "desired/desired.h"
#include "desired/schema.h"
#include "source/treefiles.h"

/* A sanitizer brings its own allocator, which this one cannot replace: skip there. */
#if defined(__SANITIZE_ADDRESS__)
#define OWN_ALLOCATOR 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define OWN_ALLOCATOR 1
#endif
#endif

#define EXAMPLE_REPO "manifests/example-repo"
/* Far more allocations than loading the example takes. */
#define MAX_RUNS 100000

#ifdef OWN_ALLOCATOR
static void test_every_allocation_failing_in_turn(void **state)
{
	(void)state;
	skip();
}
#else
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);

/* Allocations that succeed before one fails; negative: none fails. */
static long allocations_left = -1;
static bool failed_one;
static const void *libc_base, *program_base;

static const void *base_of(const void *addr)
{
	Dl_info info;
	return dladdr(addr, &info) ? info.dli_fbase : NULL;
}

/* The allocator's caller, or the first caller outside the C library (which strdup and
 * asprintf are part of) above it, is this program, not a library it links. */
static bool called_from_clawfleet(const void *caller)
{
	const void *base = base_of(caller);
	if (base != libc_base)
		return base == program_base;
	void *frames[32];
	int n = backtrace(frames, 32), i = 0;
	while (i < n && frames[i] != caller)
		i++;
	for (i++; i < n; i++) {
		base = base_of(frames[i]);
		if (base != libc_base)
			return base == program_base;
	}
	return false;
}

static bool fail_now(const void *caller)
{
	static bool inside;
	if (allocations_left < 0 || inside)
		return false;
	if (allocations_left > 0) {
		allocations_left--;
		return false;
	}
	inside = true;
	bool ours = called_from_clawfleet(caller);
	inside = false;
	if (!ours)
		return false; /* the next one, then */
	allocations_left = -1;
	failed_one = true;
	return true;
}

void *malloc(size_t size)
{
	return fail_now(__builtin_return_address(0)) ? NULL : __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
	return fail_now(__builtin_return_address(0)) ? NULL : __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
	return fail_now(__builtin_return_address(0)) ? NULL : __libc_realloc(p, size);
}

static bool says_out_of_memory(const struct diag_list *diags)
{
	if (diags->dropped)
		return true; /* a problem that could not be recorded, for want of memory */
	for (size_t i = 0; i < diags->n; i++)
		if (diags->v[i].msg && strstr(diags->v[i].msg, "out of memory"))
			return true;
	return false;
}

/* Everything the example declares, with every name and the lock's pins present. */
static void assert_whole(const struct desired_state *ds, const struct desired_state *want)
{
	assert_int_equal(ds->nnodes, want->nnodes);
	assert_int_equal(ds->npromotions, want->npromotions);
	assert_int_equal(ds->ntenants, want->ntenants);
	assert_int_equal(ds->nlbs, want->nlbs);
	for (size_t i = 0; i < ds->nnodes; i++)
		assert_string_equal(ds->nodes[i].name, want->nodes[i].name);
	for (size_t i = 0; i < ds->ntenants; i++)
		for (int k = 0; k < FRAG_KINDS; k++)
			assert_true(!ds->tenants[i].fragments[k].merged ==
				    !want->tenants[i].fragments[k].merged);
	assert_string_equal(ds->promotions[0].tag, want->promotions[0].tag);
	assert_string_equal(ds->lock.version, want->lock.version);
	assert_string_equal(ds->lock.skills_semver, want->lock.skills_semver);
}

static void test_every_allocation_failing_in_turn(void **state)
{
	(void)state;
	struct schema_set *schemas = NULL;
	struct treefiles files = {0};
	struct cf_err err;

	if (schema_set_load_embedded(&schemas, &err) < 0)
		fail_msg("schemas: %s", err.msg);
	if (treefiles_from_dir(EXAMPLE_REPO, &files, &err) < 0)
		fail_msg("%s", err.msg);
	libc_base = base_of((const void *)__libc_malloc);
	program_base = base_of((const void *)desired_load);
	assert_non_null(libc_base);
	assert_non_null(program_base);
	assert_true(libc_base != program_base);
	/* The first backtrace loads the unwinder, allocating: not while allocations fail. */
	void *frames[4];
	backtrace(frames, 4);

	/* The example loads clean when nothing fails. */
	struct diag_list diags = {0};
	struct desired_state *want = NULL, *ds;
	assert_int_equal(desired_load(&files, schemas, NULL, &want, &diags), 0);
	assert_true(want->nnodes > 0 && want->npromotions > 0 && want->ntenants > 0);
	diag_list_free(&diags);

	long run;
	for (run = 0; run < MAX_RUNS; run++) {
		memset(&diags, 0, sizeof(diags));
		ds = NULL;
		failed_one = false;
		allocations_left = run;
		int rc = desired_load(&files, schemas, NULL, &ds, &diags);
		allocations_left = -1;
		if (rc == 0) {
			assert_non_null(ds);
			assert_whole(ds, want);
		} else if (!says_out_of_memory(&diags)) {
			diag_list_print(&diags, stderr);
			fail_msg("allocation %ld failed: the load failed without saying so", run);
		}
		desired_free(ds);
		diag_list_free(&diags);
		if (!failed_one)
			break;
	}
	assert_true(run > 0 && run < MAX_RUNS);
	desired_free(want);
	treefiles_free(&files);
	schema_set_free(schemas);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_allocation_failing_in_turn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
