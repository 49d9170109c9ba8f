/* statuspage: the page shows what /status says (rendered here by status_render_json), escapes
 * what came from Git and probes, draws a bar per gateway at its share of the weight, says each
 * node's status in words as well as color, changes nothing, and shows the audit log's last
 * lines, read from the end of the file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "record/status.h"
#include "record/statuspage.h"

/* 2026-11-21T03:40:00.250Z */
#define T0 1795232400250LL

struct fixture {
	struct rollout_state state;
	struct weight_map weights;
	struct status_node nodes[3];
	struct status_pass passes[1];
	struct status_metrics metrics;
	struct status_view view;
	char dir[64];
};

static const char *const canary_reasons[] = {"doctor.yellow", "queue.over_limit"};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	rollout_state_init(&f->state);
	struct rollout_state *s = &f->state;
	s->phase = ROLLOUT_ANALYSING;
	s->step = 2;
	s->percent = 50;
	snprintf(s->promotion.tag, sizeof(s->promotion.tag), "v2026.8.0");
	snprintf(s->promotion.semver, sizeof(s->promotion.semver), "1.4.3");
	s->has_last_good = true;
	snprintf(s->last_good.tag, sizeof(s->last_good.tag), "v2026.7.1");
	s->nquarantined = 1;
	snprintf(s->quarantined[0].tag, sizeof(s->quarantined[0].tag), "v2026.7.9");
	s->conditions[COND_READY] = (struct rollout_condition){COND_FALSE, "Analysing",
							     "step 2 (50 %)", T0};
	assert_int_equal(weight_map_set(&f->weights, "canary-gw", 100, NULL), 0);
	assert_int_equal(weight_map_set(&f->weights, "stable-gw-a", 200, NULL), 0);
	assert_int_equal(weight_map_set(&f->weights, "stable-gw-b", 0, NULL), 0);
	f->nodes[0] = (struct status_node){
		.name = "canary-gw",
		.status = "degraded",
		.tag = "v2026.8.0",
		.skills = "1.4.3",
		.observed_generation = 3,
		.reasons = canary_reasons,
		.nreasons = 2,
	};
	f->nodes[1] = (struct status_node){
		.name = "stable-gw-a",
		.status = "green",
		.tag = "v2026.7.1",
		.skills = "1.4.2",
		.observed_generation = 2,
	};
	f->nodes[2] = (struct status_node){.name = "stable-gw-b", .status = "unreachable"};
	f->passes[0] = (struct status_pass){T0, false};
	f->view = (struct status_view){
		.revision = "main@sha1:2f0c9e1",
		.promotion_name = "gateway",
		.promotion_tag = "v2026.8.0",
		.promotion_semver = "1.4.3",
		.state = &f->state,
		.weights = &f->weights,
		.canary_weight = 100,
		.nodes = f->nodes,
		.nnodes = 3,
		.passes = f->passes,
		.npasses = 1,
		.metrics = &f->metrics,
		.version = "test",
	};
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_statuspage.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char path[128];
	snprintf(path, sizeof(path), "%s/promotions.jsonl", f->dir);
	unlink(path);
	rmdir(f->dir);
	rollout_state_free(&f->state);
	weight_map_free(&f->weights);
	free(f);
	return 0;
}

/* The page for the fixture's view, through the /status document as the controller does it. */
static char *page_of(const struct status_view *v, const char *audit_lines)
{
	char *json = NULL, *page = NULL;
	size_t jlen = 0, plen = 0;
	struct cf_err err;
	assert_int_equal(status_render_json(v, &json, &jlen, &err), 0);
	if (statuspage_render(json, jlen, audit_lines, &page, &plen, &err) < 0)
		fail_msg("render: %s", err.msg);
	assert_int_equal(strlen(page), plen);
	free(json);
	return page;
}

static void write_audit(const struct fixture *f, const char *text)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/promotions.jsonl", f->dir);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static char *tail_of(const struct fixture *f)
{
	char path[128], *out = NULL;
	size_t len = 0;
	struct cf_err err;
	snprintf(path, sizeof(path), "%s/promotions.jsonl", f->dir);
	if (statuspage_audit_tail(path, &out, &len, &err) < 0)
		fail_msg("tail: %s", err.msg);
	assert_int_equal(strlen(out), len);
	return out;
}

