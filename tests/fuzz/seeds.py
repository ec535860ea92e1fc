#!/usr/bin/env python3
"""seeds.py - writes the hand-made inputs of tests/fuzz/corpus and
tests/fuzz/regressions from the symbolic sequences below.

The input format is described in tests/fuzz/README.md: a header byte, then
operations, each an opcode byte and its argument bytes. Run it from the
repository root after changing a sequence; the files are committed.
"""
import os
import sys

OPS = ["register", "modify", "unregister", "wait", "write", "read", "fill", "drain",
       "shutdown", "close", "reuse", "dup", "dup2", "timer_create", "timer_settime",
       "timer_gettime", "timer_delete", "wake", "after_fork", "fileno", "limit"]
OP = {name: i for i, name in enumerate(OPS)}

# Interest byte (pick_interest): event bits, then modes.
R, W, PRI, RDHUP, ONESHOT, EDGE, HUPERR, EXTRA = 1, 2, 4, 8, 0x10, 0x20, 0x40, 0x80
# Pool slots (setup_pool): pipe, socketpair, eventfd, three memfds, a high pipe,
# then TCP (header bit 0) and a second socketpair (header bit 1).
PIPE_R, PIPE_W, UA, UB, EFD, F1, F2, F3, HIGH_R, HIGH_W = range(10)
TCP_A, TCP_B = 10, 11
# Numbers that are not slots (pick_number's specials): 0xf0 + index.
MINUS_ONE, INT_MIN, INT_MAX, HUGE, SETSIZE_M1, SETSIZE, N65535, N5000 = range(0xf0, 0xf8)
# Timer values (pick_initial): 0, 1, 1us, 1ms, 1h, INT64_MAX, -1, INT64_MIN, past, +1h.
T0, T1NS, T1US, T1MS, T1H, TMAX, TNEG, TMIN, TPAST, TFUTURE = range(10)
# Intervals: 0, 0, 1ns, 1ms, 1h, -1, INT64_MAX; flags: 0, ABSTIME, 0, unknown.
I0, I1NS, I1MS, I1H, INEG, IMAX = 0, 2, 3, 4, 5, 6
REL, ABS, BADFLAG = 0, 1, 3
MONO, REALTIME, BOOT, CPUCLOCK, BADCLOCK = range(5)


def reg(n, a, b=0, data=1):       return [OP["register"], n, a, b, data]
def mod(n, a, b=0, data=2):       return [OP["modify"], n, a, b, data]
def unreg(n):                     return [OP["unregister"], n, 0, 0, 0]
def wait(maxev=8, timeout=0):     return [OP["wait"], (maxev - 1) % 10 if maxev > 0 else (8 if maxev == 0 else 9), 3 if timeout else 0]
def io(op, slot, length=1):       return [OP[op], slot, length - 1]
def close(slot):                  return [OP["close"], slot]
def reuse(kind):                  return [OP["reuse"], kind]  # 0 pipe, 1 socketpair, 2 eventfd, 3 memfd
def dup(slot):                    return [OP["dup"], slot]
def dup2(a, b):                   return [OP["dup2"], a, b]
def tcreate(clock=MONO, data=1):  return [OP["timer_create"], clock, data]
def tset(t, initial, interval=I0, flags=REL): return [OP["timer_settime"], t, initial, interval, flags]
def tget(t, what=3):              return [OP["timer_gettime"], t, what]
def tdel(t):                      return [OP["timer_delete"], t, 0]
def call(name):                   return [OP[name]]
def limit(free, op):              return [OP["limit"], free] + op


def seq(header, *ops):
    out = [header]
    for op in ops:
        out += op
    return bytes(out)


