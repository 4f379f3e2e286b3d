/* http_resp.c - the upstream response head parser (http_resp.h). */
#include "http_resp.h"
