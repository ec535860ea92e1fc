/*
 * test_api.c - backend-independent parts of the API: creation, backend
 * selection (including the POLLUX_BACKEND environment variable), names,
 * version, NULL arguments.
 *
 * Usage: test_api [BACKEND...] - the names of the backends the build
 * compiled; pollux_backends() must report exactly those.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "pollux.h"
#include "helpers.h"

#define LAST_BACKEND POLLUX_BACKEND_DEVPOLL

static char **g_built;  /* backend names given on the command line */
static int g_built_count;


static int available(pollux_backend b)
{
    return (pollux_backends() >> b) & 1u;
}

/* Every test starts and ends without POLLUX_BACKEND. */
static int clear_env(void **state)
{
    (void)state;
    unsetenv("POLLUX_BACKEND");
    return 0;
}

/* Create with AUTO under POLLUX_BACKEND=value; return the result. */
static int new_auto_with_env(const char *value, pollux **out)
{
    assert_int_equal(setenv("POLLUX_BACKEND", value, 1), 0);
    int r = pollux_new(out, POLLUX_BACKEND_AUTO);
    unsetenv("POLLUX_BACKEND");
    return r;
}

static int new_explicit(pollux_backend b)
{
    pollux *p = NULL;
    return pollux_new(&p, b);
}

static int new_auto_naming(pollux_backend b)
{
    pollux *p = NULL;
    return new_auto_with_env(pollux_backend_name(b), &p);
}

/* attempt(b), called for every backend not available here, must fail with
 * want; skipped where every backend is available. */
static void each_unavailable_backend_fails(int (*attempt)(pollux_backend), const char *what,
                                           int want)
{
    int tested = 0;
    for (int b = POLLUX_BACKEND_SELECT; b <= LAST_BACKEND; b++) {
        if (available((pollux_backend)b))
            continue;
        int r = attempt((pollux_backend)b);
        if (r != want)
            fail_msg("%s with BACKEND %s returned %d (%s), expected %d (%s)", what,
                     pollux_backend_name((pollux_backend)b), r, errname(r), want, errname(want));
        tested++;
    }
    if (!tested) {
        print_message("every backend is available here\n");
        skip();
    }
}

/* ------------------------------------------------------------------ */

static void new_with_null_out_fails_with_einval(void **state)
{
    (void)state;
    assert_ret(pollux_new(NULL, POLLUX_BACKEND_AUTO), -EINVAL);
    for (int b = POLLUX_BACKEND_SELECT; b <= LAST_BACKEND; b++)
        if (available((pollux_backend)b))
            assert_ret(pollux_new(NULL, (pollux_backend)b), -EINVAL);
}

static void new_with_out_of_range_backend_fails_with_einval(void **state)
{
    (void)state;
    static const int bad[] = { -1, LAST_BACKEND + 1, 100, -100 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pollux *p = NULL;
        int r = pollux_new(&p, (pollux_backend)bad[i]);
        if (r != -EINVAL)
            fail_msg("pollux_new(backend %d) returned %d (%s), expected -EINVAL", bad[i], r,
                     errname(r));
        if (r == 0)
            pollux_free(p);
    }
}

static void explicit_backend_not_available_fails_with_enotsup(void **state)
{
    (void)state;
    each_unavailable_backend_fails(new_explicit, "pollux_new(BACKEND)", -ENOTSUP);
}

static void explicit_available_backend_is_used(void **state)
{
    (void)state;
    for (int b = POLLUX_BACKEND_SELECT; b <= LAST_BACKEND; b++) {
        if (!available((pollux_backend)b))
            continue;
        pollux *p = NULL;
        assert_ret(pollux_new(&p, (pollux_backend)b), 0);
        assert_non_null(p);
        assert_int_equal(pollux_backend_of(p), b);
        pollux_free(p);
    }
}

static void free_null_does_nothing(void **state)
{
    (void)state;
    pollux_free(NULL);
}