CORPUS = {
    "register-errors": seq(0, reg(MINUS_ONE, R), reg(INT_MIN, R), reg(INT_MAX, R), reg(HUGE, R),
                           reg(N65535, R), reg(PIPE_R, R), reg(PIPE_R, W), reg(UA, R | W | EXTRA, 2),
                           reg(UA, R | EXTRA, 4), reg(UA, R | EXTRA, 8), reg(UA, R | EXTRA, 16),
                           reg(UA, R | EXTRA | RDHUP, 1), reg(UA, EDGE | R), reg(UB, PRI | R),
                           unreg(MINUS_ONE), unreg(UB), unreg(EFD), mod(EFD, R), mod(MINUS_ONE, R),
                           wait(), wait(0), wait(-1)),
    "pipe-readiness": seq(0, reg(PIPE_R, R | RDHUP), reg(PIPE_W, W), wait(), io("write", PIPE_W, 5),
                          wait(), io("read", PIPE_R, 2), wait(1), wait(1), io("drain", PIPE_R), wait(),
                          io("fill", PIPE_W), wait(), io("read", PIPE_R, 64), wait(), unreg(PIPE_W),
                          wait(), close(PIPE_W), wait(), wait()),
    "socket-shutdown": seq(0, reg(UA, R | W | RDHUP | PRI), reg(UB, R | RDHUP), wait(),
                           io("shutdown", UB, 2), wait(), io("write", UA, 3), wait(),
                           io("shutdown", UA, 3), wait(), unreg(UB), wait(), close(UB), wait(), wait()),
    "oneshot-paused": seq(0, reg(EFD, R | ONESHOT), io("write", EFD), wait(), wait(), mod(EFD, R | ONESHOT),
                          wait(), reg(UA, 0), wait(), mod(UA, W), wait(), mod(UA, 0), wait(),
                          reg(UB, HUPERR), wait(), io("fill", EFD), reg(PIPE_W, W | ONESHOT),
                          wait(1), wait(1), wait(1)),
    "edge": seq(0, reg(UA, R | EDGE), io("write", UB, 4), wait(), wait(), io("write", UB, 4), wait(),
                mod(UA, R | W | EDGE), wait(), io("drain", UA), wait()),
    "eventfd-fill-drain": seq(0, reg(EFD, R | W), wait(), io("write", EFD), wait(), io("fill", EFD),
                              wait(), io("read", EFD), wait(), io("drain", EFD), wait()),
    "one-regular-file": seq(0, reg(F1, R | W), wait(), wait(1), io("write", F1, 10), io("read", F1, 3),
                            wait(), mod(F1, W | ONESHOT), wait(), wait(), mod(F1, PRI), wait(),
                            unreg(F1), wait()),
    "high-numbers": seq(0, reg(HIGH_R, R), reg(HIGH_W, W), reg(SETSIZE, R), reg(SETSIZE_M1, R),
                        wait(), io("write", HIGH_W, 9), wait(), unreg(HIGH_W), wait(), close(HIGH_W), wait(),
                        unreg(HIGH_W), wait()),
    "close-unregistered-reuse": seq(0, reg(UA, R | W), close(UA), unreg(UA), reuse(1), reg(UA, W), wait(),
                                    reg(0x0c, W), wait()),
    "closed-number": seq(0, reg(PIPE_W, W), close(PIPE_W), wait(), reg(PIPE_W, W), mod(PIPE_W, W),
                         mod(PIPE_W, R | W), wait(), unreg(PIPE_W), unreg(PIPE_W), wait()),
    "dup2": seq(0, reg(UA, W), reg(EFD, W), io("write", UB, 2), dup2(PIPE_W, EFD), wait(),
                mod(EFD, W), wait(), dup2(EFD, UA), wait(), mod(UA, W), wait()),
    "timers-basic": seq(0, tcreate(MONO, 1), tcreate(REALTIME, 2), tcreate(BOOT, 3), tcreate(CPUCLOCK),
                        tcreate(BADCLOCK), tset(0, TPAST, I0, ABS), tset(1, TPAST, I1H, ABS),
                        tset(2, TFUTURE, I0, ABS), tget(0), tget(1), tget(2), wait(), wait(), tget(0),
                        tget(1), tget(2, 1), tget(2, 2), tset(0, T1H), tget(0), tdel(0), tdel(0),
                        tget(0), wait()),
    "timers-errors": seq(0, tcreate(), tset(0, TNEG), tset(0, TMIN), tset(0, T1US, INEG), tset(0, T1US, I0, BADFLAG),
                         tset(16, T1US), tset(17, T1US), tget(16), tget(18), tdel(19), tset(0, T0, I1MS),
                         tget(0), tset(0, TMAX, IMAX), tget(0), tset(0, TFUTURE, I1NS, ABS), tget(0), wait()),
    "timers-small": seq(0, tcreate(), tcreate(), tset(0, T1NS), tset(1, T1MS, I1MS), wait(1, 1), wait(),
                        wait(2, 1), tset(0, T0), tdel(1), wait()),
    "timers-periodic-past": seq(0, tcreate(), tset(0, TPAST, I1NS, ABS), wait(), wait(), tset(0, TPAST, I1MS, ABS),
                                wait(), tdel(0), wait()),
    "timers-and-fds-share-room": seq(0, tcreate(), tcreate(), tset(0, TPAST, I0, ABS), tset(1, TPAST, I0, ABS),
                                     reg(UA, W), reg(UB, W), wait(1), wait(1), wait(1), wait(1), wait()),
    "wake": seq(0, call("wake"), call("wake"), wait(), wait(), call("wake"), reg(UA, W), wait(1), wait(1),
                wait(), call("fileno"), call("wake"), call("fileno"), wait()),
    "after-fork": seq(0, reg(UA, W), reg(PIPE_R, R), tcreate(), tset(0, TFUTURE, I0, ABS), call("wake"),
                      call("after_fork"), wait(), call("after_fork"), io("write", PIPE_W), wait(),
                      close(UB), call("after_fork"), wait(), call("fileno")),
    "after-fork-closed": seq(0, reg(EFD, R), io("write", EFD), close(EFD), reuse(2), call("after_fork"),
                             wait(), io("write", 0x0a), wait(), mod(EFD, R), wait(), unreg(EFD), wait()),
    "fileno": seq(0, call("fileno"), tcreate(), tset(0, TPAST, I0, ABS), call("fileno"), wait(),
                  reg(UA, W), call("fileno"), wait(), call("fileno"), reg(F1, R), call("fileno")),
    "limit-new-descriptors": seq(0, limit(0, reuse(0)), limit(1, dup(UA)), limit(2, call("wake")),
                                 limit(0, reg(UA, W)), wait(), limit(1, tcreate()), wait()),
    "tcp": seq(1, reg(TCP_A, R | W | RDHUP), reg(TCP_B, R | W | PRI), wait(), io("write", TCP_A, 20),
               wait(), io("shutdown", TCP_A, 2), wait(), io("drain", TCP_B), close(TCP_A), wait(),
               unreg(TCP_A), wait()),
    "small-max-events": seq(2, reg(UA, W), reg(UB, W), reg(0x0a, W), reg(0x0b, W), reg(EFD, W),
                            reg(PIPE_W, W), wait(1), wait(1), wait(2), wait(3), wait(1), wait()),
    "dup-keeps-file": seq(0, reg(UA, W), dup(UA), unreg(UA), close(UA), wait(), wait()),
    # Sources removed while their events are being handled: unregister, close and the
    # number reused, a timer deleted and its id reused, modify, settime and after_fork
    # (pollux_event_current is checked after every operation).
    "stale-mid-batch": seq(0, tcreate(MONO, 1), tcreate(MONO, 2), tset(0, TPAST, I0, ABS),
                           tset(1, TPAST, I0, ABS), reg(UA, W), reg(UB, W), reg(EFD, W, 0, 3), wait(),
                           unreg(UA), tdel(0), close(UA), reuse(1), reg(UA, W, 0, 4), tcreate(MONO, 5),
                           mod(UB, R | W), tset(1, T1H), call("after_fork"), mod(EFD, W | ONESHOT),
                           wait(), unreg(UB), reg(UB, W, 0, 6), tset(0, TPAST, I0, ABS), wait(1),
                           tdel(0), wait()),
}

