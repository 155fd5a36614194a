// SPDX-License-Identifier: GPL-2.0
/*
 * rtas-suspend-me: TEST HARNESS ONLY (vm-test guests), never shipped.
 *
 * Triggers a migration the way old drmgr does (API v0): the rtas(2)
 * system call with the ibm,suspend-me token and the stream id, instead of
 * a write to /sys/kernel/mobility/migration. On <= 5.10 the syscall calls
 * rtas_ibm_suspend_me() directly; on >= 5.11 it goes through
 * rtas_syscall_dispatch_ibm_suspend_me(). Either way it is the second
 * trigger source lpmtrace must attribute.
 *
 *   rtas-suspend-me STREAM_ID        e.g. rtas-suspend-me 0x1
 *
 * Prints one line `syscall=RC errno=E status=S` and exits 0 when the
 * syscall returned 0 and the RTAS status word is 0, 1 otherwise, 2 on
 * usage or device-tree errors.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_rtas
#define __NR_rtas 255 /* powerpc */
#endif

/* The kernel's struct rtas_args: every word big-endian. */
struct rtas_args {
	uint32_t token;
	uint32_t nargs;
	uint32_t nret;
	uint32_t args[16];
	uint32_t *rets;
};

static int read_token(uint32_t *token)
{
	const char *path = "/proc/device-tree/rtas/ibm,suspend-me";
	unsigned char b[4];
	FILE *f = fopen(path, "rb");

	if (!f || fread(b, 1, 4, f) != 4) {
		fprintf(stderr, "rtas-suspend-me: cannot read %s: %s\n", path, strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	/* The property is a big-endian cell. */
	*token = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	return 0;
}

int main(int argc, char **argv)
{
	struct rtas_args a;
	unsigned long long stream;
	uint32_t token;
	char *end;
	long rc;

	if (argc != 2) {
		fprintf(stderr, "usage: rtas-suspend-me STREAM_ID\n");
		return 2;
	}
	errno = 0;
	stream = strtoull(argv[1], &end, 0);
	if (errno || *end || end == argv[1]) {
		fprintf(stderr, "rtas-suspend-me: bad stream id %s\n", argv[1]);
		return 2;
	}
	if (read_token(&token))
		return 2;
	memset(&a, 0, sizeof(a));
	a.token = __builtin_bswap32(token);
	a.nargs = __builtin_bswap32(2);
	a.nret = __builtin_bswap32(1);
	a.args[0] = __builtin_bswap32((uint32_t)(stream >> 32));
	a.args[1] = __builtin_bswap32((uint32_t)stream);
	rc = syscall(__NR_rtas, &a);
	/* rets[0] follows the two arguments. */
	int32_t status = (int32_t)__builtin_bswap32(a.args[2]);
	printf("syscall=%ld errno=%d status=%d token=%u\n", rc, rc ? errno : 0, status, token);
	return rc == 0 && status == 0 ? 0 : 1;
}
