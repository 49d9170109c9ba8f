#include <curl/curl.h>
#include <git2.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "base/embedded.h"
#include "cmd/commands.h"

int cmd_version(int argc, char **argv)
{
	int json = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else {
			fprintf(stderr, "usage: clawfleet version [--json]\n");
			return 2;
		}
	}
	if (!json) {
		printf("clawfleet %s\n", clawfleet_version);
		return 0;
	}
	int gmaj, gmin, grev;
	git_libgit2_version(&gmaj, &gmin, &grev);
	char git[32];
	snprintf(git, sizeof(git), "%d.%d.%d", gmaj, gmin, grev);
	struct json_object *libs = json_object_new_object();
	json_object_object_add(libs, "libgit2", json_object_new_string(git));
	json_object_object_add(libs, "libyaml", json_object_new_string(yaml_get_version_string()));
	json_object_object_add(libs, "json-c", json_object_new_string(json_c_version()));
	json_object_object_add(libs, "libcurl",
			       json_object_new_string(curl_version_info(CURLVERSION_NOW)->version));
	json_object_object_add(libs, "openssl",
			       json_object_new_string(OpenSSL_version(OPENSSL_VERSION_STRING)));
	json_object_object_add(libs, "libmicrohttpd", json_object_new_string(MHD_get_version()));
	struct json_object *root = json_object_new_object();
	json_object_object_add(root, "version", json_object_new_string(clawfleet_version));
	json_object_object_add(root, "compiler", json_object_new_string(clawfleet_build_cc));
	json_object_object_add(root, "libraries", libs);
	printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
								     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return 0;
}
