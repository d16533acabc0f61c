/* File input/output of the front-end check: stdio on a host, semihosting on the Cortex-M7 in
 * QEMU (the board has no file system; the emulator serves the host's files). */
#ifndef EDGENAS_CHECK_IO_H_
#define EDGENAS_CHECK_IO_H_

#include <stddef.h>

/* Open a file for reading ("rb") or writing ("wb"); a negative handle when it cannot be opened. */
long check_open(const char *path, int write);
/* Bytes of an open file, or a negative number. */
long check_length(long handle);
/* 0 when all bytes were read or written. */
int check_read(long handle, void *buffer, size_t bytes);
int check_write(long handle, const void *buffer, size_t bytes);
void check_close(long handle);
/* One line of text on the console. */
void check_print(const char *text);

#endif /* EDGENAS_CHECK_IO_H_ */
