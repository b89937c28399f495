// The old name of <aw/pg/errors.hpp>, kept so that code including it still builds: every
// module's errors are in <aw/<module>/errors.hpp>.
#pragma once

#include <aw/pg/errors.hpp>
