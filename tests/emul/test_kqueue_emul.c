/*
 * test_kqueue_emul.c - self-test of the kqueue(2) emulation: the FreeBSD
 * semantics that pollux's kqueue backend relies on.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/event.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "selftest.h"

/* ---- helpers -------------------------------------------------------- */

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static struct timespec ms_ts(int ms)
{
    return (struct timespec){ ms / 1000, (long)(ms % 1000) * 1000000 };
}

/* Apply one change with no room for errors: returns kevent's result. */
static int change(int kq, uintptr_t ident, short filter, unsigned short flags,
                  unsigned fflags, int64_t data, void *udata)
{
    struct kevent kev;
    EV_SET(&kev, ident, filter, flags, fflags, data, udata);
    return kevent(kq, &kev, 1, NULL, 0, NULL);
}

static int wait_ms(int kq, struct kevent *out, int n, int ms)
{
    struct timespec ts = ms_ts(ms);
    return kevent(kq, NULL, 0, out, n, ms < 0 ? NULL : &ts);
}

static const struct kevent *find(const struct kevent *ev, int n, uintptr_t ident, short filter)
{
    for (int i = 0; i < n; i++)
        if (ev[i].ident == ident && ev[i].filter == filter)
            return &ev[i];
    return NULL;
}

struct fixture {
    int kq;
    int p[2]; /* a pipe: p[0] read end, p[1] write end */
};

static int setup(void **state)
{
    static struct fixture f;
    f.kq = kqueue();
    if (f.kq < 0 || pipe(f.p) < 0)
        return -1;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    close(f->kq);
    close(f->p[0]);
    close(f->p[1]);
    return 0;
}

/* ---- the descriptor ------------------------------------------------- */

static void kqueue_descriptor_polls_readable_when_events_are_pending(void **state)
{
    struct fixture *f = *state;
    struct pollfd p = { .fd = f->kq, .events = POLLIN };

    assert_int_equal(poll(&p, 1, 0), 0);
    assert_int_equal(change(f->kq, (uintptr_t)f->p[0], EVFILT_READ, EV_ADD, 0, 0, NULL), 0);
    assert_int_equal(poll(&p, 1, 0), 0);
    write_bytes(f->p[1], "x");
    assert_int_equal(poll(&p, 1, 100), 1);
}

static void kqueue_descriptor_polls_readable_for_a_user_trigger(void **state)
{
    struct fixture *f = *state;
    struct pollfd p = { .fd = f->kq, .events = POLLIN };
    struct kevent ev;

    assert_int_equal(change(f->kq, 1, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL), 0);
    assert_int_equal(poll(&p, 1, 0), 0);
    assert_int_equal(change(f->kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL), 0);
    assert_int_equal(poll(&p, 1, 0), 1);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 0), 1);
    assert_int_equal(poll(&p, 1, 0), 0);
}

static void close_of_a_kqueue_releases_it(void **state)
{
    (void)state;
    int kq = kqueue();
    assert_true(kq >= 0);
    assert_int_equal(change(kq, 7, EVFILT_TIMER, EV_ADD, 0, 1000, NULL), 0);
    assert_int_equal(change(kq, 8, EVFILT_USER, EV_ADD, 0, 0, NULL), 0);
    assert_int_equal(close(kq), 0);
    errno = 0;
    assert_int_equal(kevent(kq, NULL, 0, NULL, 0, NULL), -1);
    assert_int_equal(errno, EBADF);
}

static void kevent_on_a_non_kqueue_fails_with_ebadf(void **state)
{
    struct fixture *f = *state;
    errno = 0;
    assert_int_equal(kevent(f->p[0], NULL, 0, NULL, 0, NULL), -1);
    assert_int_equal(errno, EBADF);
}

/* ---- EVFILT_READ / EVFILT_WRITE ------------------------------------- */

static void read_filter_reports_bytes_available_and_udata(void **state)
{
    struct fixture *f = *state;
    struct kevent ev[2];
    int tag;

    write_bytes(f->p[1], "hello");
    assert_int_equal(change(f->kq, (uintptr_t)f->p[0], EVFILT_READ, EV_ADD, 0, 0, &tag), 0);
    assert_int_equal(wait_ms(f->kq, ev, 2, 0), 1);
    assert_int_equal(ev[0].ident, f->p[0]);
    assert_int_equal(ev[0].filter, EVFILT_READ);
    assert_int_equal(ev[0].data, 5);
    assert_ptr_equal(ev[0].udata, &tag);
    assert_false(ev[0].flags & (EV_EOF | EV_ERROR));
}

