/* Small helpers shared by natbed's subcommands. */
#include <errno.h>
#include <sched.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "natbed/strcopy.h"
#include "natbed/topo.h"

int cli_need_root(const char *what)
{
	if (geteuid() == 0)
		return 0;
	fprintf(stderr,
		"natbed %s: must run as root (network namespaces and the emulator's control socket "
		"are root's); try sudo\n",
		what);
	return -1;
}

int cli_check_prefix(const char *cmd, const char *prefix)
{
	size_t i, n = strlen(prefix);

	if (n == 0 || n > TOPO_PREFIX_MAX) {
		fprintf(stderr, "natbed %s: --prefix '%s': must be 1 to %d characters\n", cmd,
			prefix, TOPO_PREFIX_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		char c = prefix[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
			fprintf(stderr,
				"natbed %s: --prefix '%s': only a-z, 0-9 and '-' are allowed\n",
				cmd, prefix);
			return -1;
		}
	}
	return 0;
}

void cli_run_path(char *buf, size_t len, const char *prefix, const char *leaf)
{
	snprintf(buf, len, "%s/%s%s%s", CLI_RUN_DIR, prefix, leaf ? "/" : "", leaf ? leaf : "");
}

const char *cli_exe_dir(void)
{
	static char dir[PATH_MAX];
	ssize_t n;
	char *slash;

	if (dir[0])
		return dir;
	n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	if (n <= 0) {
		strcpy(dir, ".");
		return dir;
	}
	dir[n] = '\0';
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	return dir;
}

const char *cli_child_path(void)
{
	static char path[CLI_PATH_MAX];
	const char *d = cli_exe_dir(), *old = getenv("PATH");

	if (!path[0])
		snprintf(path, sizeof(path), "%s:%s/../emulator:%s/../agents:%s", d, d, d,
			 old ? old : "/usr/sbin:/usr/bin:/sbin:/bin");
	return path;
}

int cli_mkdirs(const char *dir)
{
	char path[PATH_MAX], *p;
	struct stat st;

	str_copy(path, sizeof(path), dir);
	for (p = path + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(path, 0755) < 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	if (mkdir(path, 0755) == 0)
		return 0;
	if (errno != EEXIST || stat(path, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	/* found, not made: checked now rather than when the results are due */
	return access(path, W_OK | X_OK);
}

int cli_which(const char *name, char *out, size_t len)
{
	char dirs[CLI_PATH_MAX], *dir, *save = NULL;

	if (strchr(name, '/')) {
		if (access(name, X_OK) < 0)
			return -1;
		str_copy(out, len, name);
		return 0;
	}
	str_copy(dirs, sizeof(dirs), cli_child_path());
	for (dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		if ((size_t)snprintf(out, len, "%s/%s", dir, name) < len && access(out, X_OK) == 0)
			return 0;
	}
	return -1;
}

int cli_host_view(void)
{
	/* A private mount namespace, so nothing below leaks to the machine. */
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		return -errno;
	/* /sys as the host's network namespace sees it, as `ip netns exec`
	 * gives it (/sys/class/net lists the host's own interfaces). */
	if (umount2("/sys", MNT_DETACH) == 0)
		mount("sysfs", "/sys", "sysfs", 0, NULL);
	/* No name server is reachable from a topology: an empty resolv.conf
	 * makes lookups fail at once on loopback instead of sending queries
	 * toward the machine's real resolver. */
	mount("/dev/null", "/etc/resolv.conf", NULL, MS_BIND, NULL);
	return 0;
}
