/*
 * emul_fd.h - the descriptor registry shared by the test-only kernel
 * interface emulations (kqueue_emul.c, devpoll_emul.c).
 *
 * An emulated kernel object is a real descriptor (so close(), poll() and
 * fcntl() on it behave) plus user-space state. emul_fd.c interposes
 * open(), write(), ioctl(), close(), dup2() and dup3() for the whole
 * process and routes calls on registered descriptors to the emulation;
 * every other descriptor goes straight to the kernel.
 *
 * Not installed, not part of pollux: tests only.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_EMUL_FD_H
#define POLLUX_EMUL_FD_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Descriptors at or above this number cannot hold an emulated object
 * (the registry is a fixed lock-free array, see emul_fd.c). */
#define EMUL_MAX_FD 65536

struct emul_obj;

struct emul_ops {
    /* write(2) on the descriptor: bytes written or -errno. NULL: the call
     * goes to the kernel. */
    ssize_t (*write)(struct emul_obj *obj, const void *buf, size_t len);
    /* ioctl(2): result (>= 0) or -errno. NULL: the call goes to the kernel. */
    int (*ioctl)(struct emul_obj *obj, unsigned long request, void *arg);
    /* Free the user-space state. When close_fd is true also close the
     * descriptor and return close's result (0 or -errno); dup2() over the
     * descriptor passes false because the kernel closes it. */
    int (*release)(struct emul_obj *obj, bool close_fd);
};

/* The header every emulated object starts with. */
struct emul_obj {
    const struct emul_ops *ops;
    int fd;
};

/* Register obj (obj->ops and obj->fd set by the caller). 0 or -errno
 * (-EMFILE when fd >= EMUL_MAX_FD). */
int emul_fd_attach(struct emul_obj *obj);

/* The object registered for fd with these ops, or NULL. Async-signal-safe. */
struct emul_obj *emul_fd_get(int fd, const struct emul_ops *ops);

/* Unregister obj without releasing it (its release function calls this). */
void emul_fd_detach(struct emul_obj *obj);

/* Kernel entry points that bypass the interposers (raw syscalls). */
int emul_sys_close(int fd);
ssize_t emul_sys_write(int fd, const void *buf, size_t len);

/* Block every signal for the calling thread and store the old mask in
 * *old, so that a signal handler calling into an emulation cannot
 * deadlock on a lock its own thread holds. */
void emul_block_signals(sigset_t *old);
void emul_restore_signals(const sigset_t *old);

#endif
