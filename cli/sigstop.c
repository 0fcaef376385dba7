/* Stop signals counted and turned into a readable pipe (sigstop.h). */
#include "sigstop.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

static int sigstop_pipe[2] = {-1, -1};
static volatile sig_atomic_t sigstop_n;

static void sigstop_on_signal(int sig)
{
	int saved = errno;
	char ch = (char)sig;
	ssize_t n;

	sigstop_n++;
	n = write(sigstop_pipe[1], &ch, 1);
	(void)n;
	errno = saved;
}

int sigstop_catch(void)
{
	struct sigaction sa = {.sa_handler = sigstop_on_signal};

	if (sigstop_pipe[0] < 0 && pipe2(sigstop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0)
		return -errno;
	return 0;
}

int sigstop_count(void)
{
	return (int)sigstop_n;
}

int sigstop_fd(void)
{
	return sigstop_pipe[0];
}

void sigstop_drain(void)
{
	char drain[16];

	while (sigstop_pipe[0] >= 0 && read(sigstop_pipe[0], drain, sizeof(drain)) > 0)
		;
}