static void read_filter_is_level_triggered(void **state)
{
    struct fixture *f = *state;
    struct kevent ev;

    write_bytes(f->p[1], "abc");
    assert_int_equal(change(f->kq, (uintptr_t)f->p[0], EVFILT_READ, EV_ADD, 0, 0, NULL), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(wait_ms(f->kq, &ev, 1, 0), 1);
    char buf[8];
    assert_int_equal(read(f->p[0], buf, sizeof buf), 3);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 0), 0);
}

static void write_filter_reports_free_space(void **state)
{
    struct fixture *f = *state;
    struct kevent ev;

    assert_int_equal(change(f->kq, (uintptr_t)f->p[1], EVFILT_WRITE, EV_ADD, 0, 0, NULL), 0);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 0), 1);
    assert_int_equal(ev.filter, EVFILT_WRITE);
    assert_true(ev.data > 0);
}

static void read_filter_sets_eof_with_data_when_the_writer_closes(void **state)
{
    struct fixture *f = *state;
    struct kevent ev;

    write_bytes(f->p[1], "abc");
    close(f->p[1]);
    f->p[1] = -1;
    assert_int_equal(change(f->kq, (uintptr_t)f->p[0], EVFILT_READ, EV_ADD, 0, 0, NULL), 0);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 0), 1);
    assert_true(ev.flags & EV_EOF);
    assert_int_equal(ev.data, 3);
    assert_int_equal(ev.fflags, 0);
}

static void write_filter_sets_eof_when_the_reader_closes(void **state)
{
    struct fixture *f = *state;
    struct kevent ev;

    assert_int_equal(change(f->kq, (uintptr_t)f->p[1], EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 0, NULL), 0);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 0), 1);
    assert_false(ev.flags & EV_EOF);
    close(f->p[0]);
    f->p[0] = -1;
    assert_int_equal(wait_ms(f->kq, &ev, 1, 100), 1);
    assert_true(ev.flags & EV_EOF);
}

static void socket_shutdown_sets_eof_without_error(void **state)
{
    struct fixture *f = *state;
    struct kevent ev;
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(change(f->kq, (uintptr_t)sv[0], EVFILT_READ, EV_ADD, 0, 0, NULL), 0);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 0), 0);
    write_bytes(sv[1], "xy");
    assert_int_equal(shutdown(sv[1], SHUT_WR), 0);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 100), 1);
    assert_true(ev.flags & EV_EOF);
    assert_int_equal(ev.fflags, 0);
    assert_int_equal(ev.data, 2);
    close(sv[0]);
    close(sv[1]);
}

static void read_and_write_filters_are_separate_knotes(void **state)
{
    struct fixture *f = *state;
    struct kevent ch[2], ev[4];
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    EV_SET(&ch[0], (uintptr_t)sv[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
    EV_SET(&ch[1], (uintptr_t)sv[0], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
    assert_int_equal(kevent(f->kq, ch, 2, NULL, 0, NULL), 0);
    assert_int_equal(wait_ms(f->kq, ev, 4, 0), 1);
    assert_int_equal(ev[0].filter, EVFILT_WRITE);

    write_bytes(sv[1], "z");
    assert_int_equal(wait_ms(f->kq, ev, 4, 100), 2);
    assert_non_null(find(ev, 2, (uintptr_t)sv[0], EVFILT_READ));
    assert_non_null(find(ev, 2, (uintptr_t)sv[0], EVFILT_WRITE));

    /* Deleting one leaves the other. */
    assert_int_equal(change(f->kq, (uintptr_t)sv[0], EVFILT_WRITE, EV_DELETE, 0, 0, NULL), 0);
    assert_int_equal(wait_ms(f->kq, ev, 4, 0), 1);
    assert_int_equal(ev[0].filter, EVFILT_READ);
    close(sv[0]);
    close(sv[1]);
}

static void failed_connect_sets_eof_and_keeps_so_error(void **state)
{
    struct fixture *f = *state;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    struct kevent ev;
    int err = 0, s, l;

    /* A port nobody listens on: bind one, note it, close it. */
    l = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &len), 0);
    close(l);

    s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (connect(s, (struct sockaddr *)&a, sizeof a) == 0 || errno != EINPROGRESS) {
        close(s);
        skip();
    }
    assert_int_equal(change(f->kq, (uintptr_t)s, EVFILT_WRITE, EV_ADD, 0, 0, NULL), 0);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 1000), 1);
    assert_true(ev.flags & EV_EOF);
    assert_int_not_equal(ev.fflags, 0);
    /* The emulation must not have consumed the error. */
    len = sizeof err;
    assert_int_equal(getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    assert_int_equal(err, ECONNREFUSED);
    close(s);
}