static void backend_name_names_each_backend(void **state)
{
    (void)state;
    assert_string_equal(pollux_backend_name(POLLUX_BACKEND_AUTO), "auto");
    assert_string_equal(pollux_backend_name(POLLUX_BACKEND_SELECT), "select");
    assert_string_equal(pollux_backend_name(POLLUX_BACKEND_POLL), "poll");
    assert_string_equal(pollux_backend_name(POLLUX_BACKEND_EPOLL), "epoll");
    assert_string_equal(pollux_backend_name(POLLUX_BACKEND_KQUEUE), "kqueue");
    assert_string_equal(pollux_backend_name(POLLUX_BACKEND_DEVPOLL), "devpoll");
}

static void backend_name_out_of_range_is_null(void **state)
{
    (void)state;
    assert_null(pollux_backend_name((pollux_backend)-1));
    assert_null(pollux_backend_name((pollux_backend)(LAST_BACKEND + 1)));
    assert_null(pollux_backend_name((pollux_backend)1000));
}

static void backends_has_exactly_the_compiled_backends(void **state)
{
    (void)state;
    unsigned bits = pollux_backends();
    assert_false(bits & (1u << POLLUX_BACKEND_AUTO)); /* AUTO is not a backend */
    assert_int_equal(bits >> (LAST_BACKEND + 1), 0);
    assert_true(bits != 0);
#ifdef __linux__
    assert_true(bits & (1u << POLLUX_BACKEND_EPOLL));
    assert_true(bits & (1u << POLLUX_BACKEND_POLL));
    assert_true(bits & (1u << POLLUX_BACKEND_SELECT));
#endif
    if (g_built_count == 0) {
        print_message("no compiled backend list given; checked the platform only\n");
        return;
    }
    unsigned want = 0;
    for (int i = 0; i < g_built_count; i++) {
        int found = 0;
        for (int b = POLLUX_BACKEND_SELECT; b <= LAST_BACKEND; b++) {
            if (strcmp(pollux_backend_name((pollux_backend)b), g_built[i]) == 0) {
                want |= 1u << b;
                found = 1;
            }
        }
        if (!found)
            fail_msg("compiled backend '%s' has no pollux_backend value", g_built[i]);
    }
    if (bits != want)
        fail_msg("pollux_backends() = 0x%x, compiled backends give 0x%x", bits, want);
}

static void version_is_major_minor_patch(void **state)
{
    (void)state;
    const char *v = pollux_version();
    assert_non_null(v);
    assert_true(v[0] != '\0');
    unsigned major, minor, patch;
    int end = -1;
    assert_int_equal(sscanf(v, "%u.%u.%u%n", &major, &minor, &patch, &end), 3);
    assert_int_equal(end, (int)strlen(v));
    assert_int_equal(major, POLLUX_VERSION_MAJOR);
    assert_int_equal(minor, POLLUX_VERSION_MINOR);
    assert_int_equal(patch, POLLUX_VERSION_PATCH);
}

/* AUTO: epoll > kqueue > devpoll > poll > select. */
static void auto_picks_the_best_available_backend(void **state)
{
    (void)state;
    static const pollux_backend order[] = { POLLUX_BACKEND_EPOLL, POLLUX_BACKEND_KQUEUE,
                                            POLLUX_BACKEND_DEVPOLL, POLLUX_BACKEND_POLL,
                                            POLLUX_BACKEND_SELECT };
    pollux_backend want = POLLUX_BACKEND_AUTO;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (available(order[i])) {
            want = order[i];
            break;
        }
    }
    pollux *p = NULL;
    assert_ret(pollux_new(&p, POLLUX_BACKEND_AUTO), 0);
    assert_int_equal(pollux_backend_of(p), want);
#ifdef __linux__
    assert_int_equal(pollux_backend_of(p), POLLUX_BACKEND_EPOLL);
#endif
    pollux_free(p);
}

