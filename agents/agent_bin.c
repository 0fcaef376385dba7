/* natbed-agent's main: the subcommands (agent.c) with the product's
 * method table. */
#include "agent.h"

int main(int argc, char **argv)
{
	static const struct agent_env env = {.find_method = method_find};

	return agent_main(argc, argv, &env);
}
