/* embed: writes a C file holding the named files as byte arrays, so the CRDs ship inside the
 * binary. Usage: embed SYMBOL FILE... > out.c; SYMBOL becomes an array of struct embedded_file
 * ending with a NULL path. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: embed SYMBOL FILE...\n");
		return 2;
	}
	printf("#include \"base/embedded.h\"\n");
	for (int i = 2; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		if (!f) {
			perror(argv[i]);
			return 1;
		}
		printf("static const char file_%d[] = {", i);
		int c;
		size_t n = 0;
		while ((c = fgetc(f)) != EOF)
			printf("%s%d,", (n++ % 24) ? "" : "\n", c);
		printf("0};\n");
		fclose(f);
	}
	printf("const struct embedded_file %s[] = {\n", argv[1]);
	for (int i = 2; i < argc; i++)
		printf("\t{\"%s\", file_%d, sizeof(file_%d) - 1},\n", argv[i], i, i);
	printf("\t{0, 0, 0},\n};\n");
	return 0;
}
