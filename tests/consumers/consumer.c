/*
 * consumer.c - the smallest program that uses pollux the way a project
 * that depends on it would. Built by tests/consumers/check.sh through
 * pkg-config, as a meson subproject and from copied sources.
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdio.h>
#include <unistd.h>

#include <pollux.h>

int main(void)
{
    pollux *p;
    int fds[2];
    if (pollux_new(&p, POLLUX_BACKEND_AUTO) < 0 || pipe(fds) < 0)
        return 1;
    if (pollux_register(p, fds[0], POLLUX_READ, fds) < 0 || write(fds[1], "x", 1) != 1)
        return 1;
    pollux_event ev;
    int n = pollux_wait(p, &ev, 1, 1000000000);
    int ok = n == 1 && ev.kind == POLLUX_KIND_FD && ev.fd == fds[0] && (ev.events & POLLUX_READ)
             && ev.data == fds && pollux_event_current(p, &ev) == 1;
    /* The header's pollux_event and the library's agree: an unregistered
     * source's event is no longer current. */
    ok = ok && pollux_unregister(p, fds[0]) == 0 && pollux_event_current(p, &ev) == 0;
    printf("pollux %s on %s: %s\n", pollux_version(),
           pollux_backend_name(pollux_backend_of(p)), ok ? "ok" : "FAILED");
    pollux_free(p);
    close(fds[0]);
    close(fds[1]);
    return ok ? 0 : 1;
}
