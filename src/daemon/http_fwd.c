/* http_fwd.c - the heads the reverse proxy writes (http_fwd.h). */
#include "http_fwd.h"
