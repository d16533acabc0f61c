/* check_io.h on a host with a C library. */
#include <stdio.h>

#include "check_io.h"

#define MAX_FILES 4
static FILE *files[MAX_FILES];

long check_open(const char *path, int write) {
  for (long h = 0; h < MAX_FILES; ++h) {
    if (files[h] == NULL) {
      files[h] = fopen(path, write ? "wb" : "rb");
      return files[h] ? h : -1;
    }
  }
  return -1;
}

long check_length(long handle) {
  FILE *f = files[handle];
  long here = ftell(f), end;
  if (fseek(f, 0, SEEK_END) != 0) return -1;
  end = ftell(f);
  fseek(f, here, SEEK_SET);
  return end;
}

int check_read(long handle, void *buffer, size_t bytes) { return fread(buffer, 1, bytes, files[handle]) != bytes; }

int check_write(long handle, const void *buffer, size_t bytes) {
  return fwrite(buffer, 1, bytes, files[handle]) != bytes;
}

void check_close(long handle) {
  fclose(files[handle]);
  files[handle] = NULL;
}

void check_print(const char *text) { puts(text); }
