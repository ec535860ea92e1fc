/* timer.c - placeholder until the timers issue lands: every call -ENOSYS. */
#include "platform.h" /* first: it may define _GNU_SOURCE */
#include <errno.h>

#include "internal.h"
#include "timer.h"

void timers_free(pollux *p) { (void)p; }
void timers_before_rebuild(pollux *p) { (void)p; }
int timers_after_rebuild(pollux *p) { (void)p; return 0; }
void timers_kernel_ready(pollux *p, int fd) { (void)p; (void)fd; }
bool timers_due(pollux *p) { (void)p; return false; }
int64_t timers_clamp_timeout(pollux *p, int64_t t) { (void)p; return t; }
int timers_collect(pollux *p, pollux_event *out, int max) { (void)p; (void)out; (void)max; return 0; }

POLLUX_API int pollux_timer_create(pollux *p, int clockid, void *data) { (void)p; (void)clockid; (void)data; return -ENOSYS; }
POLLUX_API int pollux_timer_settime(pollux *p, int t, int64_t i, int64_t v, unsigned f) { (void)p; (void)t; (void)i; (void)v; (void)f; return -ENOSYS; }
POLLUX_API int pollux_timer_gettime(pollux *p, int t, int64_t *r, int64_t *v) { (void)p; (void)t; (void)r; (void)v; return -ENOSYS; }
POLLUX_API int pollux_timer_delete(pollux *p, int t) { (void)p; (void)t; return -ENOSYS; }