static void regular_file_reports_remaining_bytes(void **state)
{
    struct fixture *f = *state;
    struct kevent ch[2], ev[2];
    FILE *tmp = tmpfile();
    int fd;

    assert_non_null(tmp);
    fd = fileno(tmp);
    write_bytes(fd, "0123456789");
    assert_int_equal(lseek(fd, 4, SEEK_SET), 4);
    EV_SET(&ch[0], (uintptr_t)fd, EVFILT_READ, EV_ADD, 0, 0, NULL);
    EV_SET(&ch[1], (uintptr_t)fd, EVFILT_WRITE, EV_ADD, 0, 0, NULL);
    assert_int_equal(kevent(f->kq, ch, 2, NULL, 0, NULL), 0);
    assert_int_equal(wait_ms(f->kq, ev, 2, 0), 2);
    assert_int_equal(find(ev, 2, (uintptr_t)fd, EVFILT_READ)->data, 6);

    /* At the end of the file only the write filter is active ... */
    assert_int_equal(lseek(fd, 0, SEEK_END), 10);
    assert_int_equal(wait_ms(f->kq, ev, 2, 0), 1);
    assert_int_equal(ev[0].filter, EVFILT_WRITE);
    /* ... unless NOTE_FILE_POLL asks for poll(2)'s answer. */
    assert_int_equal(change(f->kq, (uintptr_t)fd, EVFILT_READ, EV_ADD, NOTE_FILE_POLL, 0, NULL), 0);
    assert_int_equal(wait_ms(f->kq, ev, 2, 0), 2);
    fclose(tmp);
}

/* A device without poll support (its driver has no kqueue filter on
 * FreeBSD): both filters fail with ENODEV and nothing is left behind. */
static void device_without_poll_support_fails_with_enodev(void **state)
{
    struct fixture *f = *state;
    struct kevent ev[2];
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

    assert_true(fd >= 0);
    errno = 0;
    assert_int_equal(change(f->kq, (uintptr_t)fd, EVFILT_READ, EV_ADD, 0, 0, NULL), -1);
    assert_int_equal(errno, ENODEV);
    errno = 0;
    assert_int_equal(change(f->kq, (uintptr_t)fd, EVFILT_WRITE, EV_ADD, 0, 0, NULL), -1);
    assert_int_equal(errno, ENODEV);
    assert_int_equal(wait_ms(f->kq, ev, 2, 0), 0);
    errno = 0;
    assert_int_equal(change(f->kq, (uintptr_t)fd, EVFILT_READ, EV_DELETE, 0, 0, NULL), -1);
    assert_int_equal(errno, ENOENT);
    close(fd);
}

/* ---- changelist errors ---------------------------------------------- */

