/* natbed-agent-test: natbed-agent with the tests' own method "testbind"
 * (method_testbind.c) beside the product's table, for integration tests
 * that run before the product's methods exist or need a method of known
 * behaviour. */
#include "agent.h"
#include "method_testbind.h"

int main(int argc, char **argv)
{
	static const struct agent_env env = {.find_method = method_testbind_find};

	return agent_main(argc, argv, &env);
}
