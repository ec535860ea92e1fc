/*
 * registry.c - one row per backend: id, name, declarations and hooks
 * (NULL where meson did not compile it). The rows are in AUTO's order of
 * preference. Adding a backend adds a row here; nothing else in the core
 * names a backend.
 *
 * SPDX-License-Identifier: MIT
 */
#include "platform.h" /* first: it may define _GNU_SOURCE */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

/* Each backend file defines its ops only where meson compiled it. */
#define BACKEND(name) extern const struct backend_ops pollux_backend_##name;
BACKEND(epoll) BACKEND(kqueue) BACKEND(devpoll) BACKEND(poll) BACKEND(select)
#undef BACKEND

#ifdef HAVE_BACKEND_EPOLL
#define EPOLL_OPS (&pollux_backend_epoll)
#else
#define EPOLL_OPS NULL
#endif
#ifdef HAVE_BACKEND_KQUEUE
#define KQUEUE_OPS (&pollux_backend_kqueue)
#else
#define KQUEUE_OPS NULL
#endif
#ifdef HAVE_BACKEND_DEVPOLL
#define DEVPOLL_OPS (&pollux_backend_devpoll)
#else
#define DEVPOLL_OPS NULL
#endif
#ifdef HAVE_BACKEND_POLL
#define POLL_OPS (&pollux_backend_poll)
#else
#define POLL_OPS NULL
#endif
#ifdef HAVE_BACKEND_SELECT
#define SELECT_OPS (&pollux_backend_select)
#else
#define SELECT_OPS NULL
#endif

static const struct row {
    pollux_backend id;
    const char *name;
    const struct backend_ops *ops;
} rows[] = {
    { POLLUX_BACKEND_EPOLL, "epoll", EPOLL_OPS },
    { POLLUX_BACKEND_KQUEUE, "kqueue", KQUEUE_OPS },
    { POLLUX_BACKEND_DEVPOLL, "devpoll", DEVPOLL_OPS },
    { POLLUX_BACKEND_POLL, "poll", POLL_OPS },
    { POLLUX_BACKEND_SELECT, "select", SELECT_OPS },
};

#define ROWS ((int)(sizeof rows / sizeof rows[0]))

static const struct row *row_of(pollux_backend id)
{
    for (int i = 0; i < ROWS; i++)
        if (rows[i].id == id)
            return &rows[i];
    return NULL;
}

const char *pollux_registry_name(pollux_backend id)
{
    if (id == POLLUX_BACKEND_AUTO)
        return "auto";
    const struct row *r = row_of(id);
    return r != NULL ? r->name : NULL;
}

const struct backend_ops *pollux_registry_ops(pollux_backend id)
{
    const struct row *r = row_of(id);
    return r != NULL ? r->ops : NULL;
}

/* A backend is usable when it is compiled in and its kernel object can be
 * created here (a kernel may lack a syscall its headers declare). */
static bool usable(const struct backend_ops *ops)
{
    if (ops == NULL)
        return false;
    void *state;
    int err = ops->init(&state);
    if (err < 0) {
        /* Out of descriptors or memory right now says nothing about the
         * kernel; the result is cached for the life of the process. */
        return err == -EMFILE || err == -ENFILE || err == -ENOMEM;
    }
    ops->destroy(state);
    return true;
}

unsigned pollux_registry_usable(void)
{
    /* Probed once; a race only repeats the same probe. */
    static _Atomic unsigned cached;
    unsigned bits = atomic_load(&cached);
    if (bits != 0)
        return bits & ~1u;
    bits = 1u; /* marks "probed" */
    for (int i = 0; i < ROWS; i++)
        if (usable(rows[i].ops))
            bits |= 1u << rows[i].id;
    atomic_store(&cached, bits);
    return bits & ~1u;
}

/* AUTO: the variable's choice, or the first usable row. */
static int choose_auto(pollux_backend *out)
{
    const char *env = getenv("POLLUX_BACKEND");
    unsigned usable_bits = pollux_registry_usable();
    if (env != NULL && *env != '\0' && strcmp(env, "auto") != 0) {
        for (int i = 0; i < ROWS; i++) {
            if (strcmp(env, rows[i].name) == 0) {
                if (!(usable_bits & (1u << rows[i].id)))
                    return -EINVAL;
                *out = rows[i].id;
                return 0;
            }
        }
        return -EINVAL;
    }
    for (int i = 0; i < ROWS; i++) {
        if (usable_bits & (1u << rows[i].id)) {
            *out = rows[i].id;
            return 0;
        }
    }
    return -ENOTSUP;
}

int pollux_registry_choose(pollux_backend *id)
{
    if (*id == POLLUX_BACKEND_AUTO) {
        int err = choose_auto(id);
        if (err < 0)
            return err;
    } else if (row_of(*id) == NULL) {
        return -EINVAL;
    }
    if (!(pollux_registry_usable() & (1u << *id)))
        return -ENOTSUP;
    return 0;
}
