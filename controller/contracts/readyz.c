#include "contracts/readyz.h"

const char *probe_status_name(enum probe_status s)
{
	switch (s) {
	case PROBE_GREEN:
		return "green";
	case PROBE_DEGRADED:
		return "degraded";
	case PROBE_RED:
		break;
	}
	return "red";
}
