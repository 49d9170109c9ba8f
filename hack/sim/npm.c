/* npm (simulated): the two npm commands that install and inspect OpenClaw on a Mac.
 *
 *   npm install -g openclaw@<version>    (also `i`, `--global`, `--no-fund`, `--no-audit`)
 *       writes sim/version: "<version>", plus " (<sha>)" when sim/commit-for-<version> holds one.
 *       Fails with ETARGET, exit 1, when sim/fail-install lists "openclaw" or "openclaw@<version>",
 *       or for a dist-tag such as "latest": only exact versions install.
 *   npm install -g [--prefer-offline] <dir>/openclaw-<version>.tgz
 *       the same from a tarball `npm pack` wrote (the version is read from its name); needs no
 *       registry.
 *   npm pack openclaw@<version> --pack-destination <dir>
 *       writes <dir>/openclaw-<version>.tgz: the bytes of sim/package-<version> when a test
 *       put them there (a tampered package), else SIM_PACKAGE with the version in it.
 *   npm ls -g --depth=0|--depth=1 --json
 *       {"name":"lib","dependencies":{"openclaw":{"version"},<plugin>:{"version"}...}}; at
 *       depth 1 each package also lists what sim/npm-tree.json gives under its name
 *       ({"openclaw":{"<dep>":{"version"}|{"required","missing":true}}}).
 *
 * The simulated registry holds only openclaw; anything else exits 1. With sim/registry-down
 * present, every command that needs the registry fails as npm does offline (ENOTFOUND). */
#include "simstate.h"

static int npm_error(const char *code, const char *msg, const char *arg)
{
	fprintf(stderr, "npm error code %s\nnpm error %s%s\n", code, msg, arg);
	return 1;
}

/* The tarball a version packs to unless sim/package-<version> says otherwise, with the version
 * in it as a real tarball's package.json has it; for 2026.7.1 its sha256 is the openclaw.sha256
 * of the example repository's lock. */
#define SIM_PACKAGE "simulated npm tarball of openclaw@%s\n"

static bool registry_down(const char *spec)
{
	char *down = NULL;
	if (sim_read_text("registry-down", &down) <= 0)
		return false;
	free(down);
	fprintf(stderr, "npm error code ENOTFOUND\nnpm error syscall getaddrinfo\nnpm error "
			"network request to https://registry.npmjs.org/%s failed, reason: getaddrinfo "
			"ENOTFOUND registry.npmjs.org\n",
		spec);
	return true;
}

/* "<dir>/openclaw-<version>.tgz" into version. */
static bool tarball_version(const char *path, char *version, size_t size)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	size_t n = strlen(base);
	if (access(path, R_OK) < 0 || strncmp(base, "openclaw-", 9) != 0 || n < 14 ||
	    strcmp(base + n - 4, ".tgz") != 0 || n - 13 >= size)
		return false;
	snprintf(version, size, "%.*s", (int)(n - 13), base + 9);
	return true;
}

static int pack(int argc, char **argv)
{
	const char *spec = NULL, *dest = ".";
	char name[256], path[PATH_MAX], *bytes = NULL;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--pack-destination") && i + 1 < argc)
			dest = argv[++i];
		else if (argv[i][0] == '-' || spec)
			return npm_error("EUSAGE", "unsupported argument ", argv[i]);
		else
			spec = argv[i];
	}
	if (!spec)
		return npm_error("EUSAGE", "the simulator packs one package", "");
	if (registry_down(spec))
		return 1;
	if (strncmp(spec, "openclaw@", 9) != 0)
		return npm_error("E404", "404 Not Found - GET https://registry.npmjs.org/", spec);
	const char *version = spec + 9;
	if (!(*version >= '0' && *version <= '9') || !sim_safe_name(version) ||
	    sim_install_fails("openclaw", version))
		return npm_error("ETARGET", "notarget No matching version found for ", spec);
	snprintf(name, sizeof(name), "package-%s", version);
	if (sim_read_text(name, &bytes) < 0)
		return SIM_EXIT_HARNESS;
	char fallback[256];
	snprintf(fallback, sizeof(fallback), SIM_PACKAGE, version);
	const char *data = bytes ? bytes : fallback;
	struct cf_err err;
	snprintf(path, sizeof(path), "%s/openclaw-%s.tgz", dest, version);
	if (fsutil_write_atomic(path, data, strlen(data), 0644, &err) < 0) {
		free(bytes);
		return npm_error("EACCES", err.msg, "");
	}
	printf("openclaw-%s.tgz\n", version);
	free(bytes);
	return 0;
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
		else if (!strcmp(argv[i], "--no-fund") || !strcmp(argv[i], "--no-audit") ||
			 !strcmp(argv[i], "--prefer-offline"))
			continue;
		else if (argv[i][0] == '-' || spec)
			return npm_error("EUSAGE", "unsupported argument ", argv[i]);
		else
			spec = argv[i];
	}
	if (!global || !spec)
		return npm_error("EUSAGE", "the simulator installs only with -g and one package", "");
	char from_tarball[128];
	bool local = strchr(spec, '/') != NULL;
	if (local && !tarball_version(spec, from_tarball, sizeof(from_tarball)))
		return npm_error("ENOENT", "no such tarball ", spec);
	if (!local && registry_down(spec))
		return 1;
	if (!local && strncmp(spec, "openclaw@", 9) != 0)
		return npm_error("E404", "404 Not Found - GET https://registry.npmjs.org/", spec);
	const char *version = local ? from_tarball : spec + 9;
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
	bool global = false, depth0 = false, depth1 = false, json = false;
	struct json_object *plugins = NULL, *tree = NULL, *nested;
	for (int i = 0; i < argc; i++) {
		if (is_global(argv[i]))
			global = true;
		else if (!strcmp(argv[i], "--depth=0"))
			depth0 = true;
		else if (!strcmp(argv[i], "--depth=1"))
			depth1 = true;
		else if (!strcmp(argv[i], "--json"))
			json = true;
		else
			return npm_error("EUSAGE", "unsupported argument ", argv[i]);
	}
	if (!global || !(depth0 || depth1) || !json)
		return npm_error("EUSAGE", "the simulator lists only with -g --depth=0|1 --json", "");
	if (sim_read_json("plugins.json", &plugins) < 0 ||
	    (depth1 && sim_read_json("npm-tree.json", &tree) < 0))
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
	json_object_object_foreach(deps, top, entry) {
		if (tree && json_object_object_get_ex(tree, top, &nested))
			json_object_object_add(entry, "dependencies", json_object_get(nested));
	}
	json_object_object_add(out, "name", json_object_new_string("lib"));
	json_object_object_add(out, "dependencies", deps);
	printf("%s\n", json_object_to_json_string_ext(out, SIM_JSON | JSON_C_TO_STRING_PRETTY |
								       JSON_C_TO_STRING_SPACED));
	json_object_put(out);
	json_object_put(plugins);
	json_object_put(tree);
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
	if (!strcmp(cmd, "pack"))
		return pack(argc - 2, argv + 2);
	if (!strcmp(cmd, "ls") || !strcmp(cmd, "list"))
		return list(argc - 2, argv + 2);
	return npm_error("EUSAGE", "unsupported command ", cmd);
}