# Reproducers of the defects listed in the issue: they fail until fixed.
REGRESSIONS = {
    # 1: epoll, two or three regular files: one twice, another left out.
    "defect01-epoll-regular-files-rotation": seq(0, reg(F1, R), reg(F2, R), reg(F3, R), wait(), wait(), wait()),
    # 3: closed while a dup keeps the file open; unregister; number reused.
    "defect03-epoll-closed-dup-kept": seq(0, io("write", UB), reg(UA, R), dup(UA), close(UA), unreg(UA), wait(),
                                          reuse(0), reg(UA, R), wait()),
    # 4: a failed after_fork loses a pending wake (poll, select).
    "defect04-failed-after-fork-loses-wake": seq(0, call("wake"), limit(3, call("after_fork")),
                                                 call("after_fork"), wait()),
    # 5: one EMFILE at a timer's first settime: fileno never readable.
    "defect05-epoll-timer-source-emfile": seq(0, tcreate(), limit(0, tset(0, TPAST, I0, ABS)), wait(),
                                              tset(0, TPAST, I0, ABS), call("fileno")),
    # 6: regular file closed without unregister, number reused by an empty pipe.
    "defect06-epoll-file-number-reused-by-pipe": seq(0, reg(F1, R), wait(), close(F1), reuse(0), wait(), wait()),
    # 7: modify with a changed mask on a number that now names a regular file.
    "defect07-epoll-modify-now-regular-file": seq(0, reg(UA, R), close(UA), reuse(3), mod(UA, R | W), wait()),
    # 8: same-mask modify on a number that now names a regular file.
    "defect08-epoll-same-mask-modify-regular-file": seq(0, reg(PIPE_R, R), reg(UB, W), close(PIPE_R), reuse(3),
                                                        mod(PIPE_R, R), wait()),
    # 9: after_fork's new epoll descriptor takes a closed registered number.
    "defect09-epoll-after-fork-takes-number": seq(0, reg(PIPE_R, R), close(PIPE_R), call("after_fork"),
                                                  mod(PIPE_R, R), unreg(PIPE_R), reg(PIPE_R, R)),
    # Found by this harness, not in the list (tests/fuzz/README.md):
    # 11: select, a registered fd closed: the next wait(0) returns 0 although others are ready.
    "defect11-select-closed-registered-fd": seq(0, reg(PIPE_R, R), reg(PIPE_W, W), io("write", PIPE_W),
                                                close(PIPE_W), wait()),
    # 12: kqueue, a change on a knote the kernel dropped (number closed or replaced by dup2)
    # makes the next wait(0) return 0 although others are ready.
    "defect12-kqueue-unregister-closed-fd": seq(0, reg(PIPE_R, R), reg(PIPE_W, W), close(PIPE_W), wait(),
                                                unreg(PIPE_W), wait()),
    "defect12-kqueue-unregister-then-close": seq(0, reg(PIPE_R, R), reg(PIPE_W, W), unreg(PIPE_W), close(PIPE_W),
                                                 wait()),
    "defect12-kqueue-modify-after-dup2": seq(0, reg(UA, R), reg(EFD, W), dup2(EFD, UA), mod(UA, W), wait()),
    # 13: after_fork does not watch again a registration the backend saw closed (POLLNVAL,
    # select's EBADF) although its number is open again (poll, select, /dev/poll).
    "defect13-after-fork-skips-number-seen-closed": seq(0, reg(PIPE_W, W), close(PIPE_W), wait(), reuse(1),
                                                        call("after_fork"), wait()),
    # 14: kqueue keeps reports it had no room for and hands them out later without
    # asking again: a drained pipe is reported READ.
    "defect14-kqueue-backlog-stale-read": seq(0, reg(PIPE_R, R), reg(UA, W), io("write", PIPE_W), wait(1),
                                              io("drain", PIPE_R), wait(), wait()),
    # 15: registering a number the poller owns (after_fork's new descriptor took a closed
    # pool number): paused it succeeds, with an interest epoll says -EINVAL (decisions.md
    # and defect 9 call for -EBADF; -EEXIST for a shadowed registration).
    "defect15-register-poller-own-descriptor": seq(0, close(PIPE_R), call("after_fork"), reg(PIPE_R, 0),
                                                   reg(PIPE_R, R)),
    # 16: like 5, for regular files: no descriptor free for the internal "ready" eventfd
    # when the first regular file is registered, and pollux_fileno() does not poll
    # readable for it (only the next pollux_wait() tries again).
    "defect16-fileno-ready-flag-emfile": seq(0, limit(0, reg(F1, R)), call("fileno")),
    # 18: kqueue over libkqueue: its kqueue() opens an epoll, a pipe and eventfds, and
    # after_fork's new one takes a closed pool number for its epoll; register and modify
    # on that number return libkqueue's -EINVAL (or 0 paused), where decisions.md calls
    # for -EBADF (the poller's own descriptor). Defects 9 and 15 fail there the same way.
    # A number the user registered is now held by after_fork while it builds; this one was
    # never registered, so pollux cannot tell libkqueue's descriptor from the caller's file:
    # the model accepts libkqueue's answers there (model.c, foreign_allowed).
    "defect18-libkqueue-internal-descriptor-number": seq(0, close(PIPE_R), call("after_fork"),
                                                         reg(PIPE_R, R), reg(PIPE_R, 0), mod(PIPE_R, W)),
    # 19: kqueue over libkqueue: unregister's EV_DELETE waits for the next wait, so after
    # "unregister before closing" (docs/portability.md), a close and the number reused by a
    # regular file, libkqueue meets the knote on a file its epoll refuses when the kqueue is
    # freed and leaks it (seen by LeakSanitizer only: an ASan build over libkqueue).
    "defect19-libkqueue-unregister-then-reuse-regular-file": seq(0, reg(PIPE_R, R), unreg(PIPE_R), close(PIPE_R),
                                                                 reuse(3)),
    # 20: kqueue (libkqueue or the emulation): the timerfd behind EVFILT_TIMER takes a number
    # the caller closed without registering; pollux cannot know it, so a paused register
    # there succeeds, and the registration then lives on like any other.
    "defect20-kqueue-timerfd-on-closed-unregistered-number": seq(0, tcreate(), close(PIPE_R), tset(0, TPAST),
                                                                 reg(PIPE_R, 0), reg(PIPE_R, R)),
    # 10: select, RDHUP-only interest lowers the highest watched number.
    "defect10-select-max-fd-rdhup": seq(0, reuse(1), reg(11, R | W | RDHUP), reg(10, R | W | RDHUP), mod(10, RDHUP),
                                        unreg(11), mod(10, W | RDHUP), wait()),
}


def write(directory, table):
    os.makedirs(directory, exist_ok=True)
    for name, data in table.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    if len(sys.argv) > 2 or (len(sys.argv) == 2 and sys.argv[1].startswith("-")):
        sys.exit("usage: tests/fuzz/seeds.py [directory, default tests/fuzz]\n" + __doc__)
    root = sys.argv[1] if len(sys.argv) > 1 else "tests/fuzz"
    write(os.path.join(root, "corpus"), CORPUS)
    write(os.path.join(root, "regressions"), REGRESSIONS)
