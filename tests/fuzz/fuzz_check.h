/* fuzz_check.h - what a libFuzzer target and replay.c agree on: the
 * entry point, and CHECK, which aborts on a broken invariant so that
 * libFuzzer keeps the input and replay.c's TAP output names it. Not
 * assert(): it must hold in every build, NDEBUG or not. */
#ifndef RP_FUZZ_CHECK_H
#define RP_FUZZ_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) \
	do { \
		if (!(cond)) \
			abort(); \
	} while (0)

#endif
