/* npm (simulated): the two npm commands that install and inspect OpenClaw on a Mac.
 *
 *   npm install -g openclaw@<version>    (also `i`, `--global`, `--no-fund`, `--no-audit`)
 *       writes sim/version: "<version>", plus " (<sha>)" when sim/commit-for-<version> holds one.
 *       Fails with ETARGET, exit 1, when sim/fail-install lists "openclaw" or "openclaw@<version>",
 *       or for a dist-tag such as "latest": only exact versions install.
 *   npm ls -g --depth=0 --json
 *       {"name":"lib","dependencies":{"openclaw":{"version"},<plugin>:{"version"}...}}
 *
 * The simulated registry holds only openclaw; anything else exits 1. */
#include "simstate.h"

static int npm_error(const char *code, const char *msg, const char *arg)
{
	fprintf(stderr, "npm error code %s\nnpm error %s%s\n", code, msg, arg);
	return 1;
}

static bool is_global(const char *a)
{
	return !strcmp(a, "-g") || !strcmp(a, "--global");
}

static int install(int argc, char **argv)
{
	const char *spec = NULL;
	char commit_file[256], line[512];
	bool global = false;
	for (int i = 0; i < argc; i++) {
		if (is_global(argv[i]))
			global = true;
		else if (!strcmp(argv[i], "--no-fund") || !strcmp(argv[i], "--no-audit"))
			continue;
		else if (argv[i][0] == '-' || spec)
			return npm_error("EUSAGE", "unsupported argument ", argv[i]);
		else
			spec = argv[i];
	}
	if (!global || !spec)
		return npm_error("EUSAGE", "the simulator installs only with -g and one package", "");
	if (strncmp(spec, "openclaw@", 9) != 0)
		return npm_error("E404", "404 Not Found - GET https://registry.npmjs.org/", spec);
	const char *version = spec + 9;
	/* No registry behind the simulator resolves dist-tags such as "latest". */
	bool exact = *version >= '0' && *version <= '9';
	if (!exact || !sim_safe_name(version) || sim_install_fails("openclaw", version))
		return npm_error("ETARGET", "notarget No matching version found for ", spec);
	snprintf(commit_file, sizeof(commit_file), "commit-for-%s", version);
	char *sha = sim_read_line(commit_file), *old = sim_read_line("version");
	if (sha)
		snprintf(line, sizeof(line), "%s (%s)\n", version, sha);
	else
		snprintf(line, sizeof(line), "%s\n", version);
	int rc = sim_write_text("version", line) < 0;
	if (rc == 0)
		printf("\n%s 1 package in 1s\n", old ? "changed" : "added");
	free(sha);
	free(old);
	return rc;
}

static int list(int argc, char **argv)
{
	bool global = false, depth0 = false, json = false;
	struct json_object *plugins = NULL;
	for (int i = 0; i < argc; i++) {
		if (is_global(argv[i]))
			global = true;
		else if (!strcmp(argv[i], "--depth=0"))
			depth0 = true;
		else if (!strcmp(argv[i], "--json"))
			json = true;
		else
			return npm_error("EUSAGE", "unsupported argument ", argv[i]);
	}
	if (!global || !depth0 || !json)
		return npm_error("EUSAGE", "the simulator lists only with -g --depth=0 --json", "");
	if (sim_read_json("plugins.json", &plugins) < 0)
		return SIM_EXIT_HARNESS;
	struct json_object *out = json_object_new_object(), *deps = json_object_new_object();
	char *version = sim_read_line("version");
	if (version) {
		/* sim/version may carry " (<sha>)"; npm knows only the package version. */
		version[strcspn(version, " ")] = '\0';
		struct json_object *d = json_object_new_object();
		json_object_object_add(d, "version", json_object_new_string(version));
		json_object_object_add(d, "overridden", json_object_new_boolean(false));
		json_object_object_add(deps, "openclaw", d);
	}
	if (plugins && json_object_is_type(plugins, json_type_object)) {
		json_object_object_foreach(plugins, name, v) {
			struct json_object *d = json_object_new_object();
			json_object_object_add(d, "version", json_object_get(v));
			json_object_object_add(d, "overridden", json_object_new_boolean(false));
			json_object_object_add(deps, name, d);
		}
	}
	json_object_object_add(out, "name", json_object_new_string("lib"));
	json_object_object_add(out, "dependencies", deps);
	printf("%s\n", json_object_to_json_string_ext(out, SIM_JSON | JSON_C_TO_STRING_PRETTY |
								       JSON_C_TO_STRING_SPACED));
	json_object_put(out);
	json_object_put(plugins);
	free(version);
	return 0;
}

int main(int argc, char **argv)
{
	if (sim_open("npm", NULL, argc, argv) < 0)
		return SIM_EXIT_HARNESS;
	const char *cmd = argc > 1 ? argv[1] : "";
	if (!strcmp(cmd, "install") || !strcmp(cmd, "i"))
		return install(argc - 2, argv + 2);
	if (!strcmp(cmd, "ls") || !strcmp(cmd, "list"))
		return list(argc - 2, argv + 2);
	return npm_error("EUSAGE", "unsupported command ", cmd);
}