static void test_shows_what_status_says(void **state)
{
	struct fixture *f = *state;
	char *page = page_of(&f->view, "");
	assert_non_null(strstr(page, "<span id=\"phase\" class=\"badge busy\">Analysing</span>"));
	assert_non_null(strstr(page, "step 2, 50 % to the canary"));
	assert_non_null(strstr(page, "<td id=\"promotion\">gateway: v2026.8.0 <small>(skills "
				     "1.4.3)</small>"));
	assert_non_null(strstr(page, "<code id=\"revision\">main@sha1:2f0c9e1</code>"));
	assert_non_null(strstr(page, "<p id=\"quarantined\"><code>v2026.7.9</code></p>"));
	assert_non_null(strstr(page, "<td id=\"last-good\">v2026.7.1</td>"));
	assert_non_null(strstr(page, "2026-11-21T03:40:00.250Z (not every node green)"));
	assert_non_null(strstr(page, "<td>Ready</td><td>False</td><td>Analysing</td>"
				     "<td>step 2 (50 %)</td>"));
	assert_non_null(strstr(page, "No audit line yet."));
	assert_true(strlen(page) < 64 * 1024);
	free(page);
}

/* A suspended rollout says so, with the phase it froze in, as `clawfleet status` does. */
static void test_suspended_says_so(void **state)
{
	struct fixture *f = *state;
	struct rollout_state *s = &f->state;
	s->suspended_since_ms = 1;
	char *page = page_of(&f->view, "");
	assert_non_null(
		strstr(page, "<span id=\"phase\" class=\"badge busy\">Suspended (Analysing)</span>"));
	free(page);
	s->suspended_since_ms = 0;
	page = page_of(&f->view, "");
	assert_non_null(strstr(page, "<span id=\"phase\" class=\"badge busy\">Analysing</span>"));
	free(page);
}

static void test_node_status_in_words_and_color(void **state)
{
	struct fixture *f = *state;
	char *page = page_of(&f->view, "");
	assert_non_null(strstr(page, "<tr class=\"node\" data-node=\"canary-gw\" "
				     "data-status=\"degraded\"><td>canary-gw</td><td><span "
				     "class=\"badge degraded\">degraded</span></td><td>v2026.8.0"
				     "</td><td>1.4.3</td><td>3</td><td><code>doctor.yellow</code>, "
				     "<code>queue.over_limit</code></td></tr>"));
	assert_non_null(strstr(page, "data-node=\"stable-gw-a\" data-status=\"green\"><td>"
				     "stable-gw-a</td><td><span class=\"badge green\">green</span>"));
	/* An unreachable node has no tag: a dash, not an empty cell. */
	assert_non_null(strstr(page, "<span class=\"badge unreachable\">unreachable</span></td>"
				     "<td>\xe2\x80\x94</td>"));
	free(page);
}

/* Since when a node has its status, and below its reason codes what the first one says (the
 * doctor's first bad finding when doctor is the reason); a multi-line source error keeps its
 * lines. */
static void test_since_and_reason_detail(void **state)
{
	struct fixture *f = *state;
	f->nodes[0].since_ms = T0;
	f->nodes[0].reason_code = "doctor.yellow";
	f->nodes[0].reason_message = "doctor yellow: gateway.latency: p95 above target";
	f->nodes[0].doctor_first_bad = (struct readyz_finding){
		.check_id = "gateway.latency",
		.message = "p95 <above> target",
		.path = "/etc/openclaw/openclaw.json",
		.line = 12,
		.column = 3,
		.tenant = "acme",
	};
	f->nodes[2].reason_code = "node.unreachable";
	f->nodes[2].reason_message = "GET http://10.0.0.3:18081/readyz: connection refused";
	f->view.source_error = "main@sha1:9e1d is invalid (1 error); keeping main@sha1:2f0c\n"
			       "a.yaml:1:1: -: -: bad";
	char *page = page_of(&f->view, "");
	assert_non_null(strstr(page, "class=\"badge degraded\">degraded</span><br><small "
				     "class=\"since\">since 2026-11-21T03:40:00.250Z</small></td>"));
	assert_non_null(strstr(page, "<code>queue.over_limit</code><br><small class=\"detail\">"
				     "doctor: gateway.latency: p95 &lt;above&gt; target "
				     "(/etc/openclaw/openclaw.json:12:3), tenant acme</small></td>"));
	assert_non_null(strstr(page, "<td><code>node.unreachable</code><br><small class=\"detail\">"
				     "GET http://10.0.0.3:18081/readyz: connection refused</small>"
				     "</td>"));
	assert_non_null(strstr(page, "<p id=\"source-error\">main@sha1:9e1d is invalid (1 error); "
				     "keeping main@sha1:2f0c\na.yaml:1:1: -: -: bad</p>"));
	assert_non_null(strstr(page, "#source-error{white-space:pre-wrap"));
	free(page);
}

