/* Replays files through a libFuzzer harness without libFuzzer: each
 * argument is a file or a directory of files (not recursive). Used by the
 * fuzz-smoke ctest so normal builds compile and run the harnesses. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLAY_MAX_INPUT (1 << 20)
#define REPLAY_MAX_FILES 10000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path, uint8_t *buf)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f) {
		perror(path);
		return -1;
	}
	n = fread(buf, 1, REPLAY_MAX_INPUT, f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	return 0;
}

int main(int argc, char **argv)
{
	uint8_t *buf = malloc(REPLAY_MAX_INPUT);
	int count = 0, ret = 0;

	if (!buf)
		return 1;
	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		struct dirent *e;
		char path[4096];

		if (!d) {
			if (replay_file(argv[i], buf) < 0)
				ret = 1;
			count++;
			continue;
		}
		while ((e = readdir(d)) && count < REPLAY_MAX_FILES) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			if (replay_file(path, buf) < 0)
				ret = 1;
			count++;
		}
		closedir(d);
	}
	free(buf);
	printf("replayed %d inputs\n", count);
	return count > 0 ? ret : 1;
}
