/*
 * emul_fd.c - process-wide interposition of open/write/ioctl/close/dup2/dup3
 * for the test-only kernel interface emulations.
 *
 * A program (or shared library) that links this object gets these
 * definitions instead of libc's: symbol interposition makes every call
 * from the program and from shared libraries loaded after it land here.
 * A call on a descriptor that no emulation registered goes straight to
 * the kernel through syscall(2), so the fast path is one atomic load.
 * (libc's own internal calls, e.g. fopen's, still use libc directly.)
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
/* We define open() and open64() ourselves: the fortified inline wrappers
 * and the large-file redirect of open to open64 would clash with that. */
#undef _FORTIFY_SOURCE
#undef _FILE_OFFSET_BITS
#undef _TIME_BITS

#include "emul_fd.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Defined in devpoll_emul.c: opens an emulated /dev/poll. */
int devpoll_emul_open_flags(int flags);

/* A fixed array rather than a growable table: lookups happen in every
 * write() of the process, including from signal handlers, and must not
 * take a lock or race with a reallocation. 64 Ki pointers is 512 KiB of
 * zero pages, touched only where used. */
static _Atomic(struct emul_obj *) registry[EMUL_MAX_FD];

int emul_sys_close(int fd)
{
    return (int)syscall(SYS_close, fd);
}

ssize_t emul_sys_write(int fd, const void *buf, size_t len)
{
    return (ssize_t)syscall(SYS_write, fd, buf, len);
}

void emul_block_signals(sigset_t *old)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, old);
}

void emul_restore_signals(const sigset_t *old)
{
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

int emul_fd_attach(struct emul_obj *obj)
{
    if (obj->fd < 0 || obj->fd >= EMUL_MAX_FD)
        return -EMFILE;
    atomic_store(&registry[obj->fd], obj);
    return 0;
}

void emul_fd_detach(struct emul_obj *obj)
{
    struct emul_obj *expected = obj;
    if (obj->fd >= 0 && obj->fd < EMUL_MAX_FD)
        atomic_compare_exchange_strong(&registry[obj->fd], &expected, NULL);
}

/* The registered object for fd. The registry only learns of closes that
 * go through close(), dup2() or dup3() below; a number closed another way
 * (raw syscall, close_range, fcntl(F_DUPFD) onto it) stays registered.
 * Checking the file's identity here would not help: epoll and eventfd
 * files all share one anonymous inode. */
static struct emul_obj *lookup(int fd)
{
    if (fd < 0 || fd >= EMUL_MAX_FD)
        return NULL;
    return atomic_load(&registry[fd]);
}

struct emul_obj *emul_fd_get(int fd, const struct emul_ops *ops)
{
    struct emul_obj *obj = lookup(fd);
    return obj != NULL && obj->ops == ops ? obj : NULL;
}

static long fail(long negative_errno)
{
    errno = (int)-negative_errno;
    return -1;
}

/* ---- open ---------------------------------------------------------- */

static int open_common(const char *path, int flags, mode_t mode)
{
    if (path != NULL && strcmp(path, "/dev/poll") == 0)
        return devpoll_emul_open_flags(flags);
    return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

static mode_t open_mode(int flags, va_list ap)
{
    /* The mode argument exists only when the flags ask for creation. */
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
        return (mode_t)va_arg(ap, int);
    return 0;
}

int open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = open_mode(flags, ap);
    va_end(ap);
    return open_common(path, flags, mode);
}

/* With -D_FILE_OFFSET_BITS=64 (meson's default) callers' open() is
 * redirected to open64(), and _FORTIFY_SOURCE may call __open_2(). */
int open64(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = open_mode(flags, ap);
    va_end(ap);
    return open_common(path, flags | O_LARGEFILE, mode);
}

int __open_2(const char *path, int flags);
int __open_2(const char *path, int flags)
{
    return open_common(path, flags, 0);
}

int __open64_2(const char *path, int flags);
int __open64_2(const char *path, int flags)
{
    return open_common(path, flags | O_LARGEFILE, 0);
}

/* ---- write, ioctl -------------------------------------------------- */

ssize_t write(int fd, const void *buf, size_t len)
{
    struct emul_obj *obj = lookup(fd);
    if (obj != NULL && obj->ops->write != NULL) {
        ssize_t r = obj->ops->write(obj, buf, len);
        return r < 0 ? fail(r) : r;
    }
    return emul_sys_write(fd, buf, len);
}

int ioctl(int fd, unsigned long request, ...)
{
    va_list ap;
    va_start(ap, request);
    void *arg = va_arg(ap, void *);
    va_end(ap);

    struct emul_obj *obj = lookup(fd);
    if (obj != NULL && obj->ops->ioctl != NULL) {
        int r = obj->ops->ioctl(obj, request, arg);
        return r < 0 ? (int)fail(r) : r;
    }
    return (int)syscall(SYS_ioctl, fd, request, arg);
}

/* ---- close, dup2, dup3 --------------------------------------------- */

int close(int fd)
{
    struct emul_obj *obj = lookup(fd);
    if (obj != NULL) {
        emul_fd_detach(obj);
        int r = obj->ops->release(obj, true);
        return r < 0 ? (int)fail(r) : 0;
    }
    return emul_sys_close(fd);
}

/* dup2/dup3 onto an emulated number close it inside the kernel: release
 * the emulation first so the new file is not mistaken for it. */
static void release_target(int oldfd, int newfd)
{
    struct emul_obj *obj;
    if (oldfd == newfd)
        return;
    obj = lookup(newfd);
    if (obj != NULL) {
        emul_fd_detach(obj);
        obj->ops->release(obj, false);
    }
}

int dup2(int oldfd, int newfd)
{
    /* dup2(fd, fd) only checks that fd is open. */
    if (oldfd == newfd)
        return fcntl(oldfd, F_GETFD) < 0 ? -1 : newfd;
    if (fcntl(oldfd, F_GETFD) < 0)
        return -1;
    release_target(oldfd, newfd);
    return (int)syscall(SYS_dup3, oldfd, newfd, 0);
}

int dup3(int oldfd, int newfd, int flags)
{
    if (oldfd != newfd && fcntl(oldfd, F_GETFD) >= 0)
        release_target(oldfd, newfd);
    return (int)syscall(SYS_dup3, oldfd, newfd, flags);
}