static void test_weight_bar_is_the_share_of_the_total(void **state)
{
	struct fixture *f = *state;
	char *page = page_of(&f->view, "");
	assert_non_null(strstr(page, "data-server=\"canary-gw\" data-weight=\"100\"><td>canary-gw"
				     "</td><td><div class=\"bar\"><div class=\"fill\" "
				     "style=\"width:33.3%\"></div></div><span class=\"num\">100 "
				     "(33.3 %)</span>"));
	assert_non_null(strstr(page, "style=\"width:66.6%\"></div></div><span class=\"num\">200 "
				     "(66.6 %)</span>"));
	assert_non_null(strstr(page, "data-server=\"stable-gw-b\" data-weight=\"0\"><td>"
				     "stable-gw-b</td><td><div class=\"bar\"><div class=\"fill\" "
				     "style=\"width:0.0%\">"));
	free(page);
}

static void test_unknown_and_all_zero_weights(void **state)
{
	struct fixture *f = *state;
	f->view.weights = NULL;
	char *page = page_of(&f->view, "");
	assert_non_null(strstr(page, "<p id=\"weights-unknown\">Unknown"));
	assert_null(strstr(page, "class=\"bar\""));
	free(page);

	struct weight_map drained = {0};
	assert_int_equal(weight_map_set(&drained, "canary-gw", 0, NULL), 0);
	f->view.weights = &drained;
	page = page_of(&f->view, "");
	assert_non_null(strstr(page, "style=\"width:0.0%\"></div></div><span class=\"num\">0 "
				     "(0.0 %)</span>"));
	free(page);
	weight_map_free(&drained);
}

static void test_escapes_strings_from_git_and_probes(void **state)
{
	struct fixture *f = *state;
	static const char *const evil[] = {"<script>alert(1)</script>", "a\"b'c&d"};
	f->nodes[0].reasons = evil;
	f->view.revision = "main@<img src=x onerror=alert(2)>";
	f->view.promotion_name = "gw\"><b>";
	char *page = page_of(&f->view, "");
	assert_null(strstr(page, "<script"));
	assert_null(strstr(page, "<img"));
	assert_null(strstr(page, "<b>"));
	assert_non_null(strstr(page, "<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>, "
				     "<code>a&quot;b&#39;c&amp;d</code>"));
	assert_non_null(strstr(page, "main@&lt;img src=x onerror=alert(2)&gt;"));
	assert_non_null(strstr(page, "gw&quot;&gt;&lt;b&gt;: v2026.8.0"));
	free(page);
}

static void test_read_only_and_self_contained(void **state)
{
	struct fixture *f = *state;
	char *page = page_of(&f->view, "");
	assert_true(strncmp(page, "<!DOCTYPE html>\n", 16) == 0);
	assert_non_null(strstr(page, "<meta http-equiv=\"refresh\" content=\"5\">"));
	assert_non_null(strstr(page, "<style>"));
	static const char *const forbidden[] = {"<form", "<button", "<input", "<script",
						"<link", "src=", "http://", "https://", "method="};
	for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++)
		if (strstr(page, forbidden[i]))
			fail_msg("the page contains %s", forbidden[i]);
	free(page);
}

