/* A shared object without the entry symbol: must be refused. */
#include "ferry/plugin.h"

FERRY_PLUGIN_EXPORT int not_a_ferry_plugin(void);
FERRY_PLUGIN_EXPORT int not_a_ferry_plugin(void) { return 42; }
