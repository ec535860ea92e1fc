/*
 * replay.c - runs the fuzz target on files without libFuzzer, so that
 * `meson test` replays the committed corpus with any compiler.
 *
 * usage: fuzz_replay [--isolate] [--backends name,name] path...
 *        fuzz_replay --list       (the backends usable here, one a line)
 * A path is a file or a directory of files. Each input runs on the chosen
 * backends (all usable ones by default; POLLUX_FUZZ_BACKENDS works too).
 * --isolate runs every input in a child and names each failing one; the
 * exit status is 1 if any failed.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pollux.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool isolate;

/* With --isolate each input runs in a child, so that one failure does not
 * hide the next: a failing input aborts its child with the model's
 * message. Without it a failure aborts the replay, as in libFuzzer. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    static uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (!isolate) {
        fprintf(stderr, "run  %s (%zu bytes)\n", path, n);
        LLVMFuzzerTestOneInput(buf, n);
        return 0;
    }
    fflush(stderr);
    pid_t child = fork();
    if (child < 0) {
        perror("fork");
        return -1;
    }
    if (child == 0) {
        LLVMFuzzerTestOneInput(buf, n);
        _exit(0);
    }
    int status;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "FAIL %s (%zu bytes)\n", path, n);
        return -1;
    }
    fprintf(stderr, "ok   %s (%zu bytes)\n", path, n);
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int replay_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return replay_file(path);
    struct dirent **names;
    int n = scandir(path, &names, NULL, by_name), count = 0, err = 0;
    if (n < 0) {
        perror(path);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char file[4096];
        if (names[i]->d_name[0] != '.') {
            snprintf(file, sizeof file, "%s/%s", path, names[i]->d_name);
            err |= replay_file(file);
            count++;
        }
        free(names[i]);
    }
    free(names);
    if (count == 0) {
        fprintf(stderr, "%s: no inputs\n", path);
        return -1;
    }
    return err;
}

int main(int argc, char **argv)
{
    int i = 1, err = 0;
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (int b = POLLUX_BACKEND_SELECT; b <= POLLUX_BACKEND_DEVPOLL; b++)
            if (pollux_backends() & (1u << b))
                printf("%s\n", pollux_backend_name((pollux_backend)b));
        return 0;
    }
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--isolate") == 0) {
            isolate = true;
        } else if (strcmp(argv[i], "--backends") == 0 && i + 1 < argc) {
            setenv("POLLUX_FUZZ_BACKENDS", argv[++i], 1);
        } else {
            i = argc; /* unknown option: usage */
            break;
        }
    }
    if (i >= argc) {
        fprintf(stderr, "usage: %s [--isolate] [--backends name,...] file-or-directory...\n",
                argv[0]);
        return 2;
    }
    for (; i < argc; i++)
        err |= replay_path(argv[i]);
    return err != 0;
}
