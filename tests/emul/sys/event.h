/*
 * sys/event.h - TEST-ONLY emulation of FreeBSD's kqueue(2)/kevent(2) on
 * Linux, so that pollux's kqueue backend can run its conformance suite in
 * Linux CI. Not a port of kqueue: see docs/emulation.md for what it
 * implements and what it does not.
 *
 * Constants and struct layout follow FreeBSD 12+ (<sys/event.h>), so code
 * written against this header compiles unchanged on FreeBSD.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_EMUL_SYS_EVENT_H
#define POLLUX_EMUL_SYS_EVENT_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Defined only by the emulation: lets a test tell it is not the real one. */
#define POLLUX_KQUEUE_EMULATION 1

/* Filters implemented by the emulation (FreeBSD values). The others
 * (AIO, VNODE, PROCDESC, FS, LIO, SENDFILE, EMPTY) are deliberately left
 * undefined so that code using them fails to compile. */
#define EVFILT_READ   (-1)
#define EVFILT_WRITE  (-2)
#define EVFILT_PROC   (-5)
#define EVFILT_SIGNAL (-6)
#define EVFILT_TIMER (-7)
#define EVFILT_USER  (-11)

/* Actions. */
#define EV_ADD      0x0001 /* add the event, or modify an existing one */
#define EV_DELETE   0x0002 /* delete the event */
#define EV_ENABLE   0x0004 /* report the event when it triggers */
#define EV_DISABLE  0x0008 /* keep the event but do not report it */

/* Flags. */
#define EV_ONESHOT  0x0010 /* delete the event after its first report */
#define EV_CLEAR    0x0020 /* reset the state after a report (edge) */
#define EV_RECEIPT  0x0040 /* always return an EV_ERROR entry for the change */
#define EV_DISPATCH 0x0080 /* disable the event after each report */

/* Returned values. */
#define EV_SYSFLAGS 0xF000 /* ignored in a changelist */
#define EV_EOF      0x8000 /* end of file, or the other end is gone */
#define EV_ERROR    0x4000 /* the change failed; data holds the errno */

/* EVFILT_READ fflags: on a regular file, be ready like poll(2) does. */
#define NOTE_FILE_POLL 0x0002

/* EVFILT_USER fflags. */
#define NOTE_FFNOP      0x00000000 /* ignore the input fflags */
#define NOTE_FFAND      0x40000000 /* AND fflags */
#define NOTE_FFOR       0x80000000 /* OR fflags */
#define NOTE_FFCOPY     0xc0000000 /* copy fflags */
#define NOTE_FFCTRLMASK 0xc0000000 /* mask for the operations */
#define NOTE_FFLAGSMASK 0x00ffffff
#define NOTE_TRIGGER    0x01000000 /* trigger the event */

/* EVFILT_PROC fflags: only NOTE_EXIT is reported by the emulation. */
#define NOTE_EXIT 0x80000000 /* the process exited; data = its wait status */

/* EVFILT_TIMER fflags: the unit of data (milliseconds when none). */
#define NOTE_SECONDS  0x00000001
#define NOTE_MSECONDS 0x00000002
#define NOTE_USECONDS 0x00000004
#define NOTE_NSECONDS 0x00000008
#define NOTE_ABSTIME  0x00000010 /* data is an absolute time (CLOCK_REALTIME) */

struct kevent {
    uintptr_t      ident;  /* identifier: a descriptor, timer or user id */
    short          filter; /* EVFILT_* */
    unsigned short flags;  /* EV_* */
    unsigned int   fflags; /* filter-specific flags */
    int64_t        data;   /* filter-specific data */
    void          *udata;  /* opaque user data, returned unchanged */
    uint64_t       ext[4]; /* FreeBSD 12 extensions; unused, keep zero */
};

#define EV_SET(kevp_, a, b, c, d, e, f) do {  \
        *(kevp_) = (struct kevent){           \
            .ident = (a),                     \
            .filter = (b),                    \
            .flags = (c),                     \
            .fflags = (d),                    \
            .data = (e),                      \
            .udata = (f),                     \
            .ext = {0, 0, 0, 0},              \
        };                                    \
    } while (0)

/* A new kernel event queue: a real descriptor (an epoll instance) that
 * polls readable while events are pending, closed with close(). Not
 * usable after fork() in the child (kevent() fails with EBADF). */
int kqueue(void);

/* Apply nchanges changes, then wait up to timeout (NULL: forever) for
 * events and store up to nevents of them. Returns the number stored, or
 * -1 with errno set. */
int kevent(int kq, const struct kevent *changelist, int nchanges,
           struct kevent *eventlist, int nevents, const struct timespec *timeout);

#ifdef __cplusplus
}
#endif

#endif
