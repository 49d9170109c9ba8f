/* The doctor's judgement of one `openclaw doctor --json` run. The first byte of the input is how
 * the run ended (exit status, signal, deadline, output cut at the cap), the second splits the
 * rest into stdout and stderr. Whatever the output, the result is one of the outcomes with a
 * verdict and reason code, red for every run that could not be judged, and every text in it is
 * terminated and escaped. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/proc.h"
#include "observe/doctor.h"
#include "tests/fuzz/fuzz.h"

static bool escaped(const char *s, size_t size)
{
	const char *nul = memchr(s, '\0', size);

	if (!nul)
		return false;
	for (; s < nul; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int exits[] = {0, 0, 0, 1, 2, 126, 127};
	struct proc_result run = {0};
	struct doctor_result res;
	char *out, *errtext;
	size_t split;
	char copy[64];

	if (size < 2)
		return 0;
	run.exited = !(data[0] & 0x80);
	run.exit_code = exits[(data[0] & 0x0f) % (sizeof(exits) / sizeof(exits[0]))];
	run.term_signal = run.exited ? 0 : 9;
	run.timed_out = data[0] & 0x40;
	run.out_truncated = data[0] & 0x20;
	split = size - 2 < data[1] ? size - 2 : data[1];
	/* proc hands over NUL-terminated captures. */
	errtext = fuzz_cstring(data + 2, split);
	out = fuzz_cstring(data + 2 + split, size - 2 - split);
	run.err = errtext;
	run.err_len = split;
	run.out = out;
	run.out_len = size - 2 - split;

	doctor_judge(&run, 20000, &res);
	fuzz_require(res.outcome != DOCTOR_NOT_RUN, "a finished run judged as not run");
	fuzz_require(res.outcome == DOCTOR_JUDGED || res.verdict == DOCTOR_RED,
		     "outcome %d is not red", res.outcome);
	fuzz_require(escaped(res.reason, sizeof(res.reason)), "reason not escaped: %s", res.reason);
	if (res.has_first_bad) {
		fuzz_require(escaped(res.first_bad.message, sizeof(res.first_bad.message)),
			     "message not escaped");
		fuzz_require(escaped(res.first_bad.path, sizeof(res.first_bad.path)),
			     "path not escaped");
		fuzz_require(escaped(res.first_bad.fix_hint, sizeof(res.first_bad.fix_hint)),
			     "fix hint not escaped");
		fuzz_require(escaped(res.first_bad.check_id, sizeof(res.first_bad.check_id)),
			     "check id not escaped");
	}
	(void)doctor_verdict_name(res.verdict);
	fuzz_require(doctor_reason_code(&res) != NULL || res.verdict == DOCTOR_GREEN,
		     "a %s result without a reason code", doctor_verdict_name(res.verdict));

	/* The escaper alone, into a buffer the input sizes, with a character limit. */
	size_t took = doctor_escape_text(copy, 1 + data[1] % sizeof(copy), out, run.out_len,
					 data[0] % 16);
	fuzz_require(took <= run.out_len, "took %zu of %zu bytes", took, run.out_len);
	fuzz_require(escaped(copy, sizeof(copy)), "escape_text left a control character");
	free(out);
	free(errtext);
	return 0;
}