static void changelist_errors_go_to_the_eventlist_and_processing_continues(void **state)
{
    struct fixture *f = *state;
    struct kevent ch[3], ev[4];
    int closed[2];

    assert_int_equal(pipe(closed), 0);
    close(closed[0]);
    close(closed[1]);
    write_bytes(f->p[1], "x");
    EV_SET(&ch[0], (uintptr_t)f->p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
    EV_SET(&ch[1], (uintptr_t)closed[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
    EV_SET(&ch[2], (uintptr_t)f->p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);

    /* With errors reported, the call does not scan for events. */
    assert_int_equal(kevent(f->kq, ch, 3, ev, 4, NULL), 2);
    assert_int_equal(ev[0].flags, EV_ERROR);
    assert_int_equal(ev[0].data, ENOENT);
    assert_int_equal(ev[0].ident, f->p[0]);
    assert_int_equal(ev[1].flags, EV_ERROR);
    assert_int_equal(ev[1].data, EBADF);
    /* The third change was applied. */
    assert_int_equal(wait_ms(f->kq, ev, 4, 0), 1);
    assert_int_equal(ev[0].filter, EVFILT_READ);
}

static void changelist_error_without_room_fails_with_errno(void **state)
{
    struct fixture *f = *state;

    errno = 0;
    assert_int_equal(change(f->kq, (uintptr_t)f->p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL), -1);
    assert_int_equal(errno, ENOENT);
    errno = 0;
    assert_int_equal(change(f->kq, 100000, EVFILT_READ, EV_ADD, 0, 0, NULL), -1);
    assert_int_equal(errno, EBADF);
    errno = 0;
    assert_int_equal(change(f->kq, 1, 42, EV_ADD, 0, 0, NULL), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(change(f->kq, 1, EVFILT_TIMER, EV_ADD, NOTE_SECONDS | NOTE_USECONDS, 5, NULL), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(change(f->kq, 1, EVFILT_TIMER, EV_ADD, 0, -1, NULL), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(change(f->kq, 9, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL), -1);
    assert_int_equal(errno, ENOENT);
}

static void receipt_reports_every_change(void **state)
{
    struct fixture *f = *state;
    struct kevent ch[2], ev[4];

    write_bytes(f->p[1], "x");
    EV_SET(&ch[0], (uintptr_t)f->p[0], EVFILT_READ, EV_ADD | EV_RECEIPT, 0, 0, NULL);
    EV_SET(&ch[1], 100000, EVFILT_READ, EV_ADD | EV_RECEIPT, 0, 0, NULL);
    assert_int_equal(kevent(f->kq, ch, 2, ev, 4, NULL), 2);
    assert_int_equal(ev[0].flags, EV_ERROR);
    assert_int_equal(ev[0].data, 0);
    assert_int_equal(ev[1].flags, EV_ERROR);
    assert_int_equal(ev[1].data, EBADF);
    assert_int_equal(wait_ms(f->kq, ev, 4, 0), 1);
}

static void invalid_arguments_fail_with_einval(void **state)
{
    struct fixture *f = *state;
    struct kevent ev;
    struct timespec bad = { 0, 1000000000 };

    errno = 0;
    assert_int_equal(kevent(f->kq, NULL, 0, &ev, 1, &bad), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(kevent(f->kq, NULL, -1, &ev, 1, NULL), -1);
    assert_int_equal(errno, EINVAL);
}

/* ---- modes ---------------------------------------------------------- */

static void oneshot_is_deleted_after_one_report(void **state)
{
    struct fixture *f = *state;
    struct kevent ev;

    write_bytes(f->p[1], "x");
    assert_int_equal(change(f->kq, (uintptr_t)f->p[0], EVFILT_READ, EV_ADD | EV_ONESHOT, 0, 0, NULL), 0);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 0), 1);
    assert_true(ev.flags & EV_ONESHOT);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 0), 0);
    errno = 0;
    assert_int_equal(change(f->kq, (uintptr_t)f->p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL), -1);
    assert_int_equal(errno, ENOENT);
}

static void clear_reports_each_new_arrival_once(void **state)
{
    struct fixture *f = *state;
    struct kevent ev;

    assert_int_equal(change(f->kq, (uintptr_t)f->p[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, NULL), 0);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 0), 0);
    write_bytes(f->p[1], "ab");
    assert_int_equal(wait_ms(f->kq, &ev, 1, 100), 1);
    assert_int_equal(ev.data, 2);
    /* Not drained, but already reported. */
    assert_int_equal(wait_ms(f->kq, &ev, 1, 20), 0);
    write_bytes(f->p[1], "c");
    assert_int_equal(wait_ms(f->kq, &ev, 1, 100), 1);
    assert_int_equal(ev.data, 3);
}

static void dispatch_disables_until_enabled(void **state)
{
    struct fixture *f = *state;
    struct kevent ev;
    int a, b;

    write_bytes(f->p[1], "x");
    assert_int_equal(change(f->kq, (uintptr_t)f->p[0], EVFILT_READ, EV_ADD | EV_DISPATCH, 0, 0, &a), 0);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 0), 1);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 0), 0);
    /* EV_ENABLE re-evaluates the (still readable) descriptor; like every
     * change it also replaces udata. */
    assert_int_equal(change(f->kq, (uintptr_t)f->p[0], EVFILT_READ, EV_ENABLE, 0, 0, &b), 0);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 0), 1);
    assert_ptr_equal(ev.udata, &b);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 0), 0);
}

static void disable_keeps_the_knote_quiet(void **state)
{
    struct fixture *f = *state;
    struct kevent ev;

    write_bytes(f->p[1], "x");
    assert_int_equal(change(f->kq, (uintptr_t)f->p[0], EVFILT_READ, EV_ADD | EV_DISABLE, 0, 0, NULL), 0);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 0), 0);
    /* A re-add does not enable (FreeBSD kqueue_register)... */
    assert_int_equal(change(f->kq, (uintptr_t)f->p[0], EVFILT_READ, EV_ADD, 0, 0, NULL), 0);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 0), 0);
    /* ... EV_ENABLE does. */
    assert_int_equal(change(f->kq, (uintptr_t)f->p[0], EVFILT_READ, EV_ENABLE, 0, 0, NULL), 0);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 0), 1);
    assert_int_equal(change(f->kq, (uintptr_t)f->p[0], EVFILT_READ, EV_DISABLE, 0, 0, NULL), 0);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 0), 0);
}

static void re_add_modifies_the_existing_knote(void **state)
{
    struct fixture *f = *state;
    struct kevent ev[2];
    int a, b;

    write_bytes(f->p[1], "x");
    assert_int_equal(change(f->kq, (uintptr_t)f->p[0], EVFILT_READ, EV_ADD, 0, 0, &a), 0);
    assert_int_equal(change(f->kq, (uintptr_t)f->p[0], EVFILT_READ, EV_ADD, 0, 0, &b), 0);
    assert_int_equal(wait_ms(f->kq, ev, 2, 0), 1);
    assert_ptr_equal(ev[0].udata, &b);
}

/* ---- closed descriptors --------------------------------------------- */