static void backend_of_never_returns_auto(void **state)
{
    (void)state;
    pollux *p = NULL;
    assert_ret(pollux_new(&p, POLLUX_BACKEND_AUTO), 0);
    assert_int_not_equal(pollux_backend_of(p), POLLUX_BACKEND_AUTO);
    pollux_free(p);
    for (int b = POLLUX_BACKEND_SELECT; b <= LAST_BACKEND; b++) {
        if (!available((pollux_backend)b))
            continue;
        assert_ret(new_auto_with_env(pollux_backend_name((pollux_backend)b), &p), 0);
        assert_int_not_equal(pollux_backend_of(p), POLLUX_BACKEND_AUTO);
        pollux_free(p);
    }
}

static void env_poll_makes_auto_pick_poll(void **state)
{
    (void)state;
    if (!available(POLLUX_BACKEND_POLL)) {
        print_message("poll is not available here\n");
        skip();
    }
    pollux *p = NULL;
    assert_ret(new_auto_with_env("poll", &p), 0);
    assert_int_equal(pollux_backend_of(p), POLLUX_BACKEND_POLL);
    pollux_free(p);
}

static void env_names_each_available_backend_for_auto(void **state)
{
    (void)state;
    for (int b = POLLUX_BACKEND_SELECT; b <= LAST_BACKEND; b++) {
        if (!available((pollux_backend)b))
            continue;
        pollux *p = NULL;
        assert_ret(new_auto_with_env(pollux_backend_name((pollux_backend)b), &p), 0);
        assert_int_equal(pollux_backend_of(p), b);
        pollux_free(p);
    }
}

static void env_unknown_name_makes_auto_fail_with_einval(void **state)
{
    (void)state;
    static const char *bad[] = { "bogus", "EPOLL ", "epol", "epollx", "1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pollux *p = NULL;
        int r = new_auto_with_env(bad[i], &p);
        if (r != -EINVAL)
            fail_msg("POLLUX_BACKEND='%s': pollux_new(AUTO) returned %d (%s), expected -EINVAL",
                     bad[i], r, errname(r));
    }
}

static void env_unavailable_backend_makes_auto_fail_with_einval(void **state)
{
    (void)state;
    each_unavailable_backend_fails(new_auto_naming, "POLLUX_BACKEND=BACKEND pollux_new(AUTO)",
                                   -EINVAL);
}

/* The variable only steers AUTO. */
static void env_does_not_affect_an_explicit_backend(void **state)
{
    (void)state;
    assert_int_equal(setenv("POLLUX_BACKEND", "bogus", 1), 0);
    for (int b = POLLUX_BACKEND_SELECT; b <= LAST_BACKEND; b++) {
        if (!available((pollux_backend)b))
            continue;
        pollux *p = NULL;
        int r = pollux_new(&p, (pollux_backend)b);
        if (r != 0) {
            unsetenv("POLLUX_BACKEND");
            fail_msg("pollux_new(%s) with POLLUX_BACKEND=bogus returned %d (%s)",
                     pollux_backend_name((pollux_backend)b), r, errname(r));
        }
        assert_int_equal(pollux_backend_of(p), b);
        pollux_free(p);
    }
    unsetenv("POLLUX_BACKEND");
}

/* The header documents -EINVAL for a NULL poller in these. */
static void null_poller_fails_with_einval(void **state)
{
    (void)state;
    assert_ret(pollux_register(NULL, 0, POLLUX_READ, NULL), -EINVAL);
    assert_ret(pollux_modify(NULL, 0, POLLUX_READ, NULL), -EINVAL);
    assert_ret(pollux_wake(NULL), -EINVAL);
    assert_ret(pollux_fileno(NULL), -EINVAL);
}

/* ------------------------------------------------------------------ */