static void test_source_error_and_bad_document(void **state)
{
	struct fixture *f = *state;
	f->view.source_error = "fetching main: connection refused";
	char *page = page_of(&f->view, "");
	assert_non_null(strstr(page, "<p id=\"source-error\">fetching main: connection refused</p>"));
	free(page);

	char *out = NULL;
	size_t len = 0;
	struct cf_err err;
	assert_int_equal(statuspage_render("[1,2]", 5, "", &out, &len, &err), -1);
	assert_non_null(strstr(err.msg, "not a JSON object"));
	assert_int_equal(statuspage_render("{\"phase\":", 9, "", &out, &len, &err), -1);
	assert_null(out);
}

#define LINE(ev, pct) \
	"{\"event\":\"" ev "\",\"from\":{\"tag\":\"v2026.7.1\"},\"percent\":" #pct \
	",\"promotion\":\"gateway\",\"reason\":\"\",\"to\":{\"tag\":\"v2026.8.0\"},\"ts\":" \
	"\"2026-11-21T03:40:0" #pct ".000Z\"}\n"

static void test_audit_lines_newest_first(void **state)
{
	struct fixture *f = *state;
	write_audit(f, LINE("step", 1) LINE("rollback", 2));
	char *tail = tail_of(f);
	char *page = page_of(&f->view, tail);
	char *rollback = strstr(page, "<tr class=\"audit\"><td>2026-11-21T03:40:02.000Z</td><td>"
				      "rollback</td><td>gateway</td><td>v2026.7.1 \xe2\x86\x92 "
				      "v2026.8.0</td><td>2 %</td><td>\xe2\x80\x94</td></tr>");
	char *step = strstr(page, "<td>step</td>");
	assert_non_null(rollback);
	assert_non_null(step);
	assert_true(rollback < step);
	free(page);
	free(tail);

	page = page_of(&f->view, NULL);
	assert_non_null(strstr(page, "The audit log could not be read"));
	free(page);
}

static void test_audit_tail_keeps_the_last_complete_lines(void **state)
{
	struct fixture *f = *state;
	char *tail = tail_of(f);
	assert_string_equal(tail, ""); /* no log yet */
	free(tail);

	char text[4096] = "";
	for (int i = 0; i < 15; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "{\"n\":%d}\n", i);
	strcat(text, "{\"n\":15,\"torn"); /* a write in progress */
	write_audit(f, text);
	tail = tail_of(f);
	assert_string_equal(tail, "{\"n\":5}\n{\"n\":6}\n{\"n\":7}\n{\"n\":8}\n{\"n\":9}\n{\"n\":10}\n"
				  "{\"n\":11}\n{\"n\":12}\n{\"n\":13}\n{\"n\":14}\n");
	free(tail);
}

static void test_audit_tail_of_a_long_log_reads_only_its_end(void **state)
{
	struct fixture *f = *state;
	/* Lines of 1,000 bytes: the read starts mid-line, which must not show. */
	size_t n = 100, width = 1000;
	char *text = malloc(n * width + 1);
	assert_non_null(text);
	for (size_t i = 0; i < n; i++) {
		memset(text + i * width, 'a' + (int)(i % 26), width - 1);
		text[i * width + width - 1] = '\n';
	}
	text[n * width] = '\0';
	write_audit(f, text);
	char *tail = tail_of(f);
	assert_int_equal(strlen(tail), 10 * width);
	assert_memory_equal(tail, text + 90 * width, 10 * width);
	free(tail);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_shows_what_status_says, setup, teardown),
		cmocka_unit_test_setup_teardown(test_suspended_says_so, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_status_in_words_and_color, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_since_and_reason_detail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_weight_bar_is_the_share_of_the_total, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unknown_and_all_zero_weights, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escapes_strings_from_git_and_probes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_read_only_and_self_contained, setup, teardown),
		cmocka_unit_test_setup_teardown(test_source_error_and_bad_document, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_audit_lines_newest_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_tail_keeps_the_last_complete_lines, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_audit_tail_of_a_long_log_reads_only_its_end,
						setup, teardown),
	};
	return cmocka_run_group_tests_name("statuspage", tests, NULL, NULL);
}