static void closing_a_descriptor_removes_its_knotes(void **state)
{
    struct fixture *f = *state;
    struct kevent ev;
    int fd = f->p[0], q[2];

    write_bytes(f->p[1], "x");
    assert_int_equal(change(f->kq, (uintptr_t)fd, EVFILT_READ, EV_ADD, 0, 0, NULL), 0);
    close(fd);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 0), 0);
    errno = 0;
    assert_int_equal(change(f->kq, (uintptr_t)fd, EVFILT_READ, EV_DELETE, 0, 0, NULL), -1);
    assert_int_equal(errno, EBADF);

    /* The number reused by another file has no knote. */
    assert_int_equal(pipe(q), 0);
    assert_int_equal(q[0], fd);
    errno = 0;
    assert_int_equal(change(f->kq, (uintptr_t)fd, EVFILT_READ, EV_DELETE, 0, 0, NULL), -1);
    assert_int_equal(errno, ENOENT);
    f->p[0] = q[0];
    close(q[1]);
}

static void a_reused_number_starts_with_no_knote(void **state)
{
    struct fixture *f = *state;
    struct kevent ev;
    int fd = f->p[0], q[2], r[2], tag;

    assert_int_equal(change(f->kq, (uintptr_t)fd, EVFILT_READ, EV_ADD | EV_ONESHOT, 0, 0, NULL), 0);
    close(fd);
    assert_int_equal(pipe(q), 0); /* no kevent() in between */
    assert_int_equal(q[0], fd);
    errno = 0;
    assert_int_equal(change(f->kq, (uintptr_t)fd, EVFILT_READ, EV_DELETE, 0, 0, NULL), -1);
    assert_int_equal(errno, ENOENT);

    /* Same again, but re-added: a new knote, not a modified one (the
     * EV_ONESHOT of the old one must not stick). */
    assert_int_equal(change(f->kq, (uintptr_t)fd, EVFILT_READ, EV_ADD | EV_ONESHOT, 0, 0, NULL), 0);
    close(q[0]);
    assert_int_equal(pipe(r), 0);
    assert_int_equal(r[0], fd);
    assert_int_equal(change(f->kq, (uintptr_t)fd, EVFILT_READ, EV_ADD, 0, 0, &tag), 0);
    write_bytes(r[1], "x");
    assert_int_equal(wait_ms(f->kq, &ev, 1, 100), 1);
    assert_false(ev.flags & EV_ONESHOT);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 0), 1);
    f->p[0] = r[0];
    close(q[1]);
    close(r[1]);
}

static void a_closed_number_kept_open_by_a_dup_is_not_reported(void **state)
{
    struct fixture *f = *state;
    struct kevent ev;
    int fd = f->p[0], copy = dup(fd);

    assert_int_equal(change(f->kq, (uintptr_t)fd, EVFILT_READ, EV_ADD, 0, 0, NULL), 0);
    close(fd);
    write_bytes(f->p[1], "x"); /* the file (still open through copy) is readable */
    assert_int_equal(wait_ms(f->kq, &ev, 1, 0), 0);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 20), 0);
    f->p[0] = copy;
}

static void a_registration_left_behind_does_not_speak_for_the_new_file(void **state)
{
    struct fixture *f = *state;
    struct kevent ev;
    int fd = f->p[0], copy = dup(fd), q[2];

    /* The kernel keeps the old file's registration (copy holds the file)
     * while the number now names a new, empty pipe. */
    assert_int_equal(change(f->kq, (uintptr_t)fd, EVFILT_READ, EV_ADD, 0, 0, NULL), 0);
    close(fd);
    assert_int_equal(pipe(q), 0);
    assert_int_equal(q[0], fd);
    assert_int_equal(change(f->kq, (uintptr_t)fd, EVFILT_READ, EV_ADD, 0, 0, NULL), 0);
    write_bytes(f->p[1], "old"); /* wakes the left-behind registration */
    assert_int_equal(wait_ms(f->kq, &ev, 1, 20), 0);
    write_bytes(q[1], "y");
    assert_int_equal(wait_ms(f->kq, &ev, 1, 100), 1);
    assert_int_equal(ev.data, 1);
    f->p[0] = copy;
    close(q[0]);
    close(q[1]);
}