static void duration_macros_give_int64_nanoseconds(void **state)
{
    (void)state;
    assert_int_equal(sizeof(POLLUX_SEC(1)), sizeof(int64_t));
    assert_true(POLLUX_USEC(1500) == 1500000);
    assert_true(POLLUX_MSEC(250) == 250000000);
    /* Beyond INT_MAX: the product must not be computed in int. */
    int five = 5, minutes = 3000000;
    assert_true(POLLUX_SEC(five) == INT64_C(5000000000));
    assert_true(POLLUX_MSEC(minutes) == INT64_C(3000000000000));
    /* The argument is one expression, whatever its operators. */
    assert_true(POLLUX_SEC(1 + 1) == INT64_C(2000000000));
}

/* The layout the header and docs/abi.md promise for 0.2 (soname 1): the
 * 0.1 members where they were, then kind and serial; 40 bytes on LP64
 * (4 bytes of padding after kind). A change here is an ABI change. */
static void event_layout_is_the_documented_one(void **state)
{
    (void)state;
    assert_int_equal(offsetof(pollux_event, fd), 0);
    assert_int_equal(offsetof(pollux_event, events), 4);
    assert_int_equal(offsetof(pollux_event, count), 8);
    assert_int_equal(offsetof(pollux_event, data), 16);
    assert_int_equal(offsetof(pollux_event, kind), 16 + sizeof(void *));
    assert_int_equal(sizeof(((pollux_event *)0)->kind), 4);
    assert_int_equal(sizeof(((pollux_event *)0)->serial), 8);
    if (sizeof(void *) == 8 && _Alignof(uint64_t) == 8) {
        assert_int_equal(offsetof(pollux_event, serial), 32);
        assert_int_equal(sizeof(pollux_event), 40);
    }
    assert_int_equal(POLLUX_KIND_FD, 0);
    assert_int_equal(POLLUX_KIND_TIMER, 1);
    assert_int_equal(POLLUX_KIND_WAKE, 2);
}

/* No poller, no event: never current (and no crash). */
static void event_current_of_null_is_0(void **state)
{
    (void)state;
    pollux_event ev = { .fd = -1, .events = POLLUX_WAKE, .kind = POLLUX_KIND_WAKE, .serial = 1 };
    assert_int_equal(pollux_event_current(NULL, &ev), 0);
    assert_int_equal(pollux_event_current(NULL, NULL), 0);
    pollux *p;
    assert_ret(pollux_new(&p, POLLUX_BACKEND_AUTO), 0);
    assert_int_equal(pollux_event_current(p, NULL), 0);
    assert_int_equal(pollux_event_current(p, &ev), 1);
    pollux_free(p);
}

#define T(f) cmocka_unit_test_setup_teardown(f, clear_env, clear_env)

int main(int argc, char **argv)
{
    g_built = argv + 1;
    g_built_count = argc - 1;

    const struct CMUnitTest tests[] = {
        T(duration_macros_give_int64_nanoseconds),
        T(new_with_null_out_fails_with_einval),
        T(new_with_out_of_range_backend_fails_with_einval),
        T(explicit_backend_not_available_fails_with_enotsup),
        T(explicit_available_backend_is_used),
        T(free_null_does_nothing),
        T(backend_name_names_each_backend),
        T(backend_name_out_of_range_is_null),
        T(backends_has_exactly_the_compiled_backends),
        T(version_is_major_minor_patch),
        T(auto_picks_the_best_available_backend),
        T(backend_of_never_returns_auto),
        T(env_poll_makes_auto_pick_poll),
        T(env_names_each_available_backend_for_auto),
        T(env_unknown_name_makes_auto_fail_with_einval),
        T(env_unavailable_backend_makes_auto_fail_with_einval),
        T(env_does_not_affect_an_explicit_backend),
        T(null_poller_fails_with_einval),
        T(event_layout_is_the_documented_one),
        T(event_current_of_null_is_0),
    };
    return cmocka_run_group_tests_name("api", tests, clear_env, clear_env);
}