static void kevent_in_a_forked_child_fails_with_ebadf(void **state)
{
    struct fixture *f = *state;
    int status;
    pid_t pid;

    assert_int_equal(change(f->kq, 1, EVFILT_USER, EV_ADD, 0, 0, NULL), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int ok = kevent(f->kq, NULL, 0, NULL, 0, NULL) == -1 && errno == EBADF;
        int kq2 = kqueue(); /* a new one works */
        ok = ok && kq2 >= 0 && change(kq2, 1, EVFILT_USER, EV_ADD, 0, 0, NULL) == 0;
        _exit(ok ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* The parent's queue is untouched. */
    assert_int_equal(change(f->kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL), 0);
    struct kevent ev;
    assert_int_equal(wait_ms(f->kq, &ev, 1, 0), 1);
}

/* ---- fairness ------------------------------------------------------- */

#define NPIPES 40

static void every_ready_descriptor_is_reported_in_turn(void **state)
{
    struct fixture *f = *state;
    int p[NPIPES][2], seen[NPIPES] = { 0 }, total = 0;
    struct kevent ev[8];

    for (int i = 0; i < NPIPES; i++) {
        assert_int_equal(pipe(p[i]), 0);
        write_bytes(p[i][1], "x");
        assert_int_equal(change(f->kq, (uintptr_t)p[i][0], EVFILT_READ, EV_ADD, 0, 0, &seen[i]), 0);
    }
    /* Level-triggered and never drained: still, NPIPES/8 calls see all. */
    for (int call = 0; call < NPIPES / 8; call++) {
        int n = wait_ms(f->kq, ev, 8, 0);
        assert_int_equal(n, 8);
        for (int i = 0; i < n; i++)
            (*(int *)ev[i].udata)++;
    }
    for (int i = 0; i < NPIPES; i++) {
        total += seen[i];
        assert_int_equal(seen[i], 1);
        close(p[i][0]);
        close(p[i][1]);
    }
    assert_int_equal(total, NPIPES);
}

/* ---- EVFILT_TIMER --------------------------------------------------- */

static void periodic_timer_counts_expirations(void **state)
{
    struct fixture *f = *state;
    struct kevent ev;

    assert_int_equal(change(f->kq, 5, EVFILT_TIMER, EV_ADD, 0, 10, NULL), 0);
    sleep_ms(65);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 0), 1);
    assert_int_equal(ev.ident, 5);
    assert_int_equal(ev.filter, EVFILT_TIMER);
    assert_true(ev.data >= 6);
    /* The count restarts after a report. */
    assert_int_equal(wait_ms(f->kq, &ev, 1, 100), 1);
    assert_true(ev.data >= 1 && ev.data <= 3);
}

static void timer_units_and_first_expiration(void **state)
{
    struct fixture *f = *state;
    static const struct { unsigned fflags; int64_t data; } cases[] = {
        { NOTE_MSECONDS, 15 },
        { NOTE_USECONDS, 15000 },
        { NOTE_NSECONDS, 15000000 },
    };
    struct kevent ev;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t t0 = mono_ns();
        assert_int_equal(change(f->kq, 1, EVFILT_TIMER, EV_ADD | EV_ONESHOT, cases[i].fflags,
                                cases[i].data, NULL), 0);
        assert_int_equal(wait_ms(f->kq, &ev, 1, 1000), 1);
        assert_true(mono_ns() - t0 >= 15000000);
        assert_int_equal(ev.data, 1);
    }
}

static void zero_period_means_one_unit_and_zero_oneshot_fires_at_once(void **state)
{
    struct fixture *f = *state;
    struct kevent evs[3];
    int n;

    assert_int_equal(change(f->kq, 1, EVFILT_TIMER, EV_ADD, NOTE_SECONDS, 0, NULL), 0);
    assert_int_equal(change(f->kq, 2, EVFILT_TIMER, EV_ADD, NOTE_USECONDS, 0, NULL), 0);
    assert_int_equal(change(f->kq, 3, EVFILT_TIMER, EV_ADD | EV_ONESHOT, 0, 0, NULL), 0);
    sleep_ms(20);
    n = wait_ms(f->kq, evs, 3, 0);
    assert_int_equal(n, 2);
    assert_null(find(evs, n, 1, EVFILT_TIMER)); /* one second away */
    assert_true(find(evs, n, 2, EVFILT_TIMER)->data > 100);
    assert_int_equal(find(evs, n, 3, EVFILT_TIMER)->data, 1);
}

static void oneshot_timer_fires_once_and_is_deleted(void **state)
{
    struct fixture *f = *state;
    struct kevent ev;

    assert_int_equal(change(f->kq, 3, EVFILT_TIMER, EV_ADD | EV_ONESHOT, 0, 5, NULL), 0);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 1000), 1);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 30), 0);
    errno = 0;
    assert_int_equal(change(f->kq, 3, EVFILT_TIMER, EV_DELETE, 0, 0, NULL), -1);
    assert_int_equal(errno, ENOENT);
}

static void abstime_timer_fires_at_the_wall_clock_time(void **state)
{
    struct fixture *f = *state;
    struct timespec now;
    struct kevent ev;
    int64_t when_ms;

    clock_gettime(CLOCK_REALTIME, &now);
    when_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 + 40;
    assert_int_equal(change(f->kq, 4, EVFILT_TIMER, EV_ADD, NOTE_ABSTIME | NOTE_MSECONDS,
                            when_ms, NULL), 0);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 1000), 1);
    clock_gettime(CLOCK_REALTIME, &now);
    assert_true((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 >= when_ms);
    /* Absolute timers are one-shot. */
    assert_int_equal(wait_ms(f->kq, &ev, 1, 60), 0);
}

static void re_adding_a_timer_restarts_it(void **state)
{
    struct fixture *f = *state;
    struct kevent ev;
    int64_t t0 = mono_ns();

    assert_int_equal(change(f->kq, 2, EVFILT_TIMER, EV_ADD, 0, 5000, NULL), 0);
    assert_int_equal(change(f->kq, 2, EVFILT_TIMER, EV_ADD, 0, 10, NULL), 0);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 2000), 1);
    assert_true(mono_ns() - t0 < 1000000000);
}

static void dispatched_timer_keeps_counting_while_disabled(void **state)
{
    struct fixture *f = *state;
    struct kevent ev;

    assert_int_equal(change(f->kq, 6, EVFILT_TIMER, EV_ADD | EV_DISPATCH, 0, 5, NULL), 0);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 1000), 1);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 40), 0);
    assert_int_equal(change(f->kq, 6, EVFILT_TIMER, EV_ENABLE, 0, 5, NULL), 0);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 0), 1);
    assert_true(ev.data >= 5);
}

/* ---- EVFILT_USER ---------------------------------------------------- */

static void user_trigger_reports_fflags_and_data(void **state)
{
    struct fixture *f = *state;
    struct kevent ev;

    assert_int_equal(change(f->kq, 42, EVFILT_USER, EV_ADD | EV_CLEAR, NOTE_FFCOPY | 0x5, 0, NULL), 0);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 0), 0);
    assert_int_equal(change(f->kq, 42, EVFILT_USER, 0, NOTE_TRIGGER | NOTE_FFOR | 0x2, 77, NULL), 0);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 0), 1);
    assert_int_equal(ev.ident, 42);
    assert_int_equal(ev.filter, EVFILT_USER);
    assert_int_equal(ev.fflags, 0x7);
    assert_int_equal(ev.data, 77);
    /* EV_CLEAR: reported once per trigger. */
    assert_int_equal(wait_ms(f->kq, &ev, 1, 0), 0);
    assert_int_equal(change(f->kq, 42, EVFILT_USER, 0, NOTE_TRIGGER | NOTE_FFAND | 0x4, 0, NULL), 0);
    assert_int_equal(wait_ms(f->kq, &ev, 1, 0), 1);
    assert_int_equal(ev.fflags, 0x4);
}

static void user_without_clear_stays_triggered(void **state)
{
    struct fixture *f = *state;
    struct kevent ev[2];

    assert_int_equal(change(f->kq, 1, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, NULL), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(wait_ms(f->kq, ev, 2, 0), 1); /* once per call */
}

struct trigger_arg {
    int kq;
    int delay_ms;
};

static void *trigger_later(void *p)
{
    struct trigger_arg *a = p;
    sleep_ms(a->delay_ms);
    change(a->kq, 9, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
    return NULL;
}

static void trigger_from_another_thread_wakes_a_blocked_kevent(void **state)
{
    struct fixture *f = *state;
    struct trigger_arg a = { f->kq, 30 };
    struct kevent ev;
    pthread_t t;

    assert_int_equal(change(f->kq, 9, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL), 0);
    assert_int_equal(pthread_create(&t, NULL, trigger_later, &a), 0);
    assert_int_equal(wait_ms(f->kq, &ev, 1, -1), 1);
    assert_int_equal(ev.ident, 9);
    pthread_join(t, NULL);
}

static int sig_kq;
static void on_alarm(int sig)
{
    (void)sig;
    int saved = errno;
    change(sig_kq, 9, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
    errno = saved;
}

static void trigger_from_a_signal_handler_does_not_deadlock(void **state)
{
    struct fixture *f = *state;
    struct sigaction sa = { .sa_handler = on_alarm }, old;
    struct kevent ev;
    int r;

    sig_kq = f->kq;
    assert_int_equal(change(f->kq, 9, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL), 0);
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, &old);
    ualarm(20000, 0);
    /* Either interrupted (EINTR) or woken by the trigger. */
    r = wait_ms(f->kq, &ev, 1, 2000);
    if (r < 0) {
        assert_int_equal(errno, EINTR);
        r = wait_ms(f->kq, &ev, 1, 0);
    }
    assert_int_equal(r, 1);
    sigaction(SIGALRM, &old, NULL);
}

static void storm_handler(int sig)
{
    (void)sig;
    int saved = errno;
    change(sig_kq, 9, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
    errno = saved;
}

/* A signal that lands while kevent() holds the queue's lock must not
 * deadlock when its handler calls kevent(). Run in a child so that a
 * deadlock is a failure, not a hung test. */
static void signal_storm_during_kevent_does_not_deadlock(void **state)
{
    (void)state;
    int status = 0;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        struct sigaction sa = { .sa_handler = storm_handler };
        struct itimerval it = { { 0, 50 }, { 0, 50 } };
        struct timespec zero = { 0, 0 };
        struct kevent ev[2];
        int64_t end = mono_ns() + 300000000;

        sig_kq = kqueue();
        change(sig_kq, 9, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
        change(sig_kq, 1, EVFILT_TIMER, EV_ADD, NOTE_USECONDS, 30, NULL);
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGALRM, &sa, NULL);
        setitimer(ITIMER_REAL, &it, NULL);
        while (mono_ns() < end)
            kevent(sig_kq, NULL, 0, ev, 2, &zero);
        _exit(0);
    }
    for (int i = 0; i < 500 && waitpid(pid, &status, WNOHANG) == 0; i++)
        sleep_ms(10);
    if (waitpid(pid, &status, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail_msg("kevent deadlocked in a signal handler");
    }
    assert_true(WIFEXITED(status));
}

/* ---- timeouts ------------------------------------------------------- */

static void timeouts_are_never_early(void **state)
{
    struct fixture *f = *state;
    static const long ns[] = { 1, 999999, 1000001, 5500000, 20000000 };
    struct kevent ev;

    assert_int_equal(change(f->kq, (uintptr_t)f->p[0], EVFILT_READ, EV_ADD, 0, 0, NULL), 0);
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        struct timespec ts = { 0, ns[i] };
        int64_t t0 = mono_ns();
        assert_int_equal(kevent(f->kq, NULL, 0, &ev, 1, &ts), 0);
        assert_true(mono_ns() - t0 >= ns[i]);
    }
}

static void zero_timeout_and_zero_room_do_not_block(void **state)
{
    struct fixture *f = *state;
    struct timespec zero = { 0, 0 };
    struct kevent ev;
    int64_t t0 = mono_ns();

    assert_int_equal(kevent(f->kq, NULL, 0, &ev, 1, &zero), 0);
    assert_int_equal(kevent(f->kq, NULL, 0, NULL, 0, NULL), 0); /* NULL timeout, no room */
    assert_true(mono_ns() - t0 < 100000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(kqueue_descriptor_polls_readable_when_events_are_pending),
        T(kqueue_descriptor_polls_readable_for_a_user_trigger),
        T(close_of_a_kqueue_releases_it),
        T(kevent_on_a_non_kqueue_fails_with_ebadf),
        T(read_filter_reports_bytes_available_and_udata),
        T(read_filter_is_level_triggered),
        T(write_filter_reports_free_space),
        T(read_filter_sets_eof_with_data_when_the_writer_closes),
        T(write_filter_sets_eof_when_the_reader_closes),
        T(socket_shutdown_sets_eof_without_error),
        T(read_and_write_filters_are_separate_knotes),
        T(failed_connect_sets_eof_and_keeps_so_error),
        T(regular_file_reports_remaining_bytes),
        T(changelist_errors_go_to_the_eventlist_and_processing_continues),
        T(changelist_error_without_room_fails_with_errno),
        T(receipt_reports_every_change),
        T(invalid_arguments_fail_with_einval),
        T(oneshot_is_deleted_after_one_report),
        T(clear_reports_each_new_arrival_once),
        T(dispatch_disables_until_enabled),
        T(disable_keeps_the_knote_quiet),
        T(re_add_modifies_the_existing_knote),
        T(closing_a_descriptor_removes_its_knotes),
        T(a_reused_number_starts_with_no_knote),
        T(a_closed_number_kept_open_by_a_dup_is_not_reported),
        T(a_registration_left_behind_does_not_speak_for_the_new_file),
        T(kevent_in_a_forked_child_fails_with_ebadf),
        T(every_ready_descriptor_is_reported_in_turn),
        T(periodic_timer_counts_expirations),
        T(timer_units_and_first_expiration),
        T(zero_period_means_one_unit_and_zero_oneshot_fires_at_once),
        T(oneshot_timer_fires_once_and_is_deleted),
        T(abstime_timer_fires_at_the_wall_clock_time),
        T(re_adding_a_timer_restarts_it),
        T(dispatched_timer_keeps_counting_while_disabled),
        T(user_trigger_reports_fflags_and_data),
        T(user_without_clear_stays_triggered),
        T(trigger_from_another_thread_wakes_a_blocked_kevent),
        T(trigger_from_a_signal_handler_does_not_deadlock),
        T(signal_storm_during_kevent_does_not_deadlock),
        T(timeouts_are_never_early),
        T(zero_timeout_and_zero_room_do_not_block),
        T(device_without_poll_support_fails_with_enodev),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
